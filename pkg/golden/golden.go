// Package golden compares what a test produced with a file under the
// test's testdata/ and, with the test flag -update, rewrites the file:
// the one golden-file helper and the one -update flag of diktyo's tests.
// It is a test helper: production code never imports it
// (pkg/importrules checks).
package golden

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Update reports whether the test runs with -update, for tests that
// write their golden files themselves.
func Update() bool { return *update }

// Check compares got with the file at path; with -update it writes got
// to path (creating its directory) instead.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it), %s\n--- got\n%s\n--- want\n%s", path, firstDiff(got, want), got, want)
	}
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return fmt.Sprintf("first at line %d:\n got  %s\n want %s", i+1, a, b)
		}
	}
	return "in line endings"
}

// CheckAnnotated compares a binary frame with an annotated golden file
// (bytes in hex with a comment per field): the bytes parse reads from the
// file must equal frame, and the file must be annotate's text of frame,
// so that both a changed byte and a changed explanation fail. With
// -update it writes annotate(frame) to path first.
func CheckAnnotated(t testing.TB, path string, frame []byte, annotate func([]byte) string, parse func(string) ([]byte, error)) {
	t.Helper()
	text := annotate(frame)
	if *update {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	wantBytes, err := parse(string(want))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !bytes.Equal(wantBytes, frame) {
		t.Errorf("frame differs from %s:\n%s", path, text)
	} else if string(want) != text {
		t.Errorf("annotation differs from %s:\n%s", path, text)
	}
}
