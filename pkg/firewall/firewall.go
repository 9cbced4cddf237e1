package firewall

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/netplan"
)

// ErrNotInitialized is returned (wrapped) by Apply and Remove when diktyo's
// tables are missing: Init has not run in this network namespace.
var ErrNotInitialized = errors.New("diktyo nftables tables missing (Init not run)")

// DefaultTimeout bounds one netlink exchange with nf_tables.
const DefaultTimeout = 5 * time.Second

// Options configures a Firewall.
type Options struct {
	// NetNS is a file descriptor of the network namespace to work in
	// (0: the caller's).
	NetNS int
	// Queue selects how queue verdicts are encoded: QueueXT (default,
	// works on every kernel with nft_compat) or QueueNative.
	Queue QueueMode
	// Queues are the queue chains Init creates (nil: DefaultQueues).
	// Apply creates the chain of any other queue a Filter names.
	Queues []QueueTarget
	// Timeout bounds each netlink exchange (0: DefaultTimeout).
	Timeout time.Duration

	// testDial replaces the kernel (unit tests record the messages).
	testDial nltest.Func
}

// Firewall applies NIC filters to diktyo's nftables tables.
type Firewall struct {
	conn   *nftables.Conn
	opts   Options
	queues []QueueTarget
}

// New returns a Firewall talking to nf_tables over netlink. Each call
// (Init, Apply, Remove, List) opens its own socket with a deadline.
func New(opts Options) (*Firewall, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	queues := opts.Queues
	if queues == nil {
		queues = DefaultQueues()
	}
	var co []nftables.ConnOption
	if opts.testDial != nil {
		co = append(co, nftables.WithTestDial(opts.testDial))
	} else {
		co = append(co, nftables.WithSockOptions(func(c *netlink.Conn) error {
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
	return &Firewall{conn: c, opts: opts, queues: queues}, nil
}

// Init creates diktyo's tables, maps, base chains, profile chains and
// queue chains, rewriting the shared chains to their constant content. It
// is idempotent and leaves per-NIC chains and map elements alone.
func (fw *Firewall) Init() error {
	b := fw.batch()
	sk := Skeleton(fw.queues)
	for _, f := range families {
		if f != FamilyNetdev {
			b.c.AddTable(b.table(f))
		}
	}
	for _, m := range sk.Maps {
		b.addMap(m)
	}
	// Regular chains first: base chains and map elements jump to them.
	for _, c := range sk.Chains {
		if c.Hook.Name == "" {
			b.chain(c)
		}
	}
	for _, m := range sk.Maps {
		for _, e := range m.Elements {
			b.element(e)
		}
	}
	for _, c := range sk.Chains {
		if c.Hook.Name != "" {
			b.chain(c)
		}
	}
	if err := b.flush(); err != nil {
		return fmt.Errorf("firewall: init tables %s: %w", TableName, err)
	}
	return nil
}

// Apply installs the filter of one NIC in one netlink batch: the NIC's
// chains are (re)written, its map elements added, and whatever an earlier
// Apply of the same tap installed that this Filter no longer needs is
// removed. Applying the same Filter again yields the same ruleset.
func (fw *Firewall) Apply(f netplan.Filter) error {
	n, err := Build(f)
	if err != nil {
		return fmt.Errorf("firewall: %w", err)
	}
	b := fw.batch()
	for _, q := range n.Queues {
		if !slices.Contains(fw.queues, q) {
			b.chain(queueChain(q))
			b.element(queueElement(q))
		}
	}
	for _, fam := range families {
		if !n.Has(fam) {
			b.destroyNIC(fam, f.Tap)
		}
	}
	for _, c := range n.Chains {
		b.chain(c)
	}
	for _, e := range n.Elements {
		b.element(e)
	}
	if err := b.flush(); err != nil {
		return fmt.Errorf("firewall: apply %s: %w", f.Tap, fw.explain(err))
	}
	return nil
}

// Remove deletes everything diktyo has for tap, in one batch; what is
// already gone is success.
func (fw *Firewall) Remove(tap string) error {
	if err := ValidateTap(tap); err != nil {
		return fmt.Errorf("firewall: %w", err)
	}
	b := fw.batch()
	for _, fam := range families {
		b.destroyNIC(fam, tap)
	}
	if err := b.flush(); err != nil {
		return fmt.Errorf("firewall: remove %s: %w", tap, fw.explain(err))
	}
	return nil
}

// explain turns a failed batch into ErrNotInitialized when a shared table
// is missing (one extra lookup, on the error path only).
func (fw *Firewall) explain(err error) error {
	if !errors.Is(err, unix.ENOENT) {
		return err
	}
	for _, fam := range families[1:] {
		if _, lerr := fw.conn.ListTableOfFamily(TableName, fam.nft()); lerr != nil {
			return fmt.Errorf("%w: %w", ErrNotInitialized, err)
		}
	}
	return err
}

// List returns the taps diktyo has chains for, sorted.
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
	for _, fam := range families[1:] {
		chains, err := fw.conn.ListChainsOfTableFamily(fam.nft())
		if err != nil {
			return nil, fmt.Errorf("firewall: list %s chains: %w", fam, err)
		}
		for _, c := range chains {
			if c.Table.Name == TableName && strings.HasPrefix(c.Name, chainPrefix) {
				seen[strings.TrimPrefix(c.Name, chainPrefix)] = true
			}
		}
	}
	taps := make([]string, 0, len(seen))
	for t := range seen {
		taps = append(taps, t)
	}
	sort.Strings(taps)
	return taps, nil
}

// batch accumulates one netlink batch.
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

func (b *batch) addMap(m Map) {
	b.nextID++
	s := &nftables.Set{
		Table: b.table(m.Family), ID: b.nextID, Name: m.Name, IsMap: true,
		KeyType: m.Key, DataType: nftables.TypeVerdict, KeyByteOrder: keyOrder(m.Key),
	}
	if err := b.c.AddSet(s, nil); err != nil {
		b.errs = append(b.errs, fmt.Errorf("map %s: %w", m.Name, err))
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

func (b *batch) set(e Element) *nftables.Set {
	key := nftables.TypeIFName
	if e.Map != mapNICs {
		key = nftables.TypeMark
	}
	return &nftables.Set{Table: b.table(e.Family), Name: e.Map, IsMap: true, KeyType: key, DataType: nftables.TypeVerdict}
}

func (e Element) nft() nftables.SetElement {
	return nftables.SetElement{Key: e.Key, VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: e.Chain}}
}

func (b *batch) element(e Element) {
	if err := b.c.SetAddElements(b.set(e), []nftables.SetElement{e.nft()}); err != nil {
		b.errs = append(b.errs, fmt.Errorf("map %s: %w", e.Map, err))
	}
}

// destroyNIC removes tap's chain (and map element) in family f whether
// or not they exist: nf_tables has no "delete if present" before kernel
// 6.3, so each object is first added (a no-op when it exists, since the
// element's verdict is a function of its key) and then deleted.
func (b *batch) destroyNIC(f Family, tap string) {
	if f == FamilyNetdev {
		t := &nftables.Table{Name: NetdevTable(tap), Family: f.nft()}
		b.c.AddTable(t)
		b.c.DelTable(t)
		return
	}
	c := &nftables.Chain{Name: ChainName(tap), Table: b.table(f)}
	b.c.AddChain(c)
	e := nicElement(f, tap)
	s := b.set(e)
	if err := b.c.SetAddElements(s, []nftables.SetElement{e.nft()}); err != nil {
		b.errs = append(b.errs, err)
	}
	if err := b.c.SetDeleteElements(s, []nftables.SetElement{{Key: e.Key}}); err != nil {
		b.errs = append(b.errs, err)
	}
	b.c.DelChain(c)
}

func (b *batch) flush() error {
	if err := errors.Join(b.errs...); err != nil {
		return err
	}
	return b.c.Flush()
}
