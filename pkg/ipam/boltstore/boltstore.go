// Package boltstore is the default ipam.Store: one bbolt file on the local
// disk, shared by every diktyo process on the host.
//
// It owns the file (DefaultPath unless told otherwise), its sidecar lock
// file "<path>.lock" and the file's layout: a "data" bucket holding the
// flat ipam keyspace and a "meta" bucket whose "schema" key holds
// ipam.SchemaVersion in decimal ASCII. It must never import pkg/ipam's
// callers, etcd, or anything that touches the network: pool logic belongs
// to pkg/ipam, which in turn never imports this package.
//
// # Locking
//
// A Store holds a lock from Open to Close: exclusive for read-write,
// shared for ReadOnly. Processes are expected to open the store, run one
// transaction and close it, so hold times are short. The lock is flock(2)
// on "<path>.lock" (pkg/flock), taken before bbolt opens the file: bbolt's own flock
// polls every 50 ms, which makes a crowd of short-lived hook processes
// crawl, whereas a waiter here blocks in the kernel and wakes as soon as
// the holder unlocks. bbolt's lock is still taken afterwards, as a safety
// net against other bbolt tools. Waiting is bounded by Options.Timeout;
// then Open fails with an error wrapping ipam.ErrBusy. Never delete the
// lock file while the store may be in use.
//
// Within one process, Update calls on the same Store are serialised by a
// semaphore waited for with the context's deadline (or Options.Timeout);
// View calls run concurrently.
//
// # Files that are not a store
//
// Open checks an existing file's bbolt meta pages itself, reading only,
// before bbolt sees it: random bytes, a text file, a bbolt file of another
// version, a file with bad checksums or a truncated file make Open fail
// with an error wrapping ipam.ErrCorrupt and leave the file byte-for-byte
// untouched. A valid bbolt file whose top level is not ours (no "meta"
// bucket but other content) is ErrCorrupt as well; a schema newer than
// ipam.SchemaVersion is ipam.ErrSchemaTooNew. Damage deep inside a valid
// bbolt file is bbolt's to detect (bbolt check).
//
// A missing file is created (parent directories 0755, file 0640) in a
// temporary file that is renamed into place once initialised, so a crash
// during creation never leaves a half-made store. A zero-length file is
// treated as new and initialised in place (keeping its owner and mode);
// read-only, a missing or zero-length file is an error wrapping
// fs.ErrNotExist.
//
// Crash safety is bbolt's: every committed Update is on disk (two fsyncs)
// and a kill -9 at any moment leaves the last committed transaction.
package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/internal/writer"
)

// DefaultPath is where diktyo keeps its pool on each node.
const DefaultPath = "/var/lib/diktyo/ipam.db"

// DefaultTimeout is the lock wait used when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Bucket and key names of the file layout.
const (
	bucketData = "data"
	bucketMeta = "meta"
	keySchema  = "schema"
)

// Options configures Open. The zero value opens read-write with fsync and
// DefaultTimeout.
type Options struct {
	// ReadOnly opens under a shared lock, alongside other readers; Update
	// then fails with ipam.ErrReadOnly.
	ReadOnly bool
	// Timeout bounds the wait for the file lock in Open and, when the
	// context has no deadline, for another Update of the same Store.
	// Zero means DefaultTimeout.
	Timeout time.Duration
	// NoSync skips fsync on commit, so a crash may lose or corrupt the
	// file. For tests and benchmarks only.
	NoSync bool
	// Logger receives debug records (lock waits, file creation); nil
	// discards them.
	Logger *slog.Logger
	// MmapSize reserves address space for the file's mapping. Zero keeps
	// the file as small as the data. Set it (e.g. 64 MiB) before a large
	// batch (an import of many reservations): each time a commit outgrows
	// the mapping, bbolt remaps and copies every node the transaction
	// touched, which dominates big batches. The file then grows in steps
	// of up to the mapping size (bbolt's allocation policy).
	MmapSize int
}

// Store is an open bbolt file. It is safe for concurrent use.
type Store struct {
	path     string
	readOnly bool
	timeout  time.Duration
	log      *slog.Logger
	db       *bolt.DB
	lock     *fileLock // nil when read-only without a lock file
	writer   writer.Token

	mu     sync.Mutex
	closed bool
}

var _ ipam.Store = (*Store)(nil)

// BusyError reports that the file lock could not be taken in time. It
// matches ipam.ErrBusy with errors.Is.
type BusyError struct {
	Path   string
	Waited time.Duration
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("store %s busy: locked by another process for %v", e.Path, e.Waited)
}

// Unwrap returns ipam.ErrBusy.
func (e *BusyError) Unwrap() error { return ipam.ErrBusy }

// Open locks and opens the store at path, creating it unless ReadOnly.
// The lock is held until Close.
func Open(path string, opts Options) (*Store, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	deadline := start.Add(opts.Timeout)

	if opts.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("open store %s read-only: %w", path, err)
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}

	lf, err := openLockFile(path+".lock", opts.ReadOnly)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	var lock *fileLock
	if lf != nil {
		lock, err = acquire(lf, !opts.ReadOnly, deadline)
		if errors.Is(err, ipam.ErrBusy) {
			return nil, &BusyError{Path: path, Waited: opts.Timeout}
		}
		if err != nil {
			return nil, fmt.Errorf("lock store %s: %w", path, err)
		}
		if waited := time.Since(start); waited > time.Millisecond {
			log.Debug("store lock contended", "path", path, "waited", waited)
		}
	} else {
		log.Debug("no lock file, relying on bbolt's lock", "path", path+".lock")
	}

	s := &Store{
		path:     path,
		readOnly: opts.ReadOnly,
		timeout:  opts.Timeout,
		log:      log,
		lock:     lock,
		writer:   writer.New(),
	}
	if s.db, err = s.openDB(opts, deadline); err != nil {
		_ = lock.release()
		return nil, err
	}
	return s, nil
}

// boltOptions keeps bbolt's default freelist (array, synced to the file):
// with NoFreelistSync every read-write Open scans the whole file to rebuild
// it (10-30 ms at 50000 keys instead of under 1 ms), and the hashmap
// freelist showed no gain at pool sizes.
func (s *Store) boltOptions(opts Options, deadline time.Time) *bolt.Options {
	return &bolt.Options{
		// Zero would mean wait forever; our own lock makes waiting rare.
		Timeout:         max(time.Until(deadline), time.Millisecond),
		ReadOnly:        opts.ReadOnly,
		NoSync:          opts.NoSync,
		InitialMmapSize: opts.MmapSize,
	}
}

// openDB opens the locked file with bbolt, creating or checking it first.
func (s *Store) openDB(opts Options, deadline time.Time) (*bolt.DB, error) {
	fi, err := os.Stat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !s.readOnly:
		return s.create(opts, deadline)
	case err != nil:
		return nil, fmt.Errorf("open store %s: %w", s.path, err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("open store %s: %w: not a regular file", s.path, ipam.ErrCorrupt)
	case fi.Size() == 0 && s.readOnly:
		return nil, fmt.Errorf("open store %s read-only: empty file, never initialised: %w", s.path, fs.ErrNotExist)
	case fi.Size() > 0:
		meta, err := s.check(fi.Size())
		if err != nil {
			return nil, err
		}
		if meta.freelist == noFreelist && !s.readOnly {
			// bbolt would commit a freelist while opening: check that
			// the file is ours before letting it write.
			if err := s.preflight(opts, deadline); err != nil {
				return nil, err
			}
		}
	}

	db, err := bolt.Open(s.path, 0o640, s.boltOptions(opts, deadline))
	if err != nil {
		return nil, s.boltOpenError(err, opts.Timeout)
	}
	empty, err := s.verify(db)
	if err == nil && empty && !s.readOnly {
		s.log.Debug("initialising empty store", "path", s.path)
		err = db.Update(initialise)
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: %w", s.path, err)
	}
	return db, nil
}

// check reads the meta pages of the existing file without writing.
func (s *Store) check(size int64) (boltMeta, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return boltMeta{}, fmt.Errorf("open store %s: %w", s.path, err)
	}
	defer f.Close()
	meta, err := checkFile(f, size)
	if err != nil {
		return boltMeta{}, fmt.Errorf("open store %s: %w: %w", s.path, ipam.ErrCorrupt, err)
	}
	return meta, nil
}

// preflight verifies the layout through a read-only bbolt handle.
func (s *Store) preflight(opts Options, deadline time.Time) error {
	ro := opts
	ro.ReadOnly = true
	db, err := bolt.Open(s.path, 0o640, s.boltOptions(ro, deadline))
	if err != nil {
		return s.boltOpenError(err, opts.Timeout)
	}
	defer db.Close()
	if _, err := s.verify(db); err != nil {
		return fmt.Errorf("open store %s: %w", s.path, err)
	}
	return nil
}

// create makes a new store in "<path>.new" and renames it into place, so
// that a crash never leaves a half-initialised file at path.
func (s *Store) create(opts Options, deadline time.Time) (*bolt.DB, error) {
	tmp := s.path + ".new"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("create store %s: %w", s.path, err)
	}
	db, err := bolt.Open(tmp, 0o640, s.boltOptions(opts, deadline))
	if err != nil {
		return nil, fmt.Errorf("create store %s: %w", s.path, err)
	}
	err = db.Update(initialise)
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err == nil && !opts.NoSync {
		err = syncDir(filepath.Dir(s.path))
	}
	if err != nil {
		_ = db.Close()
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("create store %s: %w", s.path, err)
	}
	s.log.Debug("created store", "path", s.path, "schema", ipam.SchemaVersion)
	return db, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func initialise(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists([]byte(bucketData)); err != nil {
		return err
	}
	meta, err := tx.CreateBucketIfNotExists([]byte(bucketMeta))
	if err != nil {
		return err
	}
	return meta.Put([]byte(keySchema), []byte(strconv.Itoa(ipam.SchemaVersion)))
}

// verify checks the layout and schema; empty reports a bbolt file with
// nothing in it yet.
func (s *Store) verify(db *bolt.DB) (empty bool, err error) {
	err = db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte(bucketMeta))
		if meta == nil {
			if k, _ := tx.Cursor().First(); k == nil {
				empty = true
				return nil
			}
			return fmt.Errorf("%w: bbolt file without a %q bucket", ipam.ErrCorrupt, bucketMeta)
		}
		v := meta.Get([]byte(keySchema))
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 {
			return fmt.Errorf("%w: schema %q", ipam.ErrCorrupt, v)
		}
		if n > ipam.SchemaVersion {
			return fmt.Errorf("%w: file has schema %d, this program knows up to %d", ipam.ErrSchemaTooNew, n, ipam.SchemaVersion)
		}
		return nil
	})
	return empty, err
}

// boltOpenError maps bbolt's open errors onto the ipam sentinels.
func (s *Store) boltOpenError(err error, timeout time.Duration) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return &BusyError{Path: s.path, Waited: timeout}
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return fmt.Errorf("open store %s: %w: %w", s.path, ipam.ErrCorrupt, err)
	}
	return fmt.Errorf("open store %s: %w", s.path, err)
}

// Path returns the file the store was opened from.
func (s *Store) Path() string { return s.path }

// View runs fn in a read-only transaction.
func (s *Store) View(ctx context.Context, fn func(ipam.StoreTx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("view store %s: %w", s.path, err)
	}
	var fnErr error
	err := s.db.View(func(btx *bolt.Tx) error {
		t := &tx{b: btx.Bucket([]byte(bucketData)), path: s.path}
		defer t.end()
		fnErr = fn(t)
		return fnErr
	})
	if err != nil && err != fnErr {
		return fmt.Errorf("view store %s: %w", s.path, err)
	}
	return err
}

// Update runs fn in a read-write transaction, committed (with fsync) only
// if fn returns nil.
func (s *Store) Update(ctx context.Context, fn func(ipam.StoreTx) error) error {
	if s.readOnly {
		return fmt.Errorf("update store %s: %w", s.path, ipam.ErrReadOnly)
	}
	if err := s.writer.Acquire(ctx, s.timeout); err != nil {
		return fmt.Errorf("update store %s: %w", s.path, err)
	}
	defer s.writer.Release()
	var fnErr error
	err := s.db.Update(func(btx *bolt.Tx) error {
		b, err := btx.CreateBucketIfNotExists([]byte(bucketData))
		if err != nil {
			return err
		}
		t := &tx{b: b, writable: true, path: s.path, pending: map[string]pendingWrite{}}
		defer t.end()
		if fnErr = fn(t); fnErr != nil {
			return fnErr
		}
		return t.flush()
	})
	if err != nil && err != fnErr {
		return fmt.Errorf("commit store %s: %w", s.path, err)
	}
	return err
}

// Close closes the file and releases the lock. It waits for running
// transactions; closing twice is not an error.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	err := errors.Join(s.db.Close(), s.lock.release())
	if err != nil {
		return fmt.Errorf("close store %s: %w", s.path, err)
	}
	return nil
}

var (
	errTxDone = errors.New("transaction has ended")
	errInScan = errors.New("write from inside a Scan callback")
)

// tx adapts a bbolt bucket to ipam.StoreTx. b is nil in a read-only view of a
// store that was never initialised.
type tx struct {
	b        *bolt.Bucket
	writable bool
	scanning int
	done     bool
	path     string
	// pending holds the writes of an Update until commit. bbolt does not
	// split nodes until commit, so thousands of inserts in the middle of
	// one node in one transaction cost O(n²) memmove (a 200k-allocation
	// batch ran at under 1k/s); applying the writes in key order at the
	// end keeps each insert next to the previous one.
	pending map[string]pendingWrite
}

// pendingWrite is a buffered Put (value) or Delete (del).
type pendingWrite struct {
	value []byte
	del   bool
}

// checkKV refuses what bbolt's Put would refuse at commit, so the error
// names the key at the call.
func checkKV(key, value []byte) error {
	switch {
	case len(key) == 0:
		return berrors.ErrKeyRequired
	case len(key) > bolt.MaxKeySize:
		return berrors.ErrKeyTooLarge
	case int64(len(value)) > bolt.MaxValueSize:
		return berrors.ErrValueTooLarge
	}
	return nil
}

// flush applies the pending writes in key order.
func (t *tx) flush() error {
	keys := make([]string, 0, len(t.pending))
	for k := range t.pending {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		w := t.pending[k]
		var err error
		if w.del {
			err = t.b.Delete([]byte(k))
		} else {
			err = t.b.Put([]byte(k), w.value)
		}
		if err != nil {
			return fmt.Errorf("write %s in store %s: %w", quote([]byte(k)), t.path, err)
		}
	}
	clear(t.pending)
	return nil
}

func (t *tx) end() { t.done = true }

func (t *tx) Get(key []byte) ([]byte, error) {
	if t.done {
		return nil, fmt.Errorf("get in store %s: %w", t.path, errTxDone)
	}
	if w, ok := t.pending[string(key)]; ok {
		if w.del {
			return nil, nil
		}
		return w.value, nil
	}
	if t.b == nil {
		return nil, nil
	}
	return t.b.Get(key), nil
}

func (t *tx) checkWrite(op string) error {
	switch {
	case t.done:
		return fmt.Errorf("%s in store %s: %w", op, t.path, errTxDone)
	case !t.writable:
		return fmt.Errorf("%s in store %s: %w", op, t.path, ipam.ErrReadOnly)
	case t.scanning > 0:
		return fmt.Errorf("%s in store %s: %w", op, t.path, errInScan)
	}
	return nil
}

func (t *tx) Put(key, value []byte) error {
	if err := t.checkWrite("put"); err != nil {
		return err
	}
	if err := checkKV(key, value); err != nil {
		return fmt.Errorf("put %s in store %s: %w", quote(key), t.path, err)
	}
	// The interface promises a copy; a non-nil copy also keeps empty
	// values present.
	v := make([]byte, len(value))
	copy(v, value)
	t.pending[string(key)] = pendingWrite{value: v}
	return nil
}

func (t *tx) Delete(key []byte) error {
	if err := t.checkWrite("delete"); err != nil {
		return err
	}
	if err := checkKV(key, nil); err != nil {
		return fmt.Errorf("delete %s in store %s: %w", quote(key), t.path, err)
	}
	t.pending[string(key)] = pendingWrite{del: true}
	return nil
}

func (t *tx) Scan(prefix []byte, fn func(key, value []byte) error) error {
	if t.done {
		return fmt.Errorf("scan in store %s: %w", t.path, errTxDone)
	}
	if t.b == nil {
		return nil
	}
	t.scanning++
	defer func() { t.scanning-- }()
	var over []string // pending keys with the prefix, sorted
	for k := range t.pending {
		if strings.HasPrefix(k, string(prefix)) {
			over = append(over, k)
		}
	}
	slices.Sort(over)
	c := t.b.Cursor()
	k, v := c.Seek(prefix)
	for {
		inBolt := k != nil && bytes.HasPrefix(k, prefix)
		if !inBolt && len(over) == 0 {
			return nil
		}
		if len(over) > 0 && (!inBolt || over[0] <= string(k)) {
			ok := over[0]
			over = over[1:]
			if inBolt && ok == string(k) {
				k, v = c.Next() // shadowed by the pending write
			}
			if w := t.pending[ok]; !w.del {
				if err := fn([]byte(ok), w.value); err != nil {
					return err
				}
			}
			continue
		}
		if err := fn(k, v); err != nil {
			return err
		}
		k, v = c.Next()
	}
}

// quote quotes a key for an error message, eliding the middle of long ones.
func quote(key []byte) string {
	if len(key) > 64 {
		return fmt.Sprintf("%q...(%d bytes)", key[:48], len(key))
	}
	return strconv.Quote(string(key))
}
