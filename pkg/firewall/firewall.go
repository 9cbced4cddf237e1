package firewall

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/netplan"
)

// ErrNotInitialized is returned (wrapped) by Apply when diktyo's tables
// are missing or lack a chain the NIC needs: Init has not run in this
// network namespace (or ran with another configuration).
var ErrNotInitialized = errors.New("diktyo nftables tables missing (Init not run)")

// DefaultTimeout bounds one netlink exchange with nf_tables.
const DefaultTimeout = 5 * time.Second

// ExpireAfter is the timeout Remove gives the elements it removes: they
// stop matching when it passes and the set's garbage collection frees
// them (see doc.go).
const ExpireAfter = time.Millisecond

// Options configures a Firewall.
type Options struct {
	// NetNS is a file descriptor of the network namespace to work in
	// (0: the caller's).
	NetNS int
	// Queue selects how queue verdicts are encoded: QueueXT (default,
	// works on every kernel with nft_compat) or QueueNative.
	Queue QueueMode
	// Steerings are the queue configurations Init creates chains for
	// (nil: DefaultSteering). Apply creates the chains of any other one a
	// Filter names.
	Steerings []Steering
	// MACMask is the mask of the private-network MAC filter rule (nil:
	// DefaultMACMask); Filters' masks should be the same.
	MACMask net.HardwareAddr
	// Timeout bounds each netlink exchange (0: DefaultTimeout).
	Timeout time.Duration

	// Test hooks that replace the kernel (unit tests record the
	// messages; they build both with mdlayher/netlink's nltest, which
	// production code does not link): the nftables connection's options
	// and the socket of element batches.
	testConn []nftables.ConnOption
	testDial func() *netlink.Conn
}

// Firewall applies NIC filters to diktyo's nftables tables.
type Firewall struct {
	conn *nftables.Conn
	opts Options
	// known is what Init creates, built on first use: a down never needs
	// it, and building it is a good part of a short process's work.
	known func() Ruleset
}

// New returns a Firewall talking to nf_tables over netlink. Each call
// (Init, Apply, Remove, List) opens its own socket with a deadline.
func New(opts Options) (*Firewall, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Steerings == nil {
		opts.Steerings = []Steering{DefaultSteering()}
	}
	if opts.MACMask == nil {
		opts.MACMask = DefaultMACMask()
	}
	var co []nftables.ConnOption
	if opts.testConn != nil {
		co = append(co, opts.testConn...)
	} else {
		co = append(co, nftables.WithSockOptions(func(c *netlink.Conn) error {
			if err := forceReadBuffer(c, batchReadBuffer); err != nil {
				return err
			}
			return c.SetDeadline(time.Now().Add(opts.Timeout))
		}))
	}
	if opts.NetNS > 0 {
		co = append(co, nftables.WithNetNSFd(opts.NetNS))
	}
	c, err := nftables.New(co...)
	if err != nil {
		return nil, fmt.Errorf("firewall: nftables connection: %w", err)
	}
	known := sync.OnceValue(func() Ruleset { return Skeleton(opts.Steerings, opts.MACMask).merge(ovsShared()) })
	return &Firewall{conn: c, opts: opts, known: known}, nil
}

// batchReadBuffer is the receive buffer of google/nftables sockets. It
// asks the kernel to echo every rule it adds (to learn its handle), and
// the kernel answers a whole batch before anything is read: Init's
// batch overflowed the default buffer (208 KiB here; ENOBUFS).
const batchReadBuffer = 4 << 20

// forceReadBuffer sets c's receive buffer to n bytes, beyond
// net.core.rmem_max (SO_RCVBUFFORCE needs CAP_NET_ADMIN, as nf_tables
// does).
func forceReadBuffer(c *netlink.Conn, n int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("nf_tables socket: %w", err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n)
	}); err != nil {
		return fmt.Errorf("nf_tables socket: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("nf_tables socket: receive buffer: %w", serr)
	}
	return nil
}

// dial opens the socket of one element batch.
func (fw *Firewall) dial() (*netlink.Conn, error) {
	if fw.opts.testDial != nil {
		return fw.opts.testDial(), nil
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: fw.opts.NetNS})
	if err != nil {
		return nil, fmt.Errorf("nf_tables socket: %w", err)
	}
	if err := c.SetDeadline(time.Now().Add(fw.opts.Timeout)); err != nil {
		c.Close()
		return nil, fmt.Errorf("nf_tables socket: %w", err)
	}
	return c, nil
}

// Init creates diktyo's tables, sets, maps and shared chains, rewriting
// the shared chains to their constant content. It is idempotent and
// leaves per-NIC elements alone. Tables of an older layout are replaced.
// Sets and maps an earlier version lacked are added; the arp route_mark
// map is filled from the inet one, so that routed NICs wired before it
// existed have their ARP routed by their table at once. It also finds
// out whether this kernel can expire elements (see doc.go).
func (fw *Firewall) Init() error {
	c, err := fw.dial()
	if err != nil {
		return fmt.Errorf("firewall: init: %w", err)
	}
	defer c.Close()
	current, err := getSet(c, FamilyInet, setLayout)
	if err != nil {
		return fmt.Errorf("firewall: init: %w", err)
	}
	arpMarks := false
	if !current {
		if err := fw.dropOldLayout(); err != nil {
			return fmt.Errorf("firewall: init: replace old tables: %w", err)
		}
	} else if arpMarks, err = getSet(c, FamilyARP, mapRoute); err != nil {
		return fmt.Errorf("firewall: init: %w", err)
	}
	known := fw.known()
	b := fw.batch()
	for _, f := range families[1:] {
		b.c.AddTable(b.table(f))
	}
	for _, s := range known.Sets {
		b.addSet(s)
	}
	b.writeChains(known)
	for _, s := range known.Sets {
		for _, e := range s.Elements {
			b.element(e)
		}
	}
	b.writeBaseChains(known)
	probe := SetDef{Family: FamilyInet, Name: "expire_probe", Key: []nftables.SetDatatype{typeIfname}, Timeout: true}
	b.addSet(probe)
	if err := b.flush(); err != nil {
		return fmt.Errorf("firewall: init tables %s: %w", TableName, err)
	}
	if current && !arpMarks {
		if err := fw.copyRouteMarks(c); err != nil {
			return fmt.Errorf("firewall: init: arp %s: %w", mapRoute, err)
		}
	}
	ok, err := fw.probeExpire(c, probe)
	if err != nil {
		return fmt.Errorf("firewall: init: probe element expiry: %w", err)
	}
	b = fw.batch()
	ps := b.nftSet(probe)
	b.c.DelSet(ps)
	es := b.nftSet(SetDef{Family: FamilyInet, Name: setExpire, Key: []nftables.SetDatatype{typeMark}})
	if err := b.c.AddSet(es, nil); err != nil {
		return fmt.Errorf("firewall: init: %w", err)
	}
	if !ok {
		b.c.DelSet(es)
	}
	if err := b.flush(); err != nil {
		return fmt.Errorf("firewall: init: %w", err)
	}
	return nil
}

// copyRouteMarks adds the live elements of the inet route_mark map to the
// arp one (an upgrade from a version without the arp map).
func (fw *Firewall) copyRouteMarks(c *netlink.Conn) error {
	els, err := fw.dumpSet(SetDef{Family: FamilyInet, Name: mapRoute, Key: []nftables.SetDatatype{typeIfname}, Data: &typeMark})
	if err != nil {
		return err
	}
	ops := make([]elemOp, len(els))
	for i, e := range els {
		ops[i] = e.op
		ops[i].family, ops[i].permanent = FamilyARP, true
	}
	return fw.sendElems(c, ops, false)
}

// probeExpire reports whether giving an existing element a timeout
// works: kernels before element timeout updates ignore it.
func (fw *Firewall) probeExpire(c *netlink.Conn, probe SetDef) (bool, error) {
	key := IfnameKey("probe")
	var b nlBatch
	if err := b.add(elemOp{family: FamilyInet, set: probe.Name, key: key, permanent: true}); err != nil {
		return false, err
	}
	if err := b.send(c); err != nil {
		return false, err
	}
	b = nlBatch{}
	if err := b.add(elemOp{family: FamilyInet, set: probe.Name, key: key, timeout: time.Hour}); err != nil {
		return false, err
	}
	if err := b.send(c); err != nil {
		return false, err
	}
	els, err := fw.conn.GetSetElements(&nftables.Set{Table: &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}, Name: probe.Name, KeyType: typeIfname})
	if err != nil {
		return false, err
	}
	return len(els) == 1 && els[0].Timeout > 0, nil
}

// dropOldLayout deletes diktyo tables written by an earlier layout (per
// NIC chains): their maps have other types than this layout's.
func (fw *Firewall) dropOldLayout() error {
	b := fw.batch()
	for _, f := range families[1:] {
		t := b.table(f)
		b.c.AddTable(t)
		b.c.DelTable(t)
	}
	tables, err := fw.conn.ListTablesOfFamily(nftables.TableFamilyNetdev)
	if err != nil {
		return err
	}
	for _, t := range tables {
		if strings.HasPrefix(t.Name, TableName+"_") {
			b.c.DelTable(t)
		}
	}
	return b.flush()
}

// Apply installs the filter of one NIC: set and map elements only (one
// small batch that does not grow with the number of NICs), plus the
// shared chains of a queue configuration or MAC mask Init did not create
// and, for Open vSwitch, the tap's netdev table when it needs one.
// Elements are written as permanent, which also revives any an earlier
// Remove has set expiring. Applying the same Filter again changes nothing.
func (fw *Firewall) Apply(f netplan.Filter) error {
	n, err := Build(f)
	if err != nil {
		return fmt.Errorf("firewall: %w", err)
	}
	if f.Mode == netplan.ModeOpenvSwitch && f.Queues != nil {
		if err := fw.checkOVSSteer(); err != nil {
			return fmt.Errorf("firewall: apply %s: %w", f.Tap, err)
		}
	}
	if missing := fw.unknown(f, n.Shared); len(missing.Chains) > 0 || len(missing.Sets) > 0 || n.Netdev != nil {
		b := fw.batch()
		b.writeChains(missing)
		for _, s := range missing.Sets {
			for _, e := range s.Elements {
				b.element(e)
			}
		}
		if n.Netdev != nil {
			b.chain(*n.Netdev)
		}
		// Elements are sent after the chains they jump to exist.
		if err := b.flush(); err != nil {
			return fmt.Errorf("firewall: apply %s: %w", f.Tap, explain(err))
		}
	}
	ops := make([]elemOp, len(n.Elements))
	for i, e := range n.Elements {
		ops[i] = e.op()
		ops[i].permanent = true
	}
	// The queue map's elements of the NIC's steering go in the same batch
	// (adding an existing one changes nothing): tables that Init made
	// with another queue configuration (QUEUE_BYPASS or a queue number
	// changed since) lack the chains they jump to, and the batch fails
	// with ErrNotInitialized instead of leaving steering silently dead.
	var shared []elemOp
	for _, set := range n.Shared.Sets {
		for _, e := range set.Elements {
			shared = append(shared, e.op())
		}
	}
	err = fw.sendElems(nil, append(ops, shared...), false)
	if errors.Is(err, unix.EEXIST) {
		// A map element of the tap exists with other data: an earlier
		// NIC's, expiring (Remove moments ago) or left by a crash. Replace
		// it; this deletion costs a grace period when the socket closes.
		var again []elemOp
		for _, op := range ops {
			if op.chain != "" || op.data != nil {
				d := op
				d.destroy = true
				again = append(again, d)
			}
			again = append(again, op)
		}
		err = fw.sendElems(nil, append(again, shared...), false)
	}
	if err != nil {
		return fmt.Errorf("firewall: apply %s: %w", f.Tap, explain(err))
	}
	return nil
}

// unknown returns the chains and constant elements of r, the shared part
// of f's rules, that Init does not create.
func (fw *Firewall) unknown(f netplan.Filter, r Ruleset) Ruleset {
	if f.Queues == nil || slices.Contains(fw.opts.Steerings, Steering(*f.Queues)) {
		return Ruleset{} // only queue steering is shared, and Init made this one
	}
	known := fw.known()
	var out Ruleset
	for _, c := range r.Chains {
		if !slices.ContainsFunc(known.Chains, func(x Chain) bool { return x.Family == c.Family && x.Name == c.Name }) {
			out.Chains = append(out.Chains, c)
		}
	}
	for _, s := range r.Sets {
		i := slices.IndexFunc(known.Sets, func(x SetDef) bool { return x.Family == s.Family && x.Name == s.Name })
		var els []Element
		for _, e := range s.Elements {
			if i < 0 || !slices.ContainsFunc(known.Sets[i].Elements, func(x Element) bool { return bytes.Equal(x.Key, e.Key) }) {
				els = append(els, e)
			}
		}
		if len(els) > 0 {
			s.Elements = els
			out.Sets = append(out.Sets, s)
		}
	}
	return out
}

func (e Element) op() elemOp {
	return elemOp{family: e.Family, set: e.Set, key: e.Key, chain: e.Chain, data: e.Data}
}

// Remove removes what Apply installed for f, in one batch; what is
// already gone is success. Where the kernel supports it (see doc.go) the
// elements are given a timeout of ExpireAfter instead of being deleted:
// a deletion makes the closing of the netlink socket wait for an RCU
// grace period (16 ms here), an expiry does not.
func (fw *Firewall) Remove(f netplan.Filter) error {
	n, err := Build(f)
	if err != nil {
		return fmt.Errorf("firewall: %w", err)
	}
	ops := make([]elemOp, len(n.Elements))
	for i, e := range n.Elements {
		ops[i] = e.op()
	}
	if err := fw.removeElems(ops); err != nil {
		return fmt.Errorf("firewall: remove %s: %w", f.Tap, err)
	}
	if f.Mode == netplan.ModeOpenvSwitch {
		if err := fw.destroyNetdev(f.Tap); err != nil {
			return fmt.Errorf("firewall: remove %s: %w", f.Tap, err)
		}
	}
	return nil
}

// removeElems expires (or deletes) ops' elements.
func (fw *Firewall) removeElems(ops []elemOp) error {
	if len(ops) == 0 {
		return nil
	}
	c, err := fw.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	expire, err := getSet(c, FamilyInet, setExpire)
	if err != nil {
		return err
	}
	var out []elemOp
	for _, op := range ops {
		if expire {
			op.timeout = ExpireAfter
			out = append(out, op)
			continue
		}
		// nf_tables has no "delete if present" before kernel 6.3: add
		// (a no-op when it exists; the data is a function of the key)
		// then delete.
		out = append(out, op)
		op.del = true
		out = append(out, op)
	}
	return fw.sendElems(c, out, true)
}

// sendElems sends ops in one batch on c (nil: a socket of its own). With
// tolerant, a batch that fails because a table or set is missing is
// retried per family, and missing ones are skipped (nothing to remove
// there).
func (fw *Firewall) sendElems(c *netlink.Conn, ops []elemOp, tolerant bool) error {
	if c == nil {
		var err error
		if c, err = fw.dial(); err != nil {
			return err
		}
		defer c.Close()
	}
	send := func(ops []elemOp) error {
		var b nlBatch
		for _, op := range ops {
			if err := b.add(op); err != nil {
				return err
			}
		}
		return b.send(c)
	}
	err := send(ops)
	if err == nil || !tolerant || !errors.Is(err, unix.ENOENT) {
		return err
	}
	var errs []error
	for _, fam := range families[1:] {
		var part []elemOp
		for _, op := range ops {
			if op.family == fam {
				part = append(part, op)
			}
		}
		if len(part) == 0 {
			continue
		}
		if err := send(part); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RemoveTap removes every element and chain diktyo has for tap, found by
// listing the per-NIC sets (for reconcile, when the Filter that was
// applied is not known). It costs a dump of every per-NIC set.
func (fw *Firewall) RemoveTap(tap string) error {
	if err := ValidateTap(tap); err != nil {
		return fmt.Errorf("firewall: %w", err)
	}
	els, err := fw.dumpNIC()
	if err != nil {
		return fmt.Errorf("firewall: remove %s: %w", tap, err)
	}
	var ops []elemOp
	for _, e := range els {
		if e.tap == tap {
			ops = append(ops, e.op)
		}
	}
	if err := fw.removeElems(ops); err != nil {
		return fmt.Errorf("firewall: remove %s: %w", tap, err)
	}
	if err := fw.destroyNetdev(tap); err != nil {
		return fmt.Errorf("firewall: remove %s: %w", tap, err)
	}
	return nil
}

func (fw *Firewall) destroyNetdev(tap string) error {
	b := fw.batch()
	t := &nftables.Table{Name: NetdevTable(tap), Family: nftables.TableFamilyNetdev}
	b.c.AddTable(t)
	b.c.DelTable(t)
	return b.flush()
}

// nicElement is a live per-NIC element found by dumpNIC.
type nicElement struct {
	tap string
	op  elemOp
}

// dumpNIC lists the live (not expiring) elements of every per-NIC set.
func (fw *Firewall) dumpNIC() ([]nicElement, error) {
	var out []nicElement
	for _, s := range nicSets() {
		els, err := fw.dumpSet(s)
		if err != nil {
			return nil, err
		}
		out = append(out, els...)
	}
	return out, nil
}

// dumpSet lists the live (not expiring) elements of the per-NIC set s
// (none if it does not exist).
func (fw *Firewall) dumpSet(s SetDef) ([]nicElement, error) {
	set := &nftables.Set{Table: &nftables.Table{Name: TableName, Family: s.Family.nft()}, Name: s.Name,
		KeyType: s.keyType(), IsMap: s.Data != nil}
	if s.Data != nil {
		set.DataType = *s.Data
	}
	els, err := fw.conn.GetSetElements(set)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s %s: %w", s.Family, s.Name, err)
	}
	var out []nicElement
	for _, e := range els {
		if e.Timeout > 0 || len(e.Key) < ifNameSize {
			continue // expiring: already removed
		}
		op := elemOp{family: s.Family, set: s.Name, key: e.Key}
		switch {
		case e.VerdictData != nil:
			op.chain = e.VerdictData.Chain
		case s.Data != nil && s.Data.Name == typeVerd.Name:
			if op.chain, err = verdictChain(e.Val); err != nil {
				return nil, fmt.Errorf("list %s %s: %w", s.Family, s.Name, err)
			}
		case s.Data != nil:
			op.data = e.Val
		}
		tap := string(bytes.TrimRight(e.Key[:ifNameSize], "\x00"))
		out = append(out, nicElement{tap: tap, op: op})
	}
	return out, nil
}

// explain turns a failed batch that names a missing table, set or chain
// into ErrNotInitialized.
func explain(err error) error {
	if !errors.Is(err, unix.ENOENT) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrNotInitialized, err)
}

// List returns the taps diktyo has filter state for, sorted.
func (fw *Firewall) List() ([]string, error) {
	seen := map[string]bool{}
	tables, err := fw.conn.ListTablesOfFamily(nftables.TableFamilyNetdev)
	if err != nil {
		return nil, fmt.Errorf("firewall: list netdev tables: %w", err)
	}
	for _, t := range tables {
		if tap, ok := strings.CutPrefix(t.Name, TableName+"_"); ok {
			seen[tap] = true
		}
	}
	els, err := fw.dumpNIC()
	if err != nil {
		return nil, fmt.Errorf("firewall: %w", err)
	}
	for _, e := range els {
		seen[e.tap] = true
	}
	taps := make([]string, 0, len(seen))
	for t := range seen {
		taps = append(taps, t)
	}
	sort.Strings(taps)
	return taps, nil
}

// batch accumulates one google/nftables batch (Init, shared chains,
// netdev tables).
type batch struct {
	c      *nftables.Conn
	mode   QueueMode
	nextID uint32
	errs   []error
}

func (fw *Firewall) batch() *batch { return &batch{c: fw.conn, mode: fw.opts.Queue} }

func (b *batch) table(f Family) *nftables.Table {
	return &nftables.Table{Name: TableName, Family: f.nft()}
}

func (b *batch) chainTable(c Chain) *nftables.Table {
	return &nftables.Table{Name: c.table(), Family: c.Family.nft()}
}

func (b *batch) nftSet(s SetDef) *nftables.Set {
	b.nextID++
	kt := s.keyType()
	ns := &nftables.Set{
		Table: b.table(s.Family), ID: b.nextID, Name: s.Name, KeyType: kt,
		KeyByteOrder: keyOrder(kt), HasTimeout: s.Timeout, Concatenation: len(s.Key) > 1,
	}
	if s.Data != nil {
		ns.IsMap, ns.DataType = true, *s.Data
	}
	return ns
}

func (b *batch) addSet(s SetDef) {
	if err := b.c.AddSet(b.nftSet(s), nil); err != nil {
		b.errs = append(b.errs, fmt.Errorf("set %s: %w", s.Name, err))
	}
}

// writeChains writes r's regular chains (before the base chains and
// elements that jump to them).
func (b *batch) writeChains(r Ruleset) {
	for _, c := range r.Chains {
		if c.Hook.Name == "" {
			b.chain(c)
		}
	}
}

// writeBaseChains writes r's base chains, last.
func (b *batch) writeBaseChains(r Ruleset) {
	for _, c := range r.Chains {
		if c.Hook.Name != "" {
			b.chain(c)
		}
	}
}

func (b *batch) nftChain(c Chain) *nftables.Chain {
	nc := &nftables.Chain{Name: c.Name, Table: b.chainTable(c)}
	if c.Hook.Name != "" {
		prio := nftables.ChainPriority(c.Hook.Priority)
		pol := nftables.ChainPolicyAccept
		nc.Hooknum, nc.Priority, nc.Type, nc.Device, nc.Policy = c.Hook.num(c.Family), &prio, nftables.ChainTypeFilter, c.Hook.Device, &pol
	}
	return nc
}

// chain creates c if missing and replaces its rules.
func (b *batch) chain(c Chain) {
	if c.Table != "" {
		b.c.AddTable(b.chainTable(c))
	}
	nc := b.c.AddChain(b.nftChain(c))
	b.c.FlushChain(nc)
	for _, r := range c.Rules {
		exprs, sets, elems := compileRule(r, nc.Table, b.mode, &b.nextID)
		for i, s := range sets {
			if err := b.c.AddSet(s, elems[i]); err != nil {
				b.errs = append(b.errs, fmt.Errorf("chain %s: set: %w", c.Name, err))
			}
		}
		b.c.AddRule(&nftables.Rule{Table: nc.Table, Chain: nc, Exprs: exprs})
	}
}

// element adds a constant element (jump verdict maps of marks).
func (b *batch) element(e Element) {
	s := &nftables.Set{Table: b.table(e.Family), Name: e.Set, IsMap: true, KeyType: typeMark, DataType: typeVerd}
	el := nftables.SetElement{Key: e.Key, VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: e.Chain}}
	if err := b.c.SetAddElements(s, []nftables.SetElement{el}); err != nil {
		b.errs = append(b.errs, fmt.Errorf("map %s: %w", e.Set, err))
	}
}

func (b *batch) flush() error {
	if err := errors.Join(b.errs...); err != nil {
		return err
	}
	return b.c.Flush()
}

// verdictChain decodes the chain of a jump verdict (NFTA_DATA_VERDICT
// contents) as google/nftables leaves it in a dumped element's Val.
func verdictChain(b []byte) (string, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return "", fmt.Errorf("verdict: %w", err)
	}
	ad.ByteOrder = binary.BigEndian
	chain := ""
	for ad.Next() {
		if ad.Type() == attrVerdictChain {
			chain = ad.String()
		}
	}
	if err := ad.Err(); err != nil {
		return "", fmt.Errorf("verdict: %w", err)
	}
	if chain == "" {
		return "", errors.New("verdict without a chain")
	}
	return chain, nil
}
