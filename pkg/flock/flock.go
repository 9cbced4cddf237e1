// Package flock takes flock(2) locks, waiting at most until a deadline: the
// IP pool's lock files in pkg/ipam/boltstore (shared or exclusive) and
// pkg/ipam/etcdstore (the host's lock), and locks
// on files that their last holder may remove (Acquire): diktyo-ifup's
// per-tap locks and the locks on a routing table's users in pkg/hostnet.
//
// A contended lock is waited for in a blocking flock(2) on a helper
// goroutine, never by polling: the kernel hands the lock over as soon as
// the holder unlocks, so a crowd of short-lived hook processes neither
// sleeps past a release nor burns CPU retrying.
package flock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// ErrTimeout is returned (wrapped) when the lock stayed held too long.
var ErrTimeout = errors.New("lock timeout")

// Lock locks f, exclusively or shared, waiting until ctx ends. On failure
// f is closed, possibly later: after ctx ended a helper goroutine still
// waits in flock(2), and unlocks and closes f as soon as that returns, so
// neither the lock nor the descriptor leaks; the helper lives only as long
// as the current holder keeps the lock. When ctx ends the error wraps
// ctx.Err(), and also ErrTimeout if its deadline passed.
func Lock(ctx context.Context, f *os.File, exclusive bool) error {
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	err := flockRetry(int(f.Fd()), how|unix.LOCK_NB)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EWOULDBLOCK) {
		_ = f.Close()
		return fmt.Errorf("flock %s: %w", f.Name(), err)
	}
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
	select {
	case err = <-result:
	case <-ctx.Done():
		if state.CompareAndSwap(waiting, gaveUp) {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("flock %s: %w: %w", f.Name(), ErrTimeout, ctx.Err())
			}
			return fmt.Errorf("flock %s: %w", f.Name(), ctx.Err())
		}
		err = <-result // got it just in time
	}
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("flock %s: %w", f.Name(), err)
	}
	return nil
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

// Acquire opens path with open and locks it exclusively, waiting until
// timeout has passed. A holder may remove the file before it unlocks (the
// last user of a lock does): a waiter that then gets the lock of the
// removed file notices, because path names another file or none, and
// starts over with a new open. Closing the returned file unlocks.
func Acquire(path string, open func(path string) (*os.File, error), timeout time.Duration) (*os.File, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		f, err := open(path)
		if err != nil {
			return nil, err
		}
		if err := Lock(ctx, f, true); errors.Is(err, ErrTimeout) {
			return nil, fmt.Errorf("%w (%s, %v)", ErrTimeout, path, timeout)
		} else if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		var held, now unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &held); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		err = unix.Stat(path, &now)
		if err == nil && held.Ino == now.Ino && held.Dev == now.Dev {
			return f, nil
		}
		f.Close()
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
	}
}
