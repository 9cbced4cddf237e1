package hostnet

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/diktyo/diktyo/pkg/netplan"
)

// TestUplink checks Uplink's choice (lowest metric, first hop of a
// multipath route, no default route) with and without the cache, and
// that a stale cache falls back to the full dump and is rewritten.
func TestUplink(t *testing.T) {
	needRoot(t)
	ns := newNS(t, "upl")
	for _, d := range []string{"d1", "d2", "d3"} {
		ns.ip(t, "link", "add", d, "type", "veth", "peer", "name", d+"p") // no dummy module here
		ns.ip(t, "link", "set", d+"p", "up")
		ns.ip(t, "link", "set", d, "up")
	}
	for i := range 50 { // other NICs' host routes
		ns.ip(t, "route", "add", "198.18.0."+itoa(i+1)+"/32", "dev", "d3", "table", "100")
	}
	dir := filepath.Join(t.TempDir(), "cache") // created on first write
	plain := ns.applier(t, Options{})
	cached := ns.applier(t, Options{StateDir: dir})
	check := func(what string, table, family int, want string) {
		t.Helper()
		for _, a := range []*Applier{plain, cached, cached} { // the second cached call uses the cache
			got, err := a.Uplink(table, family)
			if want == "" {
				var nd *netplan.NoDefaultRouteError
				if !errors.As(err, &nd) || nd.Table != table || nd.Family != family {
					t.Errorf("%s: Uplink(%d, %d) = %q, %v, want NoDefaultRouteError", what, table, family, got, err)
				}
				continue
			}
			if err != nil || got != want {
				t.Errorf("%s: Uplink(%d, %d) = %q, %v, want %s", what, table, family, got, err, want)
			}
		}
	}
	cacheFile := func(table, family int) string {
		b, _ := os.ReadFile(filepath.Join(dir, "uplink-"+itoa(table)+"-v"+itoa(family)))
		return string(b)
	}

	check("empty table", 100, 4, "")
	check("empty table", 100, 6, "")
	ns.ip(t, "route", "add", "default", "dev", "d1", "metric", "100", "table", "100")
	ns.ip(t, "-6", "route", "add", "default", "dev", "d1", "metric", "100", "table", "100")
	check("one default", 100, 4, "d1")
	check("one default", 100, 6, "d1")
	check("other table", 101, 4, "")
	if got := cacheFile(100, 4); got != "d1\n" {
		t.Errorf("cache file = %q", got)
	}

	ns.ip(t, "route", "add", "default", "dev", "d2", "metric", "50", "table", "100")
	ns.ip(t, "-6", "route", "add", "default", "dev", "d2", "metric", "50", "table", "100")
	if got, err := plain.Uplink(100, 4); err != nil || got != "d2" {
		t.Errorf("lower metric: Uplink = %q, %v, want d2", got, err)
	}
	// The documented limit: a cached uplink that still has a default
	// route is kept, even if another device got one of lower metric.
	if got, _ := cached.Uplink(100, 4); got != "d1" {
		t.Errorf("cached uplink = %q, want the cached d1", got)
	}
	ns.ip(t, "route", "del", "default", "dev", "d1", "metric", "100", "table", "100")
	ns.ip(t, "-6", "route", "del", "default", "dev", "d1", "metric", "100", "table", "100")
	check("cached uplink lost its route", 100, 4, "d2")
	check("cached uplink lost its route", 100, 6, "d2")
	if got := cacheFile(100, 6); got != "d2\n" {
		t.Errorf("cache file after fallback = %q", got)
	}

	// Multipath: its first hop, here with the lowest metric.
	ns.ip(t, "route", "add", "default", "metric", "10", "table", "100", "nexthop", "dev", "d3", "nexthop", "dev", "d2")
	check("multipath", 100, 4, "d3")
	ns.ip(t, "route", "del", "default", "metric", "10", "table", "100")
	// A multipath route whose first hop is not the cached device, of lower
	// metric than the cached device's own: the filtered dump sees it
	// (it has a hop on d2) and falls back.
	ns.ip(t, "route", "add", "default", "metric", "10", "table", "100", "nexthop", "dev", "d1", "nexthop", "dev", "d2")
	check("multipath via the cached device", 100, 4, "d1")
	ns.ip(t, "route", "del", "default", "metric", "10", "table", "100")
	check("multipath gone", 100, 4, "d2")

	// Unusable cache contents: a full dump decides.
	for _, bad := range []string{"", "nope0\n", "../../x\n", "a very long interface name\n"} {
		if err := os.WriteFile(filepath.Join(dir, "uplink-100-v4"), []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := cached.Uplink(100, 4); err != nil || got != "d2" {
			t.Errorf("cache %q: Uplink = %q, %v", bad, got, err)
		}
	}
	ns.ip(t, "route", "del", "default", "dev", "d2", "table", "100")
	check("no default left", 100, 4, "")

	f, err := cached.Facts("d3", "", 100)
	if err != nil || f.Uplink4 != "" || f.Uplink6 != "d2" || !f.Tap.Exists {
		t.Errorf("Facts = %+v, %v", f, err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
