package ipam

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// fillDirect marks a fraction of the eligible addresses of network name as
// taken by writing the bitmap directly (no reservation records), so that
// benchmarks can start from a 99% full /8 in a second. Check would object;
// benchmarks only measure the allocator.
func fillDirect(b *testing.B, p *Pool, name string, frac float64) {
	b.Helper()
	r := rand.New(rand.NewPCG(3, 4))
	update(b, p, func(tx *Txn) error {
		s, err := tx.state(name)
		if err != nil {
			return err
		}
		for c := range uint32(len(s.used)) {
			w, err := tx.chunk(s, c)
			if err != nil {
				return err
			}
			for i := range w {
				m := s.eligMask(c*chunkWords + uint32(i))
				for bit := range 64 {
					if m&(1<<bit) != 0 && r.Float64() < frac {
						w[i] |= 1 << bit
					}
				}
			}
			s.dirty[c] = true
		}
		s.recount()
		s.reserved = 0
		for c := range uint32(len(s.used)) {
			s.reserved += popcount(s.chunks[c])
		}
		s.changed = true
		return nil
	})
}

// BenchmarkCreateSlash8 creates a /8 network.
func BenchmarkCreateSlash8(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p := New(newMapStore())
		update(b, p, func(tx *Txn) error {
			return tx.AddNetwork(Network{Name: "big", Subnet: mustPrefix("10.0.0.0/8"), Gateway: ip("10.0.0.1")}, AddOptions{})
		})
	}
}

// BenchmarkAllocateSlash8 allocates and releases one address per op in a /8
// at several fill levels: the cost must not depend on the fill level.
func BenchmarkAllocateSlash8(b *testing.B) {
	for _, frac := range []float64{0, 0.5, 0.99} {
		b.Run(fmt.Sprintf("full=%.0f%%", frac*100), func(b *testing.B) {
			p := New(newMapStore())
			update(b, p, func(tx *Txn) error {
				return tx.AddNetwork(Network{Name: "big", Subnet: mustPrefix("10.0.0.0/8"), Gateway: ip("10.0.0.1")}, AddOptions{})
			})
			if frac > 0 {
				fillDirect(b, p, "big", frac)
			}
			o := owner("vm", "0")
			b.ReportAllocs()
			b.ResetTimer()
			update(b, p, func(tx *Txn) error {
				for i := 0; i < b.N; i++ {
					a, err := tx.Allocate("big", o)
					if err != nil {
						return err
					}
					if err := tx.Release("big", a, &o); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
}

// BenchmarkFindFreeSlash8 measures the bitmap search alone.
func BenchmarkFindFreeSlash8(b *testing.B) {
	for _, frac := range []float64{0, 0.5, 0.99} {
		b.Run(fmt.Sprintf("full=%.0f%%", frac*100), func(b *testing.B) {
			p := New(newMapStore())
			update(b, p, func(tx *Txn) error {
				return tx.AddNetwork(Network{Name: "big", Subnet: mustPrefix("10.0.0.0/8")}, AddOptions{})
			})
			if frac > 0 {
				fillDirect(b, p, "big", frac)
			}
			b.ReportAllocs()
			b.ResetTimer()
			update(b, p, func(tx *Txn) error {
				s, _ := tx.state("big")
				for i := 0; i < b.N; i++ {
					off, err := tx.findFree(s)
					if err != nil {
						return err
					}
					s.cursor = off + 1
					if s.cursor >= s.size {
						s.cursor = 0
					}
				}
				return nil
			})
		})
	}
}
