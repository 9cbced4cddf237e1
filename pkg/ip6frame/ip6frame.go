// Package ip6frame owns the Ethernet + IPv6 framing shared by the NDP and
// DHCPv6 responders: in-place parsing of a queued IPv6 header, writing reply
// frame headers into a caller's buffer, upper-layer checksums over the IPv6
// pseudo-header, the multicast address mappings, DNS name encoding, and
// the neighbour advertisement frame that both the NDP responder and
// diktyo-ifup's announcements (pkg/hostnet, pkg/announce) send, so they do not
// import the responder. Everything here is pure and allocation free on valid
// input. It must never import sockets, netlink, nfqueue or binding code.
package ip6frame

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"

	"github.com/diktyo/diktyo/pkg/inetsum"
)

// Header lengths and protocol numbers used by the responders.
const (
	EthernetHeaderLen = 14
	IPv6HeaderLen     = 40
	// HeaderLen is the length of the Ethernet and IPv6 headers of a reply.
	HeaderLen = EthernetHeaderLen + IPv6HeaderLen

	EtherTypeIPv6 = 0x86dd

	ProtoHopByHop = 0
	ProtoUDP      = 17
	ProtoICMPv6   = 58
)

// Sentinel errors returned by Parse.
var (
	ErrTruncated = errors.New("ip6frame: packet shorter than its headers")
	ErrVersion   = errors.New("ip6frame: not an IPv6 packet")
)

// Header is a parsed IPv6 header. Payload aliases the parsed packet and is
// cut to the header's payload length (trailing bytes, e.g. Ethernet padding,
// are dropped).
type Header struct {
	Src, Dst   netip.Addr
	NextHeader uint8
	HopLimit   uint8
	Payload    []byte
}

// Parse reads the fixed IPv6 header of pkt in place. It does not follow
// extension headers.
func Parse(pkt []byte) (Header, error) {
	if len(pkt) < IPv6HeaderLen {
		return Header{}, ErrTruncated
	}
	if pkt[0]>>4 != 6 {
		return Header{}, ErrVersion
	}
	plen := int(binary.BigEndian.Uint16(pkt[4:6]))
	if plen > len(pkt)-IPv6HeaderLen {
		return Header{}, ErrTruncated
	}
	return Header{
		Src:        netip.AddrFrom16([16]byte(pkt[8:24])),
		Dst:        netip.AddrFrom16([16]byte(pkt[24:40])),
		NextHeader: pkt[6],
		HopLimit:   pkt[7],
		Payload:    pkt[IPv6HeaderLen : IPv6HeaderLen+plen],
	}, nil
}

// IsLinkLocal64 reports whether a is in fe80::/64, the only link-local
// prefix RFC 4291 lets an interface use.
func IsLinkLocal64(a netip.Addr) bool {
	if !a.Is6() || a.Is4In6() {
		return false
	}
	b := a.As16()
	return b[0] == 0xfe && b[1] == 0x80 && b[2]|b[3]|b[4]|b[5]|b[6]|b[7] == 0
}

// SolicitedNode returns the solicited-node multicast address ff02::1:ffXX:XXXX
// of a (RFC 4291 2.7.1).
func SolicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 1, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
}

// MulticastMAC returns the Ethernet address 33:33:xx:xx:xx:xx that carries
// the IPv6 multicast address a (RFC 2464 7).
func MulticastMAC(a netip.Addr) [6]byte {
	b := a.As16()
	return [6]byte{0x33, 0x33, b[12], b[13], b[14], b[15]}
}

// AppendHeaders grows dst by an Ethernet and an IPv6 header (payload length
// left zero; Finish fills it in). dstMAC and srcMAC must be 6 bytes long.
func AppendHeaders(dst []byte, dstMAC, srcMAC []byte, src, dstIP netip.Addr, proto, hopLimit uint8) []byte {
	dst, h := Grow(dst, HeaderLen)
	copy(h[0:6], dstMAC)
	copy(h[6:12], srcMAC)
	binary.BigEndian.PutUint16(h[12:14], EtherTypeIPv6)
	ip := h[EthernetHeaderLen:]
	ip[0], ip[1], ip[2], ip[3] = 0x60, 0, 0, 0
	ip[4], ip[5] = 0, 0
	ip[6], ip[7] = proto, hopLimit
	s, d := src.As16(), dstIP.As16()
	copy(ip[8:24], s[:])
	copy(ip[24:40], d[:])
	return dst
}

// Finish completes a frame built with AppendHeaders followed by its
// upper-layer payload: it sets the IPv6 payload length, the UDP length when
// the next header is UDP, and the upper-layer checksum.
func Finish(frame []byte) {
	ip := frame[EthernetHeaderLen:]
	payload := ip[IPv6HeaderLen:]
	binary.BigEndian.PutUint16(ip[4:6], uint16(len(payload)))
	src := netip.AddrFrom16([16]byte(ip[8:24]))
	dst := netip.AddrFrom16([16]byte(ip[24:40]))
	var off int
	switch ip[6] {
	case ProtoUDP:
		binary.BigEndian.PutUint16(payload[4:6], uint16(len(payload)))
		off = 6
	case ProtoICMPv6:
		off = 2
	default:
		return
	}
	payload[off], payload[off+1] = 0, 0
	binary.BigEndian.PutUint16(payload[off:], Checksum(src, dst, ip[6], payload))
}

// Checksum returns the Internet checksum of payload (with its checksum field
// zeroed) and the IPv6 pseudo-header (RFC 8200 8.1), ready to store. A
// computed 0 is returned as 0xffff, as UDP over IPv6 requires.
func Checksum(src, dst netip.Addr, proto uint8, payload []byte) uint16 {
	c := inetsum.Checksum(sum(src, dst, proto, payload))
	if c == 0 {
		c = 0xffff
	}
	return c
}

// VerifyChecksum reports whether payload, including its checksum field,
// sums to all ones with the IPv6 pseudo-header. A zero UDP checksum is
// invalid over IPv6 (RFC 8200 8.1) and is rejected here too.
func VerifyChecksum(src, dst netip.Addr, proto uint8, payload []byte) bool {
	if proto == ProtoUDP && len(payload) >= 8 && payload[6]|payload[7] == 0 {
		return false
	}
	return inetsum.Fold(sum(src, dst, proto, payload)) == 0xffff
}

// sum is the one's complement sum of payload and the IPv6 pseudo-header.
func sum(src, dst netip.Addr, proto uint8, payload []byte) uint64 {
	s, d := src.As16(), dst.As16()
	acc := inetsum.Add(inetsum.Add(uint64(len(payload))+uint64(proto), s[:]), d[:])
	return inetsum.Add(acc, payload)
}

// ErrDomain reports a name that cannot be encoded as an uncompressed DNS
// name (empty label, label over 63 bytes, name over 255 bytes on the wire).
var ErrDomain = errors.New("ip6frame: invalid domain name")

// DomainLen returns the wire length of name as an uncompressed DNS name
// (RFC 1035 3.1, as used by DNSSL and DHCPv6 option 24), or an error
// wrapping ErrDomain. A single trailing dot is allowed; "." is the root.
func DomainLen(name string) (int, error) {
	if name == "." {
		return 1, nil
	}
	if len(name) > 0 && name[len(name)-1] == '.' {
		name = name[:len(name)-1]
	}
	if name == "" {
		return 0, ErrDomain
	}
	n, label := 1, 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '.' {
			if label == 0 || label > 63 {
				return 0, ErrDomain
			}
			n += 1 + label
			label = 0
			continue
		}
		label++
	}
	if n > 255 {
		return 0, ErrDomain
	}
	return n, nil
}

// AppendDomain appends name in uncompressed DNS wire format. The name must
// have been checked with DomainLen; an invalid name appends nothing.
func AppendDomain(dst []byte, name string) []byte {
	if _, err := DomainLen(name); err != nil {
		return dst
	}
	if name != "." && name[len(name)-1] == '.' {
		name = name[:len(name)-1]
	}
	if name == "." {
		return append(dst, 0)
	}
	start := 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '.' {
			dst = append(dst, byte(i-start))
			dst = append(dst, name[start:i]...)
			start = i + 1
		}
	}
	return append(dst, 0)
}

// Grow extends dst by n bytes and returns the extended slice and its new
// n-byte tail for the caller to fill (its old contents are unspecified). It
// allocates only when dst lacks capacity.
func Grow(dst []byte, n int) ([]byte, []byte) {
	dst = slices.Grow(dst, n)
	l := len(dst)
	dst = dst[:l+n]
	return dst, dst[l:]
}
