// Package flock takes exclusive flock(2) locks on files that their last
// holder may remove, waiting at most a timeout: diktyo-ifup's per-tap
// locks and the locks on a routing table's users in pkg/hostnet.
package flock

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ErrTimeout is returned (wrapped) when the lock stayed held too long.
var ErrTimeout = errors.New("lock timeout")

// Acquire opens path with open and locks it exclusively, polling until
// timeout has passed. A holder may remove the file before it unlocks
// (the last user of a lock does): a waiter that then gets the lock of
// the removed file notices, because path names another file or none, and
// starts over with a new open. Closing the returned file unlocks.
func Acquire(path string, open func(path string) (*os.File, error), timeout time.Duration) (*os.File, error) {
	deadline := time.Now().Add(timeout)
	wait := 100 * time.Microsecond
	for {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w (%s, %v)", ErrTimeout, path, timeout)
		}
		f, err := open(path)
		if err != nil {
			return nil, err
		}
		for {
			err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
			if err == nil || (!errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR)) {
				break
			}
			if time.Now().After(deadline) {
				f.Close()
				return nil, fmt.Errorf("%w (%s, %v)", ErrTimeout, path, timeout)
			}
			time.Sleep(wait)
			wait = min(2*wait, 10*time.Millisecond)
		}
		if err != nil {
			f.Close()
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
