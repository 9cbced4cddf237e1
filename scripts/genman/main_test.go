package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunWritesEveryPage checks that every binary gets a section 8 page
// that names it and carries its command line from the CLI definitions.
func TestRunWritesEveryPage(t *testing.T) {
	dir := t.TempDir()
	if err := run(dir); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{
		"diktyo-ipam": {`.SH network`, `completion`, `\fB--db\fP`},
		"diktyo-ifup": {`diktyo\-ifup reconcile`, `diktyo\-ifup \-\-version`, `/etc/default/diktyo`},
		"diktyo-hook": {`diktyo\-hook install`, `diktyo\-hook uninstall`, `diktyo\-hook \-\-version`},
		"nfdhcpd":     {`\-metrics\-listen`, `nfdhcpd \-\-version`, `/etc/nfdhcpd/nfdhcpd.conf`},
	} {
		b, err := os.ReadFile(filepath.Join(dir, name+".8"))
		if err != nil {
			t.Fatal(err)
		}
		page := string(b)
		if !strings.HasPrefix(page, ".TH") && !strings.Contains(page, "\n.TH ") {
			t.Errorf("%s.8: no .TH header", name)
		}
		for _, w := range want {
			if !strings.Contains(page, w) {
				t.Errorf("%s.8 lacks %q", name, w)
			}
		}
	}
}
