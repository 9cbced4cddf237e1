package hook

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/diktyo/diktyo/pkg/ganeti/ganetitest"
)

// The real environments (ganetitest.Dir) are of a Ganeti 3.0.2 cluster
// with two nodes, vm.ganeti.test (the master) and n2.ganeti.test.
const (
	master = "vm.ganeti.test"
	node2  = "n2.ganeti.test"
)

// hookDumps returns every hook environment dump ("kvm/instance-add-pre.env"
// ...), kvm-ifup dumps left out.
func hookDumps(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"kvm", "fake"} {
		ents, err := os.ReadDir(filepath.Join(ganetitest.Dir(), sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			n := e.Name()
			if strings.HasSuffix(n, "-pre.env") || strings.HasSuffix(n, "-post.env") {
				out = append(out, sub+"/"+n)
			}
		}
	}
	if len(out) < 50 {
		t.Fatalf("only %d dumps", len(out))
	}
	return out
}

// expectedPlans says, for every dump, what the master (vm) and the other
// node (n2) do; a dump not listed does nothing on either. "pool/host".
var expectedPlans = map[string][2]string{
	"kvm/instance-add-pre.env":                        {"claim/", "/"},
	"kvm/instance-add-post.env":                       {"instance/", "/"},
	"kvm/instance-failover-post.env":                  {"/announce", "/down"},
	"kvm/instance-failover-to-n2-post.env":            {"/down", "/announce"},
	"kvm/instance-migrate-pre.env":                    {"/incoming", "/"},
	"kvm/instance-migrate-post.env":                   {"/announce", "/down"},
	"kvm/instance-migrate-back-pre.env":               {"/incoming", "/"},
	"kvm/instance-migrate-to-n2-pre.env":              {"/", "/incoming"},
	"kvm/instance-migrate-back-post.env":              {"/announce", "/down"},
	"kvm/instance-migrate-to-n2-post.env":             {"/down", "/announce"},
	"kvm/instance-modify-pre.env":                     {"claim/", "/"},
	"kvm/instance-modify-post.env":                    {"instance/verify", "/"},
	"kvm/instance-modify-add-nic-hotplug-pre.env":     {"claim/", "/"},
	"kvm/instance-modify-add-nic-hotplug-post.env":    {"instance/verify", "/"},
	"kvm/instance-modify-modify-nic-hotplug-pre.env":  {"claim/", "/"},
	"kvm/instance-modify-modify-nic-hotplug-post.env": {"instance/verify", "/"},
	"kvm/instance-modify-remove-nic-hotplug-pre.env":  {"claim/", "/"},
	"kvm/instance-modify-remove-nic-hotplug-post.env": {"instance/verify", "/"},
	"kvm/instance-reboot-post.env":                    {"/verify", "/"},
	"kvm/instance-reboot-hard-post.env":               {"/verify", "/"},
	"kvm/instance-reboot-soft-post.env":               {"/verify", "/"},
	"kvm/instance-remove-post.env":                    {"release/down", "/down"},
	"kvm/instance-start-post.env":                     {"/verify", "/"},
	"kvm/instance-stop-post.env":                      {"/down", "/down"},
	"kvm/network-add-post.env":                        {"network/", "/"},
	"kvm/network-connect-post.env":                    {"group/", "/"},
	"fake/instance-add-pre.env":                       {"claim/", "/"},
	"fake/instance-add-post.env":                      {"instance/", "/"},
	"fake/instance-modify-pre.env":                    {"claim/", "/"},
	"fake/instance-modify-post.env":                   {"instance/verify", "/"},
	"fake/instance-modify-add-nic-pre.env":            {"claim/", "/"},
	"fake/instance-modify-add-nic-post.env":           {"instance/verify", "/"},
	"fake/instance-modify-remove-nic-pre.env":         {"claim/", "/"},
	"fake/instance-modify-remove-nic-post.env":        {"instance/verify", "/"},
	"fake/instance-reboot-post.env":                   {"/verify", "/"},
	"fake/instance-remove-post.env":                   {"release/down", "/down"},
	"fake/instance-rename-post.env":                   {"rename/down", "/down"},
	"fake/instance-start-post.env":                    {"/verify", "/"},
	"fake/instance-stop-post.env":                     {"/down", "/down"},
}

func planString(p Plan) string { return string(p.Pool) + "/" + string(p.Host) }

// Decide against every real environment, on the master, on the other
// node and on a node that is in none of them.
func TestDecideDumps(t *testing.T) {
	for _, name := range hookDumps(t) {
		e := ganetitest.HookEnv(t, name)
		want, listed := expectedPlans[name]
		if !listed {
			want = [2]string{"/", "/"}
		}
		for i, node := range []string{master, node2} {
			if got := planString(Decide(e, node)); got != want[i] {
				t.Errorf("%s on %s: %s, want %s", name, node, got, want[i])
			}
		}
		// Node names are FQDNs compared without case.
		if got := planString(Decide(e, strings.ToUpper(master))); got != want[0] {
			t.Errorf("%s on %s: %s, want %s", name, strings.ToUpper(master), got, want[0])
		}
		// Stop, remove and rename tear down wherever the hook runs; all
		// else needs a role.
		outsider := "/"
		if strings.HasSuffix(want[1], "/down") && !strings.Contains(name, "migrate") && !strings.Contains(name, "failover") {
			outsider = "/down"
		}
		if got := planString(Decide(e, "elsewhere.ganeti.test")); got != outsider {
			t.Errorf("%s on another node: %s, want %s", name, got, outsider)
		}
	}
	for name := range expectedPlans {
		if _, err := os.Stat(filepath.Join(ganetitest.Dir(), name)); err != nil {
			t.Errorf("expectedPlans lists %s: %v", name, err)
		}
	}
}

// Decide acts only in the directories Served lists, so that install
// links into exactly those.
func TestServedMatchesDecide(t *testing.T) {
	served := map[string]bool{}
	for _, d := range Served() {
		if served[d.Name()] {
			t.Errorf("%s listed twice", d.Name())
		}
		served[d.Name()] = true
	}
	acting := map[string]bool{}
	for _, name := range hookDumps(t) {
		e := ganetitest.HookEnv(t, name)
		for _, node := range []string{master, node2} {
			if !Decide(e, node).IsZero() {
				acting[Dir{e.Path, e.Phase}.Name()] = true
			}
		}
	}
	for d := range acting {
		if !served[d] {
			t.Errorf("Decide acts in %s, which Served does not list", d)
		}
	}
	// Served directories without a dump: built from a dump of the same
	// kind of object, they must act for some role.
	for _, d := range Served() {
		if acting[d.Name()] {
			continue
		}
		base := "kvm/instance-stop-post.env"
		if d.Path == "instance-move" {
			base = "kvm/instance-failover-to-n2-post.env" // a move changes the primary too
		}
		switch {
		case strings.HasPrefix(d.Path, "network-connect"), strings.HasPrefix(d.Path, "network-disconnect"):
			base = "kvm/network-connect-post.env"
		case strings.HasPrefix(d.Path, "network-"):
			base = "kvm/network-add-post.env"
		}
		e := ganetitest.HookEnv(t, base)
		e.Path, e.Phase = d.Path, d.Phase
		if d.Path == "instance-rename" {
			e.Instance.NewName = "renamed.ganeti.test"
		}
		if Decide(e, master).IsZero() && Decide(e, node2).IsZero() {
			t.Errorf("%s is served but Decide does nothing there", d.Name())
		}
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range served {
			if !yield(n) {
				return
			}
		}
	})
	if len(names) != 18 {
		t.Errorf("served: %v", names)
	}
}

// A migration cleanup (the instance stays) verifies on the primary; a
// pre phase other than add and modify does nothing anywhere.
func TestDecideEdges(t *testing.T) {
	e := ganetitest.HookEnv(t, "kvm/instance-migrate-post.env")
	e.Post.Instance.Primary = e.Instance.Primary // cleanup: no move
	if got := planString(Decide(e, node2)); got != "/verify" {
		t.Errorf("cleanup on the primary: %s", got)
	}
	if got := planString(Decide(e, master)); got != "/" {
		t.Errorf("cleanup on the master: %s", got)
	}
	for _, name := range []string{"kvm/instance-stop-pre.env", "kvm/instance-remove-pre.env", "kvm/network-add-pre.env", "fake/instance-rename-pre.env"} {
		if p := Decide(ganetitest.HookEnv(t, name), master); !p.IsZero() {
			t.Errorf("%s: %s", name, planString(p))
		}
	}
	// The pre phase of a migration cleanup, or of a migration that does
	// not move the instance, stores nothing on the primary.
	pre := ganetitest.HookEnv(t, "kvm/instance-migrate-to-n2-pre.env")
	pre.Extra["MIGRATE_CLEANUP"] = "True"
	if p := Decide(pre, node2); !p.IsZero() {
		t.Errorf("migrate cleanup pre on the target: %s", planString(p))
	}
	pre = ganetitest.HookEnv(t, "kvm/instance-migrate-to-n2-pre.env")
	pre.Migration.OldPrimary = node2
	if p := Decide(pre, node2); !p.IsZero() {
		t.Errorf("migrate pre without a move: %s", planString(p))
	}
}

func TestMatchNode(t *testing.T) {
	list := []byte("vm.ganeti.test\nn2.ganeti.test\n\nnode10.example.org\n")
	for host, want := range map[string]string{
		"vm":                 "vm.ganeti.test",
		"N2":                 "n2.ganeti.test",
		"vm.ganeti.test":     "vm.ganeti.test",
		"VM.GANETI.TEST":     "vm.ganeti.test",
		"n2.other.test":      "n2.other.test", // an FQDN not in the list stays
		"node1":              "node1",         // no prefix matches
		"elsewhere":          "elsewhere",
		"node10":             "node10.example.org",
		"node10.example.org": "node10.example.org",
	} {
		if got := matchNode(host, list); got != want {
			t.Errorf("%s: %s, want %s", host, got, want)
		}
	}
	if got := NodeName(func(k string) string {
		if k == EnvNodeName {
			return "forced.example.org"
		}
		return ""
	}, "/nonexistent"); got != "forced.example.org" {
		t.Errorf("override: %s", got)
	}
	host, _ := os.Hostname()
	if got := NodeName(func(string) string { return "" }, t.TempDir()); got != host {
		t.Errorf("no ssconf: %s, want the host name %s", got, host)
	}
}
