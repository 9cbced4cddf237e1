package hook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/ganeti/ganetitest"
	"github.com/diktyo/diktyo/pkg/ganetisync"
	"github.com/diktyo/diktyo/pkg/ifup"
	"github.com/diktyo/diktyo/pkg/ifupconf"
	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/memstore"
	"github.com/diktyo/diktyo/pkg/netplan"
)

// NIC UUIDs of the dumps' instances.
const (
	uK1N0 = "2307dc9d-3ef4-4362-a6c4-a164039a76a6" // kvm1 NIC 0, 198.51.100.2
	uK1N1 = "3928ac09-0a47-40c5-af76-df60154a0340" // kvm1 NIC 1, 198.51.100.3
	uK2N0 = "a730afce-aaec-4b13-969e-c993d431da2e" // kvm2 NIC 0, 198.18.100.2
	uF1N0 = "2e26ded3-13d3-4038-ba93-f13e21561324" // fake1 NIC 0, 198.51.100.2
	uF1N1 = "bcbb6021-f002-4983-9fc4-282132781f2b" // fake1 NIC 1, 198.51.100.3
)

// ganetiNets is Ganeti's view of the dumps' cluster, as gnt-network list
// gives it.
func ganetiNets() []ganetisync.Network {
	return []ganetisync.Network{
		{Name: "net1", UUID: "5d052136-8f8a-42cb-aa98-7cf5137dbf97", Subnet: netip.MustParsePrefix("198.51.100.0/24"),
			Gateway: netip.MustParseAddr("198.51.100.1"), Subnet6: netip.MustParsePrefix("2001:db8::/64"), Gateway6: netip.MustParseAddr("2001:db8::1"),
			MACPrefix: "aa:00:00", Tags: []string{"nfdhcpd"}, Groups: map[string]ipam.Connection{"default": {Mode: ipam.ModeBridged, Link: "gntbr0"}},
			External: []netip.Addr{netip.MustParseAddr("198.51.100.0"), netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.255")}},
		{Name: "net2", UUID: "487e6d8c-e8d2-4718-98d3-147592bdec07", Subnet: netip.MustParsePrefix("198.18.100.0/24"),
			Gateway: netip.MustParseAddr("198.18.100.1"), Subnet6: netip.MustParsePrefix("2001:db8:100::/64"), Gateway6: netip.MustParseAddr("2001:db8:100::1"),
			MACPrefix: "aa:00:01", Tags: []string{"nfdhcpd", "routed"}, Groups: map[string]ipam.Connection{"default": {Mode: ipam.ModeRouted, Link: "100"}},
			External: []netip.Addr{netip.MustParseAddr("198.18.100.0"), netip.MustParseAddr("198.18.100.1"), netip.MustParseAddr("198.18.100.255")}},
	}
}

// fakeGaneti is a Source over fixed networks.
type fakeGaneti struct {
	nets []ganetisync.Network
	err  error
}

func (f *fakeGaneti) Networks(_ context.Context, names ...string) ([]ganetisync.Network, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out []ganetisync.Network
	for _, n := range f.nets {
		if len(names) == 0 || slices.Contains(names, n.Name) {
			out = append(out, n)
		}
	}
	return out, nil
}

func (f *fakeGaneti) Instances(context.Context) ([]ganetisync.Instance, error) { return nil, f.err }

// fakeNode is one node's host side: records per tap, and the calls made.
type fakeNode struct {
	mu       sync.Mutex
	records  map[string]Record // by tap
	calls    []string
	built    int
	incoming []ifup.Incoming
}

func (n *fakeNode) add(tap, instance, uuid string, index int, ip string) {
	n.records[tap] = Record{NIC: netplan.NICID{Tap: tap, Instance: instance, UUID: uuid, Index: index}, IPv4: ip}
}

func (n *fakeNode) of(instance string) []Record {
	var out []Record
	for _, tap := range slices.Sorted(func(yield func(string) bool) {
		for k := range n.records {
			if !yield(k) {
				return
			}
		}
	}) {
		if r := n.records[tap]; r.NIC.Instance == instance {
			out = append(out, r)
		}
	}
	return out
}

func (n *fakeNode) DownInstance(_ context.Context, instance string, drop func(netplan.NICID) bool) ([]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var taps []string
	for _, r := range n.of(instance) {
		if drop == nil || drop(r.NIC) {
			delete(n.records, r.NIC.Tap)
			taps = append(taps, r.NIC.Tap)
		}
	}
	n.calls = append(n.calls, "down "+instance+" "+strings.Join(taps, ","))
	return taps, nil
}

func (n *fakeNode) Reannounce(_ context.Context, instance string) ([]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var taps []string
	for _, r := range n.of(instance) {
		taps = append(taps, r.NIC.Tap)
	}
	n.calls = append(n.calls, "announce "+instance+" "+strings.Join(taps, ","))
	return taps, nil
}

func (n *fakeNode) Reconcile(context.Context) ([]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, "reconcile")
	return nil, nil
}

// nopClose keeps a memstore open across the runs of a test.
type nopClose struct{ ipam.Store }

func (nopClose) Close() error { return nil }

// rig is a node running hooks against an in-memory pool.
type rig struct {
	t       testing.TB
	node    string
	cfg     *ifupconf.Config
	store   ipam.Store
	pool    *ipam.Pool
	exists  bool // the store "file" exists
	openErr error
	host    *fakeNode
	ganeti  *fakeGaneti
	logs    *bytes.Buffer
	// incomingErr fails ExpectIncoming and ForgetIncoming.
	incomingErr error
}

func newRig(t testing.TB, node string) *rig {
	st := memstore.New()
	return &rig{t: t, node: node, cfg: ifupconf.Default(), store: st, pool: ipam.New(st), exists: true,
		host: &fakeNode{records: map[string]Record{}}, ganeti: &fakeGaneti{nets: ganetiNets()}, logs: &bytes.Buffer{}}
}

func (g *rig) deps() Deps {
	log, _ := NewLogger(g.logs, "", false)
	return Deps{
		Config: g.cfg, Node: g.node, Log: log, Ganeti: g.ganeti,
		OpenPool: func(create bool) (ipam.Store, error) {
			if g.openErr != nil {
				return nil, g.openErr
			}
			if !g.exists && !create {
				return nil, ErrNoPool
			}
			g.exists = true
			return nopClose{g.store}, nil
		},
		Host: func() (HostOps, func(), error) {
			g.host.built++
			return g.host, func() {}, nil
		},
		InstanceRecords: func(instance string) ([]Record, error) {
			g.host.mu.Lock()
			defer g.host.mu.Unlock()
			return g.host.of(instance), nil
		},
		ExpectIncoming: func(in ifup.Incoming) error {
			g.host.mu.Lock()
			defer g.host.mu.Unlock()
			g.host.incoming = append(g.host.incoming, in)
			g.host.calls = append(g.host.calls, fmt.Sprintf("incoming %s %d", in.Instance, len(in.NICs)))
			return g.incomingErr
		},
		ForgetIncoming: func(instance string) error {
			g.host.mu.Lock()
			defer g.host.mu.Unlock()
			g.host.calls = append(g.host.calls, "forget-incoming "+instance)
			return g.incomingErr
		},
	}
}

func (g *rig) run(env []string) error {
	g.t.Helper()
	return Handle(context.Background(), env, g.deps())
}

func dumpEnv(t testing.TB, name string) []string {
	t.Helper()
	env, err := ganeti.ReadEnvFile(filepath.Join(ganetitest.Dir(), name))
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// withNetworks mirrors Ganeti's networks into the pool (named ones, or
// all).
func (g *rig) withNetworks(names ...string) *rig {
	g.t.Helper()
	g.update(func(tx *ipam.Txn) error {
		for _, n := range ganetiNets() {
			if len(names) > 0 && !slices.Contains(names, n.Name) {
				continue
			}
			ch, err := ganetisync.DiffNetwork(tx, &n, "")
			if err != nil {
				return err
			}
			if _, err := ganetisync.ApplyKinds(tx, ch, ganetisync.Add); err != nil {
				return err
			}
		}
		return nil
	})
	return g
}

func (g *rig) update(fn func(tx *ipam.Txn) error) {
	g.t.Helper()
	if err := g.pool.Update(context.Background(), fn); err != nil {
		g.t.Fatal(err)
	}
}

// hold reserves "net ip instance:nic" entries.
func (g *rig) hold(entries ...string) {
	g.t.Helper()
	g.update(func(tx *ipam.Txn) error {
		for _, e := range entries {
			f := strings.Fields(e)
			o, err := ipam.ParseOwner(f[2])
			if err != nil {
				return err
			}
			if err := tx.Reserve(f[0], netip.MustParseAddr(f[1]), o); err != nil {
				return err
			}
		}
		return nil
	})
}

// holdings lists "net ip instance:nic" of every instance reservation and
// "net ip external" of external ones (the pool's own Export walks them).
func (g *rig) holdings() []string {
	g.t.Helper()
	var d *ipam.Dump
	if err := g.pool.View(context.Background(), func(tx *ipam.Txn) (err error) {
		d, err = tx.Export()
		return err
	}); err != nil {
		g.t.Fatal(err)
	}
	var out []string
	for _, n := range d.Networks {
		for _, r := range n.Reservations {
			switch r.Kind {
			case ipam.KindInstance:
				out = append(out, fmt.Sprintf("%s %s %s", n.Name, r.IP, r.Owner))
			case ipam.KindExternal:
				out = append(out, fmt.Sprintf("%s %s external", n.Name, r.IP))
			}
		}
	}
	return out
}

func (g *rig) network(name string) *ipam.Network {
	g.t.Helper()
	var n *ipam.Network
	err := g.pool.View(context.Background(), func(tx *ipam.Txn) error {
		var err error
		n, err = tx.Network(name)
		return err
	})
	if err != nil {
		g.t.Fatal(err)
	}
	return n
}

func (g *rig) logLines() []string {
	s := strings.TrimSpace(g.logs.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// The holdings of the two real runs behind the dumps.
var (
	kvmWorld  = []string{"net1 198.51.100.2 kvm1.ganeti.test:" + uK1N0, "net2 198.18.100.2 kvm2.ganeti.test:" + uK2N0}
	kvm1NIC1  = "net1 198.51.100.3 kvm1.ganeti.test:" + uK1N1
	fakeWorld = []string{"net1 198.51.100.2 fake1.ganeti.test:" + uF1N0}
	fake1NIC1 = "net1 198.51.100.3 fake1.ganeti.test:" + uF1N1
)

// poolEffects gives, for the dumps that change the pool on the master,
// the holdings before and after; every other dump runs on the world of
// its run and leaves it as it is.
var poolEffects = map[string]struct{ before, after []string }{
	"kvm/instance-add-pre.env":                        {kvmWorld[:1], kvmWorld},
	"kvm/instance-add-post.env":                       {append(slices.Clone(kvmWorld[:1]), "net2 198.18.100.2 kvm2.ganeti.test:0"), kvmWorld}, // allocated beforehand by index
	"kvm/instance-modify-add-nic-hotplug-pre.env":     {kvmWorld, append(slices.Clone(kvmWorld), kvm1NIC1)},
	"kvm/instance-modify-add-nic-hotplug-post.env":    {kvmWorld, append(slices.Clone(kvmWorld), kvm1NIC1)},
	"kvm/instance-modify-modify-nic-hotplug-pre.env":  {append(slices.Clone(kvmWorld), kvm1NIC1), append(slices.Clone(kvmWorld), kvm1NIC1)},
	"kvm/instance-modify-modify-nic-hotplug-post.env": {append(slices.Clone(kvmWorld), kvm1NIC1), append(slices.Clone(kvmWorld), kvm1NIC1)},
	"kvm/instance-modify-remove-nic-hotplug-pre.env":  {append(slices.Clone(kvmWorld), kvm1NIC1), append(slices.Clone(kvmWorld), kvm1NIC1)},
	"kvm/instance-modify-remove-nic-hotplug-post.env": {append(slices.Clone(kvmWorld), kvm1NIC1), kvmWorld},
	"kvm/instance-remove-post.env":                    {kvmWorld, kvmWorld[:1]},
	"kvm/network-add-post.env":                        {kvmWorld[:1], kvmWorld[:1]}, // net2 is added
	"fake/instance-add-pre.env":                       {nil, fakeWorld},
	"fake/instance-add-post.env":                      {nil, fakeWorld},
	"fake/instance-modify-add-nic-pre.env":            {fakeWorld, append(slices.Clone(fakeWorld), fake1NIC1)},
	"fake/instance-modify-add-nic-post.env":           {fakeWorld, append(slices.Clone(fakeWorld), fake1NIC1)},
	"fake/instance-modify-remove-nic-pre.env":         {append(slices.Clone(fakeWorld), fake1NIC1), append(slices.Clone(fakeWorld), fake1NIC1)},
	"fake/instance-modify-remove-nic-post.env":        {append(slices.Clone(fakeWorld), fake1NIC1), fakeWorld},
	"fake/instance-rename-post.env":                   {fakeWorld, []string{"net1 198.51.100.2 fake9.ganeti.test:" + uF1N0}},
	"fake/instance-remove-post.env":                   {[]string{"net1 198.51.100.2 fake9.ganeti.test:" + uF1N0}, nil},
}

// Every real environment drives the hook on the master and on the other
// node: the pool ends as expected (and only the master touches it), the
// host side gets the calls its plan says, each action logs one line, and
// running a post hook again changes nothing.
func TestRunDumps(t *testing.T) {
	for _, name := range hookDumps(t) {
		e := ganetitest.HookEnv(t, name)
		for _, node := range []string{master, node2} {
			t.Run(strings.ReplaceAll(name, "/", "_")+"@"+node, func(t *testing.T) {
				g := newRig(t, node).withNetworks()
				before, after := kvmWorld, kvmWorld
				if strings.HasPrefix(name, "fake/") {
					before, after = fakeWorld, fakeWorld
				}
				if pe, ok := poolEffects[name]; ok {
					before, after = pe.before, pe.after
				}
				switch name {
				case "kvm/network-add-post.env":
					g = newRig(t, node).withNetworks("net1")
				case "kvm/network-connect-post.env":
					g.update(func(tx *ipam.Txn) error { return tx.Disconnect("net2", "default") })
				}
				g.hold(before...)
				if !SameNode(node, master) {
					after = before
				}
				// This node runs the instance's NICs (the removed one of a
				// modify too) on taps tap0, tap1...
				var inst *ganeti.Instance
				if e.Instance != nil {
					inst = e.Instance
					for i, n := range inst.NICs {
						g.host.add(fmt.Sprintf("tap%d", i), inst.Name, n.UUID, n.Index, n.IP.String())
					}
					if strings.Contains(name, "remove-nic") && strings.HasSuffix(name, "-post.env") {
						uuid := uK1N1
						if strings.HasPrefix(name, "fake/") {
							uuid = uF1N1
						}
						g.host.add("tap9", inst.Name, uuid, 1, "198.51.100.3")
					}
				}
				records := len(g.host.records)
				env := dumpEnv(t, name)
				if err := g.run(env); err != nil {
					t.Fatalf("run: %v\n%s", err, g.logs)
				}
				sameLines(t, "pool", g.holdings(), after)
				plan := Decide(e, node)
				switch plan.Host {
				case HostDown:
					if len(g.host.of(inst.Name)) != 0 || g.host.calls[0] != "down "+inst.Name+" "+tapList(records) {
						t.Errorf("down: calls %q, left %v", g.host.calls, g.host.records)
					}
				case HostAnnounce:
					if !slices.Equal(g.host.calls, []string{"forget-incoming " + inst.Name, "announce " + inst.Name + " " + tapList(records)}) {
						t.Errorf("announce: calls %q", g.host.calls)
					}
				case HostVerify:
					want := []string{"down " + inst.Name + " ", "reconcile"}
					if strings.Contains(name, "remove-nic") {
						want[0] += "tap9"
					}
					if !slices.Equal(g.host.calls, want) {
						t.Errorf("verify: calls %q, want %q", g.host.calls, want)
					}
					if len(g.host.of(inst.Name)) != len(e.Latest().Instance.NICs) {
						t.Errorf("verify left %v", g.host.records)
					}
				case HostIncoming: // the dumps' instances have no routed NIC
					if len(g.host.calls) != 0 || g.host.built != 0 {
						t.Errorf("incoming without routed NICs: calls %q (built %d)", g.host.calls, g.host.built)
					}
				case HostNone:
					if len(g.host.calls) != 0 || g.host.built != 0 {
						t.Errorf("no host action, but calls %q (built %d)", g.host.calls, g.host.built)
					}
				}
				actions := 0
				if plan.Pool != PoolNone {
					actions++
				}
				if plan.Host != HostNone {
					actions++
				}
				if lines := g.logLines(); len(lines) != actions {
					t.Errorf("%d log lines for %d actions:\n%s", len(lines), actions, g.logs)
				}
				// Ganeti may run a hook again: a post hook changes nothing
				// the second time.
				if e.Phase == ganeti.PhasePost {
					if err := g.run(env); err != nil {
						t.Fatalf("second run: %v", err)
					}
					sameLines(t, "pool after a second run", g.holdings(), after)
				}
				switch name {
				case "kvm/network-add-post.env":
					if SameNode(node, master) {
						n := g.network("net2")
						if n.UUID != ganetiNets()[1].UUID || n.Connections["default"].Link != "100" || !n.HasTag("routed") {
							t.Errorf("net2 mirrored as %+v", n)
						}
					}
				case "kvm/network-connect-post.env":
					_, ok := g.network("net2").Connections["default"]
					if ok != SameNode(node, master) {
						t.Errorf("connection of net2 to default: %v on %s", ok, node)
					}
				}
			})
		}
	}
}

func tapList(n int) string {
	taps := make([]string, n)
	for i := range taps {
		taps[i] = fmt.Sprintf("tap%d", i)
	}
	return strings.Join(taps, ",")
}

func sameLines(t testing.TB, what string, got, want []string) {
	t.Helper()
	g, w := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(g, w) {
		t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", what, strings.Join(g, "\n  "), strings.Join(w, "\n  "))
	}
}

// An address held by another instance refuses the operation with one
// line naming the address and its holder, and changes nothing.
func TestClaimConflict(t *testing.T) {
	g := newRig(t, master).withNetworks()
	g.hold("net2 198.18.100.2 vm9.example.org:1")
	err := g.run(dumpEnv(t, "kvm/instance-add-pre.env"))
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("err %v, want refused", err)
	}
	want := "instance-add pre: refused: kvm2.ganeti.test NIC 0: 198.18.100.2 in net2 is held by vm9.example.org:1"
	if err.Error() != want {
		t.Errorf("message:\n%s\nwant:\n%s", err, want)
	}
	sameLines(t, "pool", g.holdings(), []string{"net2 198.18.100.2 vm9.example.org:1"})
	// An address reserved outside Ganeti, in a network that exists only
	// in diktyo (beyond Ganeti's /16), likewise.
	g = newRig(t, master)
	g.update(func(tx *ipam.Txn) error {
		if err := tx.AddNetwork(ipam.Network{Name: "big", Subnet: netip.MustParsePrefix("198.18.0.0/15")}, ipam.AddOptions{}); err != nil {
			return err
		}
		return tx.ReserveExternal("big", netip.MustParseAddr("198.18.100.2"))
	})
	err = g.run(dumpEnv(t, "kvm/instance-add-pre.env"))
	if !errors.Is(err, ErrRefused) || !strings.HasSuffix(err.Error(), "198.18.100.2 in big is reserved externally") {
		t.Fatalf("diktyo-only reservation: %v", err)
	}
}

// The store-unreachable policy: the pre phase refuses by default, allows
// with a warning when configured so; the post phase fails loudly.
func TestStoreUnreachable(t *testing.T) {
	busy := fmt.Errorf("open /x: %w", ipam.ErrBusy)
	g := newRig(t, master)
	g.openErr = busy
	err := g.run(dumpEnv(t, "kvm/instance-add-pre.env"))
	if !errors.Is(err, ErrRefused) || !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "HOOK_STORE_UNREACHABLE=refuse") {
		t.Fatalf("pre, refuse: %v", err)
	}
	g.cfg.HookStoreUnreachable = "allow"
	if err := g.run(dumpEnv(t, "kvm/instance-add-pre.env")); err != nil {
		t.Fatalf("pre, allow: %v", err)
	}
	if l := g.logLines(); len(l) != 1 || !strings.Contains(l[0], "warning: pool: NIC addresses not checked") {
		t.Errorf("allow logs %q", l)
	}
	err = g.run(dumpEnv(t, "kvm/instance-add-post.env"))
	if err == nil || errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "run diktyo-ipam sync ganeti") {
		t.Fatalf("post: %v", err)
	}
	// No store at all: nothing is diktyo's, nothing to check.
	g = newRig(t, master)
	g.exists = false
	if err := g.run(dumpEnv(t, "kvm/instance-add-pre.env")); err != nil || g.exists {
		t.Fatalf("no store: %v (created: %v)", err, g.exists)
	}
}

// withVar returns env with one variable replaced ("" removes it).
func withVar(env []string, key, value string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	if value != "" {
		out = append(out, key+"="+value)
	}
	return out
}

// A truncated environment: one line; refusal only in an address check on
// the master, where passing unchecked would be unsafe.
func TestBadEnvironment(t *testing.T) {
	for _, tc := range []struct {
		dump, node string
		refused    bool
	}{
		{"kvm/instance-add-pre.env", master, true},
		{"kvm/instance-add-pre.env", node2, false},
		{"kvm/instance-add-post.env", master, false},
		{"kvm/instance-stop-post.env", master, false},
	} {
		g := newRig(t, tc.node).withNetworks()
		env := withVar(dumpEnv(t, tc.dump), "GANETI_INSTANCE_NIC_COUNT", "2")
		err := g.run(env)
		if tc.refused != errors.Is(err, ErrRefused) || (!tc.refused && err != nil) {
			t.Errorf("%s on %s: %v", tc.dump, tc.node, err)
		}
		if !tc.refused {
			if l := g.logLines(); len(l) != 1 || !strings.Contains(l[0], "environment not understood, nothing done") {
				t.Errorf("%s on %s: log %q", tc.dump, tc.node, l)
			}
		}
		if len(g.holdings()) != 0 || len(g.host.calls) != 0 {
			t.Errorf("%s on %s: something was done", tc.dump, tc.node)
		}
	}
	g := newRig(t, master)
	if err := g.run([]string{"GANETI_HOOKS_PHASE=post"}); err != nil {
		t.Errorf("no path: %v", err)
	}
}

// When gnt-network cannot be asked, network-add mirrors what the
// environment says and warns; network-connect cannot tell which network
// and fails.
func TestNetworkWithoutGaneti(t *testing.T) {
	g := newRig(t, master).withNetworks("net1")
	g.ganeti.err = fmt.Errorf("%w: gnt-network: no such file", ganetisync.ErrGaneti)
	if err := g.run(dumpEnv(t, "kvm/network-add-post.env")); err != nil {
		t.Fatal(err)
	}
	n := g.network("net2")
	if n.Subnet.String() != "198.18.100.0/24" || len(n.Connections) != 0 || n.UUID != "" {
		t.Errorf("net2: %+v", n)
	}
	if l := g.logLines(); len(l) != 1 || !strings.Contains(l[0], "warning: pool: network mirrored from the hook environment only") {
		t.Errorf("log %q", l)
	}
	err := g.run(dumpEnv(t, "kvm/network-connect-post.env"))
	if err == nil || !strings.Contains(err.Error(), "cannot tell which network group default gained or lost") {
		t.Errorf("connect: %v", err)
	}
	// network-remove: the pool network goes; an unknown one is success.
	g.ganeti.err = nil
	rm := withVar(withVar(withVar(dumpEnv(t, "kvm/network-add-post.env"), "GANETI_HOOKS_PATH", "network-remove"), "GANETI_OP_CODE", "OP_NETWORK_REMOVE"), "GANETI_POST_NETWORK_SUBNET", "")
	for range 2 {
		if err := g.run(rm); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.pool.View(context.Background(), func(tx *ipam.Txn) error { _, err := tx.Network("net2"); return err }); !errors.Is(err, ipam.ErrNotFound) {
		t.Errorf("net2 after remove: %v", err)
	}
}

// A disconnect mirrors the group's loss.
func TestNetworkDisconnect(t *testing.T) {
	g := newRig(t, master).withNetworks()
	g.ganeti.nets[1].Groups = map[string]ipam.Connection{}
	env := withVar(withVar(dumpEnv(t, "kvm/network-connect-post.env"), "GANETI_HOOKS_PATH", "network-disconnect"), "GANETI_OP_CODE", "OP_NETWORK_DISCONNECT")
	if err := g.run(env); err != nil {
		t.Fatal(err)
	}
	if _, ok := g.network("net2").Connections["default"]; ok {
		t.Error("net2 still connected to default")
	}
	if _, ok := g.network("net1").Connections["default"]; !ok {
		t.Error("net1 lost its connection")
	}
}

// Concurrent pre+post pairs on one in-memory pool never give one address
// to two instances (the process version runs in ../../hooks).
func TestClaimConcurrent(t *testing.T) {
	g := newRig(t, master).withNetworks()
	pre := dumpEnv(t, "kvm/instance-add-pre.env")
	var wg sync.WaitGroup
	refused := make([]bool, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := withVar(withVar(withVar(pre, "GANETI_INSTANCE_NAME", fmt.Sprintf("vm%d", i)),
				"GANETI_INSTANCE_NIC0_IP", fmt.Sprintf("198.18.100.%d", 10+i%8)),
				"GANETI_INSTANCE_NIC0_UUID", fmt.Sprintf("uuid-%d", i))
			err := Handle(context.Background(), env, g.deps())
			refused[i] = errors.Is(err, ErrRefused)
			if err != nil && !refused[i] {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	n := 0
	for _, r := range refused {
		if r {
			n++
		}
	}
	if n != 8 || len(g.holdings()) != 8 {
		t.Fatalf("%d refused, holdings %v", n, g.holdings())
	}
}

// network-modify: Ganeti's new gateway and reservations reach the pool;
// a reservation only the pool has is kept, with a warning.
func TestNetworkModify(t *testing.T) {
	g := newRig(t, master).withNetworks()
	g.update(func(tx *ipam.Txn) error { return tx.ReserveExternal("net2", netip.MustParseAddr("198.18.100.77")) })
	n2 := &g.ganeti.nets[1]
	n2.Gateway = netip.MustParseAddr("198.18.100.254")
	n2.External = append(n2.External, netip.MustParseAddr("198.18.100.254"), netip.MustParseAddr("198.18.100.10"))
	env := withVar(withVar(withVar(dumpEnv(t, "kvm/network-add-post.env"), "GANETI_HOOKS_PATH", "network-modify"),
		"GANETI_OP_CODE", "OP_NETWORK_SET_PARAMS"), "GANETI_POST_NETWORK_GATEWAY", "198.18.100.254")
	if err := g.run(env); err != nil {
		t.Fatal(err)
	}
	if gw := g.network("net2").Gateway; gw != n2.Gateway {
		t.Errorf("gateway %v", gw)
	}
	sameLines(t, "pool", g.holdings(), []string{"net2 198.18.100.10 external", "net2 198.18.100.77 external"})
	if l := g.logLines(); len(l) != 1 || !strings.Contains(l[0], "warning: pool: network mirrored; kept what only the pool has") ||
		!strings.Contains(l[0], "198.18.100.77") {
		t.Errorf("log %q", l)
	}
}

// The migrate pre hook on the target stores the routed NICs' ifup
// environments exactly as Ganeti's ifup will give them; on the source and
// the master it stores nothing; a failure to store is a warning, never a
// refused migration. The post hook on the new primary forgets them.
func TestRunIncoming(t *testing.T) {
	env := dumpEnv(t, "kvm/instance-migrate-to-n2-pre.env")
	routed := env[:0:0]
	for _, kv := range env {
		switch {
		case strings.HasPrefix(kv, "GANETI_INSTANCE_NIC0_BRIDGE="):
			continue
		case strings.HasPrefix(kv, "GANETI_INSTANCE_NIC0_MODE="):
			kv = "GANETI_INSTANCE_NIC0_MODE=routed"
		case strings.HasPrefix(kv, "GANETI_INSTANCE_NIC0_LINK="):
			kv = "GANETI_INSTANCE_NIC0_LINK=100"
		}
		routed = append(routed, kv)
	}
	e, err := ganeti.ParseHookEnv(routed)
	if err != nil {
		t.Fatal(err)
	}
	in := e.Instance

	g := newRig(t, node2)
	if err := g.run(routed); err != nil {
		t.Fatalf("run: %v\n%s", err, g.logs)
	}
	if len(g.host.incoming) != 1 || g.host.built != 0 {
		t.Fatalf("incoming: %+v (host built %d)", g.host.incoming, g.host.built)
	}
	got := g.host.incoming[0]
	want := in.NICs[0].IfupEnv(in.Name, in.Tags, "")
	if got.Instance != in.Name || len(got.NICs) != 1 || !reflect.DeepEqual(&got.NICs[0], want) {
		t.Errorf("stored %+v, want the NIC %+v", got, want)
	}
	if want.Mode != ganeti.ModeRouted || want.Link != "100" || want.Bridge != "" || want.MAC.String() != "aa:00:00:0d:f1:78" {
		t.Errorf("NIC 0: %+v", want)
	}
	if time.Since(got.Since) > time.Minute || time.Since(got.Since) < 0 {
		t.Errorf("since %v", got.Since)
	}

	m := newRig(t, master)
	if err := m.run(routed); err != nil || len(m.host.calls) != 0 {
		t.Errorf("source and master: %v, calls %q", err, m.host.calls)
	}

	f := newRig(t, node2)
	f.incomingErr = errors.New("disk full")
	if err := f.run(routed); err != nil {
		t.Errorf("a failure to store refused the migration: %v", err)
	}
	if !strings.Contains(f.logs.String(), "set up by Ganeti after the migration: disk full") {
		t.Errorf("no warning:\n%s", f.logs)
	}

	p := newRig(t, node2)
	if err := p.run(dumpEnv(t, "kvm/instance-migrate-to-n2-post.env")); err != nil {
		t.Fatal(err)
	}
	if len(p.host.calls) == 0 || p.host.calls[0] != "forget-incoming "+in.Name {
		t.Errorf("post on the new primary: calls %q", p.host.calls)
	}
}
