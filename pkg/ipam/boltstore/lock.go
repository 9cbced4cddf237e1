package boltstore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/ipam"
)

// fileLock is a held flock(2) on the sidecar lock file.
type fileLock struct {
	f *os.File
}

// openLockFile opens the sidecar lock file, creating it when missing.
// It is opened read-only even for writers (flock needs no write access),
// so whichever user created it, every user who can read it can lock it.
// A read-only opener that may not create it gets nil and no error: it then
// relies on bbolt's own shared lock on the data file.
func openLockFile(path string, readOnly bool) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o640)
	if readOnly && (errors.Is(err, os.ErrPermission) || errors.Is(err, unix.EROFS)) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	return f, nil
}

// lockMode selects how a contended lock is waited for. It exists so the
// benchmarks can compare both; Open always uses lockBlocking.
type lockMode int

const (
	// lockBlocking waits in a blocking flock(2) on a helper goroutine: the
	// kernel wakes it as soon as the holder unlocks.
	lockBlocking lockMode = iota
	// lockPolling retries LOCK_NB with a short, jittered backoff.
	lockPolling
)

// acquire takes the lock on f (exclusive or shared) before deadline. On
// failure f is closed (possibly later, by the helper goroutine) and the
// error wraps ipam.ErrBusy on timeout.
func acquire(f *os.File, exclusive bool, deadline time.Time, mode lockMode) (*fileLock, error) {
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	fd := int(f.Fd())
	err := flockRetry(fd, how|unix.LOCK_NB)
	if err == nil {
		return &fileLock{f: f}, nil
	}
	if !errors.Is(err, unix.EWOULDBLOCK) {
		_ = f.Close()
		return nil, fmt.Errorf("flock: %w", err)
	}
	if mode == lockPolling {
		return acquirePolling(f, how, deadline)
	}
	return acquireBlocking(f, how, deadline)
}

// acquireBlocking waits in a blocking flock on a helper goroutine. If the
// caller gives up first, the helper unlocks and closes f as soon as its
// flock returns, so neither the lock nor the descriptor leaks; the helper
// lives (in a blocked system call) only as long as the current holder
// keeps the lock.
func acquireBlocking(f *os.File, how int, deadline time.Time) (*fileLock, error) {
	const (
		waiting = iota
		gaveUp
		delivered
	)
	var state atomic.Int32
	result := make(chan error, 1)
	go func() {
		err := flockRetry(int(f.Fd()), how)
		if state.CompareAndSwap(waiting, delivered) {
			result <- err
			return
		}
		if err == nil {
			_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		}
		_ = f.Close()
	}()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case err := <-result:
		return lockResult(f, err)
	case <-timer.C:
		if state.CompareAndSwap(waiting, gaveUp) {
			return nil, ipam.ErrBusy
		}
		return lockResult(f, <-result) // got it just in time
	}
}

func lockResult(f *os.File, err error) (*fileLock, error) {
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("flock: %w", err)
	}
	return &fileLock{f: f}, nil
}

// acquirePolling retries a non-blocking flock with a jittered backoff from
// 250µs up to 4ms.
func acquirePolling(f *os.File, how int, deadline time.Time) (*fileLock, error) {
	backoff := 250 * time.Microsecond
	for {
		left := time.Until(deadline)
		if left <= 0 {
			_ = f.Close()
			return nil, ipam.ErrBusy
		}
		sleep := backoff/2 + rand.N(backoff/2+1)
		time.Sleep(min(sleep, left))
		err := flockRetry(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			return &fileLock{f: f}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("flock: %w", err)
		}
		backoff = min(2*backoff, 4*time.Millisecond)
	}
}

// flockRetry is flock(2) restarted after signals (the Go runtime preempts
// goroutines with SIGURG).
func flockRetry(fd, how int) error {
	for {
		err := unix.Flock(fd, how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// release unlocks and closes the lock file. Closing alone would release
// the lock too; unlocking first makes the order explicit.
func (l *fileLock) release() error {
	if l == nil {
		return nil
	}
	uerr := unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	cerr := l.f.Close()
	return errors.Join(uerr, cerr)
}
