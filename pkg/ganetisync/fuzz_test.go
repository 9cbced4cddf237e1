package ganetisync

import (
	"os"
	"path/filepath"
	"testing"
)

// The parsers of gnt-* output never panic, and what they accept has the
// shape the rest of the package relies on.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"gnt-network-list.txt", "gnt-instance-list.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("i|[u'a', \"b\", None]|[None,None,None]|1.2.3.4,,None|,,|a,b,c|x,-,None\n"))
	f.Add([]byte("n|u|-|-|-|-|-||g (routed, 1), h (bridged, br0, -)|\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if nets, err := ParseNetworks(b); err == nil {
			for _, n := range nets {
				if n.Name == "" || n.Groups == nil || n.External == nil {
					t.Fatalf("accepted %+v", n)
				}
			}
		}
		if insts, err := ParseInstances(b); err == nil {
			for _, in := range insts {
				for i, nic := range in.NICs {
					if in.Name == "" || nic.Index != i {
						t.Fatalf("accepted %+v", in)
					}
				}
			}
		}
	})
}
