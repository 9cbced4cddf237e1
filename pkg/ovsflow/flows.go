package ovsflow

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/diktyo/diktyo/pkg/eui64"
	"github.com/diktyo/diktyo/pkg/netplan"
)

// ErrInvalid is returned (wrapped) for a port whose guard cannot be turned
// into flows.
var ErrInvalid = errors.New("invalid Open vSwitch guard")

// CookieBase marks diktyo's flows: the top 16 bits of every cookie.
// `ovs-ofctl del-flows BR cookie=0xd1d1000000000000/0xffff000000000000`
// removes all of them.
const CookieBase uint64 = 0xd1d1 << 48

// Cookie is the cookie of tap's flows: CookieBase and 48 bits of the
// FNV-1a hash of the name. It depends on the tap name only, so a down
// finds the flows of an up whatever its configuration was.
func Cookie(tap string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(tap))
	return CookieBase | h.Sum64()&(1<<48-1)
}

// DeleteMatch is the del-flows match of cookie's flows.
func DeleteMatch(cookie uint64) string { return fmt.Sprintf("cookie=%#x/-1", cookie) }

// Queue marks: the same encoding as pkg/firewall's MarkQueue | bypass<<16
// | queue number (checked by its tests).
const (
	markQueue       uint32 = 0xd1c00000
	markQueueBypass uint32 = 0x00010000
)

// QueueMark is the packet mark of nfdhcpd queue num.
func QueueMark(num uint16, bypass bool) uint32 {
	m := markQueue | uint32(num)
	if bypass {
		m |= markQueueBypass
	}
	return m
}

// SteerMAC is the destination MAC of a frame steered to the bridge's local
// port for the queue of mark: 03:00 followed by the mark, big-endian.
func SteerMAC(mark uint32) net.HardwareAddr {
	return net.HardwareAddr{0x03, 0x00, byte(mark >> 24), byte(mark >> 16), byte(mark >> 8), byte(mark)}
}

// SteerPrefix and SteerMask select steered frames by destination MAC:
// daddr & SteerMask == SteerPrefix holds for SteerMAC of every queue mark
// (bypass or not); the mark is the last four bytes.
var (
	SteerPrefix = net.HardwareAddr{0x03, 0x00, 0xd1, 0xc0, 0, 0}
	SteerMask   = net.HardwareAddr{0xff, 0xff, 0xff, 0xfe, 0, 0}
)

// Flow priorities (see the package doc).
const (
	prioDrop     = 40050
	prioSteer    = 40045
	prioND       = 40040
	prioNDDrop   = 40030
	prioAllow    = 40010
	prioCatchAll = 40000
)

// Actions. A passed frame sets bit 0 of register 13 and goes through
// table 0 again, where diktyo's flows (guard) no longer match.
const (
	guard      = "reg13=0/0x1"
	actAllow   = "load:1->NXM_NX_REG13[0],resubmit(,0)"
	actDrop    = "drop"
	zeroMAC    = "00:00:00:00:00:00"
	untagged   = "vlan_tci=0/0x1000"
	portDHCP   = 67
	portDHCPv6 = 547
	icmpRedir  = 5
	icmp6RS    = 133
	icmp6RA    = 134
	icmp6NS    = 135
	icmp6NA    = 136
	icmp6Redir = 137
	icmp6MLDv2 = 143
)

// Flows are the flows of one port.
type Flows struct {
	Bridge string
	Port   string
	Cookie uint64
	// Specs are the flows in ovs-ofctl syntax, highest priority first.
	Specs []string
}

// Input is the input of `ovs-ofctl --bundle add-flows BRIDGE -`: delete
// the cookie's flows, then add each flow, in one transaction.
func (f Flows) Input() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "delete %s\n", DeleteMatch(f.Cookie))
	for _, s := range f.Specs {
		fmt.Fprintf(&b, "add %s\n", s)
	}
	return b.Bytes()
}

// String renders the flows as Input does.
func (f Flows) String() string { return string(f.Input()) }

// builder accumulates the flows of one port.
type builder struct {
	prefix string // cookie, table, guard, in_port
	mac    string
	specs  []string
}

func (b *builder) add(prio int, match, actions string) {
	b.specs = append(b.specs, fmt.Sprintf("priority=%d,%s actions=%s", prio, join(b.prefix, match), actions))
}

// Build returns the flows of port p (p.Guard must be set) for tap. It is
// pure.
func Build(tap string, p netplan.OVSPort) (Flows, error) {
	g := p.Guard
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s: %s: %w", tap, fmt.Sprintf(format, a...), ErrInvalid)
	}
	switch {
	case g == nil:
		return Flows{}, bad("no guard")
	case p.Bridge == "":
		return Flows{}, bad("no bridge")
	case tap == "" || strings.ContainsAny(tap, "\"\\,= \t\n\x00") || g.Tap != tap:
		return Flows{}, bad("port name %q (guard of %q)", tap, g.Tap)
	case len(g.MAC) != 6:
		return Flows{}, bad("MAC %q is not Ethernet", g.MAC)
	}
	cookie := Cookie(tap)
	b := &builder{prefix: fmt.Sprintf("cookie=%#x,table=0,%s,in_port=%q", cookie, guard, tap), mac: g.MAC.String()}
	src, err := sourcesOf(g)
	if err != nil {
		return Flows{}, bad("%v", err)
	}
	dl := "dl_src=" + b.mac
	if g.AntiSpoof {
		for _, m := range []string{
			"udp,tp_src=67", fmt.Sprintf("icmp,icmp_type=%d", icmpRedir), "udp6,tp_src=547",
			fmt.Sprintf("icmp6,icmp_type=%d", icmp6RA), fmt.Sprintf("icmp6,icmp_type=%d", icmp6Redir),
			fmt.Sprintf("icmp6,icmp_type=%d,nd_target=::", icmp6NS),
		} {
			b.add(prioDrop, m, actDrop)
		}
		if a := g.RouterLL6; a.IsValid() {
			// Never from the router's link-local (see pkg/firewall).
			b.add(prioDrop, "ipv6,ipv6_src="+a.String(), actDrop)
		}
	}
	nsCopy := ""
	if q := g.Queues; q != nil {
		steer := func(num uint16) string {
			return "mod_dl_dst:" + SteerMAC(QueueMark(num, q.Bypass)).String() + ",LOCAL"
		}
		if len(src.v4) > 0 || !g.AntiSpoof {
			for _, s := range src.with4() {
				b.add(prioSteer, join("udp", untagged, dl, s, fmt.Sprintf("tp_dst=%d", portDHCP)), steer(q.DHCP))
			}
		}
		for _, s := range src.v6 {
			b.add(prioSteer, join("udp6", untagged, dl, s, fmt.Sprintf("tp_dst=%d", portDHCPv6)), steer(q.DHCPv6))
		}
		for _, s := range src.with6() {
			b.add(prioSteer, join("icmp6", untagged, dl, s, fmt.Sprintf("icmp_type=%d", icmp6RS)), steer(q.RS))
		}
		nsCopy = "," + steer(q.NS)
	}
	switch {
	case g.AntiSpoof:
		b.neighbourDiscovery(g, src, nsCopy)
		b.allows(src)
		b.add(prioCatchAll, "", actDrop)
	case g.MACFilter != nil:
		b.add(prioND, join("icmp6", dl, fmt.Sprintf("icmp_type=%d", icmp6NS)), actAllow+nsCopy)
		b.add(prioAllow, dl, actAllow)
		b.add(prioCatchAll, "", actDrop)
	case nsCopy != "":
		b.add(prioND, join("icmp6", dl, fmt.Sprintf("icmp_type=%d", icmp6NS)), actAllow+nsCopy)
	}
	return Flows{Bridge: p.Bridge, Port: tap, Cookie: cookie, Specs: b.specs}, nil
}

// neighbourDiscovery adds the NA, NS and RS flows of an anti-spoofed port.
func (b *builder) neighbourDiscovery(g *netplan.Filter, src sources, nsCopy string) {
	dl := "dl_src=" + b.mac
	for _, s := range src.v6 {
		for _, t := range src.targets {
			for _, l := range []string{b.mac, zeroMAC} {
				b.add(prioND, join("icmp6", dl, s, fmt.Sprintf("icmp_type=%d", icmp6NA), "nd_target="+t, "nd_tll="+l), actAllow)
			}
		}
	}
	for _, s := range src.v6 {
		for _, l := range []string{b.mac, zeroMAC} {
			b.add(prioND, join("icmp6", dl, s, fmt.Sprintf("icmp_type=%d", icmp6NS), "nd_sll="+l), actAllow+nsCopy)
		}
	}
	// Duplicate address detection: from ::, never with a link-layer option.
	b.add(prioND, join("icmp6", dl, "ipv6_src=::", fmt.Sprintf("icmp_type=%d", icmp6NS), "nd_sll="+zeroMAC), actAllow)
	for _, s := range src.with6() {
		b.add(prioND, join("icmp6", dl, s, fmt.Sprintf("icmp_type=%d", icmp6RS)), actAllow)
	}
	for _, t := range []int{icmp6NS, icmp6NA, icmp6RS} {
		b.add(prioNDDrop, fmt.Sprintf("icmp6,icmp_type=%d", t), actDrop)
	}
}

// allows adds the ARP, IPv4 and IPv6 source allows of an anti-spoofed port.
func (b *builder) allows(src sources) {
	dl := "dl_src=" + b.mac
	if len(src.v4) > 0 {
		for _, s := range src.with4() {
			b.add(prioAllow, join("arp", dl, "arp_sha="+b.mac, strings.Replace(s, "nw_src=", "arp_spa=", 1)), actAllow)
		}
		for _, s := range src.v4 {
			b.add(prioAllow, join("ip", dl, s), actAllow)
		}
		b.add(prioAllow, join("udp", dl, "nw_src=0.0.0.0", fmt.Sprintf("tp_dst=%d", portDHCP)), actAllow)
	}
	for _, s := range src.v6 {
		b.add(prioAllow, join("ipv6", dl, s), actAllow)
	}
	b.add(prioAllow, join("icmp6", dl, "ipv6_src=::", fmt.Sprintf("icmp_type=%d", icmp6MLDv2)), actAllow)
}

// sources are the match fields of the VM's addresses: v4 and v6 the
// allowed IPv4 and IPv6 sources (nw_src=…, ipv6_src=…; one empty match
// when the port has no anti-spoofing), targets the addresses its NAs may
// claim.
type sources struct {
	v4, v6  []string
	targets []string
}

// with4 and with6 are v4 and v6 plus the unspecified address (when they
// constrain the source at all).
func (s sources) with4() []string { return s.with(s.v4, "nw_src=", netip.IPv4Unspecified()) }
func (s sources) with6() []string { return s.with(s.v6, "ipv6_src=", netip.IPv6Unspecified()) }

func (s sources) with(l []string, field string, unspec netip.Addr) []string {
	if len(l) == 1 && l[0] == "" {
		return l
	}
	return append([]string{field + unspec.String()}, l...)
}

func sourcesOf(g *netplan.Filter) (sources, error) {
	if !g.AntiSpoof {
		return sources{v4: []string{""}, v6: []string{""}}, nil
	}
	var s sources
	var v4 []netip.Addr
	for _, a := range g.IPv4 {
		a = a.Unmap()
		if !a.Is4() || a.IsUnspecified() {
			return s, fmt.Errorf("%s is not a usable IPv4 address", a)
		}
		if !slices.Contains(v4, a) {
			v4 = append(v4, a)
			s.v4 = append(s.v4, "nw_src="+a.String())
		}
	}
	ll := netip.MustParsePrefix("fe80::/64")
	eui, err := eui64.Addr(ll, net.HardwareAddr(g.MAC))
	if err != nil {
		return s, err
	}
	targets := []netip.Addr{eui}
	v6 := []string{"ipv6_src=" + eui.String()}
	if g.LinkLocal6 {
		v6 = []string{"ipv6_src=" + ll.String()}
	}
	for _, a := range g.IPv6 {
		a = a.WithZone("")
		if !a.Is6() || a.Is4In6() || a.IsUnspecified() {
			return s, fmt.Errorf("%s is not a usable IPv6 address", a)
		}
		if a.IsLinkLocalUnicast() {
			if !g.LinkLocal6 && !slices.Contains(v6, "ipv6_src="+a.String()) {
				v6 = append(v6, "ipv6_src="+a.String())
			}
			continue // never an NA target: only the EUI-64 link-local is
		}
		if !slices.Contains(targets, a) {
			targets = append(targets, a)
			v6 = append(v6, "ipv6_src="+a.String())
		}
	}
	s.v6 = v6
	for _, t := range targets {
		s.targets = append(s.targets, t.String())
	}
	return s, nil
}

// join joins the non-empty match fields with commas.
func join(fields ...string) string {
	return strings.Join(slices.DeleteFunc(fields, func(s string) bool { return s == "" }), ",")
}
