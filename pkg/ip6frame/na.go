package ip6frame

import (
	"net"
	"net/netip"

	"github.com/diktyo/diktyo/pkg/eui64"
)

// Neighbour advertisement flags (RFC 4861 4.4), for AppendNA.
const (
	NARouter    = 0x80
	NASolicited = 0x40
	NAOverride  = 0x20
)

// ICMPv6 and NDP numbers the builders here write (RFC 4861).
const (
	icmpNeighborAdvertisement = 136
	optTargetLinkLayer        = 2
)

// AppendLLAO appends an NDP link-layer address option of type typ (source
// or target) carrying the 6-byte mac.
func AppendLLAO(dst []byte, typ byte, mac net.HardwareAddr) []byte {
	dst, b := Grow(dst, 8)
	b[0], b[1] = typ, 1
	clear(b[2:])
	copy(b[2:], mac)
	return dst
}

// AppendNA appends a neighbour advertisement frame for target with the
// given flags and a target link-layer address option of srcMAC: the
// answer of the NDP responder (pkg/ndp) and the announcement of
// diktyo-ifup (pkg/hostnet).
func AppendNA(dst []byte, dstMAC, srcMAC []byte, src, dstIP, target netip.Addr, flags byte) []byte {
	start := len(dst)
	dst = AppendHeaders(dst, dstMAC, srcMAC, src, dstIP, ProtoICMPv6, 255)
	dst, b := Grow(dst, 24)
	b[0], b[1], b[2], b[3] = icmpNeighborAdvertisement, 0, 0, 0
	b[4], b[5], b[6], b[7] = flags, 0, 0, 0
	t := target.As16()
	copy(b[8:], t[:])
	dst = AppendLLAO(dst, optTargetLinkLayer, srcMAC)
	Finish(dst[start:])
	return dst
}

// AppendUnsolicitedNA appends an unsolicited neighbour advertisement for
// target (R=0, S=0, O=1) from srcMAC to all nodes (ff02::1), as
// diktyo-ifup sends on the uplink so upstream routers learn target is
// behind srcMAC. The source address is srcMAC's link-local (RFC 4861
// 7.2.6: an address of the sending interface).
func AppendUnsolicitedNA(dst []byte, srcMAC net.HardwareAddr, target netip.Addr) []byte {
	allNodes := netip.AddrFrom16([16]byte{0xff, 0x02, 15: 1})
	mac := MulticastMAC(allNodes)
	return AppendNA(dst, mac[:], srcMAC, eui64.LinkLocal(srcMAC), allNodes, target, NAOverride)
}
