package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

var broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// checksum is the Internet checksum of b, folded, not inverted.
func checksum(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return sum
}

// udp4Frame is an Ethernet + IPv4 + UDP frame (UDP checksum 0: none).
func udp4Frame(src, dst net.HardwareAddr, sip, dip netip.Addr, sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 14+20+8, 14+20+8+len(payload))
	copy(b[0:6], dst)
	copy(b[6:12], src)
	binary.BigEndian.PutUint16(b[12:], unix.ETH_P_IP)
	ip := b[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[8] = 64
	ip[9] = unix.IPPROTO_UDP
	s, d := sip.As4(), dip.As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	binary.BigEndian.PutUint16(ip[10:], ^uint16(checksum(0, ip)))
	u := b[34:42]
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	return append(b, payload...)
}

// icmp6Frame is an Ethernet + IPv6 + ICMPv6 frame with a correct checksum
// unless badSum, and hop limit hops.
func icmp6Frame(src, dst net.HardwareAddr, sip, dip netip.Addr, hops uint8, msg []byte, badSum bool) []byte {
	return ip6Frame(src, dst, sip, dip, hops, unix.IPPROTO_ICMPV6, 2, msg, badSum)
}

// udp6Frame is an Ethernet + IPv6 + UDP frame with a correct checksum.
func udp6Frame(src, dst net.HardwareAddr, sip, dip netip.Addr, sport, dport uint16, payload []byte) []byte {
	msg := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(msg[0:], sport)
	binary.BigEndian.PutUint16(msg[2:], dport)
	binary.BigEndian.PutUint16(msg[4:], uint16(8+len(payload)))
	return ip6Frame(src, dst, sip, dip, 1, unix.IPPROTO_UDP, 6, append(msg, payload...), false)
}

// ip6Frame is an Ethernet + IPv6 frame carrying msg of protocol proto,
// whose checksum (over the pseudo-header) is at sumOff of msg.
func ip6Frame(src, dst net.HardwareAddr, sip, dip netip.Addr, hops, proto uint8, sumOff int, msg []byte, badSum bool) []byte {
	b := make([]byte, 14+40, 14+40+len(msg))
	copy(b[0:6], dst)
	copy(b[6:12], src)
	binary.BigEndian.PutUint16(b[12:], unix.ETH_P_IPV6)
	ip := b[14:54]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(msg)))
	ip[6] = proto
	ip[7] = hops
	s, d := sip.As16(), dip.As16()
	copy(ip[8:24], s[:])
	copy(ip[24:40], d[:])
	b = append(b, msg...)
	m := b[54:]
	if len(m) >= sumOff+2 {
		m[sumOff], m[sumOff+1] = 0, 0
		var pseudo [40]byte
		copy(pseudo[0:16], s[:])
		copy(pseudo[16:32], d[:])
		binary.BigEndian.PutUint32(pseudo[32:], uint32(len(m)))
		pseudo[39] = proto
		sum := ^uint16(checksum(checksum(0, pseudo[:]), m))
		if badSum {
			sum ^= 0x5a5a
		}
		binary.BigEndian.PutUint16(m[sumOff:], sum)
	}
	return b
}

// raw is an AF_PACKET socket on a VM's eth0, opened inside its namespace.
type raw struct {
	c   *packet.Conn
	mac net.HardwareAddr
}

func openRaw(t *testing.T, v *vm, proto int) *raw {
	t.Helper()
	c, err := v.ns.Packet("eth0", proto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &raw{c: c, mac: v.b.MAC}
}

// send writes one frame (its destination MAC is the frame's).
func (r *raw) send(frame []byte) error {
	_, err := r.c.WriteTo(frame, &packet.Addr{HardwareAddr: net.HardwareAddr(frame[0:6])})
	return err
}

// discover sends one DHCPDISCOVER with the VM's MAC and returns the
// offered address, or an invalid address when nothing came within wait.
func (r *raw) discover(wait time.Duration) (netip.Addr, error) {
	d, err := dhcpv4.NewDiscovery(r.mac, dhcpv4.WithBroadcast(true))
	if err != nil {
		return netip.Addr{}, err
	}
	f := udp4Frame(r.mac, broadcastMAC, netip.IPv4Unspecified(), netip.AddrFrom4([4]byte{255, 255, 255, 255}), 68, 67, d.ToBytes())
	if err := r.send(f); err != nil {
		return netip.Addr{}, fmt.Errorf("send discover: %w", err)
	}
	deadline := time.Now().Add(wait)
	buf := make([]byte, 2048)
	for {
		if err := r.c.SetReadDeadline(deadline); err != nil {
			return netip.Addr{}, err
		}
		n, _, err := r.c.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return netip.Addr{}, nil
		}
		if err != nil {
			return netip.Addr{}, err
		}
		reply, ok := parseDHCPReply(buf[:n])
		if ok && reply.TransactionID == d.TransactionID && reply.MessageType() == dhcpv4.MessageTypeOffer {
			a, _ := netip.AddrFromSlice(reply.YourIPAddr.To4())
			return a, nil
		}
	}
}

// parseDHCPReply parses an Ethernet + IPv4 + UDP (to port 68) frame.
func parseDHCPReply(f []byte) (*dhcpv4.DHCPv4, bool) {
	if len(f) < 14+20+8 || binary.BigEndian.Uint16(f[12:]) != unix.ETH_P_IP {
		return nil, false
	}
	ip := f[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[9] != unix.IPPROTO_UDP || len(ip) < ihl+8 {
		return nil, false
	}
	u := ip[ihl:]
	if binary.BigEndian.Uint16(u[2:]) != 68 {
		return nil, false
	}
	d, err := dhcpv4.FromBytes(u[8:])
	return d, err == nil
}

// waitOffer probes with DISCOVERs every few milliseconds until the offer is
// want (an invalid want: until no offer comes), and returns how long it
// took from start.
func (r *raw) waitOffer(t *testing.T, start time.Time, want netip.Addr, limit time.Duration) time.Duration {
	t.Helper()
	for {
		got, err := r.discover(20 * time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("offer is %v, want %v, after %v", got, want, limit)
		}
	}
}
