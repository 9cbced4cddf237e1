package hook

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultHooksDir is where Ganeti looks for hooks.
const DefaultHooksDir = "/etc/ganeti/hooks"

// EntryName is diktyo-hook's entry in every hook directory it serves: a
// symlink to the binary. Ganeti runs only executables whose names match
// ^[a-zA-Z0-9_-]+$, so the name has no dot.
const EntryName = "diktyo"

// binaryName is the base name of the binary entries point to: an entry
// whose target has it is diktyo-hook's, wherever it is installed.
const binaryName = "diktyo-hook"

// ErrForeign: an entry named EntryName exists and is not diktyo-hook's.
var ErrForeign = errors.New("exists and is not diktyo-hook's")

// EntryState says what a hook directory holds under EntryName.
type EntryState string

// Entry states.
const (
	Installed EntryState = "installed" // a symlink to diktyo-hook
	Missing   EntryState = "missing"   // nothing
	Foreign   EntryState = "foreign"   // something else: left alone
)

// Entry is diktyo-hook's place in one hook directory.
type Entry struct {
	Dir    Dir
	Path   string // hooksDir/<dir>/diktyo
	Target string // the symlink's target, if it is one
	State  EntryState
}

func entryOf(hooksDir string, d Dir) Entry {
	e := Entry{Dir: d, Path: filepath.Join(hooksDir, d.Name(), EntryName), State: Missing}
	fi, err := os.Lstat(e.Path)
	if err != nil {
		return e
	}
	e.State = Foreign
	if fi.Mode()&fs.ModeSymlink != 0 {
		if t, err := os.Readlink(e.Path); err == nil {
			e.Target = t
			if filepath.Base(t) == binaryName {
				e.State = Installed
			}
		}
	}
	return e
}

// List returns diktyo-hook's entry, or its absence, in every directory it
// serves.
func List(hooksDir string) []Entry {
	var out []Entry
	for _, d := range Served() {
		out = append(out, entryOf(hooksDir, d))
	}
	return out
}

// Install creates the entry EntryName -> binary in every hook directory
// diktyo-hook serves (creating missing directories) and returns the
// entries it created or changed. Entries already pointing to binary stay;
// entries pointing to another diktyo-hook are repointed; anything else of
// that name is left alone and reported (ErrForeign). Running it again
// changes nothing.
func Install(hooksDir, binary string) ([]string, error) {
	bin, err := filepath.Abs(binary)
	if err != nil {
		return nil, err
	}
	if filepath.Base(bin) != binaryName {
		return nil, fmt.Errorf("binary %s: the entries must point to a file named %s (uninstall recognises them so)", bin, binaryName)
	}
	var done []string
	var errs []error
	for _, e := range List(hooksDir) {
		switch {
		case e.State == Foreign:
			errs = append(errs, fmt.Errorf("%s %w", e.Path, ErrForeign))
			continue
		case e.State == Installed && e.Target == bin:
			continue
		}
		if err := os.MkdirAll(filepath.Dir(e.Path), 0o755); err != nil {
			errs = append(errs, err)
			continue
		}
		// A new link next to the entry, renamed over it: never a moment
		// without one.
		tmp := filepath.Join(filepath.Dir(e.Path), "."+EntryName+".new")
		os.Remove(tmp)
		if err := os.Symlink(bin, tmp); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.Rename(tmp, e.Path); err != nil {
			os.Remove(tmp)
			errs = append(errs, err)
			continue
		}
		done = append(done, e.Path)
	}
	return done, errors.Join(errs...)
}

// Uninstall removes exactly the entries Install makes (symlinks named
// EntryName to a diktyo-hook) and returns them; directories and other
// files stay. Running it again changes nothing.
func Uninstall(hooksDir string) ([]string, error) {
	var done []string
	var errs []error
	for _, e := range List(hooksDir) {
		if e.State != Installed {
			continue
		}
		if err := os.Remove(e.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		done = append(done, e.Path)
	}
	return done, errors.Join(errs...)
}
