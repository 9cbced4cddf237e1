package memstore

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) ipam.Store { return New() })
}

func TestStrictness(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		check func(t *testing.T, s *Store)
	}{
		{"slices are poisoned after the transaction", func(t *testing.T, s *Store) {
			var kept, key []byte
			_ = s.View(ctx, func(tx ipam.StoreTx) error {
				kept, _ = tx.Get([]byte("a"))
				return tx.Scan(nil, func(k, _ []byte) error { key = k; return nil })
			})
			if !bytes.Equal(kept, []byte{poison}) || !bytes.Equal(key, []byte{poison}) {
				t.Errorf("kept value %q key %q, want poison", kept, key)
			}
		}},
		{"tx after its transaction", func(t *testing.T, s *Store) {
			var leaked ipam.StoreTx
			_ = s.Update(ctx, func(tx ipam.StoreTx) error { leaked = tx; return nil })
			if _, err := leaked.Get([]byte("a")); err == nil {
				t.Error("Get after end succeeded")
			}
			if err := leaked.Put([]byte("a"), nil); err == nil {
				t.Error("Put after end succeeded")
			}
		}},
		{"Len and Bytes", func(t *testing.T, s *Store) {
			_ = s.Update(ctx, func(tx ipam.StoreTx) error { return tx.Put([]byte("bb"), []byte("123")) })
			if s.Len() != 2 || s.Bytes() != 1+1+2+3 {
				t.Errorf("Len %d Bytes %d, want 2 7", s.Len(), s.Bytes())
			}
		}},
		{"closed", func(t *testing.T, s *Store) {
			_ = s.Close()
			if err := s.View(ctx, func(ipam.StoreTx) error { return nil }); err == nil {
				t.Error("View after Close succeeded")
			}
			if err := s.Update(ctx, func(ipam.StoreTx) error { return nil }); err == nil {
				t.Error("Update after Close succeeded")
			}
		}},
		{"canceled context is busy", func(t *testing.T, s *Store) {
			<-s.writer // another writer holds the store
			defer func() { s.writer <- struct{}{} }()
			c, cancel := context.WithCancel(ctx)
			cancel()
			if err := s.Update(c, func(ipam.StoreTx) error { return nil }); err == nil {
				t.Error("Update with canceled context succeeded")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			if err := s.Update(ctx, func(tx ipam.StoreTx) error { return tx.Put([]byte("a"), []byte("1")) }); err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}

func fill(b *testing.B, s *Store, n int) {
	b.Helper()
	err := s.Update(context.Background(), func(tx ipam.StoreTx) error {
		for i := range n {
			if err := tx.Put(fmt.Appendf(nil, "net/n%03d/%08d", i%100, i), make([]byte, 64)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkUpdateOnePut commits one Put into a store of 10k keys.
func BenchmarkUpdateOnePut(b *testing.B) {
	s := New()
	fill(b, s, 10000)
	b.ReportAllocs()
	ctx := context.Background()
	for b.Loop() {
		err := s.Update(ctx, func(tx ipam.StoreTx) error { return tx.Put([]byte("net/n050/x"), []byte("v")) })
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanNetwork scans one network's 100 keys out of 10k.
func BenchmarkScanNetwork(b *testing.B) {
	s := New()
	fill(b, s, 10000)
	b.ReportAllocs()
	ctx := context.Background()
	for b.Loop() {
		err := s.View(ctx, func(tx ipam.StoreTx) error {
			return tx.Scan([]byte("net/n050/"), func(_, _ []byte) error { return nil })
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
