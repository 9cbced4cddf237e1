// Package memstore is an in-memory ipam.Store for tests of pure code.
//
// It owns nothing but a sorted in-memory snapshot of one keyspace: it keeps
// no files, starts no goroutines and must never import bbolt, etcd or any
// package that touches the host. It imports pkg/ipam only for the Store and
// Tx interfaces and their error sentinels.
//
// The fake is strict where a real store would fail or misbehave, so that
// bugs show up in pure tests rather than in production:
//   - Update is atomic: writes are buffered and applied only when fn returns
//     nil; a failing (or panicking) fn leaves the data unchanged.
//   - Get and Scan in an Update see the transaction's own writes.
//   - Byte slices handed out by Get and Scan are copies that are overwritten
//     with garbage (0xA5) when the transaction ends, like bbolt's memory map
//     after a remap: a caller that keeps them without copying sees garbage.
//   - Writing from inside a Scan callback, writing in View and using a Tx
//     after its transaction ended are errors, as are keys that bbolt
//     rejects (empty or longer than MaxKeySize).
//
// Writers are serialised by a one-token semaphore waited for with the
// context's deadline, or DefaultTimeout when it has none; readers never
// wait: View runs on the snapshot current when it starts.
package memstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/internal/writer"
)

// DefaultTimeout bounds how long Update waits for another writer of the
// same Store when the context has no deadline.
const DefaultTimeout = 10 * time.Second

// MaxKeySize is the longest key Put accepts, the same limit as bbolt's.
const MaxKeySize = 32768

// poison is written over slices handed to callers once their transaction
// ends.
const poison = 0xA5

var (
	errClosed  = errors.New("memstore: store is closed")
	errTxDone  = errors.New("memstore: transaction has ended")
	errInScan  = errors.New("memstore: write from inside a Scan callback")
	errKeySize = errors.New("memstore: key must be 1 to 32768 bytes")
)

// kv is one committed entry. Entries are never modified once published in
// a snapshot.
type kv struct {
	key string
	val []byte
}

// Store is an in-memory ipam.Store. The zero value is not usable; call New.
// It is safe for concurrent use.
type Store struct {
	writer writer.Token // held by the running Update

	mu     sync.RWMutex
	data   []kv // sorted by key; replaced, never modified, on commit
	closed bool
}

var _ ipam.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{writer: writer.New()}
}

// View runs fn in a read-only transaction on the current snapshot.
func (s *Store) View(ctx context.Context, fn func(ipam.StoreTx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore view: %w", err)
	}
	data, err := s.snapshot()
	if err != nil {
		return err
	}
	t := &tx{data: data}
	defer t.end()
	return fn(t)
}

// Update runs fn in a read-write transaction. Its writes are applied, all
// at once, only if fn returns nil.
func (s *Store) Update(ctx context.Context, fn func(ipam.StoreTx) error) error {
	if err := s.writer.Acquire(ctx, DefaultTimeout); err != nil {
		return fmt.Errorf("memstore: %w", err)
	}
	defer s.writer.Release()
	data, err := s.snapshot()
	if err != nil {
		return err
	}
	t := &tx{data: data, writable: true, pending: map[string]pending{}}
	defer t.end()
	if err := fn(t); err != nil {
		return err
	}
	if len(t.pending) == 0 {
		return nil
	}
	merged := t.merge()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	s.data = merged
	return nil
}

// Close marks the store closed; later View and Update calls fail.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// Len returns the number of committed keys.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.data)
}

// Bytes returns the total size of the committed keys and values.
func (s *Store) Bytes() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, e := range s.data {
		n += len(e.key) + len(e.val)
	}
	return n
}

func (s *Store) snapshot() ([]kv, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errClosed
	}
	return s.data, nil
}

// pending is a buffered write: a new value, or a deletion.
type pending struct {
	val []byte
	del bool
}

type tx struct {
	data     []kv
	writable bool
	pending  map[string]pending
	scanning int
	done     bool
	handed   [][]byte // copies given to the caller, poisoned by end
}

func (t *tx) end() {
	t.done = true
	for _, b := range t.handed {
		for i := range b {
			b[i] = poison
		}
	}
	t.handed = nil
}

// hand returns a copy of b that end will poison. A present but empty value
// stays non-nil, as in bbolt.
func (t *tx) hand(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	t.handed = append(t.handed, c)
	return c
}

func (t *tx) search(key string) (int, bool) {
	return sort.Find(len(t.data), func(i int) int { return strings.Compare(key, t.data[i].key) })
}

func (t *tx) Get(key []byte) ([]byte, error) {
	if t.done {
		return nil, errTxDone
	}
	if p, ok := t.pending[string(key)]; ok {
		if p.del {
			return nil, nil
		}
		return t.hand(p.val), nil
	}
	if i, ok := t.search(string(key)); ok {
		return t.hand(t.data[i].val), nil
	}
	return nil, nil
}

func (t *tx) checkWrite(op string, key []byte) error {
	switch {
	case t.done:
		return errTxDone
	case !t.writable:
		return fmt.Errorf("memstore %s %q: %w", op, key, ipam.ErrReadOnly)
	case t.scanning > 0:
		return fmt.Errorf("%w: %s %q", errInScan, op, key)
	}
	return nil
}

func (t *tx) Put(key, value []byte) error {
	if err := t.checkWrite("put", key); err != nil {
		return err
	}
	if len(key) == 0 || len(key) > MaxKeySize {
		return fmt.Errorf("put (%d-byte key): %w", len(key), errKeySize)
	}
	t.pending[string(key)] = pending{val: append([]byte{}, value...)}
	return nil
}

func (t *tx) Delete(key []byte) error {
	if err := t.checkWrite("delete", key); err != nil {
		return err
	}
	if len(key) == 0 {
		return nil // bbolt: nothing can match an empty key
	}
	t.pending[string(key)] = pending{del: true}
	return nil
}

func (t *tx) Scan(prefix []byte, fn func(key, value []byte) error) error {
	if t.done {
		return errTxDone
	}
	t.scanning++
	defer func() { t.scanning-- }()

	p := string(prefix)
	// Committed entries with the prefix form one contiguous run.
	lo, _ := t.search(p)
	hi := lo
	for hi < len(t.data) && strings.HasPrefix(t.data[hi].key, p) {
		hi++
	}
	var own []string
	for k := range t.pending {
		if strings.HasPrefix(k, p) {
			own = append(own, k)
		}
	}
	slices.Sort(own)

	emit := func(k string, v []byte) error { return fn(t.hand([]byte(k)), t.hand(v)) }
	i, j := lo, 0
	for i < hi || j < len(own) {
		var err error
		switch {
		case j == len(own) || (i < hi && t.data[i].key < own[j]):
			err = emit(t.data[i].key, t.data[i].val)
			i++
		default:
			if i < hi && t.data[i].key == own[j] {
				i++ // shadowed by this transaction's write
			}
			if w := t.pending[own[j]]; !w.del {
				err = emit(own[j], w.val)
			}
			j++
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// merge returns the committed data with this transaction's writes applied.
func (t *tx) merge() []kv {
	keys := make([]string, 0, len(t.pending))
	for k := range t.pending {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]kv, 0, len(t.data)+len(keys))
	i := 0
	for _, k := range keys {
		for i < len(t.data) && t.data[i].key < k {
			out = append(out, t.data[i])
			i++
		}
		if i < len(t.data) && t.data[i].key == k {
			i++
		}
		if w := t.pending[k]; !w.del {
			out = append(out, kv{key: k, val: w.val})
		}
	}
	return append(out, t.data[i:]...)
}
