package announce

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// Ethernet and ARP constants of a gratuitous ARP.
const (
	etherTypeARP = 0x0806
	ethMinFrame  = 60 // without FCS; short frames are padded with zeros
)

// GratuitousARP appends a gratuitous ARP request for ip from mac to
// broadcast (RFC 5227 announcement: sender and target protocol address
// both ip, target hardware address zero), padded to the Ethernet minimum.
// Upstream routers that already know ip update it to mac. (The unsolicited
// NA is ip6frame.AppendUnsolicitedNA.)
func GratuitousARP(dst []byte, mac net.HardwareAddr, ip netip.Addr) []byte {
	start := len(dst)
	a4 := ip.As4()
	dst = append(dst, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff) // destination: broadcast
	dst = append(dst, mac[:6]...)                         // source
	dst = binary.BigEndian.AppendUint16(dst, etherTypeARP)
	dst = binary.BigEndian.AppendUint16(dst, 1)      // htype Ethernet
	dst = binary.BigEndian.AppendUint16(dst, 0x0800) // ptype IPv4
	dst = append(dst, 6, 4)                          // hlen, plen
	dst = binary.BigEndian.AppendUint16(dst, 1)      // op request
	dst = append(dst, mac[:6]...)                    // sender hardware address
	dst = append(dst, a4[:]...)                      // sender protocol address
	dst = append(dst, 0, 0, 0, 0, 0, 0)              // target hardware address
	dst = append(dst, a4[:]...)                      // target protocol address
	for len(dst)-start < ethMinFrame {
		dst = append(dst, 0)
	}
	return dst
}
