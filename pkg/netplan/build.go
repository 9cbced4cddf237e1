package netplan

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/eui64"
	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/ifname"
	"github.com/diktyo/diktyo/pkg/mac"
)

// Sentinel errors of Build and its helpers; test with errors.Is.
var (
	// ErrInvalid: the NIC's environment cannot be planned (bad tap or link
	// name, unknown mode, malformed value).
	ErrInvalid = errors.New("invalid NIC")
	// ErrNoTable: a routed NIC's LINK is not a routing table.
	ErrNoTable = errors.New("not a routing table")
	// ErrNoSuchLink: the tap, or the bridge the NIC is attached to, does
	// not exist (when the plan is built, or when pkg/hostnet applies it).
	ErrNoSuchLink = errors.New("no such device")
	// ErrOutsideNetwork: the NIC's IP is not in its network's subnet.
	ErrOutsideNetwork = errors.New("IP outside the network")
)

// Instance tags (GRNET's) that turn one address family off for every NIC
// of an instance.
const (
	TagDisableIPv4 = "disable_ipv4"
	TagDisableIPv6 = "disable_ipv6"
)

// ProfileTagPrefix starts the instance tags that choose a NIC's firewall
// profile: synnefo:network:<NIC index, name or UUID>:<profile>.
const ProfileTagPrefix = "synnefo:network:"

// Options is the part of diktyo's configuration the planner needs.
type Options struct {
	// Network tag names (gnt-networking's MAC_FILTERED_TAG, NFDHCPD_TAG
	// and IP_LESS_ROUTED_TAG).
	MACFilteredTag  string
	NFDHCPDTag      string
	IPLessRoutedTag string
	// RoutedRequireTag gives the routed IPv4/IPv6 setup (rules, routes,
	// sysctls, proxies, announcements, ARP gateway) only to NICs of
	// networks tagged IPLessRoutedTag, as GRNET's scripts did; the other
	// routed NICs get only the constant tap MAC and the firewall. Without
	// it every routed NIC gets the setup, as Ganeti's own routed mode does.
	RoutedRequireTag bool
	// Uplink is the device to use for the uplink-side steps (proxy NDP,
	// unsolicited NA, gratuitous ARP) of a routed NIC whose table has no
	// default route of that family (UPLINK_<table> or UPLINK); "" for
	// none. It is used only while it exists (HostFacts.Link).
	Uplink string
	// TapMAC is the MAC of every routed tap (TAP_CONSTANT_MAC).
	TapMAC net.HardwareAddr
	// MACMask selects the MAC prefix of a private-filtered network.
	MACMask net.HardwareAddr
	// AntiSpoof restricts what the VM may send.
	AntiSpoof bool
	// Queues are nfdhcpd's queue numbers, used on NICs of networks with
	// the nfdhcpd tag.
	Queues Queues
	// PerTapRules gives each routed tap its own rules (iif TAP lookup
	// TABLE), as GRNET did, instead of the table's shared mark rule. Each
	// IPv6 rule change makes the kernel walk every IPv6 route, so this
	// costs more the more NICs a host has.
	PerTapRules bool
}

// Input is everything a Plan is computed from.
type Input struct {
	Env *ganeti.IfupEnv
	// Network is the NIC's network: Env.Network, or the pool's when Ganeti
	// passed none; nil for a NIC outside any network.
	Network *ganeti.Network
	Options Options
	// Facts are read from the host before planning: the tap, the link
	// (bridged and openvswitch) and, for routed NICs, Table (LINK resolved
	// with ParseTable) and its uplinks.
	Facts HostFacts
}

// IDOf returns the NICID of a kvm-ifup environment.
func IDOf(e *ganeti.IfupEnv) NICID {
	return NICID{Tap: e.Interface, Instance: e.Instance, UUID: e.UUID, Index: e.Index, Name: e.Name}
}

// Build computes the plan of one NIC. It is pure: the same Input always
// gives the same Plan.
func Build(in Input) (*Plan, error) {
	e := in.Env
	if e == nil {
		return nil, fmt.Errorf("%w: no environment", ErrInvalid)
	}
	if err := ifname.Validate(e.Interface); err != nil {
		return nil, fmt.Errorf("INTERFACE: %w: %w", ErrInvalid, err)
	}
	if len(e.MAC) != 6 {
		return nil, fmt.Errorf("%w: MAC %q: want 6 octets", ErrInvalid, e.MAC)
	}
	if !in.Facts.Tap.Exists {
		return nil, fmt.Errorf("tap %s: %w", e.Interface, ErrNoSuchLink)
	}
	netw := in.Network
	if netw.IsZero() {
		netw = nil
	}
	ipTags := ganeti.Tags(nil)
	if netw != nil {
		ipTags = netw.Tags
	}
	if e.IP.IsValid() && !e.IP.Is4() {
		return nil, fmt.Errorf("%w: IP %s: want an IPv4 address", ErrInvalid, e.IP)
	}
	if e.IP.IsValid() && netw != nil && netw.Subnet.IsValid() && !netw.Subnet.Contains(e.IP) {
		return nil, fmt.Errorf("%w: %s is not in %s (%s)", ErrOutsideNetwork, e.IP, netw.Subnet, netw.Name)
	}

	// The addresses the NIC has, after the instance's disable_ipv* tags.
	var ip4, ip6 netip.Addr
	if !e.Tags.Has(TagDisableIPv4) {
		ip4 = e.IP
	}
	if netw != nil && netw.Subnet6.IsValid() && !e.Tags.Has(TagDisableIPv6) {
		a, err := eui64.Addr(netw.Subnet6, net.HardwareAddr(e.MAC))
		if err != nil {
			return nil, fmt.Errorf("%w: network %s: %w", ErrInvalid, netw.Name, err)
		}
		ip6 = a
	}

	p := &Plan{NIC: IDOf(e), Host: Host{Tap: Tap{Name: e.Interface}}}
	p.Filter = Filter{Tap: e.Interface, MAC: cloneMAC(e.MAC), LinkLocal6: true}
	indev := e.Interface
	switch e.Mode {
	case ganeti.ModeRouted:
		p.Mode = ModeRouted
		if err := planRouted(p, in, netw, ip4, ip6); err != nil {
			return nil, err
		}
	case ganeti.ModeBridged:
		p.Mode = ModeBridged
		br := e.Link
		if br == "" {
			br = e.Bridge
		}
		if err := ifname.Validate(br); err != nil {
			return nil, fmt.Errorf("LINK (bridge): %w: %w", ErrInvalid, err)
		}
		if !in.Facts.Link.Exists {
			return nil, fmt.Errorf("bridge %s: %w", br, ErrNoSuchLink)
		}
		if in.Facts.Link.Kind != "" && in.Facts.Link.Kind != "bridge" {
			return nil, fmt.Errorf("%w: %s is a %s, not a bridge", ErrInvalid, br, in.Facts.Link.Kind)
		}
		p.Host.Tap.MTU = in.Facts.Link.MTU
		p.Host.Tap.Master = br
		p.Filter.Bridge = br
		indev = br
	case ganeti.ModeOpenvSwitch:
		p.Mode = ModeOpenvSwitch
		if err := ifname.Validate(e.Link); err != nil {
			return nil, fmt.Errorf("LINK (Open vSwitch bridge): %w: %w", ErrInvalid, err)
		}
		if !in.Facts.Link.Exists {
			return nil, fmt.Errorf("OVS bridge %s: %w", e.Link, ErrNoSuchLink)
		}
		p.Host.OVS = &OVSPort{Bridge: e.Link, Tag: e.VLAN.Access, Trunks: slices.Clone(e.VLAN.Trunks)}
		if len(in.Facts.Tap.MAC) == 6 {
			p.Filter.TapMAC = cloneMAC(in.Facts.Tap.MAC)
		}
		indev = e.Link
	default:
		return nil, fmt.Errorf("%w: MODE %q: want routed, bridged or openvswitch", ErrInvalid, e.Mode)
	}

	p.Filter.Mode = p.Mode
	if in.Options.AntiSpoof {
		p.Filter.AntiSpoof = true
		if ip4.IsValid() {
			p.Filter.IPv4 = []netip.Addr{ip4}
		}
		if ip6.IsValid() {
			p.Filter.IPv6 = []netip.Addr{ip6}
		}
	}
	p.Filter.Profile = ProfileOf(e)
	private := ipTags.Has(in.Options.MACFilteredTag) && in.Options.MACFilteredTag != ""
	if private && (p.Mode == ModeBridged || p.Mode == ModeOpenvSwitch) {
		mask := in.Options.MACMask
		if len(mask) != 6 {
			return nil, fmt.Errorf("%w: MAC mask %q: want 6 octets", ErrInvalid, mask)
		}
		prefix := make(mac.Addr, 6)
		for i := range prefix {
			prefix[i] = e.MAC[i] & mask[i]
		}
		p.Filter.MACFilter = &MACFilter{Prefix: prefix, Mask: cloneMAC(mask)}
	}
	if in.Options.NFDHCPDTag != "" && ipTags.Has(in.Options.NFDHCPDTag) {
		q := in.Options.Queues
		p.Filter.Queues = &q
		// nfdhcpd's router advertisements come from fe80::EUI-64 of the
		// INDEV's MAC (the bridge's); a routed tap's is set below.
		if p.Mode != ModeRouted && len(in.Facts.Link.MAC) == 6 {
			p.Filter.RouterLL6 = eui64.LinkLocal(net.HardwareAddr(in.Facts.Link.MAC))
		}
		b := &binding.Binding{
			Tap: e.Interface, InDev: indev, MAC: net.HardwareAddr(cloneMAC(e.MAC)), Hostname: e.Instance,
			Tags: e.Tags.Sorted(), Private: private,
		}
		if p.Mode == ModeBridged {
			b.MTU = in.Facts.Link.MTU
		}
		if ip4.IsValid() {
			b.IP = ip4
			b.Gateway, b.Subnet = netw.Gateway, netw.Subnet
		}
		if ip6.IsValid() {
			b.EUI64 = ip6
			b.Gateway6, b.Subnet6 = netw.Gateway6, netw.Subnet6
		}
		if err := b.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		p.Binding = b
	}
	if o := p.Host.OVS; o != nil {
		o.Guard = ovsGuard(p.Filter)
	}
	return p, nil
}

// ovsGuard is what the OpenFlow flows of an Open vSwitch port filter in
// the frames the VM sends (nil: nothing); the MAC filter and the profile
// (traffic to the VM) stay with pkg/firewall.
func ovsGuard(f Filter) *Filter {
	if !f.AntiSpoof && f.MACFilter == nil && f.Queues == nil {
		return nil
	}
	g := Filter{Tap: f.Tap, Mode: f.Mode, MAC: cloneMAC(f.MAC), AntiSpoof: f.AntiSpoof,
		IPv4: slices.Clone(f.IPv4), IPv6: slices.Clone(f.IPv6), LinkLocal6: f.LinkLocal6, RouterLL6: f.RouterLL6}
	if f.MACFilter != nil {
		g.MACFilter = &MACFilter{Prefix: cloneMAC(f.MACFilter.Prefix), Mask: cloneMAC(f.MACFilter.Mask)}
	}
	if f.Queues != nil {
		q := *f.Queues
		g.Queues = &q
	}
	return &g
}

// planRouted fills in the routed parts: GRNET's proxy-ARP/NDP setup in
// which the host has no address in the VM's network (the ip-less-routed
// setup), plus forwarding on the tap as Ganeti's net-common sets it.
// Steps on the uplink (proxy NDP, unsolicited NA, gratuitous ARP) need
// the table's default route device, or the configured uplink; without
// either they are left out and listed in Host.UplinkPending, and the NIC
// still comes up.
func planRouted(p *Plan, in Input, netw *ganeti.Network, ip4, ip6 netip.Addr) error {
	tap, f := p.NIC.Tap, in.Facts
	if f.Table <= 0 {
		return fmt.Errorf("%w: table %q", ErrNoTable, in.Env.Link)
	}
	if len(in.Options.TapMAC) != 6 {
		return fmt.Errorf("%w: TAP_CONSTANT_MAC %q: want 6 octets", ErrInvalid, in.Options.TapMAC)
	}
	p.Host.Tap.MAC = cloneMAC(in.Options.TapMAC)
	p.Filter.RouterLL6 = eui64.LinkLocal(in.Options.TapMAC)
	if in.Options.RoutedRequireTag && (netw == nil || in.Options.IPLessRoutedTag == "" || !netw.Tags.Has(in.Options.IPLessRoutedTag)) {
		return nil
	}
	rule := func(family int) Rule { return Rule{Family: family, IIF: tap, Table: f.Table} }
	if !in.Options.PerTapRules && (ip4.IsValid() || ip6.IsValid()) {
		mark, err := RouteMark(f.Table)
		if err != nil {
			return err
		}
		p.Filter.RouteMark = mark
		rule = func(family int) Rule { return Rule{Family: family, Mark: mark, Table: f.Table} }
	}
	uplink := func(family int) string { return f.UplinkOr(family, in.Options.Uplink) }
	if ip4.IsValid() {
		p.Host.Sysctls = append(p.Host.Sysctls,
			Sysctl{Key: "net/ipv4/conf/" + tap + "/proxy_arp", Value: "1"},
			Sysctl{Key: "net/ipv4/conf/" + tap + "/forwarding", Value: "1"})
		p.Host.Rules = append(p.Host.Rules, rule(4))
		p.Host.Routes = append(p.Host.Routes, Route{Dst: netip.PrefixFrom(ip4, 32), Dev: tap, Table: f.Table})
		if dev := uplink(4); dev != "" {
			p.Host.Announce = append(p.Host.Announce, Announce{Kind: GratuitousARP, Addr: ip4, Dev: dev})
		} else {
			p.Host.UplinkPending = append(p.Host.UplinkPending, UplinkPending{Addr: ip4, Table: f.Table})
		}
		if netw != nil && netw.Gateway.IsValid() {
			p.Filter.ARPGateway = netw.Gateway
		}
	}
	if ip6.IsValid() {
		p.Host.Sysctls = append(p.Host.Sysctls,
			Sysctl{Key: "net/ipv6/conf/" + tap + "/proxy_ndp", Value: "0"},
			Sysctl{Key: "net/ipv6/conf/" + tap + "/forwarding", Value: "1"})
		p.Host.Rules = append(p.Host.Rules, rule(6))
		p.Host.Routes = append(p.Host.Routes, Route{Dst: netip.PrefixFrom(ip6, 128), Dev: tap, Table: f.Table})
		if dev := uplink(6); dev != "" {
			p.Host.ProxyNeighs = append(p.Host.ProxyNeighs, ProxyNeigh{Addr: ip6, Dev: dev})
			p.Host.Announce = append(p.Host.Announce, Announce{Kind: UnsolicitedNA, Addr: ip6, Dev: dev})
		} else {
			p.Host.UplinkPending = append(p.Host.UplinkPending, UplinkPending{Addr: ip6, Table: f.Table})
		}
	}
	return nil
}

// ProfileOf returns the firewall profile the instance's tags choose for
// the NIC (synnefo:network:<index|name|uuid>:<profile>). When tags
// disagree the most restrictive profile wins, since tags have no order.
func ProfileOf(e *ganeti.IfupEnv) Profile {
	ids := []string{strconv.Itoa(e.Index)}
	if e.Name != "" {
		ids = append(ids, e.Name)
	}
	if e.UUID != "" {
		ids = append(ids, e.UUID)
	}
	rank := map[Profile]int{ProfileUnprotected: 1, ProfileLimited: 2, ProfileProtected: 3}
	best := ProfileNone
	for tag := range e.Tags {
		rest, ok := strings.CutPrefix(tag, ProfileTagPrefix)
		if !ok {
			continue
		}
		i := strings.LastIndexByte(rest, ':')
		if i < 0 || !slices.Contains(ids, rest[:i]) {
			continue
		}
		if p := Profile(rest[i+1:]); rank[p] > rank[best] {
			best = p
		}
	}
	return best
}

// ParseTable resolves a routed NIC's LINK to a table number: a decimal
// number, or a name from /etc/iproute2/rt_tables (names, see
// ParseRTTables).
func ParseTable(link string, names map[string]int) (int, error) {
	if n, err := strconv.ParseUint(link, 10, 32); err == nil {
		if n == 0 || n == 253 || n == 254 || n == 255 {
			return 0, fmt.Errorf("%w: table %s is reserved", ErrNoTable, link)
		}
		return int(n), nil
	}
	if n, ok := names[link]; ok && n > 0 && n != 253 && n != 254 && n != 255 {
		return n, nil
	}
	return 0, fmt.Errorf("%w: %q (want a table number or a name from rt_tables)", ErrNoTable, link)
}

// ParseRTTables reads an iproute2 rt_tables file ("NUMBER NAME" lines,
// "#" comments).
func ParseRTTables(r io.Reader) map[string]int {
	m := map[string]int{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, err := strconv.ParseUint(f[0], 0, 32)
		if err != nil {
			continue
		}
		m[f[1]] = int(n)
	}
	return m
}

func cloneMAC[M ~[]byte](m M) mac.Addr {
	if m == nil {
		return nil
	}
	return mac.Addr(slices.Clone(m))
}
