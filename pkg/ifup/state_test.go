package ifup

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tap0.json")
	for i, content := range []string{"first", "second", "third"} {
		tmp := filepath.Join(dir, fmt.Sprintf(".tap0.tmp-%d", i))
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := replace(tmp, path); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("after replace %d: %q, %v", i, got, err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Fatalf("after replace %d: %d files", i, len(ents))
		}
	}
}

func TestRemoveStaleTemps(t *testing.T) {
	s := store{dir: t.TempDir()}
	now := time.Now()
	files := map[string]time.Duration{
		".tap0.tmp-1": 2 * time.Minute, // stale: removed
		".tap1.tmp-2": time.Second,     // a write in progress: kept
		"tap0.json":   time.Hour,       // a record: kept
		".hidden":     time.Hour,       // not ours: kept
	}
	for name, age := range files {
		p := filepath.Join(s.dir, name)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.removeStaleTemps(now, staleTempAge); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		_, err := os.Stat(filepath.Join(s.dir, name))
		if gone := err != nil; gone != (name == ".tap0.tmp-1") {
			t.Errorf("%s: gone %v", name, gone)
		}
	}
}
