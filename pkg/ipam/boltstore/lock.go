package boltstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/flock"
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

// acquire takes the lock on f (exclusive or shared) before deadline with
// pkg/flock. On failure f is closed (possibly later, see flock.Lock) and
// the error wraps ipam.ErrBusy on timeout.
func acquire(f *os.File, exclusive bool, deadline time.Time) (*fileLock, error) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	err := flock.Lock(ctx, f, exclusive)
	if errors.Is(err, flock.ErrTimeout) {
		return nil, fmt.Errorf("%w: %w", ipam.ErrBusy, err)
	}
	if err != nil {
		return nil, err
	}
	return &fileLock{f: f}, nil
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
