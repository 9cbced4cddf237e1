package etcdstore

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/boltstore"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore/etcdconf"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore/etcdtest"
)

// The benchmarks compare the pool on a three-member etcd cluster (child
// processes on loopback, fsync on, as in production) with the pool in a
// bbolt file (fsync on), in the same run.
//
// Allocators stand for hook processes on one node (Ganeti runs the hooks
// that allocate on its master): on etcd each has a Store of its own,
// talking to one of the three members, and they queue on the node's lock
// as deployed ("etcd3"), or, without it ("etcd3-nolock"), conflict and
// retry like processes on different hosts; on bbolt they share one Store,
// whose writes a file lock and a semaphore serialise anyway. One op is one
// allocation committed, then its release committed; the latency
// percentiles are those of the allocations alone.

var benchNets = []struct {
	name, subnet string
}{
	{"slash24", "198.51.100.0/24"},
	{"slash8", "10.0.0.0/8"},
}

// benchEnv holds the two stores the benchmarks compare.
type benchEnv struct {
	b       *testing.B
	eps     []string
	clients []*clientv3.Client
	bolt    *boltstore.Store
	lockDir string
	prefix  int // each sub-benchmark gets a fresh etcd pool
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	cl := etcdtest.StartCluster(b, 3, etcdtest.Config{Fsync: true, TickMs: 100, ElectionMs: 1000})
	e := &benchEnv{b: b, eps: cl.Endpoints(), lockDir: b.TempDir()}
	for i := range 3 {
		cli, err := NewClient([]string{cl.Endpoint(i)}, nil, 10*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cli.Close() })
		e.clients = append(e.clients, cli)
	}
	var err error
	if e.bolt, err = boltstore.Open(filepath.Join(b.TempDir(), "ipam.db"), boltstore.Options{Timeout: time.Minute}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.bolt.Close() })
	return e
}

// pools returns n pools on store kind: one shared bbolt Store, or n etcd
// Stores of a new pool spread over the three members, queueing on one
// lock unless kind is etcd3-nolock.
func (e *benchEnv) pools(kind string, n int) []*ipam.Pool {
	e.prefix++
	out := make([]*ipam.Pool, n)
	for i := range n {
		if kind == "bbolt" {
			out[i] = ipam.New(e.bolt)
			continue
		}
		o := Options{Client: e.clients[i%3], Options: etcdconf.Options{Endpoints: e.eps[i%3 : i%3+1],
			Prefix: fmt.Sprintf("bench/%d", e.prefix), Timeout: time.Minute}}
		if kind == "etcd3" {
			o.LockDir = e.lockDir
		}
		s, err := Open(context.Background(), o)
		if err != nil {
			e.b.Fatal(err)
		}
		out[i] = ipam.New(s)
	}
	return out
}

// BenchmarkEtcdAllocate: allocate + release in a /24 and in a /8 with 1,
// 16 and 64 concurrent allocators, on etcd and on bbolt.
func BenchmarkEtcdAllocate(b *testing.B) {
	env := newBenchEnv(b)
	for _, kind := range []string{"bbolt", "etcd3", "etcd3-nolock"} {
		for _, n := range benchNets {
			for _, conc := range []int{1, 16, 64} {
				if kind == "etcd3-nolock" && conc == 1 {
					continue // the same as etcd3
				}
				b.Run(fmt.Sprintf("%s/%s/allocators=%d", kind, n.name, conc), func(b *testing.B) {
					pools := env.pools(kind, conc)
					net := fmt.Sprintf("%s-%d-%d", n.name, conc, env.prefix)
					err := pools[0].Update(context.Background(), func(tx *ipam.Txn) error {
						return tx.AddNetwork(ipam.Network{Name: net, Subnet: netip.MustParsePrefix(n.subnet)}, ipam.AddOptions{AllowOverlap: true})
					})
					if err != nil {
						b.Fatal(err)
					}
					runAllocators(b, pools, net)
				})
			}
		}
	}
}

func runAllocators(b *testing.B, pools []*ipam.Pool, net string) {
	var next atomic.Int64
	lat := make([][]time.Duration, len(pools))
	var wg sync.WaitGroup
	var failed atomic.Value
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i, p := range pools {
		wg.Go(func() {
			owner := ipam.Owner{Instance: fmt.Sprintf("vm%d.example.org", i), NIC: "0"}
			for next.Add(1) <= int64(b.N) {
				var ip netip.Addr
				t0 := time.Now()
				err := p.Update(ctx, func(tx *ipam.Txn) (err error) {
					ip, err = tx.Allocate(net, owner)
					return err
				})
				lat[i] = append(lat[i], time.Since(t0))
				if err == nil {
					err = p.Update(ctx, func(tx *ipam.Txn) error { return tx.Release(net, ip, &owner) })
				}
				if err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) / 1e6 }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "allocs/s")
}

// BenchmarkEtcdCreate: creating (and removing) a /24 and a /8, one
// allocator.
func BenchmarkEtcdCreate(b *testing.B) {
	env := newBenchEnv(b)
	for _, kind := range []string{"bbolt", "etcd3"} {
		for _, n := range benchNets {
			b.Run(kind+"/"+n.name, func(b *testing.B) {
				p := env.pools(kind, 1)[0]
				ctx := context.Background()
				var total time.Duration
				for i := range b.N {
					name := fmt.Sprintf("%s-%d-%d", n.name, env.prefix, i)
					t0 := time.Now()
					err := p.Update(ctx, func(tx *ipam.Txn) error {
						return tx.AddNetwork(ipam.Network{Name: name, Subnet: netip.MustParsePrefix(n.subnet)}, ipam.AddOptions{AllowOverlap: true})
					})
					total += time.Since(t0)
					if err == nil {
						err = p.Update(ctx, func(tx *ipam.Txn) error { return tx.RemoveNetwork(name, false) })
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(total.Microseconds())/1e3/float64(b.N), "create-ms")
			})
		}
	}
}

// BenchmarkEtcdClusters: several Ganeti clusters share the etcd cluster,
// each under its own prefix with one allocator (its master node's queue):
// they never conflict, so what they reach together is what the three
// members sustain.
func BenchmarkEtcdClusters(b *testing.B) {
	env := newBenchEnv(b)
	for _, clusters := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("clusters=%d", clusters), func(b *testing.B) {
			pools := make([]*ipam.Pool, clusters)
			for i := range pools {
				pools[i] = env.pools("etcd3", 1)[0]
				err := pools[i].Update(context.Background(), func(tx *ipam.Txn) error {
					return tx.AddNetwork(ipam.Network{Name: "public", Subnet: netip.MustParsePrefix("198.51.100.0/24")}, ipam.AddOptions{})
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			runAllocators(b, pools, "public")
		})
	}
}
