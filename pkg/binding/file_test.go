package binding

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

func TestWriteReadRemove(t *testing.T) {
	dir := t.TempDir()
	b, err := ReadFile("testdata/tap5")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second write replaces the first
		if err := WriteFile(dir, b); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "tap5")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	des, _ := os.ReadDir(dir)
	if len(des) != 1 {
		t.Errorf("directory holds %d entries, want 1 (temp file left?)", len(des))
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(b) {
		t.Errorf("read back differs:\n%s\n%s", dump(got), dump(b))
	}
	for range 2 { // idempotent
		if err := Remove(dir, "tap5"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file still there: %v", err)
	}
	if err := Remove(dir, "../x"); !errors.Is(err, ErrTapName) {
		t.Errorf("Remove(../x) = %v, want ErrTapName", err)
	}
}

func TestWriteFileInvalid(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(dir, &Binding{Tap: "tap1", InDev: "tap1"}); !errors.Is(err, ErrMissing) {
		t.Errorf("WriteFile(no MAC) = %v, want ErrMissing", err)
	}
	if err := WriteFile(filepath.Join(dir, "nope"), mustParse(t, "tap1", base)); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
	if des, _ := os.ReadDir(dir); len(des) != 0 {
		t.Errorf("left %d entries behind", len(des))
	}
}

func TestReadFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "tap1")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if _, err := ReadFile(fifo); !errors.Is(err, ErrNotRegular) {
		t.Errorf("ReadFile(fifo) = %v, want ErrNotRegular", err)
	}
	if _, err := ReadFile(dir); !errors.Is(err, ErrNotRegular) && !errors.Is(err, ErrTapName) {
		t.Errorf("ReadFile(dir) = %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "tap2")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile(missing) = %v, want ErrNotExist", err)
	}
}

// Written tells WriteFile's files from files others wrote: GRNET's
// samples, hand edits and anything that is not a binding.
func TestWritten(t *testing.T) {
	dir := t.TempDir()
	b, err := ReadFile("testdata/tap5")
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(dir, b); err != nil {
		t.Fatal(err)
	}
	ours := filepath.Join(dir, "tap5")
	data, err := os.ReadFile(ours)
	if err != nil {
		t.Fatal(err)
	}
	grnet, err := os.ReadFile("testdata/tap5") // GRNET's sample binding
	if err != nil {
		t.Fatal(err)
	}
	nl := bytes.IndexByte(data, '\n') + 1
	for name, tc := range map[string]struct {
		data []byte
		want bool
	}{
		"WriteFile's bytes, unmarked": {data, false},
		"GRNET's scripts":             {grnet, false},
		"a comment added":             {slices.Concat([]byte("# mine\n"), data), false},
		"keys reordered":              {slices.Concat(data[nl:], data[:nl]), false},
		"no trailing newline":         {bytes.TrimSuffix(data, []byte("\n")), false},
		"not a binding":               {[]byte("hello\n"), false},
		"empty":                       {nil, false},
		"valid but no HOSTNAME":       {[]byte("MAC=aa:00:00:00:00:01\n"), false},
	} {
		path := filepath.Join(dir, "tap9")
		if err := os.WriteFile(path, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := Written(path); err != nil || got != tc.want {
			t.Errorf("%s: Written = %v, %v; want %v", name, got, err, tc.want)
		}
	}
	if got, err := Written(ours); err != nil || !got {
		t.Errorf("Written(WriteFile's file) = %v, %v", got, err)
	}
	// The mark stays, the content changes: not ours any more.
	f, err := os.OpenFile(ours, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("# edited\n")
	f.Close()
	if got, err := Written(ours); err != nil || got {
		t.Errorf("Written(edited) = %v, %v", got, err)
	}
	if got, err := Written(dir); err != nil || got {
		t.Errorf("Written(directory) = %v, %v", got, err)
	}
	if _, err := Written(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Written(missing): %v", err)
	}
}
