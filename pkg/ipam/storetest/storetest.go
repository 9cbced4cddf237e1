// Package storetest is the conformance suite every ipam.Store passes: the
// in-memory fake, the bbolt file and the etcd store run the same tests, so
// pure tests on the fake say something about production.
//
// It owns only test code; it must never import a concrete store (each
// store's own tests call Run with a constructor).
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/ipam"
)

// Open returns a new, empty store for one test; Run closes it.
type Open func(t *testing.T) ipam.Store

// Run runs the whole suite against stores made by open.
func Run(t *testing.T, open Open) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, ipam.Store)
	}{
		{"GetPutDelete", testGetPutDelete},
		{"ScanOrderAndPrefix", testScan},
		{"ReadYourWrites", testReadYourWrites},
		{"Atomicity", testAtomicity},
		{"PanicRollsBack", testPanic},
		{"PutCopies", testPutCopies},
		{"WriteInView", testWriteInView},
		{"WriteInScan", testWriteInScan},
		{"ScanStops", testScanStops},
		{"BadKeys", testBadKeys},
		{"RandomAgainstModel", testRandom},
		{"ConcurrentIncrements", testConcurrent},
		{"WriterBusy", testWriterBusy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			defer func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			tc.fn(t, s)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func put(t *testing.T, s ipam.Store, kv ...string) {
	t.Helper()
	err := s.Update(ctx(t), func(tx ipam.StoreTx) error {
		for i := 0; i+1 < len(kv); i += 2 {
			if err := tx.Put([]byte(kv[i]), []byte(kv[i+1])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// dump returns every key=value of the store in Scan order.
func dump(t *testing.T, s ipam.Store, prefix string) []string {
	t.Helper()
	var out []string
	err := s.View(ctx(t), func(tx ipam.StoreTx) error {
		return tx.Scan([]byte(prefix), func(k, v []byte) error {
			out = append(out, string(k)+"="+string(v))
			return nil
		})
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	return out
}

func get(t *testing.T, s ipam.Store, key string) []byte {
	t.Helper()
	var out []byte
	err := s.View(ctx(t), func(tx ipam.StoreTx) error {
		v, err := tx.Get([]byte(key))
		if v != nil {
			out = append([]byte{}, v...)
		}
		return err
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	return out
}

func testGetPutDelete(t *testing.T, s ipam.Store) {
	put(t, s, "a", "1", "b", "2", "empty", "")
	steps := []struct {
		name string
		op   func(ipam.StoreTx) error
		key  string
		want []byte // nil: absent
	}{
		{"absent", nil, "zz", nil},
		{"present", nil, "a", []byte("1")},
		{"empty value is present", nil, "empty", []byte{}},
		{"overwrite", func(tx ipam.StoreTx) error { return tx.Put([]byte("a"), []byte("one")) }, "a", []byte("one")},
		{"delete", func(tx ipam.StoreTx) error { return tx.Delete([]byte("b")) }, "b", nil},
		{"delete missing", func(tx ipam.StoreTx) error { return tx.Delete([]byte("nope")) }, "nope", nil},
		{"delete twice", func(tx ipam.StoreTx) error { return tx.Delete([]byte("b")) }, "b", nil},
		{"nil value", func(tx ipam.StoreTx) error { return tx.Put([]byte("n"), nil) }, "n", []byte{}},
	}
	for _, st := range steps {
		if st.op != nil {
			if err := s.Update(ctx(t), st.op); err != nil {
				t.Fatalf("%s: Update: %v", st.name, err)
			}
		}
		got := get(t, s, st.key)
		if (got == nil) != (st.want == nil) || !bytes.Equal(got, st.want) {
			t.Errorf("%s: Get(%q) = %q (nil %v), want %q (nil %v)", st.name, st.key, got, got == nil, st.want, st.want == nil)
		}
	}
}

func testScan(t *testing.T, s ipam.Store) {
	put(t, s,
		"b", "1", "a\xff", "2", "a", "3", "a\x00", "4", "ab", "5",
		"net/x/1", "6", "net/x/10", "7", "net/x/2", "8", "net/y/1", "9", "net0", "10")
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a=3", "a\x00=4", "ab=5", "a\xff=2", "b=1", "net/x/1=6", "net/x/10=7", "net/x/2=8", "net/y/1=9", "net0=10"}},
		{"a", []string{"a=3", "a\x00=4", "ab=5", "a\xff=2"}},
		{"a\x00", []string{"a\x00=4"}},
		{"net/", []string{"net/x/1=6", "net/x/10=7", "net/x/2=8", "net/y/1=9"}},
		{"net/x/1", []string{"net/x/1=6", "net/x/10=7"}},
		{"net/z", nil},
		{"c", nil},
		{"\xff", nil},
	}
	for _, tc := range tests {
		if got := dump(t, s, tc.prefix); !slices.Equal(got, tc.want) {
			t.Errorf("Scan(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
}

func testReadYourWrites(t *testing.T, s ipam.Store) {
	put(t, s, "k1", "old", "k2", "old", "k4", "old")
	err := s.Update(ctx(t), func(tx ipam.StoreTx) error {
		steps := []struct {
			name string
			op   func() error
		}{
			{"put new", func() error { return tx.Put([]byte("k3"), []byte("new")) }},
			{"overwrite", func() error { return tx.Put([]byte("k1"), []byte("new")) }},
			{"delete", func() error { return tx.Delete([]byte("k2")) }},
			{"put other prefix", func() error { return tx.Put([]byte("j"), []byte("new")) }},
		}
		for _, st := range steps {
			if err := st.op(); err != nil {
				return fmt.Errorf("%s: %w", st.name, err)
			}
		}
		for k, want := range map[string]string{"k1": "new", "k3": "new", "k4": "old"} {
			v, err := tx.Get([]byte(k))
			if err != nil || string(v) != want {
				t.Errorf("in tx Get(%q) = %q, %v; want %q", k, v, err, want)
			}
		}
		if v, err := tx.Get([]byte("k2")); v != nil || err != nil {
			t.Errorf("in tx Get(deleted) = %q, %v; want nil", v, err)
		}
		var got []string
		err := tx.Scan([]byte("k"), func(k, v []byte) error {
			got = append(got, string(k)+"="+string(v))
			return nil
		})
		if want := []string{"k1=new", "k3=new", "k4=old"}; err != nil || !slices.Equal(got, want) {
			t.Errorf("in tx Scan = %q, %v; want %q", got, err, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dump(t, s, ""), []string{"j=new", "k1=new", "k3=new", "k4=old"}; !slices.Equal(got, want) {
		t.Errorf("after commit = %q, want %q", got, want)
	}
}

var errAbort = errors.New("abort")

func testAtomicity(t *testing.T, s ipam.Store) {
	put(t, s, "a", "1", "b", "2")
	before := dump(t, s, "")
	err := s.Update(ctx(t), func(tx ipam.StoreTx) error {
		for i := range 100 {
			if err := tx.Put([]byte("n"+strconv.Itoa(i)), []byte("x")); err != nil {
				return err
			}
		}
		if err := tx.Put([]byte("a"), []byte("changed")); err != nil {
			return err
		}
		if err := tx.Delete([]byte("b")); err != nil {
			return err
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("Update = %v, want errAbort", err)
	}
	if got := dump(t, s, ""); !slices.Equal(got, before) {
		t.Errorf("after failed Update = %q, want %q", got, before)
	}
}

func testPanic(t *testing.T, s ipam.Store) {
	put(t, s, "a", "1")
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic did not propagate")
			}
		}()
		_ = s.Update(ctx(t), func(tx ipam.StoreTx) error {
			_ = tx.Put([]byte("a"), []byte("changed"))
			panic("boom")
		})
	}()
	if got := string(get(t, s, "a")); got != "1" {
		t.Errorf("after panic a=%q, want 1", got)
	}
	put(t, s, "b", "2") // the writer lock was released
}

func testPutCopies(t *testing.T, s ipam.Store) {
	k, v := []byte("key"), []byte("value")
	err := s.Update(ctx(t), func(tx ipam.StoreTx) error {
		if err := tx.Put(k, v); err != nil {
			return err
		}
		copy(k, "XXX")
		copy(v, "XXXXX")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := dump(t, s, ""); !slices.Equal(got, []string{"key=value"}) {
		t.Errorf("store = %q, want key=value", got)
	}
}

func testWriteInView(t *testing.T, s ipam.Store) {
	err := s.View(ctx(t), func(tx ipam.StoreTx) error {
		if err := tx.Put([]byte("a"), []byte("1")); !errors.Is(err, ipam.ErrReadOnly) {
			t.Errorf("Put in View = %v, want ErrReadOnly", err)
		}
		if err := tx.Delete([]byte("a")); !errors.Is(err, ipam.ErrReadOnly) {
			t.Errorf("Delete in View = %v, want ErrReadOnly", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testWriteInScan(t *testing.T, s ipam.Store) {
	put(t, s, "a", "1", "b", "2")
	err := s.Update(ctx(t), func(tx ipam.StoreTx) error {
		return tx.Scan(nil, func(k, _ []byte) error {
			return tx.Delete(k)
		})
	})
	if err == nil {
		t.Fatal("Delete inside Scan succeeded; want an error")
	}
	if got := dump(t, s, ""); len(got) != 2 {
		t.Errorf("store = %q, want untouched", got)
	}
}

func testScanStops(t *testing.T, s ipam.Store) {
	put(t, s, "a", "1", "b", "2", "c", "3")
	var seen []string
	err := s.View(ctx(t), func(tx ipam.StoreTx) error {
		return tx.Scan(nil, func(k, _ []byte) error {
			seen = append(seen, string(k))
			if string(k) == "b" {
				return errAbort
			}
			return nil
		})
	})
	if !errors.Is(err, errAbort) || !slices.Equal(seen, []string{"a", "b"}) {
		t.Errorf("Scan = %v after %q, want errAbort after [a b]", err, seen)
	}
}

func testBadKeys(t *testing.T, s ipam.Store) {
	tests := []struct {
		name string
		key  []byte
	}{
		{"empty", []byte{}},
		{"nil", nil},
		{"too long", bytes.Repeat([]byte("k"), 32769)},
	}
	for _, tc := range tests {
		err := s.Update(ctx(t), func(tx ipam.StoreTx) error { return tx.Put(tc.key, []byte("v")) })
		if err == nil {
			t.Errorf("Put(%s key) succeeded, want an error", tc.name)
		}
	}
	if got := dump(t, s, ""); len(got) != 0 {
		t.Errorf("store = %q, want empty", got)
	}
}

// testRandom applies random batches to the store and to a map, some
// committed and some aborted, and compares full scans.
func testRandom(t *testing.T, s ipam.Store) {
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[string]string{}
	key := func() string {
		b := make([]byte, 1+rng.IntN(4))
		for i := range b {
			b[i] = "ab\x00\xff/"[rng.IntN(5)]
		}
		return string(b)
	}
	for round := range 60 {
		abort := rng.IntN(4) == 0
		next := maps(model)
		err := s.Update(ctx(t), func(tx ipam.StoreTx) error {
			for range 1 + rng.IntN(20) {
				k := key()
				if rng.IntN(3) == 0 {
					delete(next, k)
					if err := tx.Delete([]byte(k)); err != nil {
						return err
					}
					continue
				}
				v := strconv.Itoa(rng.IntN(1000))
				next[k] = v
				if err := tx.Put([]byte(k), []byte(v)); err != nil {
					return err
				}
			}
			if abort {
				return errAbort
			}
			return nil
		})
		if abort != errors.Is(err, errAbort) || (!abort && err != nil) {
			t.Fatalf("round %d: Update = %v", round, err)
		}
		if !abort {
			model = next
		}
		var want []string
		for k, v := range model {
			want = append(want, k+"="+v)
		}
		slices.SortFunc(want, func(a, b string) int {
			ka, _, _ := cutLast(a)
			kb, _, _ := cutLast(b)
			return bytes.Compare([]byte(ka), []byte(kb))
		})
		if got := dump(t, s, ""); !slices.Equal(got, want) {
			t.Fatalf("round %d: store = %q, want %q", round, got, want)
		}
	}
}

func maps(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// cutLast splits "key=value" at the last '=' (keys here never hold '=').
func cutLast(s string) (string, string, bool) {
	i := bytes.LastIndexByte([]byte(s), '=')
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

// testConcurrent runs read-modify-write increments from many goroutines;
// none may be lost.
func testConcurrent(t *testing.T, s ipam.Store) {
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				err := s.Update(ctx(t), func(tx ipam.StoreTx) error {
					v, err := tx.Get([]byte("counter"))
					if err != nil {
						return err
					}
					n, _ := strconv.Atoi(string(v))
					return tx.Put([]byte("counter"), []byte(strconv.Itoa(n+1)))
				})
				if err != nil {
					errs <- err
					return
				}
				// Readers run alongside writers.
				if err := s.View(ctx(t), func(tx ipam.StoreTx) error {
					_, err := tx.Get([]byte("counter"))
					return err
				}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, want := string(get(t, s, "counter")), strconv.Itoa(workers*each); got != want {
		t.Errorf("counter = %s, want %s", got, want)
	}
}

// testWriterBusy holds one Update open and checks that a second one gives
// up with ErrBusy at its context deadline, while View still works.
func testWriterBusy(t *testing.T, s ipam.Store) {
	holding, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Update(ctx(t), func(tx ipam.StoreTx) error {
			close(holding)
			<-release
			return tx.Put([]byte("first"), []byte("1"))
		})
	}()
	<-holding
	c, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Update(c, func(tx ipam.StoreTx) error { return tx.Put([]byte("second"), []byte("2")) })
	if !errors.Is(err, ipam.ErrBusy) {
		t.Errorf("second Update = %v, want ErrBusy", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("second Update waited %v for a 50ms deadline", waited)
	}
	if err := s.View(ctx(t), func(ipam.StoreTx) error { return nil }); err != nil {
		t.Errorf("View while a writer runs: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("first Update: %v", err)
	}
	if got := dump(t, s, ""); !slices.Equal(got, []string{"first=1"}) {
		t.Errorf("store = %q, want only first=1", got)
	}
}
