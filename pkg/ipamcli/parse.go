package ipamcli

import (
	"net"
	"net/netip"
	"strings"

	"github.com/diktyo/diktyo/pkg/ipam"
)

// isNone reports Ganeti's "none", which clears an optional value.
func isNone(s string) bool { return strings.EqualFold(strings.TrimSpace(s), "none") }

func parseSubnet4(flag, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, usagef("--%s %q: not an IPv4 CIDR like 198.51.100.0/24", flag, s)
	}
	return p, nil
}

func parseSubnet6(flag, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() {
		return netip.Prefix{}, usagef("--%s %q: not an IPv6 CIDR like 2001:db8::/64", flag, s)
	}
	return p, nil
}

func parseAddr4(what, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || !a.Is4() {
		return netip.Addr{}, usagef("%s %q: not an IPv4 address", what, s)
	}
	return a, nil
}

func parseAddr6(what, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
		return netip.Addr{}, usagef("%s %q: not an IPv6 address", what, s)
	}
	return a, nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseAddrList(flag, s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, f := range splitList(s) {
		a, err := parseAddr4("--"+flag, f)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func parseRanges(flag, s string) ([]ipam.Range, error) {
	var out []ipam.Range
	for _, f := range splitList(s) {
		r, err := ipam.ParseRange(f)
		if err != nil {
			return nil, usagef("--%s: %v", flag, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func parseMACPrefix(s string) (ipam.MACPrefix, error) {
	p, err := ipam.ParseMACPrefix(strings.ToLower(strings.TrimSpace(s)))
	if err != nil {
		return p, usagef("--mac-prefix: %v", err)
	}
	return p, nil
}

func parseMAC(s string) (net.HardwareAddr, error) {
	m, err := net.ParseMAC(strings.TrimSpace(s))
	if err != nil || len(m) != 6 {
		return nil, usagef("MAC %q: not a MAC address like aa:00:00:12:34:56", s)
	}
	return m, nil
}

func parseOwner(flag, s string) (ipam.Owner, error) {
	o, err := ipam.ParseOwner(s)
	if err != nil {
		return o, usagef("--%s: %v; want INSTANCE[:NIC]", flag, err)
	}
	return o, nil
}

// parseNICParams parses gnt-network connect's --nic-parameters
// (mode=routed,link=100,vlan=...). The mode defaults to bridged, as in
// Ganeti; the link is required.
func parseNICParams(s string) (ipam.Connection, error) {
	c := ipam.Connection{Mode: ipam.ModeBridged}
	for _, kv := range splitList(s) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return c, usagef("--nic-parameters: %q: want KEY=VALUE", kv)
		}
		switch strings.TrimSpace(k) {
		case "mode":
			m, err := ipam.ParseMode(strings.TrimSpace(v))
			if err != nil {
				return c, usagef("--nic-parameters: %v", err)
			}
			c.Mode = m
		case "link":
			c.Link = strings.TrimSpace(v)
		case "vlan":
			c.VLAN = strings.TrimSpace(v)
		default:
			return c, usagef("--nic-parameters: unknown parameter %q; want mode, link, vlan", k)
		}
	}
	if c.Link == "" {
		return c, usagef("--nic-parameters: link is required (mode=MODE,link=LINK[,vlan=VLAN])")
	}
	return c, nil
}
