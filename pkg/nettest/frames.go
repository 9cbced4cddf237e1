package nettest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/inetsum"
)

// The frame builders of the root tests: what a VM (or an attacker) sends,
// byte by byte, without scapy. Frames may carry a marker, MarkerPrefix
// and a name, so that a capture can tell which arrived: in a UDP payload,
// after an ARP body, or in an experimental neighbour discovery option
// (type 253, RFC 4727) that receivers ignore.
const MarkerPrefix = "diktyo:"

// Addresses the builders' callers use often.
var (
	BroadcastMAC  = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	AllNodesMAC   = net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
	AllNodes      = netip.MustParseAddr("ff02::1")
	AllRouters    = netip.MustParseAddr("ff02::2")
	AllRoutersMAC = net.HardwareAddr{0x33, 0x33, 0, 0, 0, 2}
)

// Ether is an Ethernet frame.
func Ether(dst, src net.HardwareAddr, typ uint16, payload []byte) []byte {
	f := append(append(slices.Clone(dst), src...), byte(typ>>8), byte(typ))
	return append(f, payload...)
}

// VLAN inserts an 802.1Q tag with VLAN id vid into an Ethernet frame.
func VLAN(frame []byte, vid uint16) []byte {
	out := slices.Clone(frame[:12])
	out = append(out, 0x81, 0x00, byte(vid>>8), byte(vid))
	return append(out, frame[12:]...)
}

// IPv4 is an IPv4 header (no options, TTL 64, identification id) with
// its checksum, followed by payload.
func IPv4(src, dst netip.Addr, proto uint8, id uint16, payload []byte) []byte {
	h := make([]byte, 20, 20+len(payload))
	h[0], h[8], h[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
	binary.BigEndian.PutUint16(h[4:], id)
	s, d := src.As4(), dst.As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	binary.BigEndian.PutUint16(h[10:], inetsum.Checksum(inetsum.Add(0, h)))
	return append(h, payload...)
}

// UDP4 is an Ethernet frame with an IPv4 UDP datagram (UDP checksum 0:
// none) and identification id.
func UDP4(dst, src net.HardwareAddr, sip, dip netip.Addr, id, sport, dport uint16, payload []byte) []byte {
	u := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	return Ether(dst, src, unix.ETH_P_IP, IPv4(sip, dip, unix.IPPROTO_UDP, id, append(u, payload...)))
}

// IP6Opts are the IPv6 header fields the builders vary.
type IP6Opts struct {
	HopLimit  uint8  // 0: 64
	FlowLabel uint32 // 20 bits: a marker NDP ignores
	HopByHop  bool   // an empty hop-by-hop options header before the message
	// BadChecksum stores a wrong checksum (hostile frames).
	BadChecksum bool
}

// IP6 is an Ethernet frame with an IPv6 packet carrying msg of protocol
// proto, whose checksum (at sumAt; -1 or a message too short: none) is
// filled in.
func IP6(dst, src net.HardwareAddr, sip, dip netip.Addr, proto uint8, o IP6Opts, msg []byte, sumAt int) []byte {
	msg = slices.Clone(msg)
	if sumAt >= 0 && len(msg) >= sumAt+2 {
		msg[sumAt], msg[sumAt+1] = 0, 0
		sum := Checksum6(sip, dip, proto, msg)
		if o.BadChecksum {
			sum ^= 0x5a5a
		}
		binary.BigEndian.PutUint16(msg[sumAt:], sum)
	}
	next, body := proto, msg
	if o.HopByHop {
		// Next header, length 0 (8 bytes), PadN of 4 bytes.
		body = append([]byte{proto, 0, 1, 4, 0, 0, 0, 0}, msg...)
		next = 0
	}
	return Ether(dst, src, unix.ETH_P_IPV6, append(ip6Header(sip, dip, next, o, len(body)), body...))
}

func ip6Header(sip, dip netip.Addr, next uint8, o IP6Opts, plen int) []byte {
	h := make([]byte, 40)
	binary.BigEndian.PutUint32(h[0:], 6<<28|o.FlowLabel&0xfffff)
	binary.BigEndian.PutUint16(h[4:], uint16(plen))
	h[6], h[7] = next, o.HopLimit
	if h[7] == 0 {
		h[7] = 64
	}
	s, d := sip.As16(), dip.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return h
}

// Checksum6 is the checksum of an upper-layer message (its checksum field
// zeroed) with the IPv6 pseudo-header.
func Checksum6(sip, dip netip.Addr, proto uint8, msg []byte) uint16 {
	s, d := sip.As16(), dip.As16()
	acc := inetsum.Add(inetsum.Add(uint64(len(msg))+uint64(proto), s[:]), d[:])
	return inetsum.Checksum(inetsum.Add(acc, msg))
}

// Fragments6 is msg (checksum at sumAt filled in) in two IPv6 fragments,
// split after split bytes (a multiple of 8); the first carries o's flow
// label, the second none.
func Fragments6(dst, src net.HardwareAddr, sip, dip netip.Addr, proto uint8, o IP6Opts, msg []byte, sumAt, split int, id uint32) [][]byte {
	msg = slices.Clone(msg)
	msg[sumAt], msg[sumAt+1] = 0, 0
	binary.BigEndian.PutUint16(msg[sumAt:], Checksum6(sip, dip, proto, msg))
	frag := func(off int, data []byte, more bool, label uint32) []byte {
		h := []byte{proto, 0, 0, 0, 0, 0, 0, 0}
		fo := uint16(off/8) << 3
		if more {
			fo |= 1
		}
		binary.BigEndian.PutUint16(h[2:], fo)
		binary.BigEndian.PutUint32(h[4:], id)
		fo6 := o
		fo6.FlowLabel = label
		body := append(h, data...)
		return Ether(dst, src, unix.ETH_P_IPV6, append(ip6Header(sip, dip, unix.IPPROTO_FRAGMENT, fo6, len(body)), body...))
	}
	return [][]byte{frag(0, msg[:split], true, o.FlowLabel), frag(split, msg[split:], false, 0)}
}

// UDP6 is an Ethernet frame with an IPv6 UDP datagram.
func UDP6(dst, src net.HardwareAddr, sip, dip netip.Addr, o IP6Opts, sport, dport uint16, payload []byte) []byte {
	u := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	return IP6(dst, src, sip, dip, unix.IPPROTO_UDP, o, append(u, payload...), 6)
}

// ICMP6 is an ICMPv6 message with hop limit 255, as neighbour discovery
// requires.
func ICMP6(dst, src net.HardwareAddr, sip, dip netip.Addr, o IP6Opts, msg []byte) []byte {
	o.HopLimit = 255
	return IP6(dst, src, sip, dip, unix.IPPROTO_ICMPV6, o, msg, 2)
}

// ARP is an Ethernet/IPv4 ARP message (op 1 request, 2 reply) followed
// by marker, when not empty.
func ARP(dst, src net.HardwareAddr, op uint16, sha net.HardwareAddr, spa, tpa netip.Addr, marker string) []byte {
	b := []byte{0, 1, 8, 0, 6, 4, byte(op >> 8), byte(op)}
	s, t := spa.As4(), tpa.As4()
	b = append(append(append(b, sha...), s[:]...), make([]byte, 6)...)
	b = append(b, t[:]...)
	if marker != "" {
		b = append(b, MarkerPrefix+marker...)
	}
	return Ether(dst, src, unix.ETH_P_ARP, b)
}

// Neighbour discovery (RFC 4861): message types and option types.
const (
	NDRS, NDRA, NDNS, NDNA = 133, 134, 135, 136
	OptSLL, OptTLL, OptMTU = 1, 2, 5
	OptNonce               = 14
	NAOverride             = 0x20
)

// NDOpt is a neighbour discovery option of typ, padded to 8 bytes.
func NDOpt(typ uint8, data []byte) []byte {
	n := (2 + len(data) + 7) / 8
	o := make([]byte, n*8)
	o[0], o[1] = typ, byte(n)
	copy(o[2:], data)
	return o
}

// MarkerOpt is an experimental option (253) carrying the marker name.
func MarkerOpt(name string) []byte { return NDOpt(253, []byte(MarkerPrefix+name+"\x00")) }

// NDTarget is an NS or NA (flags: the NA's R, S and O bits) for target.
func NDTarget(typ, flags uint8, target netip.Addr, opts ...[]byte) []byte {
	m := []byte{typ, 0, 0, 0, flags, 0, 0, 0}
	t := target.As16()
	m = append(m, t[:]...)
	for _, o := range opts {
		m = append(m, o...)
	}
	return m
}

// RouterSolicitation is a router solicitation message with opts.
func RouterSolicitation(opts ...[]byte) []byte {
	m := []byte{NDRS, 0, 0, 0, 0, 0, 0, 0}
	for _, o := range opts {
		m = append(m, o...)
	}
	return m
}

// RouterAdvertisement is a router advertisement message (lifetime
// 1800 s) with opts.
func RouterAdvertisement(opts ...[]byte) []byte {
	m := []byte{NDRA, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0}
	for _, o := range opts {
		m = append(m, o...)
	}
	return m
}

// SolicitedNode is the solicited-node multicast address of a and its MAC.
func SolicitedNode(a netip.Addr) (netip.Addr, net.HardwareAddr) {
	b := a.As16()
	sn := netip.AddrFrom16([16]byte{0xff, 0x02, 11: 1, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
	return sn, net.HardwareAddr{0x33, 0x33, 0xff, b[13], b[14], b[15]}
}

// SendFrames writes frames to c, each to its own destination MAC.
func SendFrames(c *packet.Conn, frames ...[]byte) error {
	for _, f := range frames {
		if _, err := c.WriteTo(f, &packet.Addr{HardwareAddr: net.HardwareAddr(f[:6])}); err != nil {
			return err
		}
	}
	return nil
}

// AwaitFrame reads frames from c until one satisfies match (true) or
// within passes (false, nil); other read errors are returned.
func AwaitFrame(c *packet.Conn, within time.Duration, match func([]byte) bool) (bool, error) {
	if err := c.SetReadDeadline(time.Now().Add(within)); err != nil {
		return false, err
	}
	buf := make([]byte, 4096)
	for {
		n, _, err := c.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if match(buf[:n]) {
			return true, nil
		}
	}
}

// CaptureMarkers reads frames from c until one marked "end" (or timeout)
// and returns the marker names seen, sorted.
func CaptureMarkers(c *packet.Conn, timeout time.Duration) ([]string, error) {
	deadline := time.Now().Add(timeout)
	seen := map[string]bool{}
	buf := make([]byte, 4096)
	for !seen["end"] {
		if err := c.SetReadDeadline(deadline); err != nil {
			return nil, err
		}
		n, _, err := c.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			return nil, err
		}
		if i := bytes.Index(buf[:n], []byte(MarkerPrefix)); i >= 0 {
			name := buf[i+len(MarkerPrefix) : n]
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

// RefChecksum6 is the reference the tests check diktyo's IPv6 checksums
// against: the checksum field of the upper-layer message in pkt (an IPv6
// packet without extension headers) summed with the pseudo-header, 0
// when the stored checksum is right. It is written the plain way, 16 bits
// at a time, and on purpose shares no code with pkg/inetsum.
func RefChecksum6(pkt []byte) uint16 {
	plen := int(binary.BigEndian.Uint16(pkt[4:6]))
	var b []byte
	b = append(b, pkt[8:40]...)
	b = binary.BigEndian.AppendUint32(b, uint32(plen))
	b = append(b, 0, 0, 0, pkt[6])
	b = append(b, pkt[40:40+plen]...)
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	var s uint32
	for i := 0; i < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}
