package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore/etcdconf"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore/etcdtest"
)

// The fault tests run a three-member cluster in child processes and many
// allocators at once: 3 "nodes", each with its own etcd client and host
// lock directory, times 16 workers, each worker its own Store (like one
// hook process), allocating from one /16. A node's workers queue on its
// lock; the nodes conflict and retry.

const (
	nodes    = 3
	workers  = 16
	faultNet = "n"
)

// allocation is one Allocate that reported success.
type allocation struct {
	ip    netip.Addr
	owner ipam.Owner
	at    time.Time
}

// run is the shared state of one allocator run.
type run struct {
	mu   sync.Mutex
	done []allocation
	errs []error
	stop atomic.Bool
	log  eventCounter
}

// eventCounter is a slog handler that counts the stores' debug records
// (conflicts, retries, lost commits), so a test can show which paths ran.
type eventCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *eventCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *eventCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *eventCounter) WithGroup(string) slog.Handler            { return c }
func (c *eventCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[r.Message]++
	return nil
}

func (c *eventCounter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(c.n)) {
		fmt.Fprintf(&b, "\n  %6d  %s", c.n[k], k)
	}
	return b.String()
}

func (r *run) add(a allocation) {
	r.mu.Lock()
	r.done = append(r.done, a)
	r.mu.Unlock()
}

func (r *run) fail(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

// createNet creates the /16 the workers allocate from.
func createNet(t *testing.T, endpoints []string, prefix string) {
	t.Helper()
	s := open(t, endpoints[0], prefix, func(o *Options) { o.Endpoints = endpoints })
	defer s.Close()
	err := ipam.New(s).Update(context.Background(), func(tx *ipam.Txn) error {
		return tx.AddNetwork(ipam.Network{Name: faultNet, Subnet: netip.MustParsePrefix("198.18.0.0/16"),
			Gateway: netip.MustParseAddr("198.18.0.1")}, ipam.AddOptions{})
	})
	if err != nil {
		t.Fatalf("create network: %v", err)
	}
}

// allocators starts nodes × workers allocators; node n talks to etcd
// through endpointsOf(n). Each worker allocates until r.stop is set or it
// has made max allocations (0: no limit), each allocation with its own
// deadline.
func allocators(t *testing.T, r *run, prefix string, endpointsOf func(int) []string, max int, deadline time.Duration) *sync.WaitGroup {
	t.Helper()
	var wg sync.WaitGroup
	for n := range nodes {
		cli, err := NewClient(endpointsOf(n), nil, deadline)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		lockDir := t.TempDir()
		for w := range workers {
			wg.Go(func() { worker(r, cli, endpointsOf(n), lockDir, prefix, n, w, max, deadline) })
		}
	}
	return &wg
}

func worker(r *run, cli *clientv3.Client, endpoints []string, lockDir, prefix string, n, w, max int, deadline time.Duration) {
	s, err := Open(context.Background(), Options{Client: cli, AttemptTimeout: time.Second, Options: etcdconf.Options{
		Endpoints: endpoints, Prefix: prefix, LockDir: lockDir, Timeout: deadline, Logger: slog.New(&r.log)}})
	if err != nil {
		r.fail(fmt.Errorf("node %d worker %d: %w", n, w, err))
		return
	}
	defer s.Close()
	pool := ipam.New(s)
	for k := 0; !r.stop.Load() && (max == 0 || k < max); k++ {
		owner := ipam.Owner{Instance: fmt.Sprintf("n%dw%d-%d", n, w, k), NIC: "0"}
		var ip netip.Addr
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		err := pool.Update(ctx, func(tx *ipam.Txn) (err error) {
			ip, err = tx.Allocate(faultNet, owner)
			return err
		})
		cancel()
		if err != nil {
			r.fail(fmt.Errorf("node %d worker %d: allocate for %s: %w", n, w, owner, err))
			return
		}
		r.add(allocation{ip: ip, owner: owner, at: time.Now()})
	}
}

// verify checks the outcome of a run against the pool: every reported
// allocation is held by its owner, no address was handed out twice, the
// pool holds nothing else, and check finds no problem.
func verify(t *testing.T, endpoints []string, prefix string, r *run) {
	t.Helper()
	t.Logf("store events:%s", &r.log)
	for _, err := range r.errs {
		t.Error(err)
	}
	seen := map[netip.Addr]ipam.Owner{}
	for _, a := range r.done {
		if o, dup := seen[a.ip]; dup {
			t.Errorf("%v handed out twice: to %s and %s", a.ip, o, a.owner)
		}
		seen[a.ip] = a.owner
	}
	s := open(t, endpoints[0], prefix, func(o *Options) { o.Endpoints = endpoints; o.ReadOnly = true })
	defer s.Close()
	err := ipam.New(s).View(context.Background(), func(tx *ipam.Txn) error {
		hs, err := tx.Holdings(faultNet)
		if err != nil {
			return err
		}
		held := 0
		for _, h := range hs {
			if h.Kind != ipam.KindInstance {
				continue
			}
			held++
			if o, ok := seen[h.IP]; !ok {
				t.Errorf("%v is held by %s but no allocation reported it", h.IP, h.Owner)
			} else if o != h.Owner {
				t.Errorf("%v is held by %s, reported for %s", h.IP, h.Owner, o)
			}
		}
		if held != len(seen) {
			t.Errorf("pool holds %d instance addresses, %d allocations reported", held, len(seen))
		}
		st, err := tx.Stats(faultNet)
		if err != nil {
			return err
		}
		if want := uint32(len(seen) + 3); st.Taken != want {
			t.Errorf("stats: %d taken, want %d (allocations + network, gateway, broadcast)", st.Taken, want)
		}
		probs, err := tx.Check()
		if err != nil {
			return err
		}
		for _, p := range probs {
			t.Errorf("check: %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
}

// TestFaultConcurrentMembers: 3 nodes × 16 workers allocate from one /16
// at once, each node through a different member.
func TestFaultConcurrentMembers(t *testing.T) {
	cl := etcdtest.StartCluster(t, 3, etcdtest.Config{})
	const prefix = "concurrent"
	createNet(t, cl.Endpoints(), prefix)
	r := &run{}
	start := time.Now()
	allocators(t, r, prefix, func(n int) []string { return []string{cl.Endpoint(n)} }, 8, 60*time.Second).Wait()
	t.Logf("%d allocations by %d allocators in %v", len(r.done), nodes*workers, time.Since(start).Round(time.Millisecond))
	if want := nodes * workers * 8; len(r.done) != want {
		t.Errorf("%d allocations reported, want %d", len(r.done), want)
	}
	verify(t, cl.Endpoints(), prefix, r)
}

// TestFaultKillAndPartition: while the allocators run (every node knows
// all members), one member is killed with SIGKILL and restarted, then
// another is cut off from its peers and healed. Allocations go on through
// the quorum the whole time; nothing is lost or handed out twice.
func TestFaultKillAndPartition(t *testing.T) {
	cl := etcdtest.StartCluster(t, 3, etcdtest.Config{})
	const prefix = "faults"
	eps := cl.Endpoints()
	createNet(t, eps, prefix)
	r := &run{}
	// Each node lists the members starting from its own.
	wg := allocators(t, r, prefix, func(n int) []string {
		return append(slices.Clone(eps[n:]), eps[:n]...)
	}, 0, 30*time.Second)
	count := func() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.done) }
	phase := func(name string, d time.Duration) {
		before := count()
		time.Sleep(d)
		n := count() - before
		t.Logf("%s: %d allocations in %v", name, n, d)
		if n == 0 {
			t.Errorf("%s: no allocation went through in %v", name, d)
		}
	}
	phase("all members up", time.Second)
	cl.Kill(0)
	phase("member 0 killed", 2*time.Second)
	cl.Restart(0)
	phase("member 0 restarted", time.Second)
	cl.Partition(1)
	phase("member 1 partitioned", 3*time.Second)
	cl.Heal(1)
	phase("member 1 healed", time.Second)
	r.stop.Store(true)
	wg.Wait()
	t.Logf("%d allocations in all", len(r.done))
	verify(t, eps, prefix, r)
}

// TestFaultQuorumLost: with two of three members down, operations fail
// within their deadline with ErrUnavailable instead of hanging, and work
// again once the quorum is back.
func TestFaultQuorumLost(t *testing.T) {
	cl := etcdtest.StartCluster(t, 3, etcdtest.Config{})
	const prefix = "quorum"
	eps := cl.Endpoints()
	createNet(t, eps, prefix)
	const timeout = 2 * time.Second
	s := open(t, eps[0], prefix, func(o *Options) {
		o.Endpoints = eps
		o.Timeout = timeout
		o.AttemptTimeout = 500 * time.Millisecond
	})
	defer s.Close()
	pool := ipam.New(s)
	allocate := func(inst string) error {
		return pool.Update(context.Background(), func(tx *ipam.Txn) error {
			_, err := tx.Allocate(faultNet, ipam.Owner{Instance: inst})
			return err
		})
	}
	if err := allocate("before"); err != nil {
		t.Fatal(err)
	}
	cl.Kill(1)
	cl.Kill(2)
	// Once member 0 has seen the quorum go (an election timeout), it
	// refuses requests at once: nothing is proposed that could be applied
	// when the quorum returns.
	time.Sleep(time.Second)
	for _, op := range []struct {
		name string
		run  func() error
	}{
		{"allocate", func() error { return allocate("during") }},
		{"lookup", func() error {
			return pool.View(context.Background(), func(tx *ipam.Txn) error {
				_, err := tx.Networks()
				return err
			})
		}},
	} {
		start := time.Now()
		err := op.run()
		took := time.Since(start)
		t.Logf("%s without quorum: %v after %v", op.name, err, took.Round(time.Millisecond))
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s without quorum = %v, want ErrUnavailable", op.name, err)
		}
		if took > timeout+time.Second {
			t.Errorf("%s without quorum took %v, deadline %v", op.name, took, timeout)
		}
	}
	cl.Restart(1)
	cl.Restart(2)
	if err := allocate("after"); err != nil {
		t.Fatalf("allocate after the quorum returned: %v", err)
	}
	err := pool.View(context.Background(), func(tx *ipam.Txn) error {
		for inst, want := range map[string]int{"before": 1, "during": 0, "after": 1} {
			hs, err := tx.ByOwner(ipam.Owner{Instance: inst})
			if err != nil {
				return err
			}
			if len(hs) != want {
				t.Errorf("%s holds %d addresses, want %d", inst, len(hs), want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
