package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore/etcdtest"
)

// modes runs a test with exact compares and with the coarse form that
// larger transactions use.
var modes = []struct {
	name        string
	maxCompares int
}{{"exact", etcdMaxTxnOps}, {"coarse", 3}}

func getInt(t *testing.T, tx ipam.StoreTx, key string) int {
	t.Helper()
	v, err := tx.Get([]byte(key))
	if err != nil {
		t.Error(err)
	}
	n, _ := strconv.Atoi(string(v))
	return n
}

// interleave runs a's fn so that b runs, to completion, between a's reads
// and a's commit, once. It returns how many times a's fn ran.
func interleave(t *testing.T, a, b *Store, readA func(ipam.StoreTx) error, writeA func(ipam.StoreTx) error, fnB func(ipam.StoreTx) error) int {
	t.Helper()
	ctx := context.Background()
	runs := 0
	err := a.Update(ctx, func(tx ipam.StoreTx) error {
		runs++
		if err := readA(tx); err != nil {
			return err
		}
		if runs == 1 {
			if err := b.Update(ctx, fnB); err != nil {
				t.Fatalf("interleaved update: %v", err)
			}
		}
		return writeA(tx)
	})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	return runs
}

// TestSerializable checks that what one transaction read and another
// changed before the first committed makes the first run again: a key
// changed, created or deleted, a key created or deleted inside a scanned
// range; and that concurrent read-modify-writes from separate Stores lose
// nothing and keep a scan-based invariant (no write skew).
func TestSerializable(t *testing.T) {
	m := etcdtest.Start(t, etcdtest.Config{})
	p := &prefixes{base: "serial"}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			pair := func() (*Store, *Store) {
				prefix := p.next()
				a, b := open(t, m.Endpoint, prefix), open(t, m.Endpoint, prefix)
				a.maxCompares, b.maxCompares = mode.maxCompares, mode.maxCompares
				t.Cleanup(func() { a.Close(); b.Close() })
				return a, b
			}
			put := func(k, v string) func(ipam.StoreTx) error {
				return func(tx ipam.StoreTx) error { return tx.Put([]byte(k), []byte(v)) }
			}
			del := func(k string) func(ipam.StoreTx) error {
				return func(tx ipam.StoreTx) error { return tx.Delete([]byte(k)) }
			}
			ctx := context.Background()
			for _, tc := range []struct {
				name  string
				setup []func(ipam.StoreTx) error
				other func(ipam.StoreTx) error
			}{
				{"read key changed", []func(ipam.StoreTx) error{put("x/1", "1"), put("x/2", "1")}, put("x/1", "5")},
				{"read key deleted", []func(ipam.StoreTx) error{put("x/1", "1"), put("x/2", "1")}, del("x/2")},
				{"absent key created", []func(ipam.StoreTx) error{put("x/1", "1")}, put("x/3", "7")},
				{"scanned range gains a key", []func(ipam.StoreTx) error{put("y/1", "1")}, put("y/0", "3")},
				{"scanned key deleted", []func(ipam.StoreTx) error{put("y/1", "1"), put("y/2", "2")}, del("y/1")},
			} {
				t.Run(tc.name, func(t *testing.T) {
					a, b := pair()
					for _, f := range tc.setup {
						if err := a.Update(ctx, f); err != nil {
							t.Fatal(err)
						}
					}
					// a sums x/1, x/2, x/3 and everything under y/, and
					// stores the sum: it must always match the data.
					var sum int
					read := func(tx ipam.StoreTx) error {
						sum = getInt(t, tx, "x/1") + getInt(t, tx, "x/2") + getInt(t, tx, "x/3")
						return tx.Scan([]byte("y/"), func(_, v []byte) error {
							n, _ := strconv.Atoi(string(v))
							sum += n
							return nil
						})
					}
					write := func(tx ipam.StoreTx) error { return tx.Put([]byte("sum"), []byte(strconv.Itoa(sum))) }
					if runs := interleave(t, a, b, read, write, tc.other); runs != 2 {
						t.Errorf("a ran %d times, want 2 (a conflict, then a clean run)", runs)
					}
					err := a.View(ctx, func(tx ipam.StoreTx) error {
						var want int
						if err := read(tx); err != nil {
							return err
						}
						want = sum
						if got := getInt(t, tx, "sum"); got != want {
							t.Errorf("sum = %d, data adds up to %d", got, want)
						}
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
				})
			}
			t.Run("unrelated write does not conflict", func(t *testing.T) {
				a, b := pair()
				runs := interleave(t, a, b, func(tx ipam.StoreTx) error { getInt(t, tx, "x/1"); return nil },
					put("sum", "0"), put("z", "1"))
				if runs != 1 {
					t.Errorf("a ran %d times, want 1", runs)
				}
			})
			t.Run("concurrent increments and write skew", func(t *testing.T) {
				prefix := p.next()
				const stores, each = 6, 10
				var wg sync.WaitGroup
				for i := range stores {
					s := open(t, m.Endpoint, prefix)
					s.maxCompares = mode.maxCompares
					t.Cleanup(func() { s.Close() })
					wg.Go(func() {
						for range each {
							err := s.Update(ctx, func(tx ipam.StoreTx) error {
								return tx.Put([]byte("counter"), []byte(strconv.Itoa(getInt(t, tx, "counter")+1)))
							})
							if err != nil {
								t.Error(err)
							}
						}
						// Only the first to see no "on/" key may add one.
						err := s.Update(ctx, func(tx ipam.StoreTx) error {
							n := 0
							if err := tx.Scan([]byte("on/"), func(_, _ []byte) error { n++; return nil }); err != nil {
								return err
							}
							if n == 0 {
								return tx.Put([]byte("on/"+strconv.Itoa(i)), nil)
							}
							return nil
						})
						if err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
				s := open(t, m.Endpoint, prefix)
				defer s.Close()
				_ = s.View(ctx, func(tx ipam.StoreTx) error {
					if got := getInt(t, tx, "counter"); got != stores*each {
						t.Errorf("counter = %d, want %d", got, stores*each)
					}
					n := 0
					_ = tx.Scan([]byte("on/"), func(_, _ []byte) error { n++; return nil })
					if n != 1 {
						t.Errorf("%d keys under on/, want exactly 1", n)
					}
					return nil
				})
			})
		})
	}
}

func TestCover(t *testing.T) {
	spans := [][2]string{{"d", "e"}, {"a", "b"}, {"a", "c"}, {"x", "y"}, {"m", "n"}, {"f", "g"}}
	got := cover(spans, 10)
	want := [][2]string{{"a", "c"}, {"d", "e"}, {"f", "g"}, {"m", "n"}, {"x", "y"}}
	if len(got) != len(want) {
		t.Fatalf("cover = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("cover = %q, want %q", got, want)
		}
	}
	for max := 1; max <= 5; max++ {
		got := cover(append([][2]string{}, want...), max)
		if len(got) > max || got[0][0] != "a" || got[len(got)-1][1] != "y" {
			t.Errorf("cover(max %d) = %q", max, got)
		}
	}
}

// lossyKV passes every RPC to etcd except the Txn calls it is told to
// intercept.
type lossyKV struct {
	pb.KVClient
	mu  sync.Mutex
	txn func(ctx context.Context, req *pb.TxnRequest, next func(*pb.TxnRequest) (*pb.TxnResponse, error)) (*pb.TxnResponse, error)
}

func (l *lossyKV) Txn(ctx context.Context, req *pb.TxnRequest, opts ...grpc.CallOption) (*pb.TxnResponse, error) {
	l.mu.Lock()
	f := l.txn
	l.mu.Unlock()
	next := func(r *pb.TxnRequest) (*pb.TxnResponse, error) { return l.KVClient.Txn(ctx, r, opts...) }
	if f == nil {
		return next(req)
	}
	return f(ctx, req, next)
}

var errLost = status.Error(codes.Unavailable, "test: connection lost")

// isCommit tells a commit (it writes @txn) from a fence.
func isCommit(req *pb.TxnRequest) bool {
	for _, op := range req.Success {
		if p := op.GetRequestPut(); p != nil && string(p.Key) == "/lost"+keyTxn {
			return true
		}
	}
	return false
}

// TestLostCommit loses the answer of a commit in every way that matters
// and checks that Update reports success exactly when the commit applied,
// and that it never applies twice.
func TestLostCommit(t *testing.T) {
	m := etcdtest.Start(t, etcdtest.Config{})
	cli := rawClient(t, m.Endpoint)
	ctx := context.Background()
	increment := func(runs *int) func(ipam.StoreTx) error {
		return func(tx ipam.StoreTx) error {
			*runs++
			return tx.Put([]byte("n"), []byte(strconv.Itoa(getInt(t, tx, "n")+1)))
		}
	}
	tests := []struct {
		name     string
		lose     func(t *testing.T, l *lossyKV, other *Store) func(context.Context, *pb.TxnRequest, func(*pb.TxnRequest) (*pb.TxnResponse, error)) (*pb.TxnResponse, error)
		wantRuns int
		wantErr  error
		wantN    int
	}{
		{"applied, answer lost", func(t *testing.T, l *lossyKV, _ *Store) func(context.Context, *pb.TxnRequest, func(*pb.TxnRequest) (*pb.TxnResponse, error)) (*pb.TxnResponse, error) {
			once := true
			return func(_ context.Context, req *pb.TxnRequest, next func(*pb.TxnRequest) (*pb.TxnResponse, error)) (*pb.TxnResponse, error) {
				resp, err := next(req)
				if isCommit(req) && once {
					once = false
					if err != nil || !resp.Succeeded {
						t.Errorf("commit failed: %v", err)
					}
					return nil, errLost
				}
				return resp, err
			}
		}, 1, nil, 1},
		{"lost before it was sent", func(t *testing.T, l *lossyKV, _ *Store) func(context.Context, *pb.TxnRequest, func(*pb.TxnRequest) (*pb.TxnResponse, error)) (*pb.TxnResponse, error) {
			once := true
			return func(_ context.Context, req *pb.TxnRequest, next func(*pb.TxnRequest) (*pb.TxnResponse, error)) (*pb.TxnResponse, error) {
				if isCommit(req) && once {
					once = false
					return nil, errLost
				}
				return next(req)
			}
		}, 2, nil, 1},
		{"delivered after the fence", func(t *testing.T, l *lossyKV, _ *Store) func(context.Context, *pb.TxnRequest, func(*pb.TxnRequest) (*pb.TxnResponse, error)) (*pb.TxnResponse, error) {
			var held *pb.TxnRequest
			return func(_ context.Context, req *pb.TxnRequest, next func(*pb.TxnRequest) (*pb.TxnResponse, error)) (*pb.TxnResponse, error) {
				switch {
				case isCommit(req) && held == nil:
					held = req
					return nil, errLost
				case !isCommit(req) && held != nil: // the fence
					resp, err := next(req)
					late, lerr := next(held)
					if lerr != nil || late.Succeeded {
						t.Errorf("late commit after the fence: succeeded %v, %v; want refused", late.GetSucceeded(), lerr)
					}
					held = &pb.TxnRequest{}
					return resp, err
				}
				return next(req)
			}
		}, 2, nil, 1},
		{"applied, history compacted", func(t *testing.T, l *lossyKV, other *Store) func(context.Context, *pb.TxnRequest, func(*pb.TxnRequest) (*pb.TxnResponse, error)) (*pb.TxnResponse, error) {
			once := true
			return func(ctx context.Context, req *pb.TxnRequest, next func(*pb.TxnRequest) (*pb.TxnResponse, error)) (*pb.TxnResponse, error) {
				resp, err := next(req)
				if isCommit(req) && once {
					once = false
					if err := other.Update(ctx, func(tx ipam.StoreTx) error { return tx.Put([]byte("other"), nil) }); err != nil {
						t.Fatal(err)
					}
					r, err := cli.Get(ctx, "/lost/other")
					if err != nil {
						t.Fatal(err)
					}
					if _, err := cli.Compact(ctx, r.Header.Revision); err != nil {
						t.Fatal(err)
					}
					return nil, errLost
				}
				return resp, err
			}
		}, 1, ErrUnknownOutcome, 1},
		{"no answer at all", func(t *testing.T, l *lossyKV, _ *Store) func(context.Context, *pb.TxnRequest, func(*pb.TxnRequest) (*pb.TxnResponse, error)) (*pb.TxnResponse, error) {
			return func(context.Context, *pb.TxnRequest, func(*pb.TxnRequest) (*pb.TxnResponse, error)) (*pb.TxnResponse, error) {
				return nil, errLost
			}
		}, 1, ErrUnknownOutcome, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := cli.Delete(ctx, "/lost/", clientv3WithPrefix()...); err != nil {
				t.Fatal(err)
			}
			s := open(t, m.Endpoint, "lost", func(o *Options) { o.Timeout = 2 * time.Second; o.AttemptTimeout = 500 * time.Millisecond })
			defer s.Close()
			other := open(t, m.Endpoint, "lost")
			defer other.Close()
			l := &lossyKV{KVClient: s.kv}
			l.txn = tc.lose(t, l, other)
			s.kv = l
			runs := 0
			err := s.Update(ctx, increment(&runs))
			t.Logf("Update = %v after %d runs", err, runs)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("Update = %v, want %v", err, tc.wantErr)
			}
			if runs != tc.wantRuns {
				t.Errorf("fn ran %d times, want %d", runs, tc.wantRuns)
			}
			l.mu.Lock()
			l.txn = nil
			l.mu.Unlock()
			_ = other.View(ctx, func(tx ipam.StoreTx) error {
				if n := getInt(t, tx, "n"); n != tc.wantN {
					t.Errorf("n = %d, want %d", n, tc.wantN)
				}
				return nil
			})
		})
	}
}

// countingKV counts the Range RPCs a store sends.
type countingKV struct {
	pb.KVClient
	ranges atomic.Int64
}

func (c *countingKV) Range(ctx context.Context, req *pb.RangeRequest, opts ...grpc.CallOption) (*pb.RangeResponse, error) {
	c.ranges.Add(1)
	return c.KVClient.Range(ctx, req, opts...)
}

// TestPrefetch: reading a directory key by key turns into reading it whole
// after a few keys, with the same results, and the keys read that way are
// still validated at commit (and only they).
func TestPrefetch(t *testing.T) {
	m := etcdtest.Start(t, etcdtest.Config{MaxTxnOps: 1000})
	p := &prefixes{base: "prefetch"}
	ctx := context.Background()
	fill := func(s *Store) {
		t.Helper()
		err := s.Update(ctx, func(tx ipam.StoreTx) error {
			for i := range 100 {
				if err := tx.Put([]byte(fmt.Sprintf("o/net/%03d", i)), []byte(strconv.Itoa(i))); err != nil {
					return err
				}
				if err := tx.Put([]byte(fmt.Sprintf("i/vm%03d\x00net/x", i)), nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Run("reads", func(t *testing.T) {
		s := open(t, m.Endpoint, p.next(), func(o *Options) { o.Timeout = 10 * time.Second })
		defer s.Close()
		fill(s)
		kv := &countingKV{KVClient: s.kv}
		s.kv = kv
		err := s.View(ctx, func(tx ipam.StoreTx) error {
			for i := range 120 { // 20 of them absent
				v, err := tx.Get([]byte(fmt.Sprintf("o/net/%03d", i)))
				if err != nil {
					return err
				}
				if want := strconv.Itoa(i); (i < 100) != (v != nil) || (v != nil && string(v) != want) {
					t.Errorf("o/net/%03d = %q, want %q (present %v)", i, v, want, i < 100)
				}
			}
			for i := range 100 { // one key per owner directory
				if v, err := tx.Get([]byte(fmt.Sprintf("i/vm%03d\x00net/x", i))); err != nil || v == nil {
					t.Errorf("i/vm%03d: %q, %v", i, v, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// 8 + 1 for o/net/, 64 + 1 for i/ (first one by one, then whole).
		if n := kv.ranges.Load(); n > prefetchAfter+prefetchWideAfter+4 {
			t.Errorf("%d Range RPCs for 220 Gets", n)
		}
		t.Logf("%d Range RPCs for 220 Gets", kv.ranges.Load())
	})
	t.Run("validated", func(t *testing.T) {
		prefix := p.next()
		a, b := open(t, m.Endpoint, prefix), open(t, m.Endpoint, prefix)
		defer a.Close()
		defer b.Close()
		fill(a)
		sum := 0
		read := func(tx ipam.StoreTx) error {
			sum = 0
			for i := range 20 {
				sum += getInt(t, tx, fmt.Sprintf("o/net/%03d", i))
			}
			return nil
		}
		write := func(tx ipam.StoreTx) error { return tx.Put([]byte("sum"), []byte(strconv.Itoa(sum))) }
		for _, tc := range []struct {
			name  string
			other func(ipam.StoreTx) error
			runs  int
		}{
			{"read key changed", func(tx ipam.StoreTx) error { return tx.Put([]byte("o/net/015"), []byte("1000")) }, 2},
			{"read key deleted", func(tx ipam.StoreTx) error { return tx.Delete([]byte("o/net/016")) }, 2},
			{"key of the directory not read", func(tx ipam.StoreTx) error { return tx.Put([]byte("o/net/050"), []byte("7")) }, 1},
		} {
			if runs := interleave(t, a, b, read, write, tc.other); runs != tc.runs {
				t.Errorf("%s: ran %d times, want %d", tc.name, runs, tc.runs)
			}
		}
		_ = a.View(ctx, func(tx ipam.StoreTx) error {
			if err := read(tx); err != nil {
				return err
			}
			if got := getInt(t, tx, "sum"); got != sum {
				t.Errorf("sum = %d, data adds up to %d", got, sum)
			}
			return nil
		})
	})
}
