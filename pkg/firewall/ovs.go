package firewall

import (
	"encoding/binary"
	"fmt"
	"net"
	"slices"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/netplan"
)

// Open vSwitch NICs (see doc.go): what the VM sends is filtered by the
// OpenFlow flows of pkg/ovsflow (written by pkg/hostnet); what it receives
// by an egress chain on its tap, in a netdev table of its own; nfdhcpd
// steering by the constant chain ovs_steer of inet diktyo.

const (
	// chainOVSSteer (inet, constant) queues the frames Open vSwitch flows
	// steered to a bridge's local port.
	chainOVSSteer = "ovs_steer"
	// prioNetdevEgress: the tap's egress chain is the only one diktyo
	// has on the device.
	prioNetdevEgress = 0
)

// Steered frames' destination MACs (pkg/ovsflow.SteerMAC: 03:00 and the
// queue mark): selected by ovsSteerPrefix under ovsSteerMask, the mark is
// their last four bytes.
var (
	ovsSteerPrefix = net.HardwareAddr{0x03, 0x00, 0xd1, 0xc0, 0, 0}
	ovsSteerMask   = net.HardwareAddr{0xff, 0xff, 0xff, 0xfe, 0, 0}
)

const (
	offEtherDaddr = 0
	offSteerMark  = 2 // the queue mark in a steered frame's destination MAC
	lenMark       = 4
	tcpFlagsOff   = 13
	tcpFIN        = 0x01
	tcpSYN        = 0x02
	tcpRST        = 0x04
	tcpACK        = 0x10
)

// NetdevTable is the netdev table of an Open vSwitch tap.
func NetdevTable(tap string) string { return TableName + "_" + tap }

// ChainName is the name of the egress chain of an Open vSwitch tap (in
// NetdevTable).
func ChainName(tap string) string { return chainPrefix + tap }

// ovsShared is what Init creates for Open vSwitch NICs: the inet chain
// that turns a steered frame's destination MAC back into its queue mark
// and queues it (marks without a queue chain are cleared).
func ovsShared() Ruleset {
	steered := func() Term {
		return Term{
			text: fmt.Sprintf("ether daddr & %s == %s", ovsSteerMask, ovsSteerPrefix),
			exprs: append(slices.Clone(iiftypeEther().exprs),
				load(payloadLL, offEtherDaddr, lenEtherAddr),
				&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: lenEtherAddr, Mask: ovsSteerMask, Xor: make([]byte, lenEtherAddr)},
				cmp(expr.CmpOpEq, ovsSteerPrefix),
			),
		}
	}
	markFromDaddr := Term{
		text: "meta mark set @ll,16,32",
		exprs: []expr.Any{
			load(payloadLL, offSteerMark, lenMark),
			&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderNtoh, Len: lenMark, Size: lenMark},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
		},
	}
	return Ruleset{Chains: []Chain{{
		Family: FamilyInet, Name: chainOVSSteer, Hook: Hook{Name: "prerouting", Priority: prioInetPre},
		Rules: []Rule{
			{steered(), markFromDaddr, vmap(expr.MetaKeyMARK, mapQueues)},
			{steered(), markSet(0)},
		},
	}}}
}

// ovsRules fills in the rules of an Open vSwitch NIC: the tap's egress
// chain when the VM needs one (MAC filter, protected or limited profile)
// and the queue chains of its steering (Apply creates those Init did
// not).
func ovsRules(n normalized, out *NICRules) {
	if n.Queues != nil {
		out.Shared = out.Shared.merge(queueRules(Steering(*n.Queues)))
	}
	if rules := egressRules(n); len(rules) > 0 {
		out.Netdev = &Chain{Family: FamilyNetdev, Table: NetdevTable(n.Tap), Name: ChainName(n.Tap),
			Hook: Hook{Name: "egress", Device: n.Tap, Priority: prioNetdevEgress}, Rules: rules}
	}
}

// egressRules filter the frames Open vSwitch (or anyone) sends to the VM
// out of its tap: the private network's MAC filter and the firewall
// profile. The netdev family has no conntrack on this kernel: the profile
// is snf-network's original stateless one (tcp !syn, udp sport 53, ICMP,
// ICMPv6), not the bridged NICs' ct state established,related. Frames
// from the tap's own MAC (the host's: nfdhcpd's replies) pass, as they
// never cross the bridge of a bridged NIC either.
func egressRules(n normalized) []Rule {
	profile := n.Profile == netplan.ProfileProtected || n.Profile == netplan.ProfileLimited
	if n.MACFilter == nil && !profile {
		return nil
	}
	var rs []Rule
	if len(n.TapMAC) == lenEtherAddr {
		rs = append(rs, Rule{etherSaddrIs(net.HardwareAddr(n.TapMAC)), accept()})
	}
	if m := n.MACFilter; m != nil {
		prefix := make(net.HardwareAddr, lenEtherAddr)
		for i := range prefix {
			prefix[i] = m.Prefix[i] & n.macMask[i]
		}
		rs = append(rs, Rule{etherSaddrMaskedNot(n.macMask, prefix), drop()})
	}
	if profile {
		rs = append(rs, Rule{etherTypeNotIn(etherTypeIPv4, etherTypeIPv6), accept()})
		if n.Profile == netplan.ProfileLimited {
			rs = append(rs, Rule{l4proto(protoTCP), tcpDportIn(22, 3389), accept()})
		}
		rs = append(rs,
			Rule{l4proto(protoTCP), tcpNotSyn(), accept()},
			Rule{l4proto(protoUDP), l4port("udp", true, expr.CmpOpEq, portDNS), accept()},
			Rule{l4proto(protoICMP), accept()},
			Rule{l4proto(protoICMPv6), accept()},
			Rule{drop()})
	}
	for i, r := range rs {
		rs[i] = append(Rule{oiftypeEther()}, r...)
	}
	return rs
}

// oiftypeEther is nft's implicit dependency of ether fields in a netdev
// egress chain (meta iiftype has no input device there).
func oiftypeEther() Term {
	return metaCmp("", expr.MetaKeyOIFTYPE, expr.CmpOpEq, binary.NativeEndian.AppendUint16(nil, unix.ARPHRD_ETHER))
}

func etherSaddrIs(mac net.HardwareAddr) Term {
	return payloadCmp("ether saddr "+mac.String(), payloadLL, offEtherSaddr, expr.CmpOpEq, mac)
}

// etherSaddrMaskedNot: ether saddr & mask != prefix.
func etherSaddrMaskedNot(mask, prefix net.HardwareAddr) Term {
	return Term{
		text: fmt.Sprintf("ether saddr & %s != %s", mask, prefix),
		exprs: []expr.Any{
			load(payloadLL, offEtherSaddr, lenEtherAddr),
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: lenEtherAddr, Mask: mask, Xor: make([]byte, lenEtherAddr)},
			cmp(expr.CmpOpNeq, prefix),
		},
	}
}

// tcpNotSyn is iptables' `! --syn`: tcp flags & (fin|syn|rst|ack) != syn,
// any segment but the first of a connection.
func tcpNotSyn() Term {
	return Term{
		text: "tcp flags & (fin | syn | rst | ack) != syn",
		exprs: []expr.Any{
			load(payloadTransport, tcpFlagsOff, 1),
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{tcpFIN | tcpSYN | tcpRST | tcpACK}, Xor: []byte{0}},
			cmp(expr.CmpOpNeq, []byte{tcpSYN}),
		},
	}
}

// checkOVSSteer fails with ErrNotInitialized when the steering chain of
// Open vSwitch NICs is missing (tables written by an older diktyo): an
// Open vSwitch NIC has no element whose set would be missing instead.
func (fw *Firewall) checkOVSSteer() error {
	c, err := fw.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	ok, err := getObject(c, FamilyInet, unix.NFT_MSG_GETCHAIN, unix.NFTA_CHAIN_TABLE, unix.NFTA_CHAIN_NAME, chainOVSSteer)
	if err != nil {
		return fmt.Errorf("chain inet %s %s: %w", TableName, chainOVSSteer, err)
	}
	if !ok {
		return fmt.Errorf("%w: chain inet %s %s", ErrNotInitialized, TableName, chainOVSSteer)
	}
	return nil
}
