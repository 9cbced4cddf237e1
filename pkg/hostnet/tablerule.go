package hostnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/flock"
	"github.com/diktyo/diktyo/pkg/netplan"
)

// A routing table's shared rules ("fwmark M lookup TABLE", one per
// family) serve every routed NIC of the table: pkg/firewall gives the
// packets of its taps the mark M. Unlike a rule per tap, whose every IPv6
// add or delete makes the kernel walk all IPv6 routes, they are added once
// and then only checked (EEXIST).
//
// They exist while the table has users: a NIC that applied them has an
// empty file StateDir/tables/TABLE/TAP, and the Remove that leaves the
// directory empty deletes them and the directory. An exclusive lock on the directory orders
// these steps between concurrent ups and downs of the table's NICs.

// tableDir is the directory of the table's users.
func (a *Applier) tableDir(table int) string {
	return filepath.Join(a.stateDir, "tables", strconv.Itoa(table))
}

// lockTable opens the table's user directory (creating it) and locks it,
// waiting at most the Applier's timeout (then the error wraps
// flock.ErrTimeout). Closing the file unlocks. The
// last user's release removes the directory; flock.Acquire then makes a
// waiter lock the new one.
func (a *Applier) lockTable(table int) (*os.File, error) {
	f, err := flock.Acquire(a.tableDir(table), func(dir string) (*os.File, error) {
		f, err := os.Open(dir)
		if errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			f, err = os.Open(dir)
		}
		return f, err
	}, a.timeout)
	if err != nil {
		return nil, fmt.Errorf("table %d users: %w", table, err)
	}
	return f, nil
}

// sharedRules makes the tap a user of the table's shared rules and adds
// those missing. The rules all have the table and mark of the first.
func (s *applyState) sharedRules(rules []netplan.Rule) error {
	a, table := s.a, rules[0].Table
	dir, err := a.lockTable(table)
	if err != nil {
		return fmt.Errorf("%s: %w", s.tap, err)
	}
	defer dir.Close()
	user := filepath.Join(dir.Name(), s.tap)
	if _, err := os.Lstat(user); errors.Is(err, fs.ErrNotExist) {
		if err := os.WriteFile(user, nil, 0o644); err != nil {
			return fmt.Errorf("%s: table %d users: %w", s.tap, table, err)
		}
		// Undone after the rules below: the last user takes them along.
		r0 := rules[0]
		s.undo = append(s.undo, func() error { return a.releaseTable(s.tap, r0) })
	} else if err != nil {
		return fmt.Errorf("%s: table %d users: %w", s.tap, table, err)
	}
	for _, r := range rules {
		if err := ignore(a.nl.RuleAdd(nlRule(r)), unix.EEXIST); err != nil {
			return fmt.Errorf("%s: add %s: %w", s.tap, ruleString(r), err)
		}
		s.rec.Rules = append(s.rec.Rules, r)
	}
	return nil
}

// releaseTable removes the tap from the users of r's table and, if it
// was the last, deletes the table's shared rules of both families.
func (a *Applier) releaseTable(tap string, r netplan.Rule) error {
	if a.stateDir == "" {
		return fmt.Errorf("%s: %w: shared rules of table %d need a state directory", tap, ErrInvalid, r.Table)
	}
	dir, err := a.lockTable(r.Table)
	if err != nil {
		return fmt.Errorf("%s: %w", tap, err)
	}
	defer dir.Close()
	if err := os.Remove(filepath.Join(dir.Name(), tap)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: table %d users: %w", tap, r.Table, err)
	}
	return a.dropIfUnused(dir, r, tap)
}

// dropIfUnused deletes the table's shared rules of both families (r with
// its family replaced) and the users directory dir, which the caller has
// locked, if no users are left; who names the caller in errors.
func (a *Applier) dropIfUnused(dir *os.File, r netplan.Rule, who string) error {
	empty, err := dirEmpty(dir)
	if err != nil {
		return fmt.Errorf("%s: table %d users: %w", who, r.Table, err)
	}
	if !empty {
		return nil
	}
	var errs []error
	for _, fam := range []int{4, 6} {
		r.Family = fam
		if err := ignore(a.nl.RuleDel(nlRule(r)), unix.ENOENT); err != nil {
			errs = append(errs, fmt.Errorf("%s: delete %s: %w", who, ruleString(r), err))
		}
	}
	if len(errs) == 0 {
		// Kept while a rule could not be deleted, so that a retry (down,
		// reconcile) still finds the table.
		if err := os.Remove(dir.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("%s: table %d users: %w", who, r.Table, err))
		}
	}
	return errors.Join(errs...)
}

// ReleaseStale removes the users of tables' shared rules whose tap keep
// rejects (no record left: a crash, or a record that could not be read)
// and deletes the rules of tables left without users, also those a crash
// left with an empty users directory. Reconcile runs it.
func (a *Applier) ReleaseStale(keep func(tap string) bool) error {
	if a.stateDir == "" {
		return nil
	}
	ents, err := os.ReadDir(filepath.Join(a.stateDir, "tables"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("table users: %w", err)
	}
	var errs []error
	for _, e := range ents {
		table, err := strconv.Atoi(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		mark, err := netplan.RouteMark(table)
		if err != nil {
			continue
		}
		errs = append(errs, a.releaseStaleTable(netplan.Rule{Mark: mark, Table: table, Priority: netplan.DefaultRulePriority}, keep))
	}
	return errors.Join(errs...)
}

func (a *Applier) releaseStaleTable(r netplan.Rule, keep func(string) bool) error {
	dir, err := a.lockTable(r.Table)
	if err != nil {
		return err
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("table %d users: %w", r.Table, err)
	}
	var errs []error
	for _, tap := range names {
		if keep(tap) {
			continue
		}
		if err := os.Remove(filepath.Join(dir.Name(), tap)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("table %d users: %w", r.Table, err))
		}
	}
	// Readdirnames moved the offset: read again from the start.
	if _, err := dir.Seek(0, io.SeekStart); err != nil {
		return errors.Join(append(errs, fmt.Errorf("table %d users: %w", r.Table, err))...)
	}
	return errors.Join(append(errs, a.dropIfUnused(dir, r, fmt.Sprintf("table %d", r.Table)))...)
}

// dirEmpty reports whether the directory has no entries but . and ..,
// reading little: os.File.Readdirnames fills an 8 KiB buffer, which for a
// table with a thousand NICs is most of the work of a down.
func dirEmpty(dir *os.File) (bool, error) {
	var buf [1024]byte // getdents fails with EINVAL if one entry does not fit
	for {
		n, err := unix.Getdents(int(dir.Fd()), buf[:])
		if err != nil {
			return false, err
		}
		if n == 0 {
			return true, nil
		}
		// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return false, fmt.Errorf("getdents: bad record length %d", reclen)
			}
			if name := cString(b[19:reclen]); name != "." && name != ".." {
				return false, nil
			}
			b = b[reclen:]
		}
	}
}
