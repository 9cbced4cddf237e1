package eui64

import (
	"errors"
	"net"
	"net/netip"
	"testing"
)

func TestAddr(t *testing.T) {
	for _, tc := range []struct{ prefix, mac, want string }{
		// The GRNET sample binding (binding-routed.tap5).
		{"2001:db8:100::/64", "aa:00:01:12:34:56", "2001:db8:100:0:a800:1ff:fe12:3456"},
		{"2001:db8::/64", "aa:00:00:0d:f1:78", "2001:db8::a800:ff:fe0d:f178"},
		// Host bits of the prefix are ignored.
		{"2001:db8::1/64", "aa:00:00:0d:f1:78", "2001:db8::a800:ff:fe0d:f178"},
		// Universal MAC: bit 0x02 set by the flip.
		{"2001:db8:1:2::/64", "00:11:22:33:44:55", "2001:db8:1:2:211:22ff:fe33:4455"},
		{"2001:db8:1:2::/64", "ff:ff:ff:ff:ff:ff", "2001:db8:1:2:fdff:ffff:feff:ffff"},
	} {
		mac, _ := net.ParseMAC(tc.mac)
		got, err := Addr(netip.MustParsePrefix(tc.prefix), mac)
		if err != nil || got.String() != tc.want {
			t.Errorf("Addr(%s, %s) = %v, %v; want %s", tc.prefix, tc.mac, got, err, tc.want)
		}
	}
}

func TestAddrInvalid(t *testing.T) {
	mac, _ := net.ParseMAC("aa:00:00:00:00:01")
	for _, bad := range []netip.Prefix{{}, netip.MustParsePrefix("2001:db8::/48"),
		netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("::ffff:0:0/96")} {
		if a, err := Addr(bad, mac); !errors.Is(err, ErrInvalid) || a.IsValid() {
			t.Errorf("Addr(%v) = %v, %v; want ErrInvalid", bad, a, err)
		}
	}
	long, _ := net.ParseMAC("aa:bb:cc:dd:ee:ff:00:11")
	if a, err := Addr(netip.MustParsePrefix("2001:db8::/64"), long); !errors.Is(err, ErrInvalid) || a.IsValid() {
		t.Errorf("EUI-64 MAC: %v, %v; want ErrInvalid", a, err)
	}
}

func TestLinkLocal(t *testing.T) {
	mac, _ := net.ParseMAC("aa:00:00:12:34:56")
	if got := LinkLocal(mac).String(); got != "fe80::a800:ff:fe12:3456" {
		t.Errorf("LinkLocal = %s", got)
	}
	if got := LinkLocal(mac[:5]); got.IsValid() {
		t.Errorf("LinkLocal of 5 octets = %v, want the zero Addr", got)
	}
}
