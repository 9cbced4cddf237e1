package importrules

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/diktyo/diktyo"

// pure are the packages that compute without touching the system: they
// are table-tested without root, so nothing they link may reach the
// kernel's network state, a store or another process.
var pure = []string{
	"pkg/ganeti", "pkg/netplan", "pkg/dhcp4", "pkg/dhcp6", "pkg/ndp", "pkg/ip6frame",
	"pkg/ipam", "pkg/ovsflow", "pkg/inetsum", "pkg/nfdconf",
}

// forbiddenInPure are import paths (or prefixes ending in "/") no pure
// package may depend on, directly or not.
var forbiddenInPure = []string{
	"github.com/vishvananda/netlink", "github.com/mdlayher/netlink", "github.com/mdlayher/packet",
	"github.com/mdlayher/socket", "github.com/google/nftables", "go.etcd.io/bbolt", "go.etcd.io/etcd/",
	"os/exec", module + "/pkg/hostnet", module + "/pkg/firewall", module + "/pkg/nfqueue",
	module + "/pkg/ipam/boltstore", module + "/pkg/ipam/etcdstore",
}

// testHelpers are packages only tests may import.
var testHelpers = []string{
	"testing", "github.com/mdlayher/netlink/nltest", module + "/pkg/nettest",
	module + "/pkg/ipam/storetest", module + "/pkg/ipam/etcdstore/etcdtest", module + "/pkg/golden",
}

type pkgInfo struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func list(t *testing.T) map[string]pkgInfo {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkgInfo{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkgInfo
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

func matches(path string, rules []string) bool {
	return slices.ContainsFunc(rules, func(r string) bool {
		return path == r || (strings.HasSuffix(r, "/") && strings.HasPrefix(path, r))
	})
}

func TestPurePackages(t *testing.T) {
	pkgs := list(t)
	for _, p := range pure {
		info, ok := pkgs[module+"/"+p]
		if !ok {
			t.Errorf("%s: no such package (update the list)", p)
			continue
		}
		for _, d := range info.Deps {
			if matches(d, forbiddenInPure) {
				t.Errorf("pure package %s depends on %s", p, d)
			}
		}
	}
}

func TestNoTestHelpersInProduction(t *testing.T) {
	for path, info := range list(t) {
		if matches(path, testHelpers) {
			continue // a helper may use another
		}
		for _, imp := range info.Imports {
			if matches(imp, testHelpers) {
				t.Errorf("production package %s imports the test helper %s", path, imp)
			}
		}
	}
}
