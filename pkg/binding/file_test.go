package binding

import (
	"errors"
	"os"
	"path/filepath"
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
