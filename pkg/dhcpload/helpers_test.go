package dhcpload

import (
	"net"
	"net/netip"
	"testing"

	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/dhcp4"
	"github.com/diktyo/diktyo/pkg/dhcp6"
	"github.com/diktyo/diktyo/pkg/ndp"
)

var (
	vmMAC    = [6]byte{0xaa, 0, 0, 0x5e, 0x10, 0x07}
	tapMAC   = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	routerLL = netip.MustParseAddr("fe80::ff:fe00:1")
	serverIP = netip.MustParseAddr("198.51.100.1")
	vmIP     = netip.MustParseAddr("198.51.100.23")
)

func testBinding(spoof bool) *binding.Binding {
	return &binding.Binding{
		Tap: "tap0", InDev: "tap0",
		IP: vmIP, MAC: net.HardwareAddr(vmMAC[:]), Hostname: "vm23.example.org",
		Gateway: serverIP, Subnet: netip.MustParsePrefix("198.51.100.0/24"),
		Gateway6: netip.MustParseAddr("2001:db8:100::1"),
		Subnet6:  netip.MustParsePrefix("2001:db8:100::/64"),
		EUI64:    netip.MustParseAddr("2001:db8:100:0:a800:ff:fe5e:1007"),
		MACSpoof: spoof,
	}
}

// responder answers frames the way nfdhcpd does, with the pure cores.
type responder struct {
	v4   *dhcp4.Responder
	ndp  *ndp.Responder
	v6   *dhcp6.Responder
	bind *binding.Binding
	buf  []byte
}

func newResponder(t testing.TB, spoof bool) *responder {
	t.Helper()
	v4, err := dhcp4.NewResponder(dhcp4.Config{ServerIP: serverIP, ServerMAC: tapMAC,
		DNS: []netip.Addr{netip.MustParseAddr("198.51.100.53")}, Domain: "example.org"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := ndp.NewResponder(ndp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	v6, err := dhcp6.NewResponder(dhcp6.Config{ServerDUID: dhcp6.DUIDLL(tapMAC),
		Nameservers: []netip.Addr{netip.MustParseAddr("2001:db8:53::1")}})
	if err != nil {
		t.Fatal(err)
	}
	return &responder{v4: v4, ndp: n, v6: v6, bind: testBinding(spoof), buf: make([]byte, 0, maxFrameSize)}
}

// answer returns the reply frame to request frame f, or nil.
func (r *responder) answer(f []byte) []byte {
	src := net.HardwareAddr(f[6:12])
	switch {
	case f[12] == 0x08 && f[13] == 0x00:
		out, res := r.v4.Handle(r.buf[:0], dhcp4.Request{Packet: f[ethLen:], SrcMAC: src}, r.bind)
		if !res.Kind.Replied() {
			return nil
		}
		return out
	case f[ethLen+6] == icmp6Proto:
		out, res := r.ndp.Handle(r.buf[:0], ndp.Packet{IPv6: f[ethLen:], SrcMAC: src, DevMAC: tapMAC, Binding: r.bind})
		if res != ndp.Reply {
			return nil
		}
		return out
	default:
		out, res := r.v6.Handle(r.buf[:0], dhcp6.Packet{IPv6: f[ethLen:], SrcMAC: src, DevMAC: tapMAC, Binding: r.bind})
		if res != dhcp6.Reply {
			return nil
		}
		return out
	}
}

// loopSink is a frameSink that keeps what was flushed for a test to
// answer; it allocates nothing once warm.
type loopSink struct {
	queued  [][]byte
	flushed [][]byte
}

func newLoopSink() *loopSink {
	return &loopSink{queued: make([][]byte, 0, 64), flushed: make([][]byte, 0, 64)}
}

func (s *loopSink) queue(f []byte) int {
	s.queued = append(s.queued, f)
	return 0
}

func (s *loopSink) flush() int {
	s.flushed = append(s.flushed, s.queued...)
	s.queued = s.queued[:0]
	return 0
}

// take returns the flushed frames and forgets them; the slice is reused
// by the next flush, so use it up before flushing again.
func (s *loopSink) take() [][]byte {
	out := s.flushed
	s.flushed = s.flushed[:0]
	return out
}
