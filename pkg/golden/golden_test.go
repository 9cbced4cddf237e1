package golden

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
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

func TestCheckAnnotated(t *testing.T) {
	annotate := func(b []byte) string { return hex.EncodeToString(b) + " # frame\n" }
	parse := func(s string) ([]byte, error) { return hex.DecodeString(strings.Fields(s)[0]) }
	path := filepath.Join(t.TempDir(), "x.hex")
	*update = true
	CheckAnnotated(t, path, []byte{1, 2}, annotate, parse)
	*update = false
	CheckAnnotated(t, path, []byte{1, 2}, annotate, parse) // equal: no failure
	for name, c := range map[string]struct {
		frame []byte
		file  string
	}{
		"other bytes":      {[]byte{1, 3}, "0102 # frame\n"},
		"other annotation": {[]byte{1, 2}, "0102 # something else\n"},
	} {
		if err := os.WriteFile(path, []byte(c.file), 0o644); err != nil {
			t.Fatal(err)
		}
		ft := &testing.T{}
		done := make(chan struct{})
		go func() { defer close(done); CheckAnnotated(ft, path, c.frame, annotate, parse) }()
		<-done
		if !ft.Failed() {
			t.Errorf("%s: did not fail the test", name)
		}
	}
}
