package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/firewall/firewalltest"
	"github.com/diktyo/diktyo/pkg/ganeti/ganetitest"
	"github.com/diktyo/diktyo/pkg/nettest"
)

// binary is diktyo-ifup built once for the root tests.
var binary string

// buildFlags build test binaries the way the Makefile builds the shipped
// ones (start-up cost is part of what the benchmarks measure).
var buildFlags = []string{"build", "-trimpath", "-tags", "urfave_cli_no_docs", "-ldflags", "-s -w"}

func TestMain(m *testing.M) {
	code := func() int {
		if os.Geteuid() != 0 {
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "diktyo-ifup-e2e")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "diktyo-ifup")
		build := exec.Command("go", append(buildFlags, "-o", binary, ".")...)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := build.CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build diktyo-ifup: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// host is a hypervisor namespace with diktyo-ifup configured in a temp dir.
type host struct {
	t      *testing.T
	ns     *nettest.NS
	dir    string
	config string
}

func newHost(t *testing.T) *host {
	t.Helper()
	nettest.RequireRoot(t, "nft")
	h := &host{t: t, ns: nettest.NewNS(t, "ifh"), dir: t.TempDir()}
	h.config = filepath.Join(h.dir, "diktyo")
	conf := fmt.Sprintf("STATE_DIR=%s/state\nNFDHCPD_STATE_DIR=%s/nfdhcpd\nIPAM_DB=%s/ipam.db\n"+
		"IFUP_EXTRA_SCRIPT=%s/ifup-extra\nQUEUE_BYPASS=yes\n", h.dir, h.dir, h.dir, h.dir)
	if err := os.WriteFile(h.config, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// diktyo's tables exist on a configured host (QUEUE_BYPASS=yes above);
	// per-NIC state is what the snapshots compare.
	firewalltest.Host(t, h.ns)
	return h
}

// ifup runs the binary in the host namespace with a Ganeti environment.
func (h *host) ifup(argv0 string, env map[string]string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// argv[0] is what selects up/down for Ganeti's names: run through a
	// symlink of that name.
	bin := binary
	if argv0 != "" {
		bin = filepath.Join(h.dir, argv0)
		if _, err := os.Lstat(bin); err != nil {
			if err := os.Symlink(binary, bin); err != nil {
				return "", err
			}
		}
	}
	cmd := h.ns.Exec(ctx, append([]string{bin}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DIKTYO_CONFIG=" + h.config}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (h *host) mustIfup(argv0 string, env map[string]string, args ...string) {
	h.t.Helper()
	if out, err := h.ifup(argv0, env, args...); err != nil {
		h.t.Fatalf("%s %v: %v: %s", argv0, args, err, out)
	}
}

var ipv6LinkLocalRoute = regexp.MustCompile(`(?m)^.*fe80::.*\n`)

// snapshot is the host namespace's network state that a NIC's up may
// change: links, rules, routes, proxy entries, nftables, the state and
// binding directories.
func (h *host) snapshot() string {
	h.t.Helper()
	out := h.ns.Snapshot(h.t, "sh", "-c", "ip -d -o link show | sed 's/ promiscuity.*//'; ip rule; ip -6 rule; "+
		"ip route show table all; ip -6 route show table all; ip -6 neigh show proxy; nft list ruleset; "+
		"for f in /proc/sys/net/ipv4/conf/*/proxy_arp /proc/sys/net/ipv6/conf/*/proxy_ndp "+
		"/proc/sys/net/ipv4/conf/*/forwarding /proc/sys/net/ipv6/conf/*/forwarding; do echo $f $(cat $f); done; "+
		"find "+h.dir+"/state "+h.dir+"/nfdhcpd -mindepth 2 2>/dev/null; find "+h.dir+"/nfdhcpd -mindepth 1 2>/dev/null; true")
	return ipv6LinkLocalRoute.ReplaceAllString(out, "")
}

func (h *host) checkSnapshot(before string) {
	h.t.Helper()
	if after := h.snapshot(); after != before {
		h.t.Fatalf("host state differs from the pre-test snapshot:\n%s\n--- before:\n%s\n--- after:\n%s", nettest.LineDiff(before, after), before, after)
	}
}

func ping(t *testing.T, ns *nettest.NS, addr string) {
	t.Helper()
	if err := ns.Ping(addr, 10*time.Second); err != nil {
		t.Fatalf("%s: ping %s: %v", ns, addr, err)
	}
}

// routedNet builds the routed topology: router namespace R on the host's
// uplink up1 (table 100, GRNET style: the host has no address in the VMs'
// network apart from the one it uses to reach the router), an outside
// namespace O behind R.
func routedNet(t *testing.T, h *host) (outside4, outside6 string) {
	outside4, outside6, _ = routedNetOutside(t, h)
	return outside4, outside6
}

// routedNetOutside is routedNet that also returns the outside namespace.
func routedNetOutside(t *testing.T, h *host) (outside4, outside6 string, outside *nettest.NS) {
	r := nettest.NewNS(t, "ifr")
	o := nettest.NewNS(t, "ifo")
	nettest.Veth(t, h.ns, "up1", r, "eth0")
	nettest.Veth(t, r, "eth1", o, "eth0")
	r.Sysctl(t, "net/ipv4/ip_forward", "1")
	r.Sysctl(t, "net/ipv6/conf/all/forwarding", "1")
	for _, c := range [][]string{
		{"ip", "addr", "add", "198.18.100.1/24", "dev", "eth0"},
		{"ip", "addr", "add", "2001:db8:100::1/64", "dev", "eth0", "nodad"},
		{"ip", "addr", "add", "198.18.200.1/24", "dev", "eth1"},
		{"ip", "addr", "add", "2001:db8:200::1/64", "dev", "eth1", "nodad"},
	} {
		r.Run(t, c...)
	}
	for _, c := range [][]string{
		{"ip", "addr", "add", "198.18.200.2/24", "dev", "eth0"},
		{"ip", "addr", "add", "2001:db8:200::2/64", "dev", "eth0", "nodad"},
		{"ip", "route", "add", "default", "via", "198.18.200.1"},
		{"ip", "-6", "route", "add", "default", "via", "2001:db8:200::1"},
	} {
		o.Run(t, c...)
	}
	h.ns.RouteUplink(t, "up1", "198.18.100.254", "2001:db8:100::fffe")
	return "198.18.200.2", "2001:db8:200::2", o
}

// vm is a VM namespace behind a veth whose host end is named like a tap.
func vm(t *testing.T, h *host, tap, mac string) *nettest.NS {
	v := nettest.NewNS(t, "ifv")
	nettest.Veth(t, h.ns, tap, v, "eth0")
	v.Run(t, "ip", "link", "set", "eth0", "address", mac)
	return v
}

// envOf is a real kvm-ifup dump with over applied ("" deletes), without
// the dump's shell variables (PATH, HOME...): those of the test process
// stay.
func envOf(t *testing.T, file string, over map[string]string) map[string]string {
	t.Helper()
	m := ganetitest.Env(t, filepath.Join("kvm", file), over)
	for _, k := range []string{"PATH", "HOME", "PWD", "SHLVL", "TERM", "_", "LANG", "LC_ALL"} {
		delete(m, k)
	}
	return m
}

func TestE2ERouted(t *testing.T) {
	h := newHost(t)
	out4, out6 := routedNet(t, h)
	env := envOf(t, "kvm-ifup-kvm2.ganeti.test-nic0.env", map[string]string{"INTERFACE": "tap-r1",
		"TAGS": "synnefo:network:0:unprotected"})
	v := vm(t, h, "tap-r1", env["MAC"])
	before := h.snapshot()

	h.mustIfup("kvm-vif-bridge", env)
	// Second up changes nothing.
	first := h.snapshot()
	h.mustIfup("kvm-vif-bridge", env)
	if again := h.snapshot(); again != first {
		t.Fatalf("second up changed the host:\n%s", nettest.LineDiff(first, again))
	}
	configureRoutedVM(t, v)
	eui := routedEUI64
	ping(t, v, "198.18.100.1")
	ping(t, v, out4)
	ping(t, v, "2001:db8:100::1")
	ping(t, v, out6)
	binding, err := os.ReadFile(filepath.Join(h.dir, "nfdhcpd", "tap-r1"))
	if err != nil || !strings.Contains(string(binding), "INDEV=tap-r1\n") || !strings.Contains(string(binding), "EUI64="+eui) {
		t.Fatalf("binding: %v\n%s", err, binding)
	}
	if out, _ := h.ifup("", nil, "show"); !strings.Contains(out, "tap-r1") || !strings.Contains(out, "complete") {
		t.Fatalf("show:\n%s", out)
	}

	h.mustIfup("kvm-ifdown-custom", nil, "tap-r1")
	h.checkSnapshot(before)
}

// routedEUI64 is the EUI-64 address of kvm-ifup-kvm2.ganeti.test-nic0's
// MAC in its network.
const routedEUI64 = "2001:db8:100:0:a800:1ff:fe2d:2b3b"

// configureRoutedVM gives the VM of kvm-ifup-kvm2.ganeti.test-nic0 the
// addresses and routes DHCP and SLAAC would give it.
func configureRoutedVM(t *testing.T, v *nettest.NS) {
	t.Helper()
	for _, c := range [][]string{
		{"ip", "addr", "add", "198.18.100.2/24", "dev", "eth0"},
		{"ip", "route", "add", "default", "via", "198.18.100.1"},
		{"ip", "addr", "add", routedEUI64 + "/64", "dev", "eth0", "nodad"},
		// nfdhcpd would answer the VM's NS for the gateway; statically:
		{"ip", "-6", "neigh", "add", "2001:db8:100::1", "lladdr", "cc:47:52:4e:45:54", "dev", "eth0", "nud", "permanent"},
		{"ip", "-6", "route", "add", "default", "via", "2001:db8:100::1"},
	} {
		v.Run(t, c...)
	}
}

func TestE2EBridged(t *testing.T) {
	h := newHost(t)
	r := nettest.NewNS(t, "ifr")
	br := nettest.Bridge(t, h.ns, "br-e")
	br.SetMTU(t, 1400)
	h.ns.Run(t, "ip", "link", "set", "br-e", "address", "02:00:00:00:0e:01")
	p := nettest.Veth(t, h.ns, "up-b", r, "eth0")
	p.Host.SetMaster(t, br)
	r.Run(t, "ip", "addr", "add", "198.51.100.1/24", "dev", "eth0")
	r.Run(t, "ip", "addr", "add", "2001:db8::1/64", "dev", "eth0", "nodad")
	r.Run(t, "ip", "link", "set", "eth0", "mtu", "1400")
	// The router of a private-filtered network has a MAC of the network's
	// prefix (under MAC_MASK), or the MAC filter keeps it from the VM.
	r.Run(t, "ip", "link", "set", "eth0", "address", "aa:00:00:00:00:01")
	env := envOf(t, "kvm-ifup-kvm1.ganeti.test-nic0.env", map[string]string{"INTERFACE": "tap-b1",
		"LINK": "br-e", "BRIDGE": "br-e", "NETWORK_TAGS": "nfdhcpd private-filtered"})
	v := vm(t, h, "tap-b1", env["MAC"])
	h.ns.WaitUp(t, "br-e")
	before := h.snapshot()

	h.mustIfup("", env, "up")
	first := h.snapshot()
	h.mustIfup("", env, "up")
	if again := h.snapshot(); again != first {
		t.Fatalf("second up changed the host:\n%s", nettest.LineDiff(first, again))
	}
	if out := h.ns.Run(t, "ip", "-o", "link", "show", "tap-b1"); !strings.Contains(out, "mtu 1400") || !strings.Contains(out, "master br-e") {
		t.Fatalf("tap: %s", out)
	}
	v.Run(t, "ip", "link", "set", "eth0", "mtu", "1400")
	v.Run(t, "ip", "addr", "add", "198.51.100.2/24", "dev", "eth0")
	v.Run(t, "ip", "addr", "add", "2001:db8::a800:ff:fe0d:f178/64", "dev", "eth0", "nodad")
	ping(t, v, "198.51.100.1")
	ping(t, v, "2001:db8::1")
	// Anti-spoofing: another source address does not get through.
	v.Run(t, "ip", "addr", "add", "198.51.100.77/24", "dev", "eth0")
	if err := v.Echo("198.51.100.77", "198.51.100.1", time.Second); err == nil {
		t.Fatal("spoofed source got through")
	}

	h.mustIfup("", map[string]string{"INTERFACE": "tap-b1"}, "down")
	h.checkSnapshot(before)
}

// Bad input fails with one line on stderr and leaves nothing behind.
func TestE2EBadInput(t *testing.T) {
	h := newHost(t)
	routedNet(t, h)
	vm(t, h, "tap-x1", "aa:00:01:2d:2b:3b")
	before := h.snapshot()
	base := "kvm-ifup-kvm2.ganeti.test-nic0.env"
	for _, tc := range []struct {
		over map[string]string
		want string
	}{
		{map[string]string{"INTERFACE": ""}, "diktyo-ifup: INTERFACE: missing"},
		{map[string]string{"INTERFACE": "tap-x1", "MODE": ""}, "diktyo-ifup: tap-x1: MODE"},
		{map[string]string{"INTERFACE": "tap-x1", "MODE": "vxlan"}, "diktyo-ifup: tap-x1: MODE"},
		{map[string]string{"INTERFACE": "tap-nope"}, "diktyo-ifup: tap-nope: tap tap-nope: no such device"},
		{map[string]string{"INTERFACE": "tap-x1", "LINK": "main"}, "diktyo-ifup: tap-x1: not a routing table"},
		{map[string]string{"INTERFACE": "tap-x1", "MODE": "bridged", "LINK": "br-nope"}, "diktyo-ifup: tap-x1: bridge br-nope: no such device"},
		{map[string]string{"INTERFACE": "tap-x1", "IP": "198.51.100.9"}, "diktyo-ifup: tap-x1: IP outside the network: 198.51.100.9 is not in 198.18.100.0/24"},
		{map[string]string{"INTERFACE": "tap-x1", "MAC": "aa:bb:cc"}, "diktyo-ifup: tap-x1: MAC"},
	} {
		out, err := h.ifup("kvm-vif-bridge", envOf(t, base, tc.over))
		if err == nil {
			t.Errorf("%v: no error", tc.over)
			continue
		}
		if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, tc.want) {
			t.Errorf("%v: stderr %q, want one line starting %q", tc.over, out, tc.want)
		}
	}
	h.checkSnapshot(before)
}

// Many up/down cycles on random NICs (and Ganeti reusing tap names for
// other NICs) leave nothing behind.
func TestE2ECycles(t *testing.T) {
	h := newHost(t)
	routedNet(t, h)
	nettest.Bridge(t, h.ns, "br-c")
	// A bridge with a fixed MAC and a port of its own, as on a real host:
	// otherwise its MAC and carrier follow the taps that come and go.
	h.ns.Run(t, "ip", "link", "set", "br-c", "address", "02:00:00:00:0c:01")
	nettest.Veth(t, h.ns, "up-c", nettest.NewNS(t, "ifr"), "eth0").Host.SetMaster(t, h.ns.MustLink(t, "br-c"))
	h.ns.WaitUp(t, "br-c")
	taps := []string{"tap-c0", "tap-c1", "tap-c2", "tap-c3"}
	for _, tap := range taps {
		vm(t, h, tap, "aa:00:01:00:00:01")
	}
	before := h.snapshot()
	cycles := 1000
	if testing.Short() {
		cycles = 100
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range cycles {
		tap := taps[rng.IntN(len(taps))]
		if rng.IntN(2) == 0 {
			n := rng.IntN(20)
			over := map[string]string{"INTERFACE": tap, "INSTANCE": fmt.Sprintf("vm%d", n),
				"INTERFACE_UUID": fmt.Sprintf("uuid-%d", n), "MAC": fmt.Sprintf("aa:00:01:00:00:%02x", n),
				"IP": fmt.Sprintf("198.18.100.%d", 10+n), "NETWORK_TAGS": "nfdhcpd",
				"TAGS": "synnefo:network:0:protected"}
			file := "kvm-ifup-kvm2.ganeti.test-nic0.env"
			if rng.IntN(3) == 0 {
				file = "kvm-ifup-kvm1.ganeti.test-nic0.env"
				over["LINK"], over["BRIDGE"], over["IP"] = "br-c", "br-c", fmt.Sprintf("198.51.100.%d", 10+n)
				over["MAC"] = fmt.Sprintf("aa:00:00:00:00:%02x", n)
			}
			if out, err := h.ifup("kvm-vif-bridge", envOf(t, file, over)); err != nil {
				t.Fatalf("cycle %d: up %s: %v: %s", i, tap, err, out)
			}
		} else if out, err := h.ifup("kvm-ifdown-custom", nil, tap); err != nil {
			t.Fatalf("cycle %d: down %s: %v: %s", i, tap, err, out)
		}
	}
	for _, tap := range taps {
		h.mustIfup("kvm-ifdown-custom", nil, tap)
	}
	h.checkSnapshot(before)
}

// reconcile removes the state of taps that went away without a down
// (Ganeti 3.0 never calls one).
func TestE2EReconcile(t *testing.T) {
	h := newHost(t)
	routedNet(t, h)
	before := h.snapshot()
	v := vm(t, h, "tap-g1", "aa:00:01:2d:2b:3b")
	h.mustIfup("kvm-vif-bridge", envOf(t, "kvm-ifup-kvm2.ganeti.test-nic0.env", map[string]string{"INTERFACE": "tap-g1"}))
	v.Run(t, "ip", "link", "del", "eth0") // the VM is gone, and its tap with it
	out, err := h.ifup("", nil, "reconcile")
	if err != nil || !strings.Contains(out, "tap-g1") {
		t.Fatalf("reconcile: %v: %s", err, out)
	}
	h.checkSnapshot(before)
}
