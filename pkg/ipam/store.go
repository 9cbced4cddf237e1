package ipam

import (
	"context"
	"errors"
)

// SchemaVersion is the version of the key layout pkg/ipam writes. Stores
// persist it and refuse files written by a newer schema.
const SchemaVersion = 1

// Store errors that callers test with errors.Is.
var (
	// ErrBusy means the store could not be locked before the timeout:
	// another process holds it.
	ErrBusy = errors.New("store busy")
	// ErrSchemaTooNew means the store was written by a newer diktyo.
	ErrSchemaTooNew = errors.New("store schema is newer than this program")
	// ErrCorrupt means the file is not a diktyo store (or is damaged).
	ErrCorrupt = errors.New("store is corrupt or not a diktyo store")
	// ErrReadOnly is returned by Update on a store opened read-only.
	ErrReadOnly = errors.New("store is read-only")
)

// Store is a transactional, ordered key-value store holding one pool.
// It is deliberately dumb: all pool logic lives in this package, so a bbolt
// file, etcd and an in-memory map can all serve as a Store.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(StoreTx) error) error
	// Update runs fn in a read-write transaction. All writes are committed
	// atomically and durably if and only if fn returns nil.
	Update(ctx context.Context, fn func(StoreTx) error) error
	// Close releases the store.
	Close() error
}

// StoreTx is one transaction of a Store. Keys are compared bytewise.
// Byte slices returned by Get and passed to Scan's callback are only valid
// until the transaction ends; callers copy what they keep.
type StoreTx interface {
	// Get returns the value of key, or nil if it is absent.
	Get(key []byte) ([]byte, error)
	// Put sets key to value. The store copies both slices.
	Put(key, value []byte) error
	// Delete removes key; a missing key is not an error.
	Delete(key []byte) error
	// Scan calls fn for every key with the given prefix in ascending key
	// order, stopping at the first error, which it returns. fn must not
	// write to the transaction.
	Scan(prefix []byte, fn func(key, value []byte) error) error
}
