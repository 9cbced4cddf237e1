// Package eui64 computes the modified EUI-64 address of a NIC: an IPv6 /64
// prefix followed by the interface identifier derived from the NIC's 48-bit
// MAC (bit 0x02 of the first octet flipped, ff:fe inserted in the middle).
// The mapping is a contract: it is bit-identical to GRNET's mac2eui64, which
// the hosts diktyo replaces used to write into binding files and firewall
// rules. It is the one place diktyo computes the mapping; it imports only
// the standard library so that pure planners can use it.
package eui64

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// ErrInvalid is returned for a prefix that is not an IPv6 /64 or a MAC that
// is not 48 bits long.
var ErrInvalid = errors.New("invalid EUI-64 input")

// Addr returns the address of the NIC with the given MAC in the IPv6 /64
// prefix.
func Addr(prefix netip.Prefix, mac net.HardwareAddr) (netip.Addr, error) {
	if !prefix.IsValid() || !prefix.Addr().Is6() || prefix.Addr().Is4In6() || prefix.Bits() != 64 {
		return netip.Addr{}, fmt.Errorf("eui64: prefix %v: %w: need an IPv6 /64", prefix, ErrInvalid)
	}
	if len(mac) != 6 {
		return netip.Addr{}, fmt.Errorf("eui64: MAC %v: %w: need 6 octets", mac, ErrInvalid)
	}
	a := prefix.Masked().Addr().As16()
	a[8] = mac[0] ^ 0x02
	a[9], a[10] = mac[1], mac[2]
	a[11], a[12] = 0xff, 0xfe
	a[13], a[14], a[15] = mac[3], mac[4], mac[5]
	return netip.AddrFrom16(a), nil
}

// LinkLocal returns the NIC's address in fe80::/64 (the only link-local
// prefix RFC 4291 lets an interface use), or the zero Addr when mac is not
// 48 bits long.
func LinkLocal(mac net.HardwareAddr) netip.Addr {
	a, _ := Addr(netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfe, 0x80}), 64), mac)
	return a
}
