package flock

import (
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
