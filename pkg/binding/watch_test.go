package binding

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/diktyo/diktyo/pkg/flock"
)

// waitTimeout is generous: the goal (100 ms) is measured in
// BenchmarkWatcherLatency, not asserted here.
const waitTimeout = 5 * time.Second

// links is a concurrency-safe fake Resolver: every name tapN/brN resolves.
func anyLink(name string) (int, error) {
	var n int
	if _, err := fmt.Sscanf(name, "tap%d", &n); err == nil {
		return 1000 + n, nil
	}
	if _, err := fmt.Sscanf(name, "br%d", &n); err == nil {
		return 10 + n, nil
	}
	return 0, errNoLink
}

func startWatcher(t testing.TB, dir string, onChange func(*Table)) *Watcher {
	t.Helper()
	w, err := NewWatcher(WatcherConfig{Dir: dir, Resolve: anyLink, OnChange: onChange})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		w.Close()
		<-done
	})
	return w
}

// waitFor polls the published table until cond holds.
func waitFor(t testing.TB, w *Watcher, what string, cond func(*Table) bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond(w.Table()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func hostOf(tab *Table, tap string) string {
	e, ok := tab.ByTap(tap)
	if !ok {
		return ""
	}
	return e.Binding.Hostname
}

func binding(tap, host string) *Binding {
	b, err := Parse(tap, stringsReader("INDEV="+tap+"\nMAC=aa:00:00:00:00:01\nHOSTNAME="+host))
	if err != nil {
		panic(err)
	}
	return b
}

func TestWatcher(t *testing.T) {
	dir := t.TempDir()
	// Present before the watcher starts: loaded by the initial scan.
	if err := WriteFile(dir, binding("tap1", "initial")); err != nil {
		t.Fatal(err)
	}
	// Ignored: hidden, bad names, directories.
	os.WriteFile(filepath.Join(dir, ".tap2.tmp-1"), binding("tap2", "hidden").Marshal(), 0o644)
	os.WriteFile(filepath.Join(dir, "bad:name"), binding("tap2", "x").Marshal(), 0o644)
	os.Mkdir(filepath.Join(dir, "tap3"), 0o755)
	// Rejected at start: not loaded.
	os.WriteFile(filepath.Join(dir, "tap4"), []byte("garbage"), 0o644)

	var mu sync.Mutex
	changes := 0
	w := startWatcher(t, dir, func(*Table) { mu.Lock(); changes++; mu.Unlock() })
	tab := w.Table()
	if tab.Len() != 1 || hostOf(tab, "tap1") != "initial" {
		t.Fatalf("initial table: %d entries, tap1=%q", tab.Len(), hostOf(tab, "tap1"))
	}
	if b, ok := tab.Lookup(1001, 0, nil); !ok || b.Hostname != "initial" {
		t.Fatalf("initial Lookup failed")
	}

	t.Run("create", func(t *testing.T) {
		if err := WriteFile(dir, binding("tap5", "five")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, w, "tap5", func(tab *Table) bool {
			b, ok := tab.Lookup(1005, 0, nil)
			return ok && b.Hostname == "five"
		})
	})
	t.Run("rewrite by rename", func(t *testing.T) {
		if err := WriteFile(dir, binding("tap5", "five-b")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, w, "tap5 rewritten", func(tab *Table) bool { return hostOf(tab, "tap5") == "five-b" })
	})
	t.Run("rewrite in place", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(dir, "tap5"), binding("tap5", "five-c").Marshal(), 0o644); err != nil {
			t.Fatal(err)
		}
		waitFor(t, w, "tap5 rewritten in place", func(tab *Table) bool { return hostOf(tab, "tap5") == "five-c" })
	})
	t.Run("bad rewrite keeps old", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(dir, "tap5"), []byte("MTU=1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// Then a good file elsewhere, to know the bad one was processed.
		if err := WriteFile(dir, binding("tap6", "six")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, w, "tap6", func(tab *Table) bool { return hostOf(tab, "tap6") == "six" })
		if h := hostOf(w.Table(), "tap5"); h != "five-c" {
			t.Errorf("tap5 = %q after a bad rewrite, want the old binding", h)
		}
	})
	t.Run("fixed in place", func(t *testing.T) {
		// A file rejected at start is picked up once it is fixed.
		if err := os.WriteFile(filepath.Join(dir, "tap4"), binding("tap4", "four").Marshal(), 0o644); err != nil {
			t.Fatal(err)
		}
		waitFor(t, w, "tap4", func(tab *Table) bool { return hostOf(tab, "tap4") == "four" })
	})
	t.Run("delete", func(t *testing.T) {
		if err := Remove(dir, "tap5"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, w, "tap5 gone", func(tab *Table) bool {
			_, ok := tab.Lookup(1005, 0, nil)
			return !ok && hostOf(tab, "tap5") == ""
		})
	})
	t.Run("moved away", func(t *testing.T) {
		if err := os.Rename(filepath.Join(dir, "tap6"), filepath.Join(dir, ".tap6.old")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, w, "tap6 gone", func(tab *Table) bool { return hostOf(tab, "tap6") == "" })
	})
	t.Run("hidden ignored", func(t *testing.T) {
		if got := hostOf(w.Table(), "tap2"); got != "" {
			t.Errorf("hidden file loaded as tap2: %q", got)
		}
	})
	mu.Lock()
	if changes == 0 {
		t.Error("OnChange never called")
	}
	mu.Unlock()
}

// TestWatcherMany writes many files at once and checks that all arrive.
func TestWatcherMany(t *testing.T) {
	dir := t.TempDir()
	w := startWatcher(t, dir, nil)
	const n = 500
	for i := range n {
		if err := WriteFile(dir, binding(fmt.Sprintf("tap%d", i), fmt.Sprintf("h%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, w, "all files", func(tab *Table) bool { return tab.Len() == n })
	for i := range n {
		if b, ok := w.Table().Lookup(1000+i, 0, nil); !ok || b.Hostname != fmt.Sprintf("h%d", i) {
			t.Fatalf("tap%d: %v %v", i, b, ok)
		}
	}
}

// TestWatcherOverflow exercises the rescan path that an inotify overflow
// triggers: changes made while no events are being read are all picked up
// by the rescan, including deletions.
func TestWatcherOverflow(t *testing.T) {
	dir := t.TempDir()
	for i := range 10 {
		if err := WriteFile(dir, binding(fmt.Sprintf("tap%d", i), "old")); err != nil {
			t.Fatal(err)
		}
	}
	w, err := NewWatcher(WatcherConfig{Dir: dir, Resolve: anyLink})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// Run is not running: events queue up unread, as if they were lost.
	for i := range 5 {
		Remove(dir, fmt.Sprintf("tap%d", i))
	}
	for i := 5; i < 20; i++ {
		if err := WriteFile(dir, binding(fmt.Sprintf("tap%d", i), "new")); err != nil {
			t.Fatal(err)
		}
	}
	w.handleError(context.Background(), fsnotify.ErrEventOverflow)
	tab := w.Table()
	if tab.Len() != 15 {
		t.Fatalf("after rescan: %d entries, want 15", tab.Len())
	}
	for i := 5; i < 20; i++ {
		if h := hostOf(tab, fmt.Sprintf("tap%d", i)); h != "new" {
			t.Errorf("tap%d = %q", i, h)
		}
	}
}

// TestRescanReresolves: a tap that did not exist is found after Rescan.
func TestRescanReresolves(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(dir, binding("tap1", "one")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	exists := false
	resolve := func(name string) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if !exists {
			return 0, errNoLink
		}
		return 7, nil
	}
	w, err := NewWatcher(WatcherConfig{Dir: dir, Resolve: resolve})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, ok := w.Table().Lookup(7, 0, nil); ok {
		t.Fatal("stale binding found")
	}
	mu.Lock()
	exists = true
	mu.Unlock()
	if err := w.Rescan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := w.Table().Lookup(7, 0, nil); !ok {
		t.Fatal("binding not found after Rescan")
	}
}

func TestRescanLockTimeout(t *testing.T) {
	w, err := NewWatcher(WatcherConfig{Dir: t.TempDir(), Resolve: anyLink, LockTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.sem <- struct{}{} // held elsewhere
	if err := w.Rescan(context.Background()); !errors.Is(err, flock.ErrTimeout) {
		t.Fatalf("Rescan while locked = %v, want flock.ErrTimeout", err)
	}
	<-w.sem
}

func TestNewWatcherErrors(t *testing.T) {
	if _, err := NewWatcher(WatcherConfig{Dir: t.TempDir()}); err == nil {
		t.Error("no resolver accepted")
	}
	if _, err := NewWatcher(WatcherConfig{Dir: filepath.Join(t.TempDir(), "nope"), Resolve: anyLink}); err == nil {
		t.Error("missing directory accepted")
	}
}

// BenchmarkWatcherLatency measures the time from WriteFile returning to
// the new binding being visible (goal: well under 100 ms).
func BenchmarkWatcherLatency(b *testing.B) {
	dir := b.TempDir()
	w := startWatcher(b, dir, nil)
	b.ReportAllocs()
	var total time.Duration
	i := 0
	for b.Loop() {
		i++
		host := fmt.Sprintf("h%d", i)
		if err := WriteFile(dir, binding("tap1", host)); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		waitFor(b, w, host, func(tab *Table) bool { return hostOf(tab, "tap1") == host })
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(i), "µs-visible/op")
}
