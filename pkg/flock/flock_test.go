package flock

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func create(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}

func TestAcquire(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	held, err := Acquire(path, create, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Held: a second Acquire gives up after its timeout.
	start := time.Now()
	if _, err := Acquire(path, create, 30*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Acquire of a held lock = %v, want ErrTimeout", err)
	}
	if waited := time.Since(start); waited < 30*time.Millisecond {
		t.Errorf("gave up after %v", waited)
	}

	// The holder removes the file, then unlocks: the waiter must end up
	// holding a lock on the file now at path, not on the removed one.
	got := make(chan *os.File, 1)
	errs := make(chan error, 1)
	go func() {
		f, err := Acquire(path, create, 5*time.Second)
		errs <- err
		got <- f
	}()
	time.Sleep(20 * time.Millisecond)
	os.Remove(path)
	held.Close()
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	f := <-got
	defer f.Close()
	var a, b unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &a); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(path, &b); err != nil || a.Ino != b.Ino {
		t.Fatalf("lock on inode %d, path names %d (%v)", a.Ino, b.Ino, err)
	}

	// An open that fails is returned as is.
	if _, err := Acquire(filepath.Join(path, "no", "such"), create, time.Second); err == nil || errors.Is(err, ErrTimeout) {
		t.Fatalf("Acquire with a failing open = %v", err)
	}
}

// within is a context that ends after d (or with the test).
func within(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestLock: shared locks coexist, an exclusive one waits for them until its
// deadline, and a waiter gets the lock once the holder unlocks.
func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	open := func() *os.File {
		t.Helper()
		f, err := create(path)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	r1, r2 := open(), open()
	if err := Lock(within(t, time.Second), r1, false); err != nil {
		t.Fatal(err)
	}
	if err := Lock(within(t, time.Second), r2, false); err != nil {
		t.Fatalf("second shared lock: %v", err)
	}
	start := time.Now()
	if err := Lock(within(t, 30*time.Millisecond), open(), true); !errors.Is(err, ErrTimeout) {
		t.Fatalf("exclusive lock while shared ones are held = %v, want ErrTimeout", err)
	}
	if waited := time.Since(start); waited < 30*time.Millisecond {
		t.Errorf("gave up after %v", waited)
	}
	got := make(chan error, 1)
	w := open()
	go func() { got <- Lock(within(t, 5*time.Second), w, true) }()
	time.Sleep(20 * time.Millisecond)
	r1.Close()
	r2.Close()
	if err := <-got; err != nil {
		t.Fatalf("waiter after the holders closed: %v", err)
	}
	if err := Lock(within(t, 10*time.Millisecond), open(), false); !errors.Is(err, ErrTimeout) {
		t.Fatalf("shared lock while an exclusive one is held = %v, want ErrTimeout", err)
	}
	w.Close()
}

// TestLockTimeoutReleases: a waiter that gave up does not keep the lock or
// its descriptor once the holder unlocks.
func TestLockTimeoutReleases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	holder, err := create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Lock(within(t, time.Second), holder, true); err != nil {
		t.Fatal(err)
	}
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before := fds()
	for range 5 {
		f, err := create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := Lock(within(t, 5*time.Millisecond), f, true); !errors.Is(err, ErrTimeout) {
			t.Fatalf("Lock = %v, want ErrTimeout", err)
		}
	}
	// Once the holder unlocks, each helper gets the lock in turn, unlocks
	// and closes its descriptor.
	holder.Close()
	deadline := time.Now().Add(5 * time.Second)
	for fds() >= before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := fds(); n >= before {
		t.Errorf("%d descriptors open, %d with the holder before the waiters", n, before)
	}
	f, err := create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Lock(within(t, 10*time.Millisecond), f, true); err != nil {
		t.Fatalf("Lock after the holder and the waiters that gave up: %v", err)
	}
}

// TestLockCanceled: a wait that is canceled, not timed out, says so and is
// not ErrTimeout.
func TestLockCanceled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	holder, err := create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if err := Lock(within(t, time.Second), holder, true); err != nil {
		t.Fatal(err)
	}
	f, err := create(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	if err := Lock(ctx, f, true); !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Errorf("canceled Lock = %v, want context.Canceled and not ErrTimeout", err)
	}
}
