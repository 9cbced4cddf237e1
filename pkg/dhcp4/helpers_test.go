package dhcp4

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/binding"
)

var (
	vmMAC     = [6]byte{0xaa, 0x00, 0x01, 0x12, 0x34, 0x56}
	serverMAC = net.HardwareAddr{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff}
	serverIP  = netip.MustParseAddr("198.51.100.1")
	vmIP      = netip.MustParseAddr("198.18.100.77")
	vmGW      = netip.MustParseAddr("198.18.100.1")
)

// testConfig mirrors /work/shared/formats/nfdhcpd.conf.
func testConfig() Config {
	return Config{
		ServerIP:      serverIP,
		ServerMAC:     serverMAC,
		LeaseTime:     604800 * time.Second,
		RenewalTime:   3600 * time.Second,
		DNS:           []netip.Addr{netip.MustParseAddr("198.51.100.53"), netip.MustParseAddr("198.51.100.54")},
		Domain:        "example.org",
		SearchDomains: []string{"example.org", "example.net", "sub.example.org"},
	}
}

// testBinding mirrors binding-routed.tap5, with an MTU.
func testBinding() *binding.Binding {
	return &binding.Binding{
		Tap:      "tap5",
		InDev:    "tap5",
		IP:       vmIP,
		MAC:      net.HardwareAddr(vmMAC[:]),
		Hostname: "vm77.example.org",
		Tags:     []string{"ip-less-routed", "nfdhcpd"},
		Gateway:  vmGW,
		Subnet:   netip.MustParsePrefix("198.18.100.0/24"),
		Gateway6: netip.MustParseAddr("2001:db8:100::1"),
		Subnet6:  netip.MustParsePrefix("2001:db8:100::/64"),
		MTU:      1450,
	}
}

func mustResponder(t testing.TB, cfg Config) *Responder {
	t.Helper()
	r, err := NewResponder(cfg)
	if err != nil {
		t.Fatalf("NewResponder: %v", err)
	}
	return r
}

// dhclientPRL is Debian 12 isc-dhcp-client's default request list.
var dhclientPRL = []byte{1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42}

func discover(xid uint32) Message {
	return Message{Type: TypeDiscover, XID: xid, CHAddr: vmMAC, ParamRequest: dhclientPRL}
}

func request(xid uint32) Message {
	return Message{
		Type: TypeRequest, XID: xid, CHAddr: vmMAC, ParamRequest: dhclientPRL,
		RequestedIP: vmIP, ServerID: serverIP,
	}
}

// packetOf builds the IPv4 packet (no Ethernet) a client sends for m.
func packetOf(m Message) []byte {
	return BuildRequest(nil, &m)[ethHdrLen:]
}

// wrapBOOTP wraps a raw BOOTP message into IPv4 + UDP 68 → 67.
func wrapBOOTP(bootp []byte) []byte {
	p := make([]byte, ipv4HdrLen+udpHdrLen+len(bootp))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:4], uint16(len(p)))
	p[8], p[9] = 64, 17
	copy(p[16:20], []byte{255, 255, 255, 255})
	binary.BigEndian.PutUint16(p[20:22], clientPort)
	binary.BigEndian.PutUint16(p[22:24], serverPort)
	binary.BigEndian.PutUint16(p[24:26], uint16(udpHdrLen+len(bootp)))
	copy(p[28:], bootp)
	return p
}

// rawBOOTP returns a minimal valid DISCOVER BOOTP message with opts
// (without End) as its options.
func rawBOOTP(opts ...byte) []byte {
	b := make([]byte, optionsOff, optionsOff+len(opts)+1)
	b[0], b[1], b[2] = 1, 1, 6
	copy(b[28:34], vmMAC[:])
	binary.BigEndian.PutUint32(b[bootpHdrLen:], magicCookie)
	b = append(b, opts...)
	return append(b, optEnd)
}
