package nfdhcpd

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrRunning is returned when the pidfile names a live nfdhcpd.
var ErrRunning = errors.New("already running")

// pidFile is a pidfile this process created.
type pidFile struct {
	path string
	pid  int
}

// createPIDFile writes pid to path with O_EXCL. An existing file is stale,
// and replaced, unless it names a live process with our command name.
func createPIDFile(path string, pid int) (*pidFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("pidfile %s: %w", path, err)
	}
	for attempt := 0; ; attempt++ {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, werr := f.WriteString(strconv.Itoa(pid) + "\n")
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				_ = os.Remove(path)
				return nil, fmt.Errorf("pidfile %s: %w", path, werr)
			}
			return &pidFile{path: path, pid: pid}, nil
		}
		if !errors.Is(err, fs.ErrExist) || attempt > 0 {
			return nil, fmt.Errorf("pidfile %s: %w", path, err)
		}
		if other, live := pidFileOwner(path); live && other != pid {
			return nil, fmt.Errorf("pidfile %s: %w as pid %d", path, ErrRunning, other)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("pidfile %s: remove stale: %w", path, err)
		}
	}
}

// pidFileOwner returns the pid in path and whether it is a live process
// running the same program as we are.
func pidFileOwner(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if err := unix.Kill(pid, 0); err != nil && !errors.Is(err, unix.EPERM) {
		return pid, false
	}
	theirs, err1 := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	ours, err2 := os.ReadFile("/proc/self/comm")
	if err1 != nil || err2 != nil {
		return pid, true // cannot tell: assume it is alive
	}
	return pid, bytes.Equal(theirs, ours)
}

// Remove deletes the pidfile if it still names us. When the directory is
// not writable (after the privilege drop) the file is emptied instead,
// which the next start treats as stale.
func (p *pidFile) Remove() error {
	if p == nil {
		return nil
	}
	if other, _ := pidFileOwner(p.path); other != p.pid {
		return nil
	}
	err := os.Remove(p.path)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if terr := os.Truncate(p.path, 0); terr == nil {
		return nil
	}
	return fmt.Errorf("pidfile %s: %w", p.path, err)
}

// chown gives the pidfile to uid/gid so that the daemon can still empty it
// after the privilege drop.
func (p *pidFile) chown(uid, gid int) error {
	if p == nil {
		return nil
	}
	return os.Chown(p.path, uid, gid)
}
