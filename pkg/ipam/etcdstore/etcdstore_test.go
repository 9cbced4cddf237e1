package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore/etcdconf"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore/etcdtest"
	"github.com/diktyo/diktyo/pkg/ipam/storetest"
)

func TestMain(m *testing.M) { etcdtest.Main(m) }

// prefixes hands out a fresh prefix per store, so tests share one member.
type prefixes struct {
	base string
	n    atomic.Int64
}

func (p *prefixes) next() string { return fmt.Sprintf("%s/%d", p.base, p.n.Add(1)) }

func open(t testing.TB, endpoint, prefix string, mod ...func(*Options)) *Store {
	t.Helper()
	o := Options{Options: etcdconf.Options{Endpoints: []string{endpoint}, Prefix: prefix, Timeout: 10 * time.Second}}
	for _, f := range mod {
		f(&o)
	}
	s, err := Open(context.Background(), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	m := etcdtest.Start(t, etcdtest.Config{})
	p := &prefixes{base: "conformance"}
	storetest.Run(t, func(t *testing.T) ipam.Store { return open(t, m.Endpoint, p.next()) })
}

func contains(err error, s string) bool { return err != nil && strings.Contains(err.Error(), s) }

// rawClient returns a plain etcd client for looking behind the store.
func rawClient(t testing.TB, endpoint string) *clientv3.Client {
	t.Helper()
	cli, err := NewClient([]string{endpoint}, nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// TestOpen covers what Open accepts and refuses, and that pools under
// different (even nested) prefixes are independent and leave other keys
// alone.
func TestOpen(t *testing.T) {
	m := etcdtest.Start(t, etcdtest.Config{})
	cli := rawClient(t, m.Endpoint)
	ctx := context.Background()
	put := func(k, v string) {
		if _, err := cli.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	put("/foreign/data", "x")
	put("/newer/@schema", strconv.Itoa(ipam.SchemaVersion+1))
	put("/garbage/@schema", "one")
	put("/other-app", "y")

	openErr := func(prefix string, ro bool) error {
		s, err := Open(ctx, Options{Options: etcdconf.Options{Endpoints: []string{m.Endpoint}, Prefix: prefix, ReadOnly: ro, Timeout: 5 * time.Second}})
		if err == nil {
			s.Close()
		}
		return err
	}
	for _, tc := range []struct {
		prefix string
		ro     bool
		want   error
	}{
		{"foreign", false, ipam.ErrCorrupt},
		{"foreign", true, ipam.ErrCorrupt},
		{"newer", false, ipam.ErrSchemaTooNew},
		{"garbage", true, ipam.ErrCorrupt},
		{"missing", true, fs.ErrNotExist},
		{"bad prefix/", false, etcdconf.ErrPrefix},
	} {
		if err := openErr(tc.prefix, tc.ro); !errors.Is(err, tc.want) {
			t.Errorf("Open(%q, read-only %v) = %v, want %v", tc.prefix, tc.ro, err, tc.want)
		}
	}
	if v, _ := cli.Get(ctx, "/foreign/data"); len(v.Kvs) != 1 || len(mustGet(t, cli, "/missing/@schema")) != 0 {
		t.Error("a refused Open wrote to etcd")
	}

	// Nested prefixes: a and a/b are two pools.
	a, ab := open(t, m.Endpoint, "a"), open(t, m.Endpoint, "a/b")
	defer a.Close()
	defer ab.Close()
	for s, v := range map[*Store]string{a: "in a", ab: "in a/b"} {
		if err := s.Update(ctx, func(tx ipam.StoreTx) error { return tx.Put([]byte("k"), []byte(v)) }); err != nil {
			t.Fatal(err)
		}
	}
	for s, want := range map[*Store][]string{a: {"k=in a"}, ab: {"k=in a/b"}} {
		var got []string
		err := s.View(ctx, func(tx ipam.StoreTx) error {
			return tx.Scan(nil, func(k, v []byte) error { got = append(got, string(k)+"="+string(v)); return nil })
		})
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s holds %q (%v), want %q", s.Name(), got, err, want)
		}
	}
	if string(mustGet(t, cli, "/other-app")) != "y" {
		t.Error("key outside the prefixes changed")
	}
	// A second Open of an existing pool keeps it.
	if err := openErr("a", false); err != nil {
		t.Errorf("reopen: %v", err)
	}
	if err := a.Close(); err != nil || a.Close() != nil {
		t.Errorf("Close twice: %v", err)
	}
	if err := a.View(ctx, func(ipam.StoreTx) error { return nil }); err == nil {
		t.Error("View after Close succeeded")
	}
}

func mustGet(t testing.TB, cli *clientv3.Client, key string) []byte {
	t.Helper()
	r, err := cli.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Kvs) == 0 {
		return nil
	}
	return r.Kvs[0].Value
}

// TestUnreachable: with nothing listening, Open fails at its deadline
// with ErrUnavailable, naming the endpoint.
func TestUnreachable(t *testing.T) {
	ep := "127.0.0.1:" + strconv.Itoa(etcdtest.FreePorts(t, 1)[0])
	start := time.Now()
	_, err := Open(context.Background(), Options{Options: etcdconf.Options{Endpoints: []string{ep}, Prefix: "p", Timeout: time.Second}})
	took := time.Since(start)
	t.Logf("after %v: %v", took.Round(time.Millisecond), err)
	if !errors.Is(err, ErrUnavailable) || !contains(err, ep) {
		t.Errorf("Open = %v, want ErrUnavailable naming %s", err, ep)
	}
	if took < time.Second/2 || took > 2*time.Second {
		t.Errorf("Open gave up after %v, deadline 1s", took)
	}
}

// TestTooLarge: a transaction over etcd's limits fails with ErrTooLarge
// and writes nothing.
func TestTooLarge(t *testing.T) {
	m := etcdtest.Start(t, etcdtest.Config{MaxRequestBytes: 64 << 10})
	s := open(t, m.Endpoint, "large")
	defer s.Close()
	ctx := context.Background()
	for name, fn := range map[string]func(ipam.StoreTx) error{
		"200 writes": func(tx ipam.StoreTx) error {
			for i := range 200 {
				if err := tx.Put([]byte("k"+strconv.Itoa(i)), nil); err != nil {
					return err
				}
			}
			return nil
		},
		"128 KiB value": func(tx ipam.StoreTx) error { return tx.Put([]byte("big"), make([]byte, 128<<10)) },
	} {
		err := s.Update(ctx, fn)
		t.Logf("%s: %v", name, err)
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: Update = %v, want ErrTooLarge", name, err)
		}
	}
	n := 0
	_ = s.View(ctx, func(tx ipam.StoreTx) error { return tx.Scan(nil, func(_, _ []byte) error { n++; return nil }) })
	if n != 0 {
		t.Errorf("%d keys written", n)
	}
}

func clientv3WithPrefix() []clientv3.OpOption { return []clientv3.OpOption{clientv3.WithPrefix()} }

// TestRestore loads a pool in batches into an empty prefix, refuses one
// that holds a pool or foreign keys, completes an interrupted load, and
// discards a pool.
func TestRestore(t *testing.T) {
	m := etcdtest.Start(t, etcdtest.Config{})
	cli := rawClient(t, m.Endpoint)
	ctx := context.Background()
	opts := func(prefix string) Options {
		return Options{Options: etcdconf.Options{Endpoints: []string{m.Endpoint}, Prefix: prefix, Timeout: 10 * time.Second}}
	}
	const n = 250 // three batches
	fill := func(put func(k, v []byte) error) error {
		for i := range n {
			if err := put(fmt.Appendf(nil, "k%03d", i), []byte(strconv.Itoa(i))); err != nil {
				return err
			}
		}
		return nil
	}
	dump := func(s *Store) []string {
		var out []string
		err := s.View(ctx, func(tx ipam.StoreTx) error {
			return tx.Scan(nil, func(k, v []byte) error { out = append(out, string(k)+"="+string(v)); return nil })
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// An interrupted restore left data without a schema.
	if _, err := cli.Put(ctx, "/restore"+dataDir+"stale", "x"); err != nil {
		t.Fatal(err)
	}
	s, got, err := Restore(ctx, opts("restore"), fill)
	if err != nil || got != n {
		t.Fatalf("Restore = %d keys, %v", got, err)
	}
	if d := dump(s); len(d) != n || d[0] != "k000=0" || d[n-1] != "k249=249" {
		t.Errorf("restored pool holds %d keys (%q...)", len(d), d[:min(3, len(d))])
	}
	if err := s.Update(ctx, func(tx ipam.StoreTx) error { return tx.Put([]byte("k000"), []byte("changed")) }); err != nil {
		t.Errorf("Update of the restored pool: %v", err)
	}
	if _, _, err := Restore(ctx, opts("restore"), fill); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("Restore over a pool = %v, want ErrNotEmpty", err)
	}
	if _, err := cli.Put(ctx, "/foreign2/other", "x"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Restore(ctx, opts("foreign2"), fill); !errors.Is(err, ipam.ErrCorrupt) {
		t.Errorf("Restore over foreign keys = %v, want ErrCorrupt", err)
	}
	if string(mustGet(t, cli, "/foreign2/other")) != "x" {
		t.Error("Restore touched a foreign key")
	}
	if err := s.Discard(ctx); err != nil {
		t.Fatal(err)
	}
	if r, err := cli.Get(ctx, "/restore/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || r.Count != 0 {
		t.Errorf("after Discard: %d keys left (%v)", r.Count, err)
	}
}

// TestHostLock: Stores sharing a lock directory (processes of one host)
// queue for Update; a writer that waits past its deadline gets ErrBusy
// naming the lock, while View never waits; an unusable directory only
// costs the queueing.
func TestHostLock(t *testing.T) {
	m := etcdtest.Start(t, etcdtest.Config{})
	dir := t.TempDir()
	withLock := func(o *Options) { o.LockDir = dir }
	a, b := open(t, m.Endpoint, "hostlock", withLock), open(t, m.Endpoint, "hostlock", withLock)
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	holding, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- a.Update(ctx, func(tx ipam.StoreTx) error {
			close(holding)
			<-release
			return tx.Put([]byte("a"), nil)
		})
	}()
	<-holding
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	err := b.Update(short, func(tx ipam.StoreTx) error { return tx.Put([]byte("b"), nil) })
	if !errors.Is(err, ipam.ErrBusy) || !contains(err, dir) {
		t.Errorf("Update while another process of the host writes = %v, want ErrBusy naming the lock", err)
	}
	if err := b.View(ctx, func(tx ipam.StoreTx) error { _, err := tx.Get([]byte("a")); return err }); err != nil {
		t.Errorf("View while another process writes: %v", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- b.Update(ctx, func(tx ipam.StoreTx) error { return tx.Put([]byte("b"), nil) }) }()
	time.Sleep(50 * time.Millisecond)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Errorf("queued Update: %v", err)
	}
	// A lock directory that cannot be made: no queueing, no failure.
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c := open(t, m.Endpoint, "hostlock", func(o *Options) { o.LockDir = filepath.Join(file, "sub") })
	defer c.Close()
	if err := c.Update(ctx, func(tx ipam.StoreTx) error { return tx.Put([]byte("c"), nil) }); err != nil {
		t.Errorf("Update without a usable lock directory: %v", err)
	}
}
