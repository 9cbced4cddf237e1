package main

import (
	"bytes"
	be "encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/nettest"
)

// Test frames carry a marker, "diktyo:NAME", so that a capture can tell
// which of them arrived: in the UDP payload, after an ARP body, or in an
// experimental neighbour discovery option (type 253, RFC 4727) that
// receivers ignore.
const markerPrefix = "diktyo:"

var (
	broadcast    = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	allNodesMAC  = net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
	allNodes     = netip.MustParseAddr("ff02::1")
	broadcast4   = netip.MustParseAddr("255.255.255.255")
	unspecified6 = netip.IPv6Unspecified()
)

// sum16 adds b to an Internet checksum accumulator.
func sum16(acc uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		acc += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		acc += uint32(b[len(b)-1]) << 8
	}
	return acc
}

// fold finishes an Internet checksum.
func fold(acc uint32) uint16 {
	for acc>>16 != 0 {
		acc = acc&0xffff + acc>>16
	}
	return ^uint16(acc)
}

func ether(dst, src net.HardwareAddr, typ uint16, payload []byte) []byte {
	f := append(append(slices.Clone(dst), src...), byte(typ>>8), byte(typ))
	return append(f, payload...)
}

// udp4 is an Ethernet frame with an IPv4 UDP datagram (no UDP checksum).
func udp4(dst, src net.HardwareAddr, sip, dip netip.Addr, sport, dport uint16, payload []byte) []byte {
	ip := make([]byte, 28, 28+len(payload))
	ip[0], ip[8], ip[9] = 0x45, 64, unix.IPPROTO_UDP
	be.BigEndian.PutUint16(ip[2:], uint16(28+len(payload)))
	s, d := sip.As4(), dip.As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	be.BigEndian.PutUint16(ip[10:], fold(sum16(0, ip[:20])))
	be.BigEndian.PutUint16(ip[20:], sport)
	be.BigEndian.PutUint16(ip[22:], dport)
	be.BigEndian.PutUint16(ip[24:], uint16(8+len(payload)))
	return ether(dst, src, unix.ETH_P_IP, append(ip, payload...))
}

// ip6 is an Ethernet frame with an IPv6 packet of proto; the checksum of
// msg (at sumAt) is filled in.
func ip6(dst, src net.HardwareAddr, sip, dip netip.Addr, proto uint8, hops uint8, msg []byte, sumAt int) []byte {
	h := make([]byte, 40)
	h[0], h[6], h[7] = 0x60, proto, hops
	be.BigEndian.PutUint16(h[4:], uint16(len(msg)))
	s, d := sip.As16(), dip.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	msg = slices.Clone(msg)
	pseudo := append(append(s[:], d[:]...), 0, 0, byte(len(msg)>>8), byte(len(msg)), 0, 0, 0, proto)
	msg[sumAt], msg[sumAt+1] = 0, 0
	be.BigEndian.PutUint16(msg[sumAt:], fold(sum16(sum16(0, pseudo), msg)))
	return ether(dst, src, unix.ETH_P_IPV6, append(h, msg...))
}

func udp6(dst, src net.HardwareAddr, sip, dip netip.Addr, sport, dport uint16, payload []byte) []byte {
	u := make([]byte, 8, 8+len(payload))
	be.BigEndian.PutUint16(u[0:], sport)
	be.BigEndian.PutUint16(u[2:], dport)
	be.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	return ip6(dst, src, sip, dip, unix.IPPROTO_UDP, 64, append(u, payload...), 6)
}

// icmp6 is an ICMPv6 message with hop limit 255, as neighbour discovery
// requires.
func icmp6(dst, src net.HardwareAddr, sip, dip netip.Addr, msg []byte) []byte {
	return ip6(dst, src, sip, dip, unix.IPPROTO_ICMPV6, 255, msg, 2)
}

// arp is an Ethernet/IPv4 ARP message followed by the marker.
func arp(dst, src net.HardwareAddr, op uint16, sha net.HardwareAddr, spa netip.Addr, tpa netip.Addr, name string) []byte {
	b := []byte{0, 1, 8, 0, 6, 4, byte(op >> 8), byte(op)}
	s, t := spa.As4(), tpa.As4()
	b = append(append(append(b, sha...), s[:]...), make([]byte, 6)...)
	b = append(b, t[:]...)
	return ether(dst, src, unix.ETH_P_ARP, append(b, markerPrefix+name...))
}

// Neighbour discovery messages (RFC 4861) with options.
const (
	ndRA, ndNS, ndNA = 134, 135, 136
	optSLL, optTLL   = 1, 2
	naOverride       = 0x20
)

func ndOpt(typ uint8, data []byte) []byte {
	n := (2 + len(data) + 7) / 8
	o := make([]byte, n*8)
	o[0], o[1] = typ, byte(n)
	copy(o[2:], data)
	return o
}

func markerOpt(name string) []byte { return ndOpt(253, []byte(markerPrefix+name+"\x00")) }

// ndTarget is an NS or NA (flags: the NA's R, S, O bits) for target.
func ndTarget(typ, flags uint8, target netip.Addr, opts ...[]byte) []byte {
	m := []byte{typ, 0, 0, 0, flags, 0, 0, 0}
	t := target.As16()
	m = append(m, t[:]...)
	for _, o := range opts {
		m = append(m, o...)
	}
	return m
}

// ra is a router advertisement (lifetime 1800 s) with opts.
func ra(opts ...[]byte) []byte {
	m := []byte{ndRA, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0}
	for _, o := range opts {
		m = append(m, o...)
	}
	return m
}

// solicitedNode is the solicited-node multicast address of a and its MAC.
func solicitedNode(a netip.Addr) (netip.Addr, net.HardwareAddr) {
	b := a.As16()
	sn := netip.AddrFrom16([16]byte{0xff, 0x02, 11: 1, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
	return sn, net.HardwareAddr{0x33, 0x33, 0xff, b[13], b[14], b[15]}
}

// rawSocket is an AF_PACKET socket on eth0 of a namespace.
type rawSocket struct{ c *packet.Conn }

// openRaw opens it; proto 0 receives nothing (a sender), ETH_P_ALL
// everything.
func openRaw(t *testing.T, ns *nettest.NS, proto int) *rawSocket {
	t.Helper()
	c, err := ns.Packet("eth0", proto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawSocket{c: c}
}

func (r *rawSocket) send(t *testing.T, frames ...[]byte) {
	t.Helper()
	for _, f := range frames {
		if _, err := r.c.WriteTo(f, &packet.Addr{HardwareAddr: net.HardwareAddr(f[:6])}); err != nil {
			t.Fatalf("send frame: %v", err)
		}
	}
}

// capture collects the markers of the frames r receives until the frame
// marked "end" (or timeout) and returns them sorted.
func (r *rawSocket) capture(timeout time.Duration) ([]string, error) {
	deadline := time.Now().Add(timeout)
	seen := map[string]bool{}
	buf := make([]byte, 4096)
	for !seen["end"] {
		if err := r.c.SetReadDeadline(deadline); err != nil {
			return nil, err
		}
		n, _, err := r.c.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			return nil, err
		}
		if i := bytes.Index(buf[:n], []byte(markerPrefix)); i >= 0 {
			name := buf[i+len(markerPrefix) : n]
			if j := bytes.IndexFunc(name, func(c rune) bool { return c != '-' && (c < 'a' || c > 'z') && (c < '0' || c > '9') }); j >= 0 {
				name = name[:j]
			}
			seen[string(name)] = true
		}
	}
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	slices.Sort(out)
	return out, nil
}

// startCapture captures on eth0 of ns in the background; wait returns the
// markers seen.
func startCapture(t *testing.T, ns *nettest.NS, timeout time.Duration) (wait func() []string) {
	t.Helper()
	r := openRaw(t, ns, unix.ETH_P_ALL)
	type result struct {
		seen []string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		seen, err := r.capture(timeout)
		ch <- result{seen, err}
	}()
	return func() []string {
		t.Helper()
		res := <-ch
		if res.err != nil {
			t.Fatalf("capture in %s: %v", ns, res.err)
		}
		return res.seen
	}
}

// neighMAC is the link-layer address ns's neighbour table has for addr on
// eth0 ("" for none).
func neighMAC(t *testing.T, ns *nettest.NS, addr netip.Addr) string {
	t.Helper()
	f := strings.Fields(ns.Run(t, "ip", "neigh", "show", addr.String(), "dev", "eth0"))
	if i := slices.Index(f, "lladdr"); i >= 0 && i+1 < len(f) {
		return f[i+1]
	}
	return ""
}
