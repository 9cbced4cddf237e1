package ipam

import (
	"fmt"
	"net"
	"net/netip"
)

// EUI64 returns the address of the NIC with the given MAC in an IPv6 /64:
// the prefix followed by the modified EUI-64 interface identifier (bit 0x02
// of the first octet flipped, ff:fe inserted in the middle). It is
// bit-identical to GRNET's mac2eui64.
func EUI64(prefix netip.Prefix, mac net.HardwareAddr) (netip.Addr, error) {
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
