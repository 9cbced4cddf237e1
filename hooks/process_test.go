package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/hook"
)

// instanceEnv is a real instance-add environment of phase for instance
// name whose one NIC has ip.
func instanceEnv(t testing.TB, phase, name, uuid, ip string) []string {
	return dumpHookEnv(t, "kvm/instance-add-"+phase+".env", func(e *ganeti.HookEnv) {
		for _, v := range []*ganeti.HookView{&e.HookView, e.Post} {
			if v == nil {
				continue
			}
			v.Instance.Name = name
			v.OpTarget = name
			v.Instance.NICs[0].IP = netip.MustParseAddr(ip)
			v.Instance.NICs[0].UUID = uuid
		}
	})
}

// 16 instance-add pre+post pairs at once on one network, two instances
// wanting each address: one of each pair is refused with one line naming
// the holder, no address goes to two instances, and check stays clean.
func TestProcessConcurrentAdds(t *testing.T) {
	n := newNode(t, master, nil)
	n.mustIpam("network", "add", "--network=198.18.100.0/24", "--gateway=198.18.100.1", "net2")
	type result struct {
		refused bool
		out     string
	}
	results := make([]result, 16)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name, uuid, ip := fmt.Sprintf("vm%02d.ganeti.test", i), fmt.Sprintf("uuid-%02d", i), fmt.Sprintf("198.18.100.%d", 10+i%8)
			out, err := n.hook(instanceEnv(t, "pre", name, uuid, ip))
			var exit *exec.ExitError
			if errors.As(err, &exit) && exit.ExitCode() == hook.ExitError {
				results[i] = result{true, out}
				return
			}
			if err != nil {
				t.Errorf("%s pre: %v\n%s", name, err, out)
				return
			}
			if out, err := n.hook(instanceEnv(t, "post", name, uuid, ip)); err != nil {
				t.Errorf("%s post: %v\n%s", name, err, out)
			}
		}()
	}
	wg.Wait()
	refusal := regexp.MustCompile(`^diktyo-hook: error: instance-add pre: refused: (vm\d\d)\.ganeti\.test NIC 0: (198\.18\.100\.\d+) in net2 is held by (vm\d\d)\.ganeti\.test:uuid-\d\d\n$`)
	holder := map[string]string{} // address -> instance
	for _, l := range n.holdings() {
		f := strings.Fields(l)
		if _, dup := holder[f[1]]; dup {
			t.Fatalf("%s held twice", f[1])
		}
		holder[f[1]], _, _ = strings.Cut(f[2], ".")
	}
	refused := 0
	for i, r := range results {
		name := fmt.Sprintf("vm%02d", i)
		ip := fmt.Sprintf("198.18.100.%d", 10+i%8)
		if !r.refused {
			if holder[ip] != name {
				t.Errorf("%s passed but %s is held by %q", name, ip, holder[ip])
			}
			continue
		}
		refused++
		m := refusal.FindStringSubmatch(r.out)
		if m == nil || m[1] != name || m[2] != ip || m[3] != holder[ip] || m[3] == name {
			t.Errorf("%s: refusal %q (holder of %s: %s)", name, r.out, ip, holder[ip])
		}
	}
	if refused != 8 || len(holder) != 8 {
		t.Errorf("%d refused, %d addresses held", refused, len(holder))
	}
	if out := n.mustIpam("check"); !strings.HasPrefix(out, "consistent") {
		t.Errorf("check: %s", out)
	}
}

// install links diktyo-hook into every hook directory it serves, under a
// name Ganeti runs; both install and uninstall are idempotent; uninstall
// removes exactly those links and nothing of anybody else's.
func TestProcessInstall(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hooks")
	run := func(args ...string) (string, error) {
		out, err := exec.Command(bins.hook, args...).CombinedOutput()
		return string(out), err
	}
	ganetiName := regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	if !ganetiName.MatchString(hook.EntryName) {
		t.Fatalf("Ganeti would not run %q", hook.EntryName)
	}
	// Somebody else's hooks, in one of the directories.
	other := filepath.Join(dir, "instance-add-post.d", "50-other")
	if err := os.MkdirAll(filepath.Dir(other), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := run("install", "--hooks-dir", dir, "--binary", bins.hook)
	if err != nil || strings.Count(out, "installed ") != len(hook.Served()) {
		t.Fatalf("install: %v\n%s", err, out)
	}
	for _, d := range hook.Served() {
		p := filepath.Join(dir, d.Name(), hook.EntryName)
		fi, err := os.Stat(p)
		if err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("%s: %v, mode %v", p, err, fi.Mode())
		}
	}
	if out, err := run("install", "--hooks-dir", dir, "--binary", bins.hook); err != nil || out != "" {
		t.Fatalf("second install: %v\n%s", err, out)
	}
	out, err = run("list", "--hooks-dir", dir)
	if err != nil || strings.Count(out, "installed ") != len(hook.Served()) || strings.Contains(out, "missing") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	// A file of that name that is not ours is never replaced.
	foreign := filepath.Join(dir, "network-add-post.d", hook.EntryName)
	if err := os.Remove(foreign); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(foreign, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err = run("install", "--hooks-dir", dir, "--binary", bins.hook)
	if err == nil || !strings.Contains(out, foreign+" exists and is not diktyo-hook's") {
		t.Fatalf("install over a foreign file: %v\n%s", err, out)
	}
	out, err = run("uninstall", "--hooks-dir", dir)
	if err != nil || strings.Count(out, "removed ") != len(hook.Served())-1 {
		t.Fatalf("uninstall: %v\n%s", err, out)
	}
	if out, err := run("uninstall", "--hooks-dir", dir); err != nil || out != "" {
		t.Fatalf("second uninstall: %v\n%s", err, out)
	}
	for _, p := range []string{other, foreign} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("uninstall removed %s", p)
		}
	}
	out, _ = run("list", "--hooks-dir", dir)
	if strings.Count(out, "missing ") != len(hook.Served())-1 || strings.Count(out, "foreign ") != 1 {
		t.Errorf("list after uninstall:\n%s", out)
	}
}

// diktyo-ipam sync ganeti lists every difference and exits 8; --apply
// takes Ganeti's side; afterwards there is nothing left to report.
func TestProcessSync(t *testing.T) {
	n := newNode(t, master, nil)
	n.mustIpam("network", "add", "--network=198.51.100.0/24", "--gateway=198.51.100.1", "--tags=nfdhcpd", "net1")
	n.mustIpam("ip", "reserve", "--owner=gone.ganeti.test:0", "net1", "198.51.100.9")
	n.ganeti("net1|5d052136-8f8a-42cb-aa98-7cf5137dbf97|198.51.100.0/24|198.51.100.1|-|-|aa:00:00|nfdhcpd|default (bridged, gntbr0, )|198.51.100.0, 198.51.100.1, 198.51.100.255\n",
		"kvm1.ganeti.test|['2307dc9d-3ef4-4362-a6c4-a164039a76a6']|['nic0']|198.51.100.2|aa:00:00:0d:f1:78|gntbr0|5d052136-8f8a-42cb-aa98-7cf5137dbf97\n")
	out, err := n.ipam("sync", "ganeti")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 8 {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	want := `network net1: UUID: Ganeti 5d052136-8f8a-42cb-aa98-7cf5137dbf97, pool none
network net1: MAC prefix: Ganeti aa:00:00, pool none
network net1: group default: Ganeti mode=bridged,link=gntbr0, pool not connected
net1 198.51.100.2: kvm1.ganeti.test:2307dc9d-3ef4-4362-a6c4-a164039a76a6 in Ganeti, free in the pool: reserve
net1 198.51.100.9: held by gone.ganeti.test:0, an instance Ganeti does not know: release
5 disagreements; run with --apply to take Ganeti's side
diktyo-ipam: the pool is inconsistent: the pool disagrees with Ganeti: 5 differences
`
	if out != want {
		t.Errorf("sync:\n%s\nwant:\n%s", out, want)
	}
	if out, err := n.ipam("sync", "ganeti", "--apply"); err != nil || !strings.HasSuffix(out, "applied 5 changes\n") {
		t.Fatalf("sync --apply: %v\n%s", err, out)
	}
	if out := n.mustIpam("sync", "ganeti"); out != "in step with Ganeti: 1 networks, 1 instances\n" {
		t.Errorf("after --apply: %s", out)
	}
	sameLines(t, "pool", n.holdings(), []string{"net1 198.51.100.2 kvm1.ganeti.test:2307dc9d-3ef4-4362-a6c4-a164039a76a6"})
}
