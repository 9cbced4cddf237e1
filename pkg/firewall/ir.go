package firewall

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
)

// Family is an nftables address family diktyo keeps a table in.
type Family string

// The families of diktyo's tables, in the order they are written.
const (
	FamilyNetdev Family = "netdev"
	FamilyInet   Family = "inet"
	FamilyBridge Family = "bridge"
	FamilyARP    Family = "arp"
)

// families is the fixed order tables are created, rendered and cleaned.
var families = [...]Family{FamilyNetdev, FamilyInet, FamilyBridge, FamilyARP}

func (f Family) nft() nftables.TableFamily {
	switch f {
	case FamilyNetdev:
		return nftables.TableFamilyNetdev
	case FamilyInet:
		return nftables.TableFamilyINet
	case FamilyBridge:
		return nftables.TableFamilyBridge
	default:
		return nftables.TableFamilyARP
	}
}

// Hook binds a base chain to a netfilter hook; the zero Hook is a regular
// chain.
type Hook struct {
	Name     string // prerouting, forward, output, ingress
	Device   string // netdev family only
	Priority int32
}

func (h Hook) num(f Family) *nftables.ChainHook {
	if f == FamilyARP { // NF_ARP_IN, NF_ARP_OUT
		if h.Name == "input" {
			return nftables.ChainHookRef(0)
		}
		return nftables.ChainHookRef(1)
	}
	switch h.Name {
	case "prerouting":
		return nftables.ChainHookPrerouting
	case "input":
		return nftables.ChainHookInput
	case "forward":
		return nftables.ChainHookForward
	case "output":
		return nftables.ChainHookOutput
	case "ingress":
		return nftables.ChainHookIngress
	case "egress":
		return nftables.ChainHookEgress
	}
	return nil
}

// Chain is one chain and its rules.
type Chain struct {
	Family Family
	// Table is the chain's table ("": TableName).
	Table string
	Name  string
	Hook  Hook
	Rules []Rule
}

// Rule is a sequence of terms (matches, statements, a verdict).
type Rule []Term

// Term is one piece of a rule: its nft text and the expressions it
// compiles to.
type Term struct {
	text  string
	exprs []expr.Any
	// set, when not nil, is an anonymous constant set the term looks up
	// (a Lookup of register 1 is appended after exprs).
	set *anonSet
	// queue, when not nil, is a queue verdict whose encoding depends on
	// the kernel (xt NFQUEUE or native queue).
	queue *queueSpec
}

type anonSet struct {
	key    nftables.SetDatatype
	order  binaryutil.ByteOrder
	elems  [][]byte
	invert bool
}

type queueSpec struct {
	num    uint16
	bypass bool
}

// String renders the rule as nft syntax.
func (r Rule) String() string {
	s := make([]string, 0, len(r))
	for _, t := range r {
		if t.text != "" {
			s = append(s, t.text)
		}
	}
	return strings.Join(s, " ")
}

func (c Chain) table() string {
	if c.Table == "" {
		return TableName
	}
	return c.Table
}

// String renders the chain as nft syntax (as in `nft list ruleset`).
func (c Chain) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\tchain %s {\n", c.Name)
	if c.Hook.Name != "" {
		dev := ""
		if c.Hook.Device != "" {
			dev = fmt.Sprintf(" device %q", c.Hook.Device)
		}
		fmt.Fprintf(&b, "\t\ttype filter hook %s%s priority %d; policy accept;\n", c.Hook.Name, dev, c.Hook.Priority)
	}
	for _, r := range c.Rules {
		fmt.Fprintf(&b, "\t\t%s\n", r)
	}
	b.WriteString("\t}\n")
	return b.String()
}

// QueueMode says how queue verdicts are encoded.
type QueueMode int

// Queue encodings. This machine's kernel lacks the native queue
// expression but has the xt NFQUEUE target through nft_compat.
const (
	QueueXT QueueMode = iota
	QueueNative
)

// compile returns the expressions of a rule, the anonymous sets it needs
// (to be added before it) with IDs from nextID.
func compileRule(r Rule, table *nftables.Table, mode QueueMode, nextID *uint32) ([]expr.Any, []*nftables.Set, [][]nftables.SetElement) {
	var (
		out   []expr.Any
		sets  []*nftables.Set
		elems [][]nftables.SetElement
	)
	for _, t := range r {
		out = append(out, t.exprs...)
		if t.set != nil {
			*nextID++
			s := &nftables.Set{
				Table:        table,
				ID:           *nextID,
				Name:         "__set%d", // the kernel numbers it
				Anonymous:    true,
				Constant:     true,
				KeyType:      t.set.key,
				KeyByteOrder: t.set.order,
			}
			el := make([]nftables.SetElement, len(t.set.elems))
			for i, k := range t.set.elems {
				el[i] = nftables.SetElement{Key: k}
			}
			sets = append(sets, s)
			elems = append(elems, el)
			out = append(out, &expr.Lookup{SourceRegister: 1, SetName: "__set%d", SetID: s.ID, Invert: t.set.invert})
		}
		if t.queue != nil {
			out = append(out, queueExpr(*t.queue, mode))
		}
	}
	return out, sets, elems
}

// queueExpr is the only place that knows how a queue verdict is encoded.
func queueExpr(q queueSpec, mode QueueMode) expr.Any {
	if mode == QueueNative {
		e := &expr.Queue{Num: q.num, Total: 1}
		if q.bypass {
			e.Flag = expr.QueueFlagBypass
		}
		return e
	}
	// struct xt_NFQ_info_v3 {u16 queuenum; u16 queues_total; u16 flags},
	// native byte order; flag 0x1 is NFQ_FLAG_BYPASS.
	b := make([]byte, 6)
	binary.NativeEndian.PutUint16(b[0:], q.num)
	binary.NativeEndian.PutUint16(b[2:], 1)
	if q.bypass {
		binary.NativeEndian.PutUint16(b[4:], 1)
	}
	u := xt.Unknown(b)
	return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &u}
}
