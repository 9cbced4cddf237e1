package firewall

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"

	"github.com/diktyo/diktyo/pkg/netplan"
)

// TableName is the name of each of diktyo's tables (one per family).
const TableName = "diktyo"

// Names of the shared objects in diktyo's tables.
const (
	mapNICs      = "nics"     // ifname → jump nic_<tap> (inet, bridge, arp)
	mapQueues    = "queues"   // mark → jump queue_<n> (inet)
	mapProfiles  = "profiles" // mark → jump <profile> (inet)
	chainPrefix  = "nic_"     // per-NIC chains: nic_<tap>
	chainProt    = "protected"
	chainLimited = "limited"
)

// Packet marks diktyo sets. They are diktyo's: the range 0xd1c00000 –
// 0xd1dfffff must not be used by other rules on the host.
const (
	// MarkQueue | bypass<<16 | queue number: a packet from a VM that
	// must be queued to nfdhcpd (set at the tap's netdev ingress, read in
	// inet prerouting — where bridged packets no longer show the tap).
	MarkQueue       uint32 = 0xd1c00000
	markQueueBypass uint32 = 0x00010000
	// Profile marks: set in the bridge forward chain of a bridged NIC,
	// read in inet forward (br_netfilter), where the tap is not visible.
	MarkProtected uint32 = 0xd1d00001
	MarkLimited   uint32 = 0xd1d00002
)

// Hook priorities.
const (
	prioNetdevIngress = -500 // before anything else on the tap
	prioInetQueue     = -300 // raw: before conntrack sees DHCP/NDP
	prioInetForward   = 0
	prioBridge        = -200
	prioARP           = 0
)

// DefaultMACMask is snf-network's default MAC_MASK.
var defaultMACMask = [6]byte{0xff, 0xff, 0xf0, 0, 0, 0}

// ErrInvalidFilter is returned (wrapped) for a Filter that cannot be
// turned into rules.
var ErrInvalidFilter = errors.New("invalid filter")

// QueueTarget is one NFQUEUE destination.
type QueueTarget struct {
	Num    uint16
	Bypass bool
}

func (q QueueTarget) mark() uint32 {
	m := MarkQueue | uint32(q.Num)
	if q.Bypass {
		m |= markQueueBypass
	}
	return m
}

func (q QueueTarget) chain() string {
	if q.Bypass {
		return fmt.Sprintf("queue_%d_bypass", q.Num)
	}
	return fmt.Sprintf("queue_%d", q.Num)
}

// DefaultQueues are nfdhcpd's default queues (dhcp 42, rs 43, ns 44,
// dhcpv6 45), without bypass.
func DefaultQueues() []QueueTarget {
	return []QueueTarget{{Num: 42}, {Num: 43}, {Num: 44}, {Num: 45}}
}

// Ruleset is a set of maps and chains in diktyo's tables.
type Ruleset struct {
	Maps   []Map
	Chains []Chain
}

// String renders the ruleset as nft syntax, one table per family.
func (r Ruleset) String() string {
	var b strings.Builder
	for _, f := range families {
		if f == FamilyNetdev {
			continue // one table per NIC
		}
		fmt.Fprintf(&b, "table %s %s {\n", f, TableName)
		for _, m := range r.Maps {
			if m.Family != f {
				continue
			}
			fmt.Fprintf(&b, "\tmap %s {\n\t\ttype %s : verdict\n", m.Name, m.Key.Name)
			if len(m.Elements) > 0 {
				el := make([]string, len(m.Elements))
				for i, e := range m.Elements {
					el[i] = e.text + " : jump " + e.Chain
				}
				fmt.Fprintf(&b, "\t\telements = { %s }\n", strings.Join(el, ", "))
			}
			b.WriteString("\t}\n")
		}
		for _, c := range r.Chains {
			if c.Family == f {
				b.WriteString(c.String())
			}
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// NICRules is what diktyo installs for one NIC: its own chains (at most
// one per family, all named nic_<tap>), the map elements that dispatch to
// them, and the shared queue chains its marks lead to.
type NICRules struct {
	Tap      string
	Chains   []Chain
	Elements []Element
	Queues   []QueueTarget
}

// NetdevTable is the netdev table of tap: one table per NIC, because
// nf_tables checks a new netdev base chain against every base chain of
// its table (measured: the cost of a netdev chain update doubles with
// 1000 NICs in one table, and stays flat with one table each).
func NetdevTable(tap string) string { return TableName + "_" + tap }

// ChainName is the name of the per-NIC chains of tap.
func ChainName(tap string) string { return chainPrefix + tap }

// Has reports whether the NIC has a chain in family f.
func (n NICRules) Has(f Family) bool {
	return slices.ContainsFunc(n.Chains, func(c Chain) bool { return c.Family == f })
}

// String renders the per-NIC chains and elements as nft syntax.
func (n NICRules) String() string {
	var b strings.Builder
	for _, f := range families {
		for _, c := range n.Chains {
			if c.Family == f {
				fmt.Fprintf(&b, "table %s %s {\n%s}\n", f, c.table(), c)
			}
		}
	}
	for _, e := range n.Elements {
		b.WriteString(e.String() + "\n")
	}
	for _, q := range n.Queues {
		fmt.Fprintf(&b, "# queue chain %s (mark 0x%08x)\n", q.chain(), q.mark())
	}
	return b.String()
}

func nicElement(f Family, tap string) Element {
	return Element{Family: f, Map: mapNICs, Key: IfnameKey(tap), Chain: ChainName(tap), text: fmt.Sprintf("%q", tap)}
}

func markElement(mapName string, mark uint32, chain string) Element {
	return Element{Family: FamilyInet, Map: mapName, Key: ne32(mark), Chain: chain, text: fmt.Sprintf("0x%08x", mark)}
}

// Skeleton is the shared part of diktyo's tables: maps, base chains,
// profile chains and the queue chains of queues.
func Skeleton(queues []QueueTarget) Ruleset {
	ifname := nftables.TypeIFName
	mark := nftables.TypeMark
	r := Ruleset{
		Maps: []Map{
			{Family: FamilyInet, Name: mapNICs, Key: ifname},
			{Family: FamilyInet, Name: mapQueues, Key: mark},
			{Family: FamilyInet, Name: mapProfiles, Key: mark, Elements: []Element{
				markElement(mapProfiles, MarkProtected, chainProt),
				markElement(mapProfiles, MarkLimited, chainLimited),
			}},
			{Family: FamilyBridge, Name: mapNICs, Key: ifname},
			{Family: FamilyARP, Name: mapNICs, Key: ifname},
		},
		Chains: []Chain{
			{Family: FamilyInet, Name: "prerouting", Hook: Hook{Name: "prerouting", Priority: prioInetQueue},
				Rules: []Rule{{vmap(expr.MetaKeyMARK, mapQueues)}}},
			{Family: FamilyInet, Name: "forward", Hook: Hook{Name: "forward", Priority: prioInetForward},
				Rules: []Rule{{vmap(expr.MetaKeyOIFNAME, mapNICs)}, {vmap(expr.MetaKeyMARK, mapProfiles)}}},
			{Family: FamilyInet, Name: chainProt, Rules: []Rule{
				{ctStateEstablishedRelated(), accept()},
				{l4proto(protoICMP), accept()},
				{l4proto(protoICMPv6), accept()},
				{l4proto(protoUDP), l4port("udp", true, expr.CmpOpEq, portDNS), accept()},
				{l4proto(protoTCP), l4port("tcp", true, expr.CmpOpEq, portDNS), accept()},
				{drop()},
			}},
			{Family: FamilyInet, Name: chainLimited, Rules: []Rule{
				{l4proto(protoTCP), tcpDportIn(22, 3389), accept()},
				{jump(chainProt)},
			}},
			{Family: FamilyBridge, Name: "forward", Hook: Hook{Name: "forward", Priority: prioBridge},
				Rules: []Rule{{vmap(expr.MetaKeyOIFNAME, mapNICs)}}},
			{Family: FamilyBridge, Name: "output", Hook: Hook{Name: "output", Priority: prioBridge},
				Rules: []Rule{{vmap(expr.MetaKeyOIFNAME, mapNICs)}}},
			{Family: FamilyARP, Name: "output", Hook: Hook{Name: "output", Priority: prioARP},
				Rules: []Rule{{vmap(expr.MetaKeyOIFNAME, mapNICs)}}},
		},
	}
	for _, q := range queues {
		r.Chains = append(r.Chains, queueChain(q))
		r.Maps[1].Elements = append(r.Maps[1].Elements, queueElement(q))
	}
	return r
}

func queueChain(q QueueTarget) Chain {
	return Chain{Family: FamilyInet, Name: q.chain(), Rules: []Rule{{markSet(0), queue(q.Num, q.Bypass)}}}
}

func queueElement(q QueueTarget) Element { return markElement(mapQueues, q.mark(), q.chain()) }

// ValidateTap checks that tap is usable as an interface and chain name.
func ValidateTap(tap string) error {
	if tap == "" || len(tap) >= ifNameSize || strings.ContainsAny(tap, "/: \t\n\x00") {
		return fmt.Errorf("tap %q: bad interface name: %w", tap, ErrInvalidFilter)
	}
	return nil
}

// normalized is a checked Filter with addresses unmapped and defaults
// filled in.
type normalized struct {
	netplan.Filter
	v4, v6  []netip.Addr
	macMask net.HardwareAddr
}

func normalize(f netplan.Filter) (normalized, error) {
	n := normalized{Filter: f}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("tap %s: %s: %w", f.Tap, fmt.Sprintf(format, a...), ErrInvalidFilter)
	}
	if err := ValidateTap(f.Tap); err != nil {
		return n, err
	}
	switch f.Mode {
	case netplan.ModeRouted, netplan.ModeBridged, netplan.ModeOpenvSwitch:
	default:
		return n, bad("unknown mode %q", f.Mode)
	}
	switch f.Profile {
	case netplan.ProfileNone, netplan.ProfileProtected, netplan.ProfileLimited, netplan.ProfileUnprotected:
	default:
		return n, bad("unknown firewall profile %q", f.Profile)
	}
	if (f.AntiSpoof || f.MACFilter != nil) && len(f.MAC) != lenEtherAddr {
		return n, bad("MAC %q is not a 6-byte Ethernet address", f.MAC)
	}
	for _, a := range f.IPv4 {
		a = a.Unmap()
		if !a.Is4() || a.IsUnspecified() {
			return n, bad("%s is not a usable IPv4 address", a)
		}
		if !slices.Contains(n.v4, a) {
			n.v4 = append(n.v4, a)
		}
	}
	for _, a := range f.IPv6 {
		if !a.Is6() || a.Is4In6() || a.IsUnspecified() {
			return n, bad("%s is not a usable IPv6 address", a)
		}
		a = a.WithZone("")
		if !slices.Contains(n.v6, a) {
			n.v6 = append(n.v6, a)
		}
	}
	if m := f.MACFilter; m != nil {
		if len(m.Prefix) != lenEtherAddr || (len(m.Mask) != 0 && len(m.Mask) != lenEtherAddr) {
			return n, bad("MAC filter %s/%s is not two 6-byte addresses", m.Prefix, m.Mask)
		}
		n.macMask = m.Mask
		if len(n.macMask) == 0 {
			n.macMask = net.HardwareAddr(defaultMACMask[:])
		}
	}
	if f.ARPGateway.IsValid() && !f.ARPGateway.Unmap().Is4() {
		return n, bad("ARP gateway %s is not IPv4", f.ARPGateway)
	}
	return n, nil
}

// linkLocalEUI64 is fe80::/64 + the modified EUI-64 of mac.
func linkLocalEUI64(mac net.HardwareAddr) netip.Addr {
	var b [16]byte
	b[0], b[1] = 0xfe, 0x80
	b[8], b[9], b[10] = mac[0]^0x02, mac[1], mac[2]
	b[11], b[12] = 0xff, 0xfe
	b[13], b[14], b[15] = mac[3], mac[4], mac[5]
	return netip.AddrFrom16(b)
}

// Build turns a Filter into the NIC's rules. It is pure.
func Build(f netplan.Filter) (NICRules, error) {
	n, err := normalize(f)
	if err != nil {
		return NICRules{}, err
	}
	out := NICRules{Tap: f.Tap}
	name := ChainName(f.Tap)

	if rules, queues := ingressRules(n); len(rules) > 0 {
		out.Chains = append(out.Chains, Chain{Family: FamilyNetdev, Table: NetdevTable(f.Tap), Name: name,
			Hook: Hook{Name: "ingress", Device: f.Tap, Priority: prioNetdevIngress}, Rules: rules})
		out.Queues = queues
	}

	profile := ""
	switch f.Profile {
	case netplan.ProfileProtected:
		profile = chainProt
	case netplan.ProfileLimited:
		profile = chainLimited
	}

	switch f.Mode {
	case netplan.ModeRouted:
		if profile != "" {
			out.Chains = append(out.Chains, Chain{Family: FamilyInet, Name: name, Rules: []Rule{{jump(profile)}}})
			out.Elements = append(out.Elements, nicElement(FamilyInet, f.Tap))
		}
		if f.ARPGateway.IsValid() {
			out.Chains = append(out.Chains, Chain{Family: FamilyARP, Name: name,
				Rules: []Rule{{arpOpRequestIs(), arpSpaSet(f.ARPGateway.Unmap())}}})
			out.Elements = append(out.Elements, nicElement(FamilyARP, f.Tap))
		}
	case netplan.ModeBridged:
		var rules []Rule
		if f.MACFilter != nil {
			rules = append(rules, Rule{etherSaddrMaskedNot(f.MACFilter.Prefix, n.macMask), drop()})
		}
		switch profile {
		case chainProt:
			rules = append(rules, Rule{markSet(MarkProtected)})
		case chainLimited:
			rules = append(rules, Rule{markSet(MarkLimited)})
		}
		if len(rules) > 0 {
			out.Chains = append(out.Chains, Chain{Family: FamilyBridge, Name: name, Rules: rules})
			out.Elements = append(out.Elements, nicElement(FamilyBridge, f.Tap))
		}
	}
	return out, nil
}

// ingressRules is the netdev ingress chain of the tap: anti-spoofing,
// then queue marks.
func ingressRules(n normalized) ([]Rule, []QueueTarget) {
	var rs []Rule
	et := func(t uint16, terms ...Term) Rule { return append(Rule{etherType(t)}, terms...) }
	any4 := netip.IPv4Unspecified()
	any6 := netip.IPv6Unspecified()

	if n.AntiSpoof || (n.MACFilter != nil && n.Mode == netplan.ModeBridged) {
		rs = append(rs, Rule{etherSaddrNot(n.MAC), drop()})
	}
	if n.AntiSpoof {
		rs = append(rs, Rule{etherTypeNotIn(etherTypeARP, etherTypeIPv4, etherTypeIPv6), drop()})
		// ARP: sender hardware and protocol address are the VM's own
		// (0.0.0.0 for RFC 5227 probes).
		if len(n.v4) == 0 {
			rs = append(rs, et(etherTypeARP, drop()))
		} else {
			for _, field := range arpHeaderNot() {
				rs = append(rs, et(etherTypeARP, field, drop()))
			}
			rs = append(rs,
				et(etherTypeARP, arpShaNot(n.MAC), drop()),
				et(etherTypeARP, arpSpaNotIn(append([]netip.Addr{any4}, n.v4...)), drop()))
		}
		// IPv4: never a DHCP server or an ICMP redirect; 0.0.0.0 only
		// for DHCP to udp 67; otherwise only the VM's own addresses.
		rs = append(rs,
			et(etherTypeIPv4, l4proto(protoUDP), l4port("udp", true, expr.CmpOpEq, portDHCPServer), drop()),
			et(etherTypeIPv4, l4proto(protoICMP), icmpTypeIs(icmpRedirect), drop()))
		if len(n.v4) == 0 {
			rs = append(rs, et(etherTypeIPv4, drop()))
		} else {
			rs = append(rs,
				et(etherTypeIPv4, ipSaddrIs(any4), l4protoNot(protoUDP), drop()),
				et(etherTypeIPv4, ipSaddrIs(any4), l4proto(protoUDP), l4port("udp", false, expr.CmpOpNeq, portDHCPServer), drop()),
				et(etherTypeIPv4, ipSaddrNotIn(append([]netip.Addr{any4}, n.v4...)), drop()))
		}
		// IPv6: never a DHCPv6 server, RA or redirect; :: only for DAD
		// (NS), RS and MLDv2 reports; otherwise the VM's addresses, its
		// EUI-64 link-local, and with LinkLocal6 any fe80::/64 source.
		rs = append(rs,
			et(etherTypeIPv6, l4proto(protoUDP), l4port("udp", true, expr.CmpOpEq, portDHCPv6Server), drop()),
			et(etherTypeIPv6, l4proto(protoICMPv6), icmp6TypeIn(false, icmp6RA, icmp6Redirect), drop()),
			et(etherTypeIPv6, ip6SaddrIs(any6), l4protoNot(protoICMPv6), drop()),
			et(etherTypeIPv6, ip6SaddrIs(any6), l4proto(protoICMPv6), icmp6TypeIn(true, icmp6RS, icmp6NS, icmp6MLDv2Report), drop()))
		allowed := []netip.Addr{any6}
		ll := netip.MustParsePrefix("fe80::/64")
		if !n.LinkLocal6 {
			allowed = append(allowed, linkLocalEUI64(n.MAC))
		}
		for _, a := range n.v6 {
			if (n.LinkLocal6 && ll.Contains(a)) || slices.Contains(allowed, a) {
				continue
			}
			allowed = append(allowed, a)
		}
		r := et(etherTypeIPv6, ip6SaddrNotIn(allowed))
		if n.LinkLocal6 {
			r = append(r, ip6SaddrNotPrefix(ll))
		}
		rs = append(rs, append(r, drop()))
	}

	var queues []QueueTarget
	if q := n.Queues; q != nil && n.Mode != netplan.ModeOpenvSwitch {
		t := func(num uint16) QueueTarget {
			qt := QueueTarget{Num: num, Bypass: q.Bypass}
			if !slices.Contains(queues, qt) {
				queues = append(queues, qt)
			}
			return qt
		}
		rs = append(rs,
			et(etherTypeIPv4, l4proto(protoUDP), l4port("udp", false, expr.CmpOpEq, portDHCPServer), markSet(t(q.DHCP).mark()), accept()),
			et(etherTypeIPv6, l4proto(protoUDP), l4port("udp", false, expr.CmpOpEq, portDHCPv6Server), markSet(t(q.DHCPv6).mark()), accept()),
			et(etherTypeIPv6, l4proto(protoICMPv6), icmp6TypeIn(false, icmp6RS), markSet(t(q.RS).mark()), accept()),
			et(etherTypeIPv6, l4proto(protoICMPv6), icmp6TypeIn(false, icmp6NS), markSet(t(q.NS).mark()), accept()))
	}
	for i, r := range rs {
		rs[i] = append(Rule{iiftypeEther()}, r...)
	}
	return rs, queues
}

// keyOrder is how set keys of a datatype are stored (for nft to print
// them right).
func keyOrder(t nftables.SetDatatype) binaryutil.ByteOrder {
	switch t.Name {
	case nftables.TypeMark.Name, nftables.TypeIFName.Name:
		return binaryutil.NativeEndian
	}
	return binaryutil.BigEndian
}
