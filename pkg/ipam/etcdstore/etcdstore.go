// Package etcdstore keeps the ipam pool in etcd v3, for clusters whose pool
// must survive the loss of any one node (Ganeti master failover): the same
// ipam.Store as the bbolt file, with the same semantics, shared by every
// node through an etcd cluster.
//
// It owns the etcd keys under one prefix and nothing else: it must never
// import pkg/ipam's callers, bbolt, netlink or nftables, and it never
// touches a key outside its prefix (several Ganeti clusters share one etcd
// under different prefixes).
//
// # Key layout
//
// The pool of prefix P ("diktyo/cluster1": one or more '/'-separated
// segments of letters, digits, '.', '_' and '-'; etcdconf.ValidPrefix)
// lives under "/P/":
//
//	/P/@schema    ipam.SchemaVersion in decimal ASCII, written last by a
//	              migration: a prefix with keys but no schema is refused
//	/P/@d/KEY     the flat ipam keyspace, one etcd key per ipam key
//	/P/@txn       the id of the last commit (see "Uncertain commits")
//	/P/@deleted   the id of the last commit that deleted keys
//	/P/@fence     the id of the last fence (see "Uncertain commits")
//
// '@' cannot occur in a prefix, so no pool's keys fall inside another's,
// even when one prefix extends another ("a" and "a/b").
//
// pkg/ipam keeps an IPv4 pool as a bitmap cut into chunks of 32768
// addresses (4 KiB each, absent while all zero) plus a state record with a
// 4-byte counter per chunk. Allocating one address therefore reads three
// keys (network, state, one chunk) and writes, in one etcd transaction:
//
//	key                      value bytes        /24      /16     /8
//	@d/b/NET/<chunk>         bits / 8           32       4096    4096
//	@d/s/NET                 13 + 4 × chunks    17       21      2061
//	@d/o/NET/<ip>            kind, owner, NIC   ~30      ~30     ~30
//	@d/i/OWNER\0NET/<ip>     empty              0        0       0
//	@txn                     commit id          32       32      32
//
// five keys, each carrying len(P) + 5 to 9 bytes of etcd key prefix plus
// the ipam key (10 to 300 bytes, mostly the network and owner names):
// about 0.3 KiB for a /24, 4.3 KiB for a /16 and 6.4 KiB for a /8
// (TestFootprint), never a whole /8 bitmap. A /8 is 512 chunks and a
// 2061-byte state record; creating one writes five keys, 10.6 KiB: the
// network, its state, the two chunks holding the network and broadcast
// addresses, and @txn. etcd keeps every revision until it is compacted, so
// each allocation adds its bytes to the history: run etcd with
// --auto-compaction-retention (docs/etcd.md).
//
// # Transactions
//
// View and Update read a snapshot: the first read of a transaction is
// linearizable and fixes its revision R, every later read is served at R.
// Update buffers writes and, when fn returns nil, commits them in one etcd
// Txn guarded by compares that prove nothing it read changed after R:
// the mod revision of every key read (0 for a key read as absent), and
// for every Scan that no key in the scanned range is newer than R and that
// every key it saw still has the revision it had. That makes Update
// serializable. When the compares would exceed etcd's default limit of 128
// per transaction (--max-txn-ops), the reads are covered by at most 126
// key ranges compared as a whole plus /P/@deleted, which every commit that
// deletes a key rewrites: still sound, but the commit then also conflicts
// with unrelated writes inside those ranges and with any deletion.
//
// Pool logic reads a network's reservations, its bitmap chunks and the
// owner index key by key, a round trip each on etcd. A transaction that
// has read 8 keys of one directory one by one (up to the key's second
// '/': "o/NET/") reads the rest of it at its snapshot in one go, and one
// that has read 64 across a top-level directory ("i/") reads all of that;
// only the keys it then Gets count as read. Export and check of a network
// with 5000 reservations thus take tens of milliseconds, not seconds.
//
// A commit whose compares fail is a conflict: Update runs fn again on a
// new snapshot after a jittered exponential backoff (1 ms doubling to
// 100 ms), until the context's deadline (Options.Timeout when it has
// none); then it fails with an error wrapping ipam.ErrBusy. fn may
// therefore run more than once and must not have effects outside the
// transaction beyond setting its results.
//
// Conflicts are expensive: etcd proposes, fsyncs and applies a commit
// whose compares fail like one that succeeds, so many writers retrying
// against each other make the cluster do the work many times over (16
// allocators in one network: 30 to 80 allocations/s instead of 150 to 190
// queued, p99 around a second; docs/BENCHMARKS.md). Writers therefore queue
// where they can: within one process, Update calls on the same Store are
// serialised (as in boltstore); with Options.LockDir, the Updates of all
// processes of a host queue on a lock file of the pool in that directory
// (a blocking flock(2) by pkg/flock, waited for until the deadline, then ErrBusy; the
// store works without it if the directory cannot be written). Ganeti runs
// the hooks that allocate on its master node, so in practice conflicts
// only happen between hosts, around a master failover. Separate hosts
// conflict only when they touch the same keys, which for allocations
// means the same network.
//
// # Uncertain commits
//
// When a commit's answer is lost (the member died, the connection broke,
// the attempt timed out), the commit may or may not have been applied, and
// may still be in flight. Update then fences it: a Txn with the same
// compares that rewrites /P/@fence, which every commit also compares. If
// the fence succeeds, the lost commit can never apply and Update retries;
// if the fence fails, the commit applied or never will, and Update finds
// out by walking the history of /P/@txn (each commit writes its random id
// there) back to the revision current before the commit was sent. A
// commit is thus reported as done exactly when it was applied, and never
// applied twice. When the fence cannot be sent either (no quorum), or that
// history was compacted away, Update fails with ErrUnknownOutcome: the
// commit may have been applied, or may still be when the quorum returns.
//
// # Failures
//
// Every RPC is bounded by Options.AttemptTimeout and asks for a member
// with a leader (a member cut off from the quorum refuses as soon as it
// has noticed, within an election timeout), and is
// retried on another member until the context's deadline, or for at most
// Options.Timeout within a longer one (a migration). When no quorum
// answers in time the error wraps ErrUnavailable and names the endpoints
// and the last error; a TLS failure (wrong CA, missing or refused client
// certificate) wraps ErrTLS at once instead of waiting for the deadline.
// Transactions larger than the server accepts (--max-txn-ops,
// --max-request-bytes) fail with ErrTooLarge.
package etcdstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/diktyo/diktyo/pkg/flock"
	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore/etcdconf"
	"github.com/diktyo/diktyo/pkg/ipam/internal/writer"
)

// Defaults used when the corresponding Options field is zero.
const (
	// DefaultTimeout bounds Open and every View or Update whose context has
	// no deadline.
	DefaultTimeout = 10 * time.Second
	// DefaultAttemptTimeout bounds one RPC: a member that does not answer
	// within it is given up for another.
	DefaultAttemptTimeout = 2 * time.Second
)

// MaxKeySize is the longest ipam key Put accepts, the same limit as
// boltstore's.
const MaxKeySize = 32768

// etcdMaxTxnOps is etcd's default --max-txn-ops: the most compares (and,
// separately, the most writes) one Txn may carry.
const etcdMaxTxnOps = 128

// pageSize is how many keys one Range of a Scan fetches.
const pageSize = 1000

// Errors that callers test with errors.Is.
var (
	// ErrUnavailable means no etcd quorum answered before the deadline.
	ErrUnavailable = errors.New("etcd unavailable")
	// ErrTLS means the TLS handshake with etcd failed: the server's
	// certificate is not signed by the configured CA, or the server
	// refused the client certificate (or its absence).
	ErrTLS = errors.New("etcd TLS handshake failed")
	// ErrTooLarge means etcd refused a transaction for its number of
	// operations or its size.
	ErrTooLarge = errors.New("transaction too large for etcd")
	// ErrUnknownOutcome means a commit's answer was lost and etcd's
	// history no longer tells whether it was applied.
	ErrUnknownOutcome = errors.New("etcd commit outcome unknown")
)

// Keys of a pool, relative to its root "/PREFIX".
const (
	dataDir   = "/@d/"
	keySchema = "/@schema"
	keyTxn    = "/@txn"
	keyDel    = "/@deleted"
	keyFence  = "/@fence"
)

// Options configures Open: the pool and how to reach it (etcdconf.Options:
// Endpoints, Prefix, TLS, ReadOnly, Timeout with DefaultTimeout for zero,
// Logger, LockDir; see "Transactions" for the lock), plus what only this
// package knows of.
type Options struct {
	etcdconf.Options
	// AttemptTimeout bounds one RPC. Zero means DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// Client, when set, is used instead of dialling Endpoints (which then
	// only name the store in messages); Close leaves it open.
	Client *clientv3.Client
}

// Store is a pool kept in etcd. It is safe for concurrent use.
type Store struct {
	name      string // etcd://HOSTS/PREFIX, for messages
	hosts     string // HOST:PORT,..., for messages
	root      string // "/PREFIX"
	cli       *clientv3.Client
	kv        pb.KVClient
	ownClient bool
	readOnly  bool
	timeout   time.Duration
	attempt   time.Duration
	log       *slog.Logger
	writer    writer.Token
	lockPath  string // the host's lock file of this pool, or ""
	// maxCompares is the compare budget of one commit (tests lower it).
	maxCompares int

	fence atomic.Int64 // mod revision of @fence last seen
	seen  atomic.Int64 // highest revision seen in any answer

	mu     sync.Mutex
	closed bool
}

var _ ipam.Store = (*Store)(nil)

// OpenConf opens the pool described by c (see Open); it is what
// pkg/ipam/storeurl calls to open etcd pools in-process.
func OpenConf(ctx context.Context, c etcdconf.Options) (ipam.Store, error) {
	s, err := Open(ctx, Options{Options: c})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Open connects to etcd and opens the pool under opts.Prefix, creating it
// (writing its schema key) unless ReadOnly. ctx bounds the connection and
// the first read, together with Options.Timeout.
func Open(ctx context.Context, opts Options) (*Store, error) {
	s, err := connect(opts)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", etcdconf.Name(opts.Endpoints, opts.Prefix, opts.TLS != nil), err)
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	if err := s.initialise(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", s.name, err)
	}
	return s, nil
}

// connect makes a Store for opts without talking to etcd yet.
func connect(opts Options) (*Store, error) {
	if err := etcdconf.ValidPrefix(opts.Prefix); err != nil {
		return nil, err
	}
	if opts.Client == nil && len(opts.Endpoints) == 0 {
		return nil, errors.New("no etcd endpoints")
	}
	s := &Store{
		name:        etcdconf.Name(opts.Endpoints, opts.Prefix, opts.TLS != nil),
		hosts:       strings.Join(opts.Endpoints, ","),
		root:        "/" + opts.Prefix,
		readOnly:    opts.ReadOnly,
		timeout:     cmp(opts.Timeout, DefaultTimeout),
		attempt:     cmp(opts.AttemptTimeout, DefaultAttemptTimeout),
		log:         opts.Logger,
		writer:      writer.New(),
		maxCompares: etcdMaxTxnOps,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if opts.LockDir != "" {
		sum := sha256.Sum256([]byte(s.root))
		s.lockPath = filepath.Join(opts.LockDir, "etcd-"+hex.EncodeToString(sum[:8])+".lock")
	}
	s.cli = opts.Client
	if s.cli == nil {
		cli, err := NewClient(opts.Endpoints, opts.TLS, s.timeout)
		if err != nil {
			return nil, err
		}
		s.cli, s.ownClient = cli, true
	}
	s.kv = pb.NewKVClient(s.cli.ActiveConnection())
	return s, nil
}

// NewClient returns an etcd client for endpoints (HOST:PORT) as every
// Store makes it: keep-alive probes that notice a dead member within a few
// seconds, no client-side limit on request size (etcd's own limit gives
// the clearer error), no logging. It does not wait for a connection.
func NewClient(endpoints []string, tlsConf *tls.Config, dialTimeout time.Duration) (*clientv3.Client, error) {
	scheme := "http://"
	if tlsConf != nil {
		scheme = "https://"
	}
	urls := make([]string, len(endpoints))
	for i, e := range endpoints {
		urls[i] = scheme + e
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            urls,
		TLS:                  tlsConf,
		DialTimeout:          dialTimeout,
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		PermitWithoutStream:  true,
		MaxCallSendMsgSize:   math.MaxInt32,
		Logger:               zap.NewNop(),
		// Reconnect to a member that restarted (or refused a TLS client
		// after the handshake) within a fraction of a second, not gRPC's
		// 1 s growing to 2 min.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: dialTimeout,
		})},
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", endpoints, err)
	}
	return cli, nil
}

func cmp(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

// initialise checks the schema (and creates the pool when writable), and
// learns the fence revision, in one read.
func (s *Store) initialise(ctx context.Context) error {
	rng := func(key string, limit int64) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{
			Key: []byte(key), Limit: limit, KeysOnly: limit > 0,
			RangeEnd: rangeEnd(key, limit > 0),
		}}}
	}
	req := &pb.TxnRequest{Success: []*pb.RequestOp{
		rng(s.root+keySchema, 0), rng(s.root+keyFence, 0), rng(s.root+"/", 1),
	}}
	for {
		var resp *pb.TxnResponse
		err := s.call(ctx, "open", func(ctx context.Context) (err error) {
			resp, err = s.kv.Txn(ctx, req, grpc.WaitForReady(false))
			return err
		})
		if err != nil {
			return err
		}
		s.observe(resp.Header)
		schema := resp.Responses[0].GetResponseRange().Kvs
		if f := resp.Responses[1].GetResponseRange().Kvs; len(f) == 1 {
			s.fence.Store(f[0].ModRevision)
		}
		if len(schema) == 1 {
			n, err := strconv.Atoi(string(schema[0].Value))
			switch {
			case err != nil || n < 1:
				return fmt.Errorf("%w: schema %q", ipam.ErrCorrupt, schema[0].Value)
			case n > ipam.SchemaVersion:
				return fmt.Errorf("%w: the pool has schema %d, this program knows up to %d", ipam.ErrSchemaTooNew, n, ipam.SchemaVersion)
			}
			return nil
		}
		if len(resp.Responses[2].GetResponseRange().Kvs) > 0 {
			return fmt.Errorf("%w: prefix %s/ %w: not a diktyo pool, or an interrupted migration", ipam.ErrCorrupt, s.root, errNoSchema)
		}
		if s.readOnly {
			return fmt.Errorf("no pool under %s/: %w", s.root, fs.ErrNotExist)
		}
		created, err := s.createSchema(ctx)
		if err != nil || created {
			return err
		}
		// Another process created it meanwhile: check what it wrote.
	}
}

// createSchema writes the schema key if the whole prefix is still empty.
func (s *Store) createSchema(ctx context.Context) (bool, error) {
	req := &pb.TxnRequest{
		Compare: []*pb.Compare{{
			Target: pb.Compare_CREATE, Result: pb.Compare_EQUAL, Key: []byte(s.root + "/"),
			RangeEnd: rangeEnd(s.root+"/", true), TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 0},
		}},
		Success: []*pb.RequestOp{putOp(s.root+keySchema, []byte(strconv.Itoa(ipam.SchemaVersion)))},
	}
	var resp *pb.TxnResponse
	err := s.call(ctx, "create pool", func(ctx context.Context) (err error) {
		resp, err = s.kv.Txn(ctx, req, grpc.WaitForReady(false))
		return err
	})
	if err != nil {
		return false, err
	}
	s.observe(resp.Header)
	if resp.Succeeded {
		s.log.Debug("created pool", "store", s.name, "schema", ipam.SchemaVersion)
	}
	return resp.Succeeded, nil
}

// Name returns the store's location, etcd://HOSTS/PREFIX.
func (s *Store) Name() string { return s.name }

// deadline returns ctx bounded by Options.Timeout if it has no deadline.
func (s *Store) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.timeout)
}

func (s *Store) observe(h *pb.ResponseHeader) {
	if h == nil {
		return
	}
	for {
		cur := s.seen.Load()
		if h.Revision <= cur || s.seen.CompareAndSwap(cur, h.Revision) {
			return
		}
	}
}

// call runs one RPC with the attempt timeout on a context that asks for a
// member with a leader, retrying what failed transiently (with backoff)
// until ctx ends or Options.Timeout has passed. Only use it for RPCs that
// are safe to repeat.
func (s *Store) call(ctx context.Context, what string, rpc func(context.Context) error) error {
	// However long the caller's deadline (a migration), one call gives up
	// after Options.Timeout.
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	var last error
	b := retryWait{}
	for {
		err := s.once(ctx, rpc)
		if err == nil {
			return nil
		}
		if k := classify(err); k == kindPermanent || ctx.Err() != nil {
			if ctx.Err() != nil && last != nil {
				err = last
			}
			return s.failure(ctx, what, err, start)
		}
		last = err
		s.log.Debug("etcd call failed, retrying", "store", s.name, "op", what, "err", err)
		if !b.wait(ctx) {
			return s.failure(ctx, what, last, start)
		}
	}
}

// once runs one RPC with the attempt timeout.
func (s *Store) once(ctx context.Context, rpc func(context.Context) error) error {
	actx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), s.attempt)
	defer cancel()
	return rpctypes.Error(rpc(actx))
}

// failure turns the last error of an operation that started at start into
// the error callers see.
func (s *Store) failure(ctx context.Context, what string, err error, start time.Time) error {
	switch {
	case isTLS(err):
		return fmt.Errorf("%s: %w with %s: %v%s", what, ErrTLS, s.hosts, errText(err), tlsHint(err))
	case isTooLarge(err):
		return fmt.Errorf("%s: %w: %v; raise --max-txn-ops and --max-request-bytes on every etcd member (docs/etcd.md)", what, ErrTooLarge, errText(err))
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("%s: %w", what, ctx.Err())
	case ctx.Err() != nil || classify(err) != kindPermanent:
		return fmt.Errorf("%s: %w", what, &unavailableError{hosts: s.hosts, waited: time.Since(start), last: errText(err)})
	}
	return fmt.Errorf("%s: %w", what, err)
}

// tlsHint explains the usual causes of a TLS failure.
func tlsHint(err error) string {
	m := err.Error()
	switch {
	case strings.Contains(m, "unknown authority"):
		return " (the member's certificate is not signed by the configured CA)"
	case strings.Contains(m, "remote error: tls:"):
		return " (the member refused the client certificate: missing, or not signed by a CA it trusts)"
	}
	return ""
}

// unavailableError reports that no quorum answered before the deadline.
// It matches ErrUnavailable and context.DeadlineExceeded.
type unavailableError struct {
	hosts  string
	waited time.Duration
	last   string
}

func (e *unavailableError) Error() string {
	return fmt.Sprintf("%v: no quorum answered at %s within %v (last error: %s)", ErrUnavailable, e.hosts, e.waited.Round(time.Millisecond), e.last)
}

func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, context.DeadlineExceeded} }

// View runs fn in a read-only transaction on one snapshot of the pool.
func (s *Store) View(ctx context.Context, fn func(ipam.StoreTx) error) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	t := s.newTx(ctx, false)
	err := fn(t)
	t.end()
	if t.err != nil {
		return fmt.Errorf("view store %s: %w", s.name, t.err)
	}
	return err
}

// Update runs fn in a serializable read-write transaction committed
// atomically if fn returns nil; on a conflict fn runs again (see the
// package documentation).
func (s *Store) Update(ctx context.Context, fn func(ipam.StoreTx) error) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if s.readOnly {
		return fmt.Errorf("update store %s: %w", s.name, ipam.ErrReadOnly)
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	if err := s.writer.Acquire(ctx, 0); err != nil { // ctx has the store's deadline
		return fmt.Errorf("update store %s: %w", s.name, err)
	}
	defer s.writer.Release()
	unlock, err := s.lockHost(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	b := retryWait{}
	for attempt := 1; ; attempt++ {
		t := s.newTx(ctx, true)
		err := fn(t)
		t.end()
		switch {
		case errors.Is(t.err, errRestart):
			s.log.Debug("snapshot compacted, restarting", "store", s.name, "attempt", attempt)
		case t.err != nil:
			return fmt.Errorf("update store %s: %w", s.name, t.err)
		case err != nil:
			return err
		default:
			done, err := s.commit(ctx, t)
			if err != nil {
				return fmt.Errorf("commit to store %s: %w", s.name, err)
			}
			if done {
				return nil
			}
			s.log.Debug("commit conflicted, retrying", "store", s.name, "attempt", attempt)
		}
		if !b.wait(ctx) {
			return fmt.Errorf("commit to store %s: %w: %d attempts conflicted with other writers until the deadline: %w",
				s.name, ipam.ErrBusy, attempt, ctx.Err())
		}
	}
}

func (s *Store) checkOpen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("store %s: %w", s.name, errClosed)
	}
	return nil
}

// lockHost takes the host's lock of the pool, waiting until ctx ends; the
// pool works without it (a directory that cannot be written is skipped).
func (s *Store) lockHost(ctx context.Context) (func(), error) {
	if s.lockPath == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(filepath.Dir(s.lockPath), 0o755); err != nil {
		s.log.Debug("no host lock", "store", s.name, "err", err)
		return func() {}, nil
	}
	f, err := os.OpenFile(s.lockPath, os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		s.log.Debug("no host lock", "store", s.name, "err", err)
		return func() {}, nil
	}
	start := time.Now()
	if err := flock.Lock(ctx, f, true); err != nil {
		return nil, fmt.Errorf("update store %s: %w: other processes of this host kept %s for %v: %w",
			s.name, ipam.ErrBusy, s.lockPath, time.Since(start).Round(time.Millisecond), err)
	}
	if waited := time.Since(start); waited > time.Millisecond {
		s.log.Debug("host lock contended", "store", s.name, "waited", waited)
	}
	return func() { f.Close() }, nil
}

// Close closes the etcd client unless it was passed in Options.Client.
// Closing twice is not an error.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if !s.ownClient {
		return nil
	}
	if err := s.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("close store %s: %w", s.name, err)
	}
	return nil
}

var (
	errClosed   = errors.New("store is closed")
	errNoSchema = errors.New("holds keys but no schema")
)

// retryWait is a jittered exponential backoff from 1 ms to 100 ms.
type retryWait struct{ n int }

// wait sleeps for the next backoff step; false if ctx ended first.
func (b *retryWait) wait(ctx context.Context) bool {
	ceil := time.Millisecond << min(b.n, 7)
	ceil = min(ceil, 100*time.Millisecond)
	b.n++
	d := ceil/2 + mrand.N(ceil/2+1)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// newID returns a random commit id.
func newID() []byte {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return []byte(hex.EncodeToString(b[:]))
}

func putOp(key string, value []byte) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(key), Value: value}}}
}

// rangeEnd is the end of the range of keys starting with key (prefix) or
// of key alone.
func rangeEnd(key string, prefix bool) []byte {
	if !prefix {
		return nil
	}
	return []byte(clientv3.GetPrefixRangeEnd(key))
}
