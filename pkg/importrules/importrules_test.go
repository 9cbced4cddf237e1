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
	module + "/pkg/nfqueue/nfqueuetest", module + "/pkg/firewall/firewalltest", module + "/pkg/ganeti/ganetitest",
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

// nettestMayUse are the packages of this module pkg/nettest may depend
// on: pure leaves (they import no other package of the module) that no
// root test is about.
var nettestMayUse = []string{
	module + "/pkg/inetsum", module + "/pkg/eui64", module + "/pkg/mac", module + "/pkg/ifname",
}

// TestNettestImportsOnlyLeaves: pkg/nettest, which the root tests of the
// production packages import, depends on no production package of this
// module but the leaves in nettestMayUse, so that no package under test
// (pkg/nfqueue, say) is built into its own test's helper.
func TestNettestImportsOnlyLeaves(t *testing.T) {
	pkgs := list(t)
	info, ok := pkgs[module+"/pkg/nettest"]
	if !ok {
		t.Fatal("pkg/nettest: no such package")
	}
	for _, d := range info.Deps {
		if !strings.HasPrefix(d, module+"/") {
			continue
		}
		if !matches(d, nettestMayUse) {
			t.Errorf("pkg/nettest depends on %s (allowed: %v)", d, nettestMayUse)
		}
		for _, imp := range pkgs[d].Imports {
			if strings.HasPrefix(imp, module+"/") {
				t.Errorf("pkg/nettest depends on %s, which is not a leaf (imports %s)", d, imp)
			}
		}
	}
}
