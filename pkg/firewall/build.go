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

	"github.com/diktyo/diktyo/pkg/eui64"
	"github.com/diktyo/diktyo/pkg/ifname"
	"github.com/diktyo/diktyo/pkg/netplan"
)

// TableName is the name of each of diktyo's tables (one per family).
const TableName = "diktyo"

// Names of the shared objects in diktyo's tables. Per-NIC state is only
// elements of sets and of maps to plain data, keyed by the tap's name:
// no verdict map elements, whose insertion makes nf_tables re-validate
// every jump of the table (a cost that grows with the number of NICs).
const (
	setMAC       = "vm_mac"     // ifname . ether_addr: the VM's MAC (inet, bridge, arp)
	setIP4       = "vm_ip4"     // ifname . ipv4_addr: the VM's IPv4 addresses (inet, bridge, arp)
	setIP6       = "vm_ip6"     // ifname . ipv6_addr: the VM's IPv6 addresses (inet, bridge)
	setLL6       = "vm_ll6"     // ifname: taps allowed any fe80::/64 source (inet, bridge)
	setRouterLL6 = "router_ll6" // ifname . ipv6_addr: the router link-local the VM may not send from (inet, bridge)
	setAntiSpoof = "antispoof"  // ifname: taps with anti-spoofing (inet, bridge, arp)
	setMACSpoof  = "macspoof"   // ifname: bridged taps with the MAC check only (bridge)
	setProt      = "protected"  // ifname: taps with the protected profile (inet, bridge)
	setLimited   = "limited"    // ifname: taps with the limited profile (inet, bridge)
	setMACF      = "macfilter"  // ifname: private-filtered taps (bridge)
	setPrefix    = "vm_prefix"  // ifname . ether_addr: the tap's network MAC prefix (bridge)
	mapQDHCP     = "q_dhcp"     // ifname : mark of the DHCP queue (inet, bridge)
	mapQDHCP6    = "q_dhcpv6"   // ifname : mark of the DHCPv6 queue (inet, bridge)
	mapQRS       = "q_rs"       // ifname : mark of the RS queue (inet, bridge)
	mapQNS       = "q_ns"       // ifname : mark of the NS queue (inet, bridge)
	mapARPGW     = "arp_gw"     // ifname : ipv4_addr (arp)
	mapRoute     = "route_mark" // ifname : mark of the routed tap's table rule (inet, arp)
	mapQueues    = "queues"     // mark → jump queue_<n> (inet, constant)
	mapProfiles  = "profiles"   // mark → jump <profile> (inet, constant)
	// setExpire exists (empty) in the inet table when the kernel can
	// update an element's timeout: Remove then expires elements instead
	// of deleting them (see doc.go).
	setExpire = "expire_ok"
	// setLayout marks tables of this layout; Init replaces diktyo tables
	// without it.
	setLayout = "layout_2"

	chainAntiSpoof = "antispoof"
	chainND        = "antispoof_nd"
	chainMACSpoof  = "macspoof"
	chainProt      = "protected"
	chainLimited   = "limited"
	chainPrefix    = "nic_" // the netdev egress chain of an Open vSwitch tap
)

// Packet marks diktyo sets. They are diktyo's: the range 0xd1c00000 –
// 0xd1dfffff must not be used by other rules on the host.
const (
	// MarkQueue | bypass<<16 | queue number: a packet from a bridged VM
	// that must be queued to nfdhcpd (set in bridge prerouting, read in
	// inet prerouting, where bridged packets no longer show the tap).
	MarkQueue       uint32 = 0xd1c00000
	markQueueBypass uint32 = 0x00010000
	// Profile marks: set in the bridge forward chain of a bridged NIC,
	// read in inet forward (br_netfilter), where the tap is not visible.
	MarkProtected uint32 = 0xd1d00001
	MarkLimited   uint32 = 0xd1d00002
)

// Hook priorities.
const (
	prioInetPre     = -300 // raw: before conntrack sees DHCP/NDP
	prioInetForward = 0
	prioBridge      = -200 // before br_netfilter (0) hands packets to inet
	prioARP         = 0
)

// DefaultMACMask is snf-network's default MAC_MASK.
var defaultMACMask = [6]byte{0xff, 0xff, 0xf0, 0, 0, 0}

// DefaultMACMask returns snf-network's default MAC_MASK, ff:ff:f0:00:00:00.
func DefaultMACMask() net.HardwareAddr { return net.HardwareAddr(defaultMACMask[:]) }

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

// Steering is the set of nfdhcpd queues one NIC's DHCP, DHCPv6, RS and NS
// go to.
type Steering netplan.Queues

// DefaultSteering is nfdhcpd's default: dhcp 42, rs 43, ns 44, dhcpv6 45,
// without bypass.
func DefaultSteering() Steering { return Steering{DHCP: 42, RS: 43, NS: 44, DHCPv6: 45} }

func (s Steering) target(num uint16) QueueTarget { return QueueTarget{Num: num, Bypass: s.Bypass} }

// targets are the distinct queues of s.
func (s Steering) targets() []QueueTarget {
	var out []QueueTarget
	for _, n := range []uint16{s.DHCP, s.DHCPv6, s.RS, s.NS} {
		if t := s.target(n); !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// SetDef declares a named set or map of one of diktyo's tables.
type SetDef struct {
	Family Family
	Name   string
	// Key is the key type; more than one is a concatenation.
	Key []nftables.SetDatatype
	// Data is the data type of a map (nil: a set).
	Data *nftables.SetDatatype
	// Timeout: elements may carry an expiry (per-NIC sets; Remove
	// expires elements, see doc.go).
	Timeout bool
	// Elements are the constant elements Init writes.
	Elements []Element
}

func (s SetDef) keyType() nftables.SetDatatype {
	if len(s.Key) == 1 {
		return s.Key[0]
	}
	return nftables.MustConcatSetType(s.Key...)
}

// Element is one set or map element: Key, and for maps a jump to Chain
// or the value Data.
type Element struct {
	Family Family
	Set    string
	Key    []byte
	Chain  string
	Data   []byte
	text   string
}

// String renders the element as an nft command.
func (e Element) String() string {
	if e.Chain != "" {
		return fmt.Sprintf("add element %s %s %s { %s : jump %s }", e.Family, TableName, e.Set, e.text, e.Chain)
	}
	// Data map elements carry their value in text.
	return fmt.Sprintf("add element %s %s %s { %s }", e.Family, TableName, e.Set, e.text)
}

// Ruleset is a set of sets, maps and chains in diktyo's tables.
type Ruleset struct {
	Sets   []SetDef
	Chains []Chain
}

// String renders the ruleset as nft syntax, one table per family.
func (r Ruleset) String() string {
	var b strings.Builder
	for _, f := range families {
		if f == FamilyNetdev {
			continue // one table per Open vSwitch NIC
		}
		fmt.Fprintf(&b, "table %s %s {\n", f, TableName)
		for _, s := range r.Sets {
			if s.Family != f {
				continue
			}
			kind, typ := "set", s.keyType().Name
			if s.Data != nil {
				kind, typ = "map", typ+" : "+s.Data.Name
			}
			fmt.Fprintf(&b, "\t%s %s {\n\t\ttype %s\n", kind, s.Name, typ)
			if s.Timeout {
				b.WriteString("\t\tflags timeout\n")
			}
			if len(s.Elements) > 0 {
				el := make([]string, len(s.Elements))
				for i, e := range s.Elements {
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

// NICRules is what diktyo installs for one NIC: elements of the shared
// sets and maps, the shared chains they lead to that Init may not have
// created (queue steering and MAC masks other than the configured ones),
// and for Open vSwitch NICs the tap's own netdev egress chain.
type NICRules struct {
	Tap      string
	Elements []Element
	// Shared are shared chains the elements jump to, with the constant
	// elements that lead to them (Apply creates them when they are not
	// among the Firewall's configured ones).
	Shared Ruleset
	// Netdev is the egress chain of an Open vSwitch tap that needs one
	// (nil otherwise; see ovs.go).
	Netdev *Chain
}

// String renders the NIC's elements and chains as nft syntax.
func (n NICRules) String() string {
	var b strings.Builder
	if n.Netdev != nil {
		fmt.Fprintf(&b, "table netdev %s {\n%s}\n", n.Netdev.table(), n.Netdev)
	}
	for _, c := range n.Shared.Chains {
		fmt.Fprintf(&b, "# shared: table %s %s chain %s\n", c.Family, TableName, c.Name)
	}
	for _, e := range n.Elements {
		b.WriteString(e.String() + "\n")
	}
	return b.String()
}

var (
	typeIfname = nftables.TypeIFName
	typeEther  = nftables.TypeEtherAddr
	typeIP4    = nftables.TypeIPAddr
	typeIP6    = nftables.TypeIP6Addr
	typeMark   = nftables.TypeMark
	typeVerd   = nftables.TypeVerdict
)

// nicSets are the per-NIC sets and maps of each family.
func nicSets() []SetDef {
	s := func(f Family, name string, data *nftables.SetDatatype, key ...nftables.SetDatatype) SetDef {
		return SetDef{Family: f, Name: name, Key: key, Data: data, Timeout: true}
	}
	var out []SetDef
	for _, f := range []Family{FamilyInet, FamilyBridge} {
		out = append(out,
			s(f, setMAC, nil, typeIfname, typeEther),
			s(f, setIP4, nil, typeIfname, typeIP4),
			s(f, setIP6, nil, typeIfname, typeIP6),
			s(f, setLL6, nil, typeIfname),
			s(f, setRouterLL6, nil, typeIfname, typeIP6),
			s(f, setAntiSpoof, nil, typeIfname),
			s(f, setProt, nil, typeIfname),
			s(f, setLimited, nil, typeIfname),
			s(f, mapQDHCP, &typeMark, typeIfname),
			s(f, mapQDHCP6, &typeMark, typeIfname),
			s(f, mapQRS, &typeMark, typeIfname),
			s(f, mapQNS, &typeMark, typeIfname))
	}
	out = append(out,
		s(FamilyInet, mapRoute, &typeMark, typeIfname),
		s(FamilyBridge, setMACSpoof, nil, typeIfname),
		s(FamilyBridge, setMACF, nil, typeIfname),
		s(FamilyBridge, setPrefix, nil, typeIfname, typeEther),
		s(FamilyARP, setMAC, nil, typeIfname, typeEther),
		s(FamilyARP, setIP4, nil, typeIfname, typeIP4),
		s(FamilyARP, setAntiSpoof, nil, typeIfname),
		s(FamilyARP, mapARPGW, &typeIP4, typeIfname),
		s(FamilyARP, mapRoute, &typeMark, typeIfname))
	return out
}

func markElement(setName string, mark uint32, chain string) Element {
	return Element{Family: FamilyInet, Set: setName, Key: ne32(mark), Chain: chain, text: fmt.Sprintf("0x%08x", mark)}
}

// Skeleton is the shared part of diktyo's tables: sets, maps, base
// chains, the anti-spoofing and profile chains, the queue chains of the
// given queue configurations and the MAC filter rule of mask.
func Skeleton(steers []Steering, mask net.HardwareAddr) Ruleset {
	r := Ruleset{Sets: nicSets()}
	r.Sets = append(r.Sets,
		SetDef{Family: FamilyInet, Name: mapQueues, Key: []nftables.SetDatatype{typeMark}, Data: &typeVerd},
		SetDef{Family: FamilyInet, Name: mapProfiles, Key: []nftables.SetDatatype{typeMark}, Data: &typeVerd, Elements: []Element{
			markElement(mapProfiles, MarkProtected, chainProt),
			markElement(mapProfiles, MarkLimited, chainLimited),
		}},
		SetDef{Family: FamilyInet, Name: setLayout, Key: []nftables.SetDatatype{typeMark}},
	)
	inetPre := []Rule{{ifnameIn(expr.MetaKeyIIFNAME, setAntiSpoof), jump(chainAntiSpoof)}}
	inetPre = append(inetPre, steerRules(FamilyInet)...)
	inetPre = append(inetPre,
		Rule{vmap(expr.MetaKeyMARK, mapQueues)},
		Rule{markSetFromMap(mapRoute)})
	bridgePre := []Rule{
		{ifnameIn(expr.MetaKeyIIFNAME, setAntiSpoof), jump(chainAntiSpoof)},
		{ifnameIn(expr.MetaKeyIIFNAME, setMACSpoof), jump(chainMACSpoof)},
	}
	bridgePre = append(bridgePre, steerRules(FamilyBridge)...)
	toVM := []Rule{
		{ifnameIn(expr.MetaKeyOIFNAME, setMACF), prefixNotIn(mask), drop()},
		{ifnameIn(expr.MetaKeyOIFNAME, setProt), markSet(MarkProtected)},
		{ifnameIn(expr.MetaKeyOIFNAME, setLimited), markSet(MarkLimited)},
	}
	r.Chains = []Chain{
		{Family: FamilyInet, Name: "prerouting", Hook: Hook{Name: "prerouting", Priority: prioInetPre}, Rules: inetPre},
		{Family: FamilyInet, Name: "forward", Hook: Hook{Name: "forward", Priority: prioInetForward}, Rules: []Rule{
			{ifnameIn(expr.MetaKeyOIFNAME, setProt), jump(chainProt)},
			{ifnameIn(expr.MetaKeyOIFNAME, setLimited), jump(chainLimited)},
			{vmap(expr.MetaKeyMARK, mapProfiles)},
		}},
		{Family: FamilyInet, Name: chainND, Rules: antiSpoofND()},
		{Family: FamilyInet, Name: chainAntiSpoof, Rules: antiSpoofIP(FamilyInet)},
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

		{Family: FamilyBridge, Name: "prerouting", Hook: Hook{Name: "prerouting", Priority: prioBridge}, Rules: bridgePre},
		{Family: FamilyBridge, Name: "forward", Hook: Hook{Name: "forward", Priority: prioBridge}, Rules: toVM},
		{Family: FamilyBridge, Name: "output", Hook: Hook{Name: "output", Priority: prioBridge}, Rules: toVM},
		{Family: FamilyBridge, Name: chainND, Rules: antiSpoofND()},
		{Family: FamilyBridge, Name: chainAntiSpoof, Rules: antiSpoofBridge()},
		{Family: FamilyBridge, Name: chainMACSpoof, Rules: []Rule{{macNotIn(expr.MetaKeyIIFNAME), drop()}}},

		{Family: FamilyARP, Name: "input", Hook: Hook{Name: "input", Priority: prioARP}, Rules: []Rule{
			// The route mark first, for every ARP packet of a routed tap:
			// the kernel answers a request (proxy ARP) only if it can
			// route to the target, and it routes with the packet's mark.
			{markSetFromMap(mapRoute)},
			{ifnameIn(expr.MetaKeyIIFNAME, setAntiSpoof), jump(chainAntiSpoof)},
		}},
		{Family: FamilyARP, Name: "output", Hook: Hook{Name: "output", Priority: prioARP}, Rules: []Rule{
			{arpOpRequestIs(), arpSpaSetFromMap(mapARPGW)},
		}},
		{Family: FamilyARP, Name: chainAntiSpoof, Rules: antiSpoofARP()},
	}
	for _, s := range steers {
		r = r.merge(queueRules(s))
	}
	return r
}

// steerRules mark DHCP, DHCPv6, RS and NS from a tap with the mark of
// the tap's queue (maps to plain data: taps not in a map are left alone).
// In inet (routed taps) the mark leads to the queue chain at once; in
// bridge the inet prerouting chain, which br_netfilter runs next, does
// it.
func steerRules(f Family) []Rule {
	return []Rule{
		{nfproto(f, 4), l4proto(protoUDP), l4port("udp", false, expr.CmpOpEq, portDHCPServer), markSetFromMap(mapQDHCP)},
		{nfproto(f, 6), l4proto(protoUDP), l4port("udp", false, expr.CmpOpEq, portDHCPv6Server), markSetFromMap(mapQDHCP6)},
		{nfproto(f, 6), l4proto(protoICMPv6), icmp6TypeIn(false, icmp6RS), markSetFromMap(mapQRS)},
		{nfproto(f, 6), l4proto(protoICMPv6), icmp6TypeIn(false, icmp6NS), markSetFromMap(mapQNS)},
	}
}

// merge appends the sets, set elements and chains of o not yet in r.
func (r Ruleset) merge(o Ruleset) Ruleset {
	for _, c := range o.Chains {
		if !slices.ContainsFunc(r.Chains, func(x Chain) bool { return x.Family == c.Family && x.Name == c.Name }) {
			r.Chains = append(r.Chains, c)
		}
	}
	for _, s := range o.Sets {
		i := slices.IndexFunc(r.Sets, func(x SetDef) bool { return x.Family == s.Family && x.Name == s.Name })
		if i < 0 {
			r.Sets = append(r.Sets, s)
			continue
		}
		r.Sets[i].Elements = slices.Clone(r.Sets[i].Elements)
		for _, e := range s.Elements {
			if !slices.ContainsFunc(r.Sets[i].Elements, func(x Element) bool { return string(x.Key) == string(e.Key) }) {
				r.Sets[i].Elements = append(r.Sets[i].Elements, e)
			}
		}
	}
	return r
}

// queueRules are the queue chains of a queue configuration and the
// elements of the queues map that lead to them.
func queueRules(s Steering) Ruleset {
	var r Ruleset
	queues := SetDef{Family: FamilyInet, Name: mapQueues, Key: []nftables.SetDatatype{typeMark}, Data: &typeVerd}
	for _, t := range s.targets() {
		r.Chains = append(r.Chains, queueChain(t))
		queues.Elements = append(queues.Elements, markElement(mapQueues, t.mark(), t.chain()))
	}
	r.Sets = append(r.Sets, queues)
	return r
}

func queueChain(q QueueTarget) Chain {
	return Chain{Family: FamilyInet, Name: q.chain(), Rules: []Rule{{markSet(0), queue(q.Num, q.Bypass)}}}
}

// antiSpoofIP is the IPv4/IPv6 part of anti-spoofing, for the inet
// family (routed taps; the MAC check first) and, with ether type guards,
// the bridge family. The VM's own addresses come from the sets keyed by
// the input interface.
func antiSpoofIP(f Family) []Rule {
	any4 := netip.IPv4Unspecified()
	any6 := netip.IPv6Unspecified()
	v4 := func(ts ...Term) Rule { return append(Rule{nfproto(f, 4)}, ts...) }
	v6 := func(ts ...Term) Rule { return append(Rule{nfproto(f, 6)}, ts...) }
	var rs []Rule
	if f == FamilyInet {
		rs = append(rs, Rule{macNotIn(expr.MetaKeyIIFNAME), drop()})
	}
	return append(rs,
		// IPv4: never a DHCP server or an ICMP redirect; 0.0.0.0 only for
		// DHCP to udp 67; otherwise only the VM's own addresses.
		v4(l4proto(protoUDP), l4port("udp", true, expr.CmpOpEq, portDHCPServer), drop()),
		v4(l4proto(protoICMP), icmpTypeIs(icmpRedirect), drop()),
		v4(ipSaddrIs(any4), l4protoNot(protoUDP), drop()),
		v4(ipSaddrIs(any4), l4proto(protoUDP), l4port("udp", false, expr.CmpOpNeq, portDHCPServer), drop()),
		v4(ipSaddrIsNot(any4), ifaceAddrNotIn(setIP4, offIPv4Saddr, lenIPv4, "ip saddr"), drop()),
		// IPv6: never a DHCPv6 server, RA or redirect; :: only for DAD
		// (NS), RS and MLDv2 reports; otherwise the VM's addresses, its
		// EUI-64 link-local, and for vm_ll6 taps any fe80::/64 source.
		v6(l4proto(protoUDP), l4port("udp", true, expr.CmpOpEq, portDHCPv6Server), drop()),
		v6(l4proto(protoICMPv6), icmp6TypeIn(false, icmp6RA, icmp6Redirect), drop()),
		// Never from the router's link-local: an NS from it with the
		// VM's MAC would point the neighbours' router entry at the VM.
		v6(ifaceAddrIn(setRouterLL6, offIPv6Saddr, lenIPv6, "ip6 saddr"), drop()),
		v6(l4proto(protoICMPv6), icmp6TypeIn(false, icmp6RS, icmp6NS, icmp6NA), jump(chainND)),
		v6(ip6SaddrIs(any6), l4protoNot(protoICMPv6), drop()),
		v6(ip6SaddrIs(any6), l4proto(protoICMPv6), icmp6TypeIn(true, icmp6RS, icmp6NS, icmp6MLDv2Report), drop()),
		v6(ip6SaddrIs(any6), ret()),
		v6(ifaceAddrIn(setIP6, offIPv6Saddr, lenIPv6, "ip6 saddr"), ret()),
		v6(ip6SaddrInPrefix(netip.MustParsePrefix("fe80::/64")), ifnameIn(expr.MetaKeyIIFNAME, setLL6), ret()),
		v6(drop()),
	)
}

// antiSpoofND is the chain antispoof_nd (inet and bridge), which
// antiSpoofIP jumps to for RS, NS and NA: what neighbour discovery from
// the VM may claim. Without it a VM could make its neighbours (and the
// host) send another party's traffic to it: an NA whose target is the
// gateway's address, or a link-layer address option with another MAC.
//
//   - No fragmented NDP (RFC 6980): the options checked below could
//     hide in a later fragment, where nothing of the transport header
//     can be loaded (the bridge family sees fragments, and Linux
//     accepts fragmented NS and NA; it drops fragmented RS and RA only).
//   - NA: the target is one of the VM's addresses (@vm_ip6: its
//     addresses and EUI-64 link-local, never any other fe80::/64
//     address); options are at most one TLLA with the VM's MAC.
//   - NS: options are none, SLLA with the VM's MAC, a nonce (RFC 7527,
//     DAD), or SLLA then nonce.
//   - RS: options are none or SLLA with the VM's MAC.
//
// An option that is absent is not checked: a payload load past the end
// of the packet ends the rule without a match. nft's transport header
// is the one after any extension headers.
func antiSpoofND() []Rule {
	of := func(t uint8) func(ts ...Term) Rule {
		return func(ts ...Term) Rule {
			return append(Rule{l4proto(protoICMPv6), icmp6TypeIn(false, t)}, ts...)
		}
	}
	na, ns, rs := of(icmp6NA), of(icmp6NS), of(icmp6RS)
	opt2 := uint32(offNDOptions + lenNDOption)
	return []Rule{
		{exthdrFragExists(), drop()},
		na(ndTargetNotVM(), drop()),
		na(ndOption(offNDOptions, expr.CmpOpNeq, ndOptTLLA), drop()),
		na(ndLLNotVM(offNDOptions), drop()),
		na(thPresent(opt2), drop()),
		ns(ndOption(offNDOptions, expr.CmpOpNeq, ndOptSLLA), ndOption(offNDOptions, expr.CmpOpNeq, ndOptNonce), drop()),
		ns(ndOption(offNDOptions, expr.CmpOpEq, ndOptSLLA), ndLLNotVM(offNDOptions), drop()),
		ns(ndOption(opt2, expr.CmpOpNeq, ndOptNonce), drop()),
		ns(ndOption(offNDOptions, expr.CmpOpEq, ndOptNonce), thPresent(opt2), drop()),
		ns(thPresent(opt2+lenNDOption), drop()),
		rs(ndOption(offRSOptions, expr.CmpOpNeq, ndOptSLLA), drop()),
		rs(ndLLNotVM(offRSOptions), drop()),
		rs(thPresent(offRSOptions+lenNDOption), drop()),
	}
}

// antiSpoofBridge is the bridge-family anti-spoofing chain of bridged
// taps: the MAC, only ARP/IPv4/IPv6 (no VLAN tags, no other ethertypes),
// ARP from the VM's own addresses, then antiSpoofIP.
func antiSpoofBridge() []Rule {
	rs := []Rule{
		{macNotIn(expr.MetaKeyIIFNAME), drop()},
		{etherTypeNotIn(etherTypeARP, etherTypeIPv4, etherTypeIPv6), drop()},
	}
	rs = append(rs, antiSpoofARP(etherType(etherTypeARP))...)
	return append(rs, antiSpoofIP(FamilyBridge)...)
}

// antiSpoofARP: Ethernet/IPv4 ARP only, the sender hardware address is
// the VM's MAC and the sender protocol address one of its IPv4 addresses
// (or 0.0.0.0 for RFC 5227 probes). guard (bridge: ether type arp)
// prefixes every rule.
func antiSpoofARP(guard ...Term) []Rule {
	r := func(ts ...Term) Rule { return append(slices.Clone(Rule(guard)), ts...) }
	var rs []Rule
	for _, field := range arpHeaderNot() {
		rs = append(rs, r(field, drop()))
	}
	return append(rs,
		r(arpShaNotIn(), drop()),
		r(arpSpaIs(netip.IPv4Unspecified()), ret()),
		r(ifaceAddrNotInARP(), drop()),
	)
}

// ValidateTap checks that tap is usable as an interface and chain name
// (pkg/ifname's rule); the error wraps ErrInvalidFilter and
// ifname.ErrInvalid.
func ValidateTap(tap string) error {
	if err := ifname.Validate(tap); err != nil {
		return fmt.Errorf("tap: %w: %w", ErrInvalidFilter, err)
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
		n.macMask = net.HardwareAddr(m.Mask)
		if len(n.macMask) == 0 {
			n.macMask = DefaultMACMask()
		}
	}
	if a := f.RouterLL6; a.IsValid() && (!a.Is6() || !a.IsLinkLocalUnicast()) {
		return n, bad("router link-local %s is not an IPv6 link-local address", a)
	}
	n.RouterLL6 = f.RouterLL6.WithZone("")
	if f.ARPGateway.IsValid() && !f.ARPGateway.Unmap().Is4() {
		return n, bad("ARP gateway %s is not IPv4", f.ARPGateway)
	}
	if q := f.Queues; q != nil && (q.DHCP == 0 && q.DHCPv6 == 0 && q.RS == 0 && q.NS == 0) {
		return n, bad("queue steering without queue numbers")
	}
	if m := f.RouteMark; m != 0 && (f.Mode != netplan.ModeRouted || m <= netplan.RouteMarkBase || m > netplan.RouteMarkBase+netplan.MaxMarkTable) {
		return n, bad("route mark %#x (routed taps only, %#x–%#x)", m, netplan.RouteMarkBase+1, netplan.RouteMarkBase+netplan.MaxMarkTable)
	}
	return n, nil
}

// Build turns a Filter into the NIC's elements (and, for Open vSwitch,
// its egress chain). It is pure.
func Build(f netplan.Filter) (NICRules, error) {
	n, err := normalize(f)
	if err != nil {
		return NICRules{}, err
	}
	out := NICRules{Tap: f.Tap}
	tap := f.Tap
	ifk := IfnameKey(tap)
	q := fmt.Sprintf("%q", tap)
	setEl := func(fam Family, set string) {
		out.Elements = append(out.Elements, Element{Family: fam, Set: set, Key: ifk, text: q})
	}
	keyEl := func(fam Family, set string, val []byte, text string) {
		out.Elements = append(out.Elements, Element{Family: fam, Set: set, Key: concatKey(ifk, val), text: q + " . " + text})
	}
	addrEls := func(fam Family) {
		keyEl(fam, setMAC, n.MAC, n.MAC.String())
		for _, a := range n.v4 {
			keyEl(fam, setIP4, a.AsSlice(), a.String())
		}
		if fam == FamilyARP {
			return
		}
		// The EUI-64 link-local is in vm_ip6 also with LinkLocal6, where
		// vm_ll6 allows any fe80::/64 source: vm_ip6 is what an NA may
		// claim as its target, and that must never be another node's
		// link-local (the router's).
		if n.LinkLocal6 {
			setEl(fam, setLL6)
		}
		v6 := []netip.Addr{eui64.LinkLocal(net.HardwareAddr(n.MAC))}
		for _, a := range n.v6 {
			if !slices.Contains(v6, a) {
				v6 = append(v6, a)
			}
		}
		for _, a := range v6 {
			keyEl(fam, setIP6, a.AsSlice(), a.String())
		}
		if a := n.RouterLL6; a.IsValid() {
			keyEl(fam, setRouterLL6, a.AsSlice(), a.String())
		}
	}

	queues := func(fam Family) {
		if n.Queues == nil {
			return
		}
		s := Steering(*n.Queues)
		for _, m := range []struct {
			set string
			num uint16
		}{{mapQDHCP, s.DHCP}, {mapQDHCP6, s.DHCPv6}, {mapQRS, s.RS}, {mapQNS, s.NS}} {
			mark := s.target(m.num).mark()
			out.Elements = append(out.Elements, Element{Family: fam, Set: m.set, Key: ifk, Data: ne32(mark), text: fmt.Sprintf("%s : 0x%08x", q, mark)})
		}
		out.Shared = out.Shared.merge(queueRules(s))
	}
	profile := func(fam Family) {
		switch f.Profile {
		case netplan.ProfileProtected:
			setEl(fam, setProt)
		case netplan.ProfileLimited:
			setEl(fam, setLimited)
		}
	}

	switch f.Mode {
	case netplan.ModeRouted:
		if n.AntiSpoof {
			setEl(FamilyInet, setAntiSpoof)
			addrEls(FamilyInet)
			setEl(FamilyARP, setAntiSpoof)
			addrEls(FamilyARP)
		}
		queues(FamilyInet)
		profile(FamilyInet)
		if m := f.RouteMark; m != 0 {
			// IP in inet prerouting, ARP in arp input (proxy ARP routes
			// the request's target with the mark).
			for _, fam := range []Family{FamilyInet, FamilyARP} {
				out.Elements = append(out.Elements, Element{Family: fam, Set: mapRoute, Key: ifk, Data: ne32(m), text: fmt.Sprintf("%s : 0x%08x", q, m)})
			}
		}
		if gw := f.ARPGateway.Unmap(); gw.IsValid() {
			out.Elements = append(out.Elements, Element{Family: FamilyARP, Set: mapARPGW, Key: ifk, Data: gw.AsSlice(), text: q + " : " + gw.String()})
		}
	case netplan.ModeBridged:
		switch {
		case n.AntiSpoof:
			setEl(FamilyBridge, setAntiSpoof)
			addrEls(FamilyBridge)
		case n.MACFilter != nil:
			setEl(FamilyBridge, setMACSpoof)
			keyEl(FamilyBridge, setMAC, n.MAC, n.MAC.String())
		}
		queues(FamilyBridge)
		if m := n.MACFilter; m != nil {
			prefix := make(net.HardwareAddr, lenEtherAddr)
			for i := range prefix {
				prefix[i] = m.Prefix[i] & n.macMask[i]
			}
			setEl(FamilyBridge, setMACF)
			keyEl(FamilyBridge, setPrefix, prefix, prefix.String())
		}
		profile(FamilyBridge)
	case netplan.ModeOpenvSwitch:
		ovsRules(n, &out)
	}
	return out, nil
}

// concatKey is a concatenated set key: each part padded to 4 bytes.
func concatKey(parts ...[]byte) []byte {
	var k []byte
	for _, p := range parts {
		k = append(k, p...)
		for len(k)%4 != 0 {
			k = append(k, 0)
		}
	}
	return k
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
