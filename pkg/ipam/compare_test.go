package ipam_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/boltstore"
)

// The benchmarks here run diktyo's pool on the real bbolt store, on the
// workloads scripts/bench/ganeti_pool.py runs against Ganeti 3.0's
// AddressPool (make bench runs both side by side).

func openBolt(b *testing.B) *boltstore.Store {
	b.Helper()
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "ipam.db"), boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

var bctx = context.Background()

// BenchmarkGanetiWorkload: create a /16, then allocate+release at 0%, 50%
// and 99% fill, each pair in its own committed (fsynced) transaction, and
// all pairs in one transaction (batch_*).
func BenchmarkGanetiWorkload(b *testing.B) {
	slash16 := ipam.Network{Name: "n", Subnet: netip.MustParsePrefix("198.18.0.0/16"), Gateway: netip.MustParseAddr("198.18.0.1")}
	b.Run("create_slash16", func(b *testing.B) {
		st := openBolt(b)
		p := ipam.New(st)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			n := slash16
			n.Name = fmt.Sprint("n", i)
			must(b, p.Update(bctx, func(tx *ipam.Txn) error { return tx.AddNetwork(n, ipam.AddOptions{AllowOverlap: true}) }))
		}
	})
	for _, fill := range []int{0, 50, 99} {
		for _, batch := range []bool{false, true} {
			name := fmt.Sprintf("alloc_release_slash16_fill=%d%%", fill)
			if batch {
				name = "batch_" + name
			}
			benchFill(b, name, slash16, fill, batch)
		}
	}
}

// benchFill runs allocate+release in a /16 filled to fill percent, each
// pair committed on its own or (batch) all in one transaction.
func benchFill(b *testing.B, name string, slash16 ipam.Network, fill int, batch bool) {
	b.Run(name, func(b *testing.B) {
		st := openBolt(b)
		p := ipam.New(st)
		must(b, p.Update(bctx, func(tx *ipam.Txn) error {
			if err := tx.AddNetwork(slash16, ipam.AddOptions{}); err != nil {
				return err
			}
			for i := range 65536 * fill / 100 {
				if _, err := tx.Allocate("n", ipam.Owner{Instance: fmt.Sprint("fill", i)}); err != nil {
					return err
				}
			}
			return nil
		}))
		o := ipam.Owner{Instance: "vm", NIC: "0"}
		op := func(tx *ipam.Txn) error {
			a, err := tx.Allocate("n", o)
			if err != nil {
				return err
			}
			return tx.Release("n", a, &o)
		}
		b.ReportAllocs()
		b.ResetTimer()
		if batch {
			// One transaction for all ops: the library's own cost,
			// comparable to Ganeti's in-memory AddressPool.
			must(b, p.Update(bctx, func(tx *ipam.Txn) error {
				for i := 0; i < b.N; i++ {
					if err := op(tx); err != nil {
						return err
					}
				}
				return nil
			}))
			return
		}
		for i := 0; i < b.N; i++ {
			must(b, p.Update(bctx, op))
		}
	})
}

// BenchmarkBatchAllocate allocates b.N addresses of a /8 inside one
// transaction on the bbolt store, commit included (target: ≥100k/s), with
// the default mapping and with 64 MiB reserved (boltstore.Options.MmapSize,
// for large batches).
func BenchmarkBatchAllocate(b *testing.B) {
	for _, mm := range []int{0, 64 << 20} {
		b.Run(fmt.Sprintf("mmap=%dMiB", mm>>20), func(b *testing.B) { benchBatch(b, mm) })
	}
}

func benchBatch(b *testing.B, mmap int) {
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "ipam.db"), boltstore.Options{MmapSize: mmap})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	p := ipam.New(st)
	must(b, p.Update(bctx, func(tx *ipam.Txn) error {
		return tx.AddNetwork(ipam.Network{Name: "big", Subnet: netip.MustParsePrefix("10.0.0.0/8")}, ipam.AddOptions{})
	}))
	b.ReportAllocs()
	b.ResetTimer()
	must(b, p.Update(bctx, func(tx *ipam.Txn) error {
		for i := 0; i < b.N; i++ {
			if _, err := tx.Allocate("big", ipam.Owner{Instance: fmt.Sprint("vm", i), NIC: "0"}); err != nil {
				return err
			}
		}
		return nil
	}))
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "allocs/s")
}

// BenchmarkSlash8OnBolt creates a /8 in a fresh store file and reports the
// file size; then it allocates at 0%, 50% and 99% fill (filled with
// external reservations in large batches) in committed transactions.
func BenchmarkSlash8OnBolt(b *testing.B) {
	big := ipam.Network{Name: "big", Subnet: netip.MustParsePrefix("10.0.0.0/8"), Gateway: netip.MustParseAddr("10.0.0.1")}
	b.Run("create", func(b *testing.B) {
		var size int64
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			path := filepath.Join(b.TempDir(), "ipam.db")
			st, err := boltstore.Open(path, boltstore.Options{})
			must(b, err)
			p := ipam.New(st)
			b.StartTimer()
			must(b, p.Update(bctx, func(tx *ipam.Txn) error { return tx.AddNetwork(big, ipam.AddOptions{}) }))
			b.StopTimer()
			st.Close()
			fi, err := os.Stat(path)
			must(b, err)
			size = fi.Size()
			b.StartTimer()
		}
		b.ReportMetric(float64(size), "file-bytes")
	})
}
