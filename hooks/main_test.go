package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/ganeti/ganetitest"
	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/nettest"
	"github.com/diktyo/diktyo/pkg/osenv"
)

// bins are diktyo-hook, diktyo-ifup and diktyo-ipam, built once.
var bins struct{ hook, ifup, ipam string }

// buildFlags build test binaries the way the Makefile builds the shipped
// ones (start-up cost is part of what the benchmark measures).
var buildFlags = []string{"build", "-trimpath", "-tags", "urfave_cli_no_docs", "-ldflags", "-s -w"}

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "diktyo-hook-test")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		for _, b := range []struct {
			dst *string
			pkg string
		}{{&bins.hook, "."}, {&bins.ifup, "../ifup"}, {&bins.ipam, "../ipam"}} {
			*b.dst = filepath.Join(dir, filepath.Base(map[string]string{".": "diktyo-hook", "../ifup": "diktyo-ifup", "../ipam": "diktyo-ipam"}[b.pkg]))
			build := exec.Command("go", append(buildFlags, "-o", *b.dst, b.pkg)...)
			build.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := build.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b.pkg, err, out)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

// The real hook environments (ganetitest.Dir) are of a two-node Ganeti
// 3.0.2 cluster: vm.ganeti.test (the master) and n2.ganeti.test.
const (
	master = "vm.ganeti.test"
	node2  = "n2.ganeti.test"
)

// node is one Ganeti node: its name, its configuration and state in a
// temp directory, fake gnt-* commands, and (root tests) its namespace.
type node struct {
	t      testing.TB
	name   string
	ns     *nettest.NS // nil: the host's own namespace (pool-only tests)
	dir    string
	config string
	db     string
}

func newNode(t testing.TB, name string, ns *nettest.NS) *node {
	t.Helper()
	n := &node{t: t, name: name, ns: ns, dir: t.TempDir()}
	n.config = filepath.Join(n.dir, "diktyo")
	n.db = filepath.Join(n.dir, "ipam.db")
	conf := fmt.Sprintf("STATE_DIR=%s/state\nNFDHCPD_STATE_DIR=%s/nfdhcpd\nIPAM_DB=%s\nIFUP_EXTRA_SCRIPT=%s/ifup-extra\nQUEUE_BYPASS=yes\n",
		n.dir, n.dir, n.db, n.dir)
	if err := os.WriteFile(n.config, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n.ganeti("", "")
	return n
}

// ganeti sets what the node's fake gnt-network and gnt-instance print
// (the --separator='|' lines pkg/ganetisync asks for).
func (n *node) ganeti(networks, instances string) {
	n.t.Helper()
	bin := filepath.Join(n.dir, "gnt")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		n.t.Fatal(err)
	}
	for name, out := range map[string]string{"gnt-network": networks, "gnt-instance": instances} {
		data := filepath.Join(bin, name+".out")
		if err := os.WriteFile(data, []byte(out), 0o644); err != nil {
			n.t.Fatal(err)
		}
		// list --no-headers --separator=| -o FIELDS [NAME...]
		script := "#!/bin/sh\n[ \"$1\" = list ] || exit 2\nshift 5\n" +
			"[ $# = 0 ] && exec cat " + data + "\n" +
			"for n; do grep \"^$n|\" " + data + "; done; exit 0\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			n.t.Fatal(err)
		}
	}
}

func (n *node) command(ctx context.Context, argv ...string) *exec.Cmd {
	if n.ns != nil {
		return n.ns.Exec(ctx, argv...)
	}
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}

// hook runs diktyo-hook as Ganeti does: the GANETI_* variables of env and
// PATH (with the fake gnt-* first), plus the node's config and name.
func (n *node) hook(env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := n.command(ctx, append([]string{bins.hook}, args...)...)
	cmd.Env = []string{"PATH=" + filepath.Join(n.dir, "gnt") + ":" + os.Getenv("PATH"),
		"DIKTYO_CONFIG=" + n.config, "DIKTYO_NODE_NAME=" + n.name}
	for _, kv := range env {
		if strings.HasPrefix(kv, ganeti.HookPrefix) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (n *node) mustHook(env []string) string {
	n.t.Helper()
	out, err := n.hook(env)
	if err != nil {
		n.t.Fatalf("%s: hook %s: %v\n%s", n.name, osenv.Map(env)["GANETI_HOOKS_PATH"], err, out)
	}
	return out
}

// ifup runs diktyo-ifup with a kvm-ifup environment.
func (n *node) ifup(env map[string]string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := n.command(ctx, append([]string{bins.ifup}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DIKTYO_CONFIG=" + n.config}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (n *node) mustIfup(env map[string]string, args ...string) {
	n.t.Helper()
	if out, err := n.ifup(env, args...); err != nil {
		n.t.Fatalf("%s: diktyo-ifup %v: %v\n%s", n.name, args, err, out)
	}
}

// ipam runs diktyo-ipam on the node's pool.
func (n *node) ipam(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.ipam, append([]string{"--db", n.db}, args...)...)
	cmd.Env = []string{"PATH=" + filepath.Join(n.dir, "gnt") + ":" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (n *node) mustIpam(args ...string) string {
	n.t.Helper()
	out, err := n.ipam(args...)
	if err != nil {
		n.t.Fatalf("diktyo-ipam %v: %v\n%s", args, err, out)
	}
	return out
}

// export reads the node's whole pool (nil when it has none).
func (n *node) export() *ipam.Dump {
	n.t.Helper()
	if _, err := os.Stat(n.db); err != nil {
		return nil
	}
	d, err := ipam.ReadDump(strings.NewReader(n.mustIpam("export")))
	if err != nil {
		n.t.Fatal(err)
	}
	return d
}

// holdings lists the pool's reservations, "NETWORK IP OWNER" for instances
// and "NETWORK IP external", sorted.
func (n *node) holdings() []string {
	n.t.Helper()
	var lines []string
	if d := n.export(); d != nil {
		for _, nd := range d.Networks {
			for _, r := range nd.Reservations {
				who := r.Owner.String()
				if r.Kind == ipam.KindExternal {
					who = "external"
				}
				lines = append(lines, nd.Name+" "+r.IP.String()+" "+who)
			}
		}
	}
	slices.Sort(lines)
	return lines
}

// dumpHookEnv reads a real hook environment and applies edit to it.
func dumpHookEnv(t testing.TB, name string, edit func(e *ganeti.HookEnv)) []string {
	t.Helper()
	e := ganetitest.HookEnv(t, name)
	if edit != nil {
		edit(e)
	}
	return e.Environ()
}

func sameLines(t testing.TB, what string, got, want []string) {
	t.Helper()
	g, w := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(g, w) {
		t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", what, strings.Join(g, "\n  "), strings.Join(w, "\n  "))
	}
}
