package golden

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "x.golden")
	*update = true
	Check(t, path, []byte("one\n"))
	*update = false
	if b, err := os.ReadFile(path); err != nil || string(b) != "one\n" {
		t.Fatalf("written %q, %v", b, err)
	}
	Check(t, path, []byte("one\n")) // equal: no failure
	ft := &testing.T{}
	done := make(chan struct{})
	go func() { defer close(done); Check(ft, path, []byte("two\n")) }()
	<-done
	if !ft.Failed() {
		t.Fatal("a difference did not fail the test")
	}
}
