package etcdstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"

	"github.com/diktyo/diktyo/pkg/ipam"
)

var (
	errTxDone = errors.New("transaction has ended")
	errInScan = errors.New("write from inside a Scan callback")
	errKey    = errors.New("key must be 1 to 32768 bytes")
	// errRestart: the snapshot was compacted away during an Update, which
	// then starts over on a new one.
	errRestart = errors.New("snapshot revision compacted")
)

// tx is one transaction: a snapshot at revision rev, what was read from
// it, and the buffered writes.
type tx struct {
	s        *Store
	ctx      context.Context
	writable bool
	done     bool
	scanning int
	rev      int64 // snapshot revision; 0 until the first read
	err      error // first failed read: the transaction must not commit

	reads   map[string]read // full etcd key → what Get saw
	scans   []scanRead
	pending map[string]pending // ipam key → buffered write
	dirs    map[string]*dir    // full etcd key of a directory → what is known of it
}

// Pool logic reads a network's reservations, its bitmap chunks or the
// owner index key by key, which costs a round trip each on etcd (5000
// reservations: a second on loopback, many over a network, beyond the
// deadline for large pools). So a transaction that has read prefetchAfter
// keys of one directory one by one (the keys up to their second '/':
// "o/NET/", "b/NET/") reads the rest of it in one go, and one that has read
// prefetchWideAfter keys across a top-level directory ("i/", where each
// owner has a directory of its own) reads all of that.
const (
	prefetchAfter     = 8
	prefetchWideAfter = 64
)

// dir is what a transaction knows of a directory.
type dir struct {
	key    string // full etcd key prefix
	after  int    // misses before it is read whole
	misses int
	kvs    map[string]read // the whole directory at the snapshot, once read
}

// read is what a Get saw at the snapshot: mod is 0 for an absent key.
type read struct {
	mod int64
	val []byte // nil: absent
}

// scanRead is a range [start, end) read at the snapshot and the keys it
// held, with their mod revisions.
type scanRead struct {
	start, end string
	keys       []keyRev
}

type keyRev struct {
	key string
	mod int64
}

// pending is a buffered Put (val) or Delete (del).
type pending struct {
	val []byte
	del bool
}

func (s *Store) newTx(ctx context.Context, writable bool) *tx {
	t := &tx{s: s, ctx: ctx, writable: writable, reads: map[string]read{}}
	if writable {
		t.pending = map[string]pending{}
	}
	return t
}

func (t *tx) end() { t.done = true }

func (t *tx) dataKey(key []byte) string { return t.s.root + dataDir + string(key) }

// fail records the first read failure and returns it.
func (t *tx) fail(err error) error {
	if t.err == nil {
		t.err = err
	}
	return err
}

// rangeAt reads [key, end) (or key alone when end is nil) at the snapshot,
// fixing the snapshot with the first read. A lagging member may not have
// the snapshot yet: the read is then repeated as a linearizable one.
func (t *tx) rangeAt(what string, key, end []byte, limit int64) (*pb.RangeResponse, error) {
	if t.err != nil {
		return nil, t.err
	}
	req := &pb.RangeRequest{Key: key, RangeEnd: end, Limit: limit, Revision: t.rev, Serializable: t.rev != 0}
	var resp *pb.RangeResponse
	err := t.s.call(t.ctx, what, func(ctx context.Context) (err error) {
		resp, err = t.s.kv.Range(ctx, req, grpc.WaitForReady(false))
		if errors.Is(rpctypes.Error(err), rpctypes.ErrFutureRev) {
			req.Serializable = false
		}
		return err
	})
	if errors.Is(err, rpctypes.ErrCompacted) {
		err = fmt.Errorf("%s: %w at revision %d", what, errRestart, t.rev)
	}
	if err != nil {
		return nil, t.fail(err)
	}
	t.s.observe(resp.Header)
	if t.rev == 0 {
		t.rev = resp.Header.Revision
	}
	return resp, nil
}

func (t *tx) Get(key []byte) ([]byte, error) {
	if t.done {
		return nil, fmt.Errorf("get in store %s: %w", t.s.name, errTxDone)
	}
	if w, ok := t.pending[string(key)]; ok {
		if w.del {
			return nil, nil
		}
		return bytes.Clone(w.val), nil
	}
	if len(key) == 0 || len(key) > MaxKeySize {
		return nil, nil // nothing can be stored there
	}
	full := t.dataKey(key)
	r, ok := t.reads[full]
	if !ok {
		var err error
		if r, err = t.read(key, full); err != nil {
			return nil, err
		}
		// Read from the snapshot, prefetched or not: validated at commit
		// like any other read.
		t.reads[full] = r
	}
	if r.val == nil {
		return nil, nil
	}
	return bytes.Clone(r.val), nil
}

// read reads one key at the snapshot, from its directory if that was
// read whole, or reads the directory whole once enough of its keys were
// read one by one.
func (t *tx) read(key []byte, full string) (read, error) {
	base := len(full) - len(key)
	var dirs []*dir
	for _, lv := range dirLevels(key) {
		dk := full[:base+lv.n]
		d := t.dirs[dk]
		if d == nil {
			if t.dirs == nil {
				t.dirs = map[string]*dir{}
			}
			d = &dir{key: dk, after: lv.after}
			t.dirs[dk] = d
		}
		if d.kvs != nil {
			return d.kvs[full], nil
		}
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if d.misses++; d.misses > d.after {
			if err := t.prefetch(d); err != nil {
				return read{}, err
			}
			return d.kvs[full], nil
		}
	}
	resp, err := t.rangeAt("get "+quote(key), []byte(full), nil, 0)
	if err != nil || len(resp.Kvs) == 0 {
		return read{}, err
	}
	return read{mod: resp.Kvs[0].ModRevision, val: nonNil(resp.Kvs[0].Value)}, nil
}

// level is a directory of a key: its length and its prefetch threshold.
type level struct{ n, after int }

// dirLevels lists key's directories, the narrowest first: up to its second
// '/', and up to its first.
func dirLevels(key []byte) []level {
	first := bytes.IndexByte(key, '/')
	if first < 0 {
		return nil
	}
	wide := level{first + 1, prefetchWideAfter}
	second := bytes.IndexByte(key[first+1:], '/')
	if second < 0 {
		return []level{wide}
	}
	return []level{{first + 1 + second + 1, prefetchAfter}, wide}
}

// prefetch reads directory d at the snapshot, page by page.
func (t *tx) prefetch(d *dir) error {
	kvs := map[string]read{}
	end := rangeEnd(d.key, true)
	for from := d.key; ; {
		resp, err := t.rangeAt("read "+quote([]byte(d.key[len(t.s.root)+len(dataDir):])), []byte(from), end, pageSize)
		if err != nil {
			return err
		}
		for _, kv := range resp.Kvs {
			kvs[string(kv.Key)] = read{mod: kv.ModRevision, val: nonNil(kv.Value)}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	d.kvs = kvs
	return nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (t *tx) checkWrite(op string, key []byte) error {
	switch {
	case t.done:
		return fmt.Errorf("%s in store %s: %w", op, t.s.name, errTxDone)
	case !t.writable:
		return fmt.Errorf("%s in store %s: %w", op, t.s.name, ipam.ErrReadOnly)
	case t.scanning > 0:
		return fmt.Errorf("%s %s in store %s: %w", op, quote(key), t.s.name, errInScan)
	case len(key) == 0 || len(key) > MaxKeySize:
		return fmt.Errorf("%s (%d-byte key) in store %s: %w", op, len(key), t.s.name, errKey)
	}
	return nil
}

func (t *tx) Put(key, value []byte) error {
	if err := t.checkWrite("put", key); err != nil {
		return err
	}
	// A non-nil copy keeps empty values present.
	t.pending[string(key)] = pending{val: append([]byte{}, value...)}
	return nil
}

func (t *tx) Delete(key []byte) error {
	if len(key) == 0 && t.writable && !t.done && t.scanning == 0 {
		return nil // as in bbolt: nothing can match an empty key
	}
	if err := t.checkWrite("delete", key); err != nil {
		return err
	}
	t.pending[string(key)] = pending{del: true}
	return nil
}

// Scan reads the prefix page by page at the snapshot, merging this
// transaction's own writes, and records the range it covered.
func (t *tx) Scan(prefix []byte, fn func(key, value []byte) error) error {
	if t.done {
		return fmt.Errorf("scan in store %s: %w", t.s.name, errTxDone)
	}
	t.scanning++
	defer func() { t.scanning-- }()

	var own []string // pending keys with the prefix, sorted
	for k := range t.pending {
		if strings.HasPrefix(k, string(prefix)) {
			own = append(own, k)
		}
	}
	slices.Sort(own)
	emitOwn := func(upTo string, all bool) error { // pending keys < upTo
		for len(own) > 0 && (all || own[0] < upTo) {
			k := own[0]
			own = own[1:]
			if w := t.pending[k]; !w.del {
				if err := fn([]byte(k), bytes.Clone(w.val)); err != nil {
					return err
				}
			}
		}
		return nil
	}

	strip := len(t.s.root) + len(dataDir)
	start := t.dataKey(prefix)
	end := string(rangeEnd(start, true))
	sr := scanRead{start: start, end: start}
	defer func() {
		if sr.end != sr.start {
			t.scans = append(t.scans, sr)
		}
	}()
	from := start
	for {
		resp, err := t.rangeAt("scan "+quote(prefix), []byte(from), []byte(end), pageSize)
		if err != nil {
			return err
		}
		sr.end = end
		if resp.More && len(resp.Kvs) > 0 {
			sr.end = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		}
		for _, kv := range resp.Kvs {
			sr.keys = append(sr.keys, keyRev{key: string(kv.Key), mod: kv.ModRevision})
			k := string(kv.Key[strip:])
			if err := emitOwn(k, false); err != nil {
				return err
			}
			if len(own) > 0 && own[0] == k {
				continue // shadowed: emitted from pending by the next call
			}
			if err := fn([]byte(k), nonNil(kv.Value)); err != nil {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return emitOwn("", true)
		}
		from = sr.end
	}
}

// quote quotes a key for messages, cut after 64 bytes.
func quote(key []byte) string { return fmt.Sprintf("%.64q", key) }
