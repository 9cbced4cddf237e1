package binding

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// tempPrefix starts the names of WriteFile's temp files: hidden, so that
// readers and the Watcher (which skip hidden files, as GRNET's glob does)
// never see them.
const tempPrefix = "."

// ErrNotRegular is returned by ReadFile for anything but a regular file.
var ErrNotRegular = errors.New("not a regular file")

// ReadFile reads the binding file at path; the tap is the file's base name.
// FIFOs, devices and directories are refused without blocking.
func ReadFile(path string) (*Binding, error) {
	tap := filepath.Base(path)
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &Error{Tap: tap, Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &Error{Tap: tap, Err: err}
	}
	if !st.Mode().IsRegular() {
		return nil, &Error{Tap: tap, Err: fmt.Errorf("%s: %w", path, ErrNotRegular)}
	}
	return Parse(tap, f)
}

// WriteFile validates b and writes it as dir/<b.Tap>, mode 0644, atomically:
// a hidden temp file in dir is written and renamed into place, so readers
// see the old file or the new one, never a part.
//
// Nothing is fsynced: a binding describes a running tap, and after a power
// loss Ganeti restarts the VM and diktyo-ifup writes its bindings again, so
// durability would buy nothing but 1-4 ms per write.
func WriteFile(dir string, b *Binding) error {
	if err := b.Validate(); err != nil {
		return err
	}
	data := b.Marshal()
	f, err := os.CreateTemp(dir, tempPrefix+b.Tap+".tmp-*")
	if err != nil {
		return fmt.Errorf("write binding %s: %w", b.Tap, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write binding %s: %w", b.Tap, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("write binding %s: %w", b.Tap, err)
	}
	markWritten(f)
	if err := f.Close(); err != nil {
		return fmt.Errorf("write binding %s: %w", b.Tap, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, b.Tap)); err != nil {
		return fmt.Errorf("write binding %s: %w", b.Tap, err)
	}
	ok = true
	return nil
}

// Remove deletes dir/<tap>; a file that is already gone is success. As
// for WriteFile there is no fsync: a power loss leaves the bindings of
// every VM that was running anyway, and their taps are gone until the VMs
// are started again.
func Remove(dir, tap string) error {
	if err := checkIfName(tap); err != nil {
		return &Error{Tap: tap, Err: err}
	}
	err := os.Remove(filepath.Join(dir, tap))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove binding %s: %w", tap, err)
	}
	return nil
}

// WrittenXattr is the extended attribute WriteFile puts on the files it
// writes (value WrittenBy), so that files of others are told apart.
const (
	WrittenXattr = "user.diktyo"
	WrittenBy    = "diktyo-ifup"
)

// markWritten sets WrittenXattr on f. A file system without user extended
// attributes leaves the file unmarked: it is then never taken for one of
// WriteFile's (Written), which only costs a leftover file.
func markWritten(f *os.File) {
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.Fsetxattr(int(fd), WrittenXattr, []byte(WrittenBy), 0) })
	}
}

// Written reports whether the binding file at path is one WriteFile wrote
// and nobody changed since: it carries WriteFile's mark (WrittenXattr) and
// holds exactly what WriteFile writes for the binding it describes. A
// file written by hand, by GRNET's scripts or by another tool is not, and
// diktyo never removes such a file on its own.
func Written(path string) (bool, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() > maxWrittenSize {
		return false, err
	}
	var mark [len(WrittenBy) + 1]byte
	n, xerr := -1, error(nil)
	rc, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	if err := rc.Control(func(fd uintptr) { n, xerr = unix.Fgetxattr(int(fd), WrittenXattr, mark[:]) }); err != nil {
		return false, err
	}
	if xerr != nil || string(mark[:n]) != WrittenBy {
		return false, nil
	}
	data, err := io.ReadAll(io.LimitReader(f, maxWrittenSize+1))
	if err != nil {
		return false, err
	}
	b, err := parseBytes(filepath.Base(path), data)
	if err != nil {
		return false, nil
	}
	return b.Validate() == nil && bytes.Equal(b.Marshal(), data), nil
}

// maxWrittenSize bounds what Written reads: WriteFile's files are a few
// hundred bytes.
const maxWrittenSize = 64 << 10

// ignoredName reports whether a directory entry is not a binding file:
// hidden files (including WriteFile's temp files) and names that cannot be
// interface names.
func ignoredName(name string) bool {
	return strings.HasPrefix(name, tempPrefix) || checkIfName(name) != nil
}
