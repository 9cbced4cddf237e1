package ifup

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
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
