package ifup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/flock"
	"github.com/diktyo/diktyo/pkg/ifname"
	"github.com/diktyo/diktyo/pkg/netplan"
)

// RecordVersion is the format version of records this package writes.
// Version 2 holds the NIC once (not again inside the plan) and MACs as
// text; version 1 records, written by diktyo-ifup before, are still read
// (hosts upgrade with VMs running).
const RecordVersion = 2

// minRecordVersion is the oldest record version read.
const minRecordVersion = 1

// Record is what was applied for one tap: the NIC it belongs to, the tap
// device (ifindex) it was applied to, the plan and hostnet's account of
// what it changed.
type Record struct {
	Version int           `json:"version"`
	NIC     netplan.NICID `json:"nic"`
	// TapIndex is the ifindex of the tap when the plan was applied: a tap
	// of the same name but another index is a new device.
	TapIndex int           `json:"tap_index"`
	Plan     *netplan.Plan `json:"plan"`
	// HostApplied is what the host applier returned (hostnet.Applied);
	// null while the apply is in progress or was interrupted.
	HostApplied json.RawMessage `json:"host_applied,omitempty"`
	// Complete is false from the moment up starts changing the host until
	// everything is applied: a record left incomplete means a crash.
	Complete bool      `json:"complete"`
	Updated  time.Time `json:"updated"`
}

// ErrBadRecord: a record file does not parse (a crash while it was first
// written, or an edit by hand). It is treated as stale.
var ErrBadRecord = errors.New("unreadable state record")

// store is the directory of records and locks.
type store struct {
	dir string
}

func (s store) recordPath(tap string) string { return filepath.Join(s.dir, tap+".json") }
func (s store) lockPath(tap string) string   { return filepath.Join(s.dir, tap+".lock") }

func (s store) ensure() error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	return nil
}

// read returns the tap's record, nil if there is none.
func (s store) read(tap string) (*Record, error) {
	data, err := os.ReadFile(s.recordPath(tap))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	r, err := decodeRecord(data)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrBadRecord, s.recordPath(tap), err)
	}
	if r.Plan == nil || r.NIC.Tap != tap || r.Version < minRecordVersion || r.Version > RecordVersion {
		return nil, fmt.Errorf("%w %s: wrong tap, version or no plan", ErrBadRecord, s.recordPath(tap))
	}
	return &r, nil
}

// encodeRecord returns the record file's content: r in encoding/json's
// indented form and a newline, with the current RecordVersion and
// without the plan's NIC when it is the record's.
func encodeRecord(r *Record) ([]byte, error) {
	out := *r
	out.Version = RecordVersion
	if r.Plan != nil {
		p := *r.Plan
		if p.NIC == r.NIC && p.Host.Tap.Name == r.NIC.Tap {
			p.NIC = netplan.NICID{} // the binding's tap is then Host.Tap.Name
		}
		out.Plan = &p
	}
	b, err := json.MarshalIndent(&out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// decodeRecord decodes a record file's content, of any version read: a
// plan without a NIC gets the record's, and HostApplied is compacted (as
// the host applier returns it, so that an unchanged record compares
// equal). The host record of a version 1 file, which only hostnet wrote,
// is decoded and encoded again, so that its MACs are written back as
// text.
func decodeRecord(data []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return Record{}, err
	}
	if r.Plan != nil {
		if r.Plan.NIC == (netplan.NICID{}) {
			r.Plan.NIC = r.NIC
		}
	}
	if r.Version == 1 && len(r.HostApplied) > 0 && string(r.HostApplied) != "null" {
		a, err := decodeApplied(r.HostApplied)
		if err != nil {
			return Record{}, err
		}
		if r.HostApplied, err = encodeApplied(&a); err != nil {
			return Record{}, err
		}
	}
	if len(r.HostApplied) > 0 {
		var b bytes.Buffer
		if err := json.Compact(&b, r.HostApplied); err != nil {
			return Record{}, err
		}
		r.HostApplied = b.Bytes()
	}
	return r, nil
}

// write replaces the tap's record atomically (temp file + rename). There
// is no fsync: records describe kernel state, which a power loss clears
// too; an empty or torn record after a crash is ErrBadRecord, handled as
// stale.
func (s store) write(r *Record) error {
	data, err := encodeRecord(r)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := writeFile(s.dir, r.NIC.Tap, data); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// writeFile writes dir/name+".json" through a temporary dot file
// (".NAME.tmp-*", which readers skip) and replace.
func writeFile(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := replace(tmp, filepath.Join(dir, name+".json")); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// replace moves tmp to path atomically. Where path exists it swaps the two
// (renameat2 RENAME_EXCHANGE) and removes tmp, which then holds the old
// content: a rename over an existing file makes ext4 (auto_da_alloc)
// start writing the new file out, 0.2-0.3 ms here, which the swap does
// not. Records need no such flush: after a power loss the taps are gone,
// and reconcile removes records it cannot read.
func replace(tmp, path string) error {
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, path, unix.RENAME_EXCHANGE)
	if err == nil {
		os.Remove(tmp) // a leftover dot file is ignored by taps
		return nil
	}
	// ENOENT: nothing to replace; EINVAL: no exchange on this file system.
	return os.Rename(tmp, path)
}

// staleTempAge is how old a temporary record file must be before
// reconcile removes it: a write in progress takes milliseconds.
const staleTempAge = time.Minute

// removeStaleTemps removes temporary record files (".TAP.tmp-*") last
// changed before now-age: left by a crash during a write, or holding an
// old record a crash kept replace from removing.
func (s store) removeStaleTemps(now time.Time, age time.Duration) error {
	ents, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list state: %w", err)
	}
	var errs []error
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, ".") || !strings.Contains(name, ".tmp-") || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) < age {
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove stale %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// has reports whether tap has a record (readable or not).
func (s store) has(tap string) bool {
	_, err := os.Lstat(s.recordPath(tap))
	return err == nil
}

func (s store) remove(tap string) error {
	if err := os.Remove(s.recordPath(tap)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove state: %w", err)
	}
	return nil
}

// taps lists the taps that have a record (or an unreadable record).
func (s store) taps() ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list state: %w", err)
	}
	var out []string
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if ok && !strings.HasPrefix(name, ".") && ifname.Validate(name) == nil {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// tapLock is a held lock on one tap.
type tapLock struct {
	f    *os.File
	path string
}

// lock takes the tap's lock, waiting at most timeout (then the error
// wraps flock.ErrTimeout: another diktyo-ifup held it too long). Lock files are
// removed by unlock(true) once a tap has no state; flock.Acquire then
// makes a waiter lock the new file.
func (s store) lock(tap string, timeout time.Duration) (*tapLock, error) {
	path := s.lockPath(tap)
	f, err := flock.Acquire(path, func(path string) (*os.File, error) {
		return os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o600)
	}, timeout)
	if errors.Is(err, flock.ErrTimeout) {
		return nil, fmt.Errorf("timed out waiting for the tap lock: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", tap, err)
	}
	return &tapLock{f: f, path: path}, nil
}

// unlock releases the lock; with removeFile it first deletes the lock file
// (only when the tap has no state left, so lock files do not pile up).
func (l *tapLock) unlock(removeFile bool) {
	if l == nil || l.f == nil {
		return
	}
	if removeFile {
		os.Remove(l.path)
	}
	l.f.Close()
	l.f = nil
}
