package etcdconf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidPrefix(t *testing.T) {
	for _, p := range []string{"diktyo", "diktyo/cluster-1", "a.b_c/D9"} {
		if err := ValidPrefix(p); err != nil {
			t.Errorf("ValidPrefix(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", "/a", "a/", "a//b", "a/../b", ".", "a@b", "a b", "a:b", strings.Repeat("x", 201)} {
		if err := ValidPrefix(p); !errors.Is(err, ErrPrefix) {
			t.Errorf("ValidPrefix(%q) = %v, want ErrPrefix", p, err)
		}
	}
}

func TestName(t *testing.T) {
	if got := Name([]string{"a:1", "b:2"}, "x/y", false); got != "etcd://a:1,b:2/x/y" {
		t.Errorf("Name = %q", got)
	}
	if got := Name([]string{"a:1"}, "x", true); got != "etcds://a:1/x" {
		t.Errorf("Name = %q", got)
	}
}

// TestTLSFiles covers what Config refuses; accepted files are exercised
// against a real member in etcdstore's TestTLS.
func TestTLSFiles(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := (TLSFiles{}).Config(); err != nil || c.RootCAs != nil || len(c.Certificates) != 0 {
		t.Errorf("empty TLSFiles: %v, %v", c, err)
	}
	for _, f := range []TLSFiles{{Cert: junk}, {Key: junk}, {CA: junk}, {CA: filepath.Join(dir, "missing")}, {Cert: junk, Key: junk}} {
		if _, err := f.Config(); err == nil {
			t.Errorf("Config(%+v) succeeded", f)
		}
	}
}
