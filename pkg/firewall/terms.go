package firewall

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Protocol numbers and types used by the rules.
const (
	etherTypeIPv4 = 0x0800
	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd

	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58

	icmpRedirect     = 5
	icmp6RS          = 133
	icmp6RA          = 134
	icmp6NS          = 135
	icmp6NA          = 136
	icmp6Redirect    = 137
	icmp6MLDv2Report = 143
	arpOpRequest     = 1
	portDNS          = 53
	portDHCPServer   = 67
	portDHCPClient   = 68
	portDHCPv6Server = 547
	ifNameSize       = unix.IFNAMSIZ
	payloadLL        = expr.PayloadBaseLLHeader
	payloadNetwork   = expr.PayloadBaseNetworkHeader
	payloadTransport = expr.PayloadBaseTransportHeader
	offEtherSaddr    = 6
	offEtherType     = 12
	offARPOp         = 6
	offARPSha        = 8
	offARPSpa        = 14
	offIPv4Saddr     = 12
	offIPv6Saddr     = 8
	offL4Sport       = 0
	offL4Dport       = 2
	offICMPType      = 0
	offNDTarget      = 8  // NS and NA: the target address
	offNDOptions     = 24 // NS and NA: the first option
	offRSOptions     = 8  // RS: the first option
	lenNDOption      = 8  // a link-layer address or nonce option (length 1)
	ndOptSLLA        = 1  // source link-layer address option
	ndOptTLLA        = 2  // target link-layer address option
	ndOptNonce       = 14 // nonce option (RFC 7527)
	ip6HdrFragment   = 44
	lenEtherAddr     = 6
	lenIPv4          = 4
	lenIPv6          = 16
	lenPort          = 2
)

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func ne32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

// IfnameKey is an interface name as nftables stores it (IFNAMSIZ,
// NUL padded).
func IfnameKey(name string) []byte {
	b := make([]byte, ifNameSize)
	copy(b, name)
	return b
}

func load(base expr.PayloadBase, off, n uint32) expr.Any {
	return &expr.Payload{DestRegister: 1, Base: base, Offset: off, Len: n}
}

func cmp(op expr.CmpOp, data []byte) expr.Any {
	return &expr.Cmp{Op: op, Register: 1, Data: data}
}

func opText(op expr.CmpOp) string {
	if op == expr.CmpOpNeq {
		return "!= "
	}
	return ""
}

// payloadCmp matches a payload field against one value.
func payloadCmp(text string, base expr.PayloadBase, off uint32, op expr.CmpOp, v []byte) Term {
	return Term{text: text, exprs: []expr.Any{load(base, off, uint32(len(v))), cmp(op, v)}}
}

// payloadIn matches (or with invert, excludes) a payload field against a
// constant set; one value compiles to a plain compare.
func payloadIn(field string, base expr.PayloadBase, off, n uint32, key nftables.SetDatatype, invert bool, vals [][]byte, texts []string) Term {
	op := expr.CmpOpEq
	if invert {
		op = expr.CmpOpNeq
	}
	if len(vals) == 1 {
		return Term{text: field + " " + opText(op) + texts[0], exprs: []expr.Any{load(base, off, n), cmp(op, vals[0])}}
	}
	return Term{
		text:  fmt.Sprintf("%s %s{ %s }", field, opText(op), strings.Join(texts, ", ")),
		exprs: []expr.Any{load(base, off, n)},
		set:   &anonSet{key: key, order: binaryutil.BigEndian, elems: vals, invert: invert},
	}
}

func metaCmp(text string, key expr.MetaKey, op expr.CmpOp, v []byte) Term {
	return Term{text: text, exprs: []expr.Any{&expr.Meta{Key: key, Register: 1}, cmp(op, v)}}
}

func protoName(p uint8) string {
	switch p {
	case protoICMP:
		return "icmp"
	case protoTCP:
		return "tcp"
	case protoUDP:
		return "udp"
	case protoICMPv6:
		return "ipv6-icmp"
	}
	return fmt.Sprint(p)
}

// iiftypeEther is nft's implicit dependency of ether fields in the netdev
// family: without it `nft list` shows raw @ll/@nh payloads. It has no
// text of its own (nft hides it too).
func iiftypeEther() Term {
	return metaCmp("", expr.MetaKeyIIFTYPE, expr.CmpOpEq, binary.NativeEndian.AppendUint16(nil, unix.ARPHRD_ETHER))
}

func l4proto(p uint8) Term {
	return metaCmp("meta l4proto "+protoName(p), expr.MetaKeyL4PROTO, expr.CmpOpEq, []byte{p})
}

func l4protoNot(p uint8) Term {
	return metaCmp("meta l4proto != "+protoName(p), expr.MetaKeyL4PROTO, expr.CmpOpNeq, []byte{p})
}

func etherTypeName(t uint16) string {
	switch t {
	case etherTypeIPv4:
		return "ip"
	case etherTypeARP:
		return "arp"
	case etherTypeIPv6:
		return "ip6"
	}
	return fmt.Sprintf("0x%04x", t)
}

func etherType(t uint16) Term {
	return payloadCmp("ether type "+etherTypeName(t), payloadLL, offEtherType, expr.CmpOpEq, be16(t))
}

func etherTypeNotIn(ts ...uint16) Term {
	vals := make([][]byte, len(ts))
	texts := make([]string, len(ts))
	for i, t := range ts {
		vals[i], texts[i] = be16(t), etherTypeName(t)
	}
	return payloadIn("ether type", payloadLL, offEtherType, 2, nftables.TypeEtherType, true, vals, texts)
}

// arpHeaderNot matches ARP that is not Ethernet/IPv4 (htype 1, ptype
// 0x0800, hlen 6, plen 4) in one of its fields: the sender fields checked
// after it are only meaningful at those offsets. One rule per field, so
// that `nft list` shows what the rule does.
func arpHeaderNot() []Term {
	return []Term{
		payloadCmp("arp htype != 1", payloadNetwork, 0, expr.CmpOpNeq, be16(1)),
		payloadCmp("arp ptype != ip", payloadNetwork, 2, expr.CmpOpNeq, be16(etherTypeIPv4)),
		payloadCmp("arp hlen != 6", payloadNetwork, 4, expr.CmpOpNeq, []byte{lenEtherAddr}),
		payloadCmp("arp plen != 4", payloadNetwork, 5, expr.CmpOpNeq, []byte{lenIPv4}),
	}
}

func arpOpRequestIs() Term {
	return payloadCmp("arp operation request", payloadNetwork, offARPOp, expr.CmpOpEq, be16(arpOpRequest))
}

func ipSaddrIs(a netip.Addr) Term {
	return payloadCmp("ip saddr "+a.String(), payloadNetwork, offIPv4Saddr, expr.CmpOpEq, a.AsSlice())
}

func ip6SaddrIs(a netip.Addr) Term {
	return payloadCmp("ip6 saddr "+a.String(), payloadNetwork, offIPv6Saddr, expr.CmpOpEq, a.AsSlice())
}

// l4port matches a udp/tcp port (the l4proto term must come first).
func l4port(proto string, sport bool, op expr.CmpOp, port uint16) Term {
	field, off := "dport", uint32(offL4Dport)
	if sport {
		field, off = "sport", offL4Sport
	}
	return payloadCmp(fmt.Sprintf("%s %s %s%d", proto, field, opText(op), port), payloadTransport, off, op, be16(port))
}

func tcpDportIn(ports ...uint16) Term {
	vals := make([][]byte, len(ports))
	texts := make([]string, len(ports))
	for i, p := range ports {
		vals[i], texts[i] = be16(p), fmt.Sprint(p)
	}
	return payloadIn("tcp dport", payloadTransport, offL4Dport, lenPort, nftables.TypeInetService, false, vals, texts)
}

func icmp6Name(t uint8) string {
	switch t {
	case icmp6RS:
		return "nd-router-solicit"
	case icmp6RA:
		return "nd-router-advert"
	case icmp6NS:
		return "nd-neighbor-solicit"
	case icmp6NA:
		return "nd-neighbor-advert"
	case icmp6Redirect:
		return "nd-redirect"
	case icmp6MLDv2Report:
		return "mld2-listener-report"
	}
	return fmt.Sprint(t)
}

func icmpTypeIs(t uint8) Term {
	return payloadCmp("icmp type redirect", payloadTransport, offICMPType, expr.CmpOpEq, []byte{t})
}

// icmp6TypeIn matches (or excludes) ICMPv6 types.
func icmp6TypeIn(invert bool, ts ...uint8) Term {
	vals := make([][]byte, len(ts))
	texts := make([]string, len(ts))
	for i, t := range ts {
		vals[i], texts[i] = []byte{t}, icmp6Name(t)
	}
	return payloadIn("icmpv6 type", payloadTransport, offICMPType, 1, nftables.TypeICMP6Type, invert, vals, texts)
}

func ctStateEstablishedRelated() Term {
	bits := expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED
	return Term{
		text: "ct state established,related",
		exprs: []expr.Any{
			&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(bits), Xor: ne32(0)},
			cmp(expr.CmpOpNeq, ne32(0)),
		},
	}
}

func markSet(v uint32) Term {
	return Term{
		text: fmt.Sprintf("meta mark set 0x%08x", v),
		exprs: []expr.Any{
			&expr.Immediate{Register: 1, Data: ne32(v)},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
		},
	}
}

// vmap dispatches on a meta key through a named verdict map.
func vmap(key expr.MetaKey, mapName string) Term {
	field := "meta mark"
	switch key {
	case expr.MetaKeyIIFNAME:
		field = "iifname"
	case expr.MetaKeyOIFNAME:
		field = "oifname"
	}
	return Term{
		text: fmt.Sprintf("%s vmap @%s", field, mapName),
		exprs: []expr.Any{
			&expr.Meta{Key: key, Register: 1},
			&expr.Lookup{SourceRegister: 1, DestRegister: 0, IsDestRegSet: true, SetName: mapName},
		},
	}
}

func queue(num uint16, bypass bool) Term {
	text := fmt.Sprintf("queue num %d", num)
	if bypass {
		text += " bypass"
	}
	return Term{text: text, queue: &queueSpec{num: num, bypass: bypass}}
}

func verdict(kind expr.VerdictKind, chain string) Term {
	text := "jump " + chain
	switch kind {
	case expr.VerdictAccept:
		text = "accept"
	case expr.VerdictDrop:
		text = "drop"
	}
	return Term{text: text, exprs: []expr.Any{&expr.Verdict{Kind: kind, Chain: chain}}}
}

func accept() Term { return verdict(expr.VerdictAccept, "") }
func drop() Term   { return verdict(expr.VerdictDrop, "") }

func jump(chain string) Term { return verdict(expr.VerdictJump, chain) }

// Registers of concatenated lookups: an interface name fills the first
// four 32-bit registers, the second field starts at the fifth.
const (
	reg32First  = 8  // NFT_REG32_00
	reg32Second = 12 // NFT_REG32_04
)

// nfproto matches IPv4 (v=4) or IPv6 packets: meta nfproto in inet, the
// ether type in the bridge family.
func nfproto(f Family, v int) Term {
	if f == FamilyBridge {
		if v == 4 {
			return etherType(etherTypeIPv4)
		}
		return etherType(etherTypeIPv6)
	}
	if v == 4 {
		return metaCmp("meta nfproto ipv4", expr.MetaKeyNFPROTO, expr.CmpOpEq, []byte{unix.NFPROTO_IPV4})
	}
	return metaCmp("meta nfproto ipv6", expr.MetaKeyNFPROTO, expr.CmpOpEq, []byte{unix.NFPROTO_IPV6})
}

func ifnameField(key expr.MetaKey) string {
	if key == expr.MetaKeyOIFNAME {
		return "oifname"
	}
	return "iifname"
}

// ifaceLookup matches "<ifname> . <field> [!=] @set": the interface name
// and a payload field (masked with mask when not nil) looked up in a
// concatenated set.
func ifaceLookup(key expr.MetaKey, base expr.PayloadBase, off, n uint32, mask []byte, set string, invert bool, field string) Term {
	op := ""
	if invert {
		op = "!= "
	}
	text := fmt.Sprintf("%s . %s %s@%s", ifnameField(key), field, op, set)
	exprs := []expr.Any{
		&expr.Meta{Key: key, Register: reg32First},
		&expr.Payload{DestRegister: reg32Second, Base: base, Offset: off, Len: n},
	}
	if mask != nil {
		text = fmt.Sprintf("%s . %s & %s %s@%s", ifnameField(key), field, net.HardwareAddr(mask), op, set)
		exprs = append(exprs, &expr.Bitwise{SourceRegister: reg32Second, DestRegister: reg32Second, Len: n, Mask: mask, Xor: make([]byte, n)})
	}
	exprs = append(exprs, &expr.Lookup{SourceRegister: reg32First, SetName: set, Invert: invert})
	return Term{text: text, exprs: exprs}
}

// macNotIn: the frame's source MAC is not the VM's.
func macNotIn(key expr.MetaKey) Term {
	return ifaceLookup(key, payloadLL, offEtherSaddr, lenEtherAddr, nil, setMAC, true, "ether saddr")
}

// prefixNotIn: the source MAC under mask is not the tap's network prefix.
func prefixNotIn(mask net.HardwareAddr) Term {
	return ifaceLookup(expr.MetaKeyOIFNAME, payloadLL, offEtherSaddr, lenEtherAddr, mask, setPrefix, true, "ether saddr")
}

func ifaceAddrNotIn(set string, off, n uint32, field string) Term {
	return ifaceLookup(expr.MetaKeyIIFNAME, payloadNetwork, off, n, nil, set, true, field)
}

func ifaceAddrIn(set string, off, n uint32, field string) Term {
	return ifaceLookup(expr.MetaKeyIIFNAME, payloadNetwork, off, n, nil, set, false, field)
}

func arpShaNotIn() Term {
	return ifaceLookup(expr.MetaKeyIIFNAME, payloadNetwork, offARPSha, lenEtherAddr, nil, setMAC, true, "arp saddr ether")
}

func ifaceAddrNotInARP() Term {
	return ifaceLookup(expr.MetaKeyIIFNAME, payloadNetwork, offARPSpa, lenIPv4, nil, setIP4, true, "arp saddr ip")
}

func arpSpaIs(a netip.Addr) Term {
	return payloadCmp("arp saddr ip "+a.String(), payloadNetwork, offARPSpa, expr.CmpOpEq, a.AsSlice())
}

func ipSaddrIsNot(a netip.Addr) Term {
	return payloadCmp("ip saddr != "+a.String(), payloadNetwork, offIPv4Saddr, expr.CmpOpNeq, a.AsSlice())
}

// ip6SaddrInPrefix: ip6 saddr in prefix p.
func ip6SaddrInPrefix(p netip.Prefix) Term {
	mask := net.CIDRMask(p.Bits(), 128)
	return Term{
		text: "ip6 saddr " + p.String(),
		exprs: []expr.Any{
			load(payloadNetwork, offIPv6Saddr, lenIPv6),
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: lenIPv6, Mask: mask, Xor: make([]byte, lenIPv6)},
			cmp(expr.CmpOpEq, p.Masked().Addr().AsSlice()),
		},
	}
}

// ifnameIn: the interface is in set.
func ifnameIn(key expr.MetaKey, set string) Term {
	return Term{
		text: fmt.Sprintf("%s @%s", ifnameField(key), set),
		exprs: []expr.Any{
			&expr.Meta{Key: key, Register: 1},
			&expr.Lookup{SourceRegister: 1, SetName: set},
		},
	}
}

// fromMap looks the interface name (key) up in map m and stores the
// value with store; interfaces not in m are left alone (the lookup fails
// and ends the rule).
func fromMap(text string, key expr.MetaKey, m string, store expr.Any) Term {
	return Term{text: text, exprs: []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: m},
		store,
	}}
}

// arpSpaSetFromMap rewrites the ARP sender protocol address of requests
// sent to a tap to the tap's gateway from map m (GRNET's arptables
// mangle --mangle-ip-s).
func arpSpaSetFromMap(m string) Term {
	return fromMap("arp saddr ip set oifname map @"+m, expr.MetaKeyOIFNAME, m,
		&expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: 1, Base: payloadNetwork, Offset: offARPSpa, Len: lenIPv4})
}

func ret() Term {
	return Term{text: "return", exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictReturn}}}
}

// markSetFromMap sets the packet mark to the input interface's value in
// map m.
func markSetFromMap(m string) Term {
	return fromMap("meta mark set iifname map @"+m, expr.MetaKeyIIFNAME, m,
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1})
}

// thField is nft's name of a raw transport header field (off and n in
// bytes): the ICMPv6 fields past the type have no name in nft 1.0.6.
func thField(off, n uint32) string { return fmt.Sprintf("@th,%d,%d", off*8, n*8) }

// thCmp compares a raw transport header field (up to 8 bytes) with v.
func thCmp(off uint32, op expr.CmpOp, v []byte) Term {
	var n uint64
	for _, b := range v {
		n = n<<8 | uint64(b)
	}
	return payloadCmp(fmt.Sprintf("%s %s%#x", thField(off, uint32(len(v))), opText(op), n), payloadTransport, off, op, v)
}

// thPresent matches packets whose transport header and payload reach
// byte off: a load past the end of the packet ends the rule, so the
// compare after it (always true) matches exactly when the byte exists.
func thPresent(off uint32) Term {
	return payloadCmp(thField(off, 1)+" >= 0x0", payloadTransport, off, expr.CmpOpGte, []byte{0})
}

// ndOption matches (op Eq) or excludes (Neq) an NDP option of type typ
// and length 1 (8 bytes: a link-layer address or a nonce) at off.
func ndOption(off uint32, op expr.CmpOp, typ uint8) Term {
	return thCmp(off, op, []byte{typ, lenNDOption / 8})
}

// ndLLNotVM: the link-layer address of the option at off is not the
// VM's MAC.
func ndLLNotVM(off uint32) Term {
	return ifaceLookup(expr.MetaKeyIIFNAME, payloadTransport, off+2, lenEtherAddr, nil, setMAC, true, thField(off+2, lenEtherAddr))
}

// ndTargetNotVM: the target address of an NS or NA is not one of the
// VM's addresses.
func ndTargetNotVM() Term {
	return ifaceLookup(expr.MetaKeyIIFNAME, payloadTransport, offNDTarget, lenIPv6, nil, setIP6, true, thField(offNDTarget, lenIPv6))
}

// exthdrFragExists matches IPv6 packets with a fragment header.
func exthdrFragExists() Term {
	return Term{text: "exthdr frag exists", exprs: []expr.Any{
		&expr.Exthdr{DestRegister: 1, Type: ip6HdrFragment, Len: 1, Flags: unix.NFT_EXTHDR_F_PRESENT, Op: expr.ExthdrOpIpv6},
		cmp(expr.CmpOpEq, []byte{1}),
	}}
}
