package ipam

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
)

// mapStore is a minimal in-package Store for tests of this package (the
// real fake, pkg/ipam/memstore, imports this package).
type mapStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newMapStore() *mapStore { return &mapStore{m: map[string][]byte{}} }

type mapTx struct {
	m     map[string][]byte
	write bool
}

func (s *mapStore) View(_ context.Context, fn func(StoreTx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fn(&mapTx{m: s.m})
}

func (s *mapStore) Update(_ context.Context, fn func(StoreTx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := maps.Clone(s.m)
	if err := fn(&mapTx{m: c, write: true}); err != nil {
		return err
	}
	s.m = c
	return nil
}

func (s *mapStore) Close() error { return nil }

func (t *mapTx) Get(k []byte) ([]byte, error) { return t.m[string(k)], nil }
func (t *mapTx) Put(k, v []byte) error {
	if !t.write {
		return ErrReadOnly
	}
	t.m[string(k)] = bytes.Clone(append([]byte{}, v...))
	return nil
}
func (t *mapTx) Delete(k []byte) error {
	if !t.write {
		return ErrReadOnly
	}
	delete(t.m, string(k))
	return nil
}
func (t *mapTx) Scan(p []byte, fn func(k, v []byte) error) error {
	var keys []string
	for k := range t.m {
		if strings.HasPrefix(k, string(p)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := fn([]byte(k), t.m[k]); err != nil {
			return err
		}
	}
	return nil
}
