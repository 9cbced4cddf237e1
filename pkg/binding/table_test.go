package binding

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
)

// fakeLinks is a Resolver over a fixed name → ifindex map.
type fakeLinks map[string]int

func (l fakeLinks) resolve(name string) (int, error) {
	if i, ok := l[name]; ok {
		return i, nil
	}
	return 0, fmt.Errorf("link %s: %w", name, errNoLink)
}

var errNoLink = errors.New("no such link")

func mustParse(t testing.TB, tap, s string) *Binding {
	t.Helper()
	b, err := Parse(tap, strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func testTable(t testing.TB) (*Table, []error) {
	links := fakeLinks{"tap1": 11, "tap2": 12, "tap3": 13, "br0": 100, "br1": 101, "tap6": 16, "tap7": 17}
	bs := []*Binding{
		mustParse(t, "tap1", "INDEV=tap1\nMAC=aa:00:00:00:00:01\nHOSTNAME=routed"),
		mustParse(t, "tap2", "INDEV=br0\nMAC=aa:00:00:00:00:02\nHOSTNAME=bridged"),
		mustParse(t, "tap3", "INDEV=br1\nMAC=aa:00:00:00:00:03\nHOSTNAME=bridged1"),
		mustParse(t, "tap4", "INDEV=tap4\nMAC=aa:00:00:00:00:04\nHOSTNAME=stale"),
		mustParse(t, "tap5", "INDEV=brX\nMAC=aa:00:00:00:00:05\nHOSTNAME=nobridge"),
		// Two NICs with one MAC on one bridge: the MAC index is ambiguous.
		mustParse(t, "tap6", "INDEV=br1\nMAC=aa:00:00:00:00:66\nHOSTNAME=dup1"),
		mustParse(t, "tap7", "INDEV=br1\nMAC=aa:00:00:00:00:66\nHOSTNAME=dup2"),
		{Tap: "bad"}, // invalid: left out
	}
	return NewTable(bs, links.resolve)
}

func TestTableLookup(t *testing.T) {
	tab, errs := testTable(t)
	if len(errs) != 3 {
		t.Errorf("errors = %q, want 3 (tap4, tap5 stale; bad invalid)", errs)
	}
	if tab.Len() != 7 {
		t.Errorf("Len = %d, want 7", tab.Len())
	}
	tests := []struct {
		name       string
		in, physIn int
		src        string
		wantHost   string // "" = not found
		wantTapIdx int
	}{
		{"routed by in", 11, 0, "aa:00:00:00:00:99", "routed", 11},
		{"routed, physIn set (not bridged)", 11, 11, "", "", 0},
		{"bridged by phys", 100, 12, "", "bridged", 12},
		{"bridged, wrong bridge", 101, 12, "", "", 0},
		{"bridged tap as in", 12, 0, "", "", 0},
		{"bridged by MAC", 100, 0, "aa:00:00:00:00:02", "bridged", 12},
		{"bridged by MAC wrong bridge", 101, 0, "aa:00:00:00:00:02", "", 0},
		{"bridged by MAC unknown", 100, 0, "aa:00:00:00:00:09", "", 0},
		{"bridged no MAC", 100, 0, "", "", 0},
		{"ambiguous MAC", 101, 0, "aa:00:00:00:00:66", "", 0},
		{"dup MAC by phys", 101, 17, "", "dup2", 17},
		{"unknown", 99, 0, "", "", 0},
		{"zero", 0, 0, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var src net.HardwareAddr
			if tt.src != "" {
				src = mac(tt.src)
			}
			b, ok := tab.Lookup(tt.in, tt.physIn, src)
			if tt.wantHost == "" {
				if ok {
					t.Fatalf("found %s, want none", b.Hostname)
				}
				return
			}
			if !ok || b.Hostname != tt.wantHost {
				t.Fatalf("Lookup = %v, %v; want %s", b, ok, tt.wantHost)
			}
			e, _ := tab.LookupEntry(tt.in, tt.physIn, src)
			if e.TapIndex != tt.wantTapIdx {
				t.Errorf("TapIndex = %d, want %d", e.TapIndex, tt.wantTapIdx)
			}
		})
	}
	if e, ok := tab.ByTap("tap4"); !ok || e.TapIndex != 0 {
		t.Errorf("ByTap(tap4) = %v, %v; want stale entry", e, ok)
	}
	var names []string
	for _, e := range tab.Entries() {
		names = append(names, e.Binding.Tap)
	}
	if got := strings.Join(names, " "); got != "tap1 tap2 tap3 tap4 tap5 tap6 tap7" {
		t.Errorf("Entries = %s", got)
	}
}

func TestNilTable(t *testing.T) {
	var tab *Table
	if _, ok := tab.Lookup(1, 0, nil); ok || tab.Len() != 0 || tab.Entries() != nil {
		t.Error("nil table is not empty")
	}
	if _, ok := tab.ByTap("x"); ok {
		t.Error("nil table ByTap found something")
	}
}

func TestLookupAllocs(t *testing.T) {
	tab, _ := testTable(t)
	src := mac("aa:00:00:00:00:02")
	n := testing.AllocsPerRun(100, func() {
		tab.Lookup(11, 0, nil)
		tab.Lookup(100, 12, nil)
		tab.Lookup(100, 0, src)
	})
	if n != 0 {
		t.Errorf("Lookup allocates %v times", n)
	}
}

func BenchmarkLookup(b *testing.B) {
	links := fakeLinks{"br0": 1}
	var bs []*Binding
	for i := range 4096 {
		tap := fmt.Sprintf("tap%d", i)
		links[tap] = 10 + i
		indev := tap
		if i%2 == 1 {
			indev = "br0"
		}
		bs = append(bs, mustParse(b, tap, fmt.Sprintf("INDEV=%s\nMAC=aa:00:00:00:%02x:%02x\nHOSTNAME=h", indev, i>>8, i&0xff)))
	}
	tab, errs := NewTable(bs, links.resolve)
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	src := mac("aa:00:00:00:0f:ff")
	for _, c := range []struct {
		name       string
		in, physIn int
		src        net.HardwareAddr
	}{
		{"routed", 10 + 4094, 0, nil},
		{"bridged-phys", 1, 10 + 4095, nil},
		{"bridged-mac", 1, 0, src},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := tab.Lookup(c.in, c.physIn, c.src); !ok {
					b.Fatal("not found")
				}
			}
		})
	}
}
