package ifup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/firewall"
	"github.com/diktyo/diktyo/pkg/flock"
	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/ganeti/ganetitest"
	"github.com/diktyo/diktyo/pkg/ifname"
	"github.com/diktyo/diktyo/pkg/ifupconf"
	"github.com/diktyo/diktyo/pkg/netplan"
	"github.com/diktyo/diktyo/pkg/nettest"
)

type rig struct {
	t    *testing.T
	cfg  *ifupconf.Config
	host *fakeHost
	fw   *fakeFirewall
	nets *fakeNetworks
	r    *Runner
	out  *bytes.Buffer
	logs *nettest.LogBuffer
	exec [][]string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	cfg := ifupconf.Default()
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.NFDHCPDStateDir = filepath.Join(dir, "nfdhcpd")
	cfg.IfupExtraScript = filepath.Join(dir, "ifup-extra")
	cfg.KVMNICDir = filepath.Join(dir, "nic")
	g := &rig{t: t, cfg: cfg, host: newFakeHost(), fw: newFakeFirewall(), nets: &fakeNetworks{}, out: &bytes.Buffer{}, logs: &nettest.LogBuffer{}}
	g.host.addTap("tap0", 10)
	g.host.addTap("tap1", 11)
	r, err := New(Deps{Config: cfg, Host: g.host, Firewall: g.fw, Networks: g.nets, Stdout: g.out,
		LockTimeout: 5 * time.Second, Logger: slog.New(slog.NewTextHandler(g.logs, nil)),
		Exec: func(path string, argv, env []string) error {
			g.exec = append(g.exec, argv)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	g.r = r
	return g
}

// environ returns a real Ganeti dump with overrides ("" deletes).
func environ(t *testing.T, file string, over map[string]string) []string {
	t.Helper()
	m := ganetitest.Env(t, filepath.Join("kvm", file), over)
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

const (
	bridgedEnv = "kvm-ifup-kvm1.ganeti.test-nic0.env" // tap0, bridged, gntbr0
	routedEnv  = "kvm-ifup-kvm2.ganeti.test-nic0.env" // tap1, routed, table 100
)

var allTags = map[string]string{
	"NETWORK_TAGS": "nfdhcpd ip-less-routed private-filtered dns",
	"TAGS":         "synnefo:network:0:protected",
}

func (g *rig) run(argv []string, env []string) error {
	g.t.Helper()
	return Main(context.Background(), argv, env, g.r)
}

func (g *rig) up(file string, over map[string]string) error {
	return g.run([]string{"/etc/ganeti/kvm-vif-bridge"}, environ(g.t, file, over))
}

func (g *rig) mustUp(file string, over map[string]string) {
	g.t.Helper()
	if err := g.up(file, over); err != nil {
		g.t.Fatal(err)
	}
}

func (g *rig) record(tap string) *Record {
	g.t.Helper()
	rec, err := g.r.st.read(tap)
	if err != nil {
		g.t.Fatal(err)
	}
	return rec
}

// assertClean checks that nothing of tap is left: host objects, filter,
// binding, record, lock file.
func (g *rig) assertClean(taps ...string) {
	g.t.Helper()
	if s := g.host.snapshot(); len(s) != 0 {
		g.t.Errorf("host objects left: %q", s)
	}
	for _, tap := range taps {
		if _, ok := g.fw.get(tap); ok {
			g.t.Errorf("%s: filter left", tap)
		}
		for _, p := range []string{filepath.Join(g.cfg.NFDHCPDStateDir, tap), g.r.st.recordPath(tap), g.r.st.lockPath(tap)} {
			if _, err := os.Stat(p); err == nil {
				g.t.Errorf("%s: %s left", tap, p)
			}
		}
	}
}

func TestUpRoutedAllTags(t *testing.T) {
	g := newRig(t)
	g.mustUp(routedEnv, allTags)
	rec := g.record("tap1")
	if rec == nil || !rec.Complete || rec.TapIndex != 11 || rec.NIC.Instance != "kvm2.ganeti.test" {
		t.Fatalf("record: %+v", rec)
	}
	want := []string{
		"proxy 2001:db8:100:0:a800:1ff:fe2d:2b3b eth1",
		"route 198.18.100.2/32 tap1 100",
		"route 2001:db8:100:0:a800:1ff:fe2d:2b3b/128 tap1 100",
		"rule4 mark 0xd1d10064 100", "rule6 mark 0xd1d10064 100",
		"sysctl net/ipv4/conf/tap1/forwarding 1", "sysctl net/ipv4/conf/tap1/proxy_arp 1",
		"sysctl net/ipv6/conf/tap1/forwarding 1", "sysctl net/ipv6/conf/tap1/proxy_ndp 0",
		"tap tap1 cc:47:52:4e:45:54 0 ",
	}
	if got := g.host.snapshot(); !slices.Equal(got, want) {
		t.Fatalf("host:\n%q\nwant\n%q", got, want)
	}
	f, ok := g.fw.get("tap1")
	if !ok || !f.AntiSpoof || f.Profile != netplan.ProfileProtected || f.Queues == nil || f.ARPGateway != netip.MustParseAddr("198.18.100.1") {
		t.Fatalf("filter: %+v", f)
	}
	b, err := binding.ReadFile(filepath.Join(g.cfg.NFDHCPDStateDir, "tap1"))
	if err != nil || b.InDev != "tap1" || b.IP.String() != "198.18.100.2" || b.Hostname != "kvm2.ganeti.test" {
		t.Fatalf("binding %+v %v", b, err)
	}
	if len(g.exec) != 0 {
		t.Fatalf("extra script run though absent: %q", g.exec)
	}

	// A second up changes nothing.
	before := g.host.snapshot()
	recBefore := g.record("tap1")
	g.mustUp(routedEnv, allTags)
	if got := g.host.snapshot(); !slices.Equal(got, before) {
		t.Fatalf("second up changed host:\n%q", got)
	}
	after := g.record("tap1")
	after.Updated, recBefore.Updated = time.Time{}, time.Time{}
	if a, b := mustJSON(t, after), mustJSON(t, recBefore); a != b {
		t.Fatalf("second up changed the record:\n%s\n%s", b, a)
	}

	// down (as GRNET-patched Ganeti calls it) removes everything.
	if err := g.run([]string{"kvm-ifdown-custom", "tap1", "local"}, nil); err != nil {
		t.Fatal(err)
	}
	g.assertClean("tap1")
	// and again: nothing to do is success.
	if err := g.run([]string{"diktyo-ifup", "down", "tap1"}, nil); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUpBridged(t *testing.T) {
	g := newRig(t)
	g.mustUp(bridgedEnv, map[string]string{"NETWORK_TAGS": "nfdhcpd private-filtered"})
	if got := g.host.snapshot(); !slices.Equal(got, []string{"tap tap0  1500 gntbr0"}) {
		t.Fatalf("host: %q", got)
	}
	f, _ := g.fw.get("tap0")
	if f.MACFilter == nil || f.MACFilter.Prefix.String() != "aa:00:00:00:00:00" || f.Bridge != "gntbr0" {
		t.Fatalf("filter %+v", f)
	}
	b, err := binding.ReadFile(filepath.Join(g.cfg.NFDHCPDStateDir, "tap0"))
	if err != nil || b.InDev != "gntbr0" || b.MTU != 1500 || !b.Private {
		t.Fatalf("binding %+v %v", b, err)
	}
	if err := g.run([]string{"diktyo-ifup", "down"}, []string{"INTERFACE=tap0"}); err != nil {
		t.Fatal(err)
	}
	g.assertClean("tap0")
}

func TestUpOpenvSwitch(t *testing.T) {
	g := newRig(t)
	g.mustUp(bridgedEnv, map[string]string{"MODE": "openvswitch", "LINK": "ovsbr0", "BRIDGE": "", "VLAN": ":10:20"})
	if got := g.host.snapshot(); !slices.Contains(got, "ovs ovsbr0 tap0 0 [10 20]") {
		t.Fatalf("host: %q", got)
	}
	if err := g.r.Down(context.Background(), "tap0", nil); err != nil {
		t.Fatal(err)
	}
	g.assertClean("tap0")
}

func TestExtraScript(t *testing.T) {
	g := newRig(t)
	if err := os.WriteFile(g.cfg.IfupExtraScript, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	g.mustUp(routedEnv, nil)
	if len(g.exec) != 1 || g.exec[0][0] != g.cfg.IfupExtraScript {
		t.Fatalf("exec: %q", g.exec)
	}
}

// Ganeti reuses tap names: an up of tap1 for another NIC removes the
// first NIC's state first; a down naming the old NIC leaves the new one.
func TestStaleOwner(t *testing.T) {
	g := newRig(t)
	g.mustUp(routedEnv, allTags)
	other := map[string]string{"INSTANCE": "vm-new", "INTERFACE_UUID": "11111111-2222-3333-4444-555555555555",
		"IP": "198.18.100.9", "MAC": "aa:00:01:00:00:09", "NETWORK_TAGS": "nfdhcpd"}
	g.mustUp(routedEnv, other)
	for _, o := range g.host.snapshot() {
		if strings.Contains(o, "198.18.100.2") || strings.Contains(o, "fe2d:2b3b") {
			t.Fatalf("stale object of the old NIC left: %q", o)
		}
	}
	rec := g.record("tap1")
	if rec.NIC.Instance != "vm-new" {
		t.Fatalf("record owner %+v", rec.NIC)
	}
	if f, _ := g.fw.get("tap1"); f.Profile != netplan.ProfileNone || f.IPv4[0].String() != "198.18.100.9" {
		t.Fatalf("filter is not the new NIC's: %+v", f)
	}
	// A late down of the old NIC (its environment) must not touch vm-new.
	// Ganeti's ifdown succeeds (nothing of that NIC is left); an
	// operator's down says why it did nothing.
	if err := g.run([]string{"kvm-ifdown-custom"}, environ(t, routedEnv, nil)); err != nil {
		t.Fatalf("ifdown of old owner: %v", err)
	}
	err := g.run([]string{"diktyo-ifup", "down"}, environ(t, routedEnv, nil))
	if !errors.Is(err, ErrNotOwner) {
		t.Fatalf("down of old owner: %v", err)
	}
	if g.record("tap1") == nil || len(g.host.snapshot()) == 0 {
		t.Fatal("down of the old NIC removed the new NIC's state")
	}
	// The same NIC on a recreated tap (new ifindex) is also re-applied
	// from scratch.
	g.host.delTap("tap1")
	g.host.addTap("tap1", 99)
	g.mustUp(routedEnv, other)
	if rec := g.record("tap1"); rec.TapIndex != 99 {
		t.Fatalf("tap index %d", rec.TapIndex)
	}
	if err := g.run([]string{"kvm-ifdown-custom"}, environ(t, routedEnv, other)); err != nil {
		t.Fatal(err)
	}
	g.assertClean("tap1")
}

// A config change between up and down: down removes what was applied.
func TestDownAfterConfigChange(t *testing.T) {
	g := newRig(t)
	g.mustUp(routedEnv, allTags)
	g.cfg.NFDHCPDTag = "something-else"
	g.cfg.AntiSpoof = false
	g.host.uplinks[100] = [2]string{"eth9", "eth9"}
	if err := g.r.Down(context.Background(), "tap1", nil); err != nil {
		t.Fatal(err)
	}
	g.assertClean("tap1")
}

// An up interrupted half-way (record written, host partly applied, no
// HostApplied) is completed by the next up, and removed by a down.
func TestCrashRecovery(t *testing.T) {
	for _, then := range []string{"up", "down"} {
		t.Run(then, func(t *testing.T) {
			g := newRig(t)
			g.mustUp(routedEnv, allTags)
			rec := g.record("tap1")
			rec.Complete, rec.HostApplied = false, nil
			if err := g.r.st.write(rec); err != nil {
				t.Fatal(err)
			}
			os.Remove(filepath.Join(g.cfg.NFDHCPDStateDir, "tap1"))
			g.host.mu.Lock()
			delete(g.host.objects, "rule6 mark 0xd1d10064 100")
			g.host.mu.Unlock()
			if then == "up" {
				g.mustUp(routedEnv, allTags)
				if rec := g.record("tap1"); !rec.Complete || rec.HostApplied == nil || len(g.host.snapshot()) != 10 {
					t.Fatalf("not completed: %+v %q", rec, g.host.snapshot())
				}
			}
			if err := g.r.Down(context.Background(), "tap1", nil); err != nil {
				t.Fatal(err)
			}
			g.assertClean("tap1")
		})
	}
}

func TestUnreadableRecord(t *testing.T) {
	g := newRig(t)
	if err := os.MkdirAll(g.r.st.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(g.r.st.recordPath("tap1"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	g.mustUp(routedEnv, nil)
	if rec := g.record("tap1"); rec == nil || !rec.Complete {
		t.Fatal("up over an empty record failed")
	}
}

// Failures leave no state of the NIC behind, and say what failed on one
// line naming the tap.
func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		argv   []string
		file   string
		over   map[string]string
		setup  func(*rig)
		err    error
		msg    string
		noTap1 bool
	}{
		{name: "no INTERFACE", file: routedEnv, over: map[string]string{"INTERFACE": ""}, err: ganeti.ErrMissing, msg: "INTERFACE"},
		{name: "no MODE", file: routedEnv, over: map[string]string{"MODE": ""}, err: ganeti.ErrMissing, msg: "tap1: "},
		{name: "unknown MODE", file: routedEnv, over: map[string]string{"MODE": "vxlan"}, err: ganeti.ErrInvalid, msg: "tap1: "},
		{name: "bad MAC", file: routedEnv, over: map[string]string{"MAC": "aa:bb"}, err: ganeti.ErrInvalid, msg: "MAC"},
		{name: "no tap", file: routedEnv, over: map[string]string{"INTERFACE": "tap7"}, err: netplan.ErrNoSuchLink, msg: "tap7: tap tap7: no such device"},
		{name: "no table", file: routedEnv, over: map[string]string{"LINK": "main"}, err: netplan.ErrNoTable},
		{name: "no bridge", file: bridgedEnv, over: map[string]string{"LINK": "nobr", "BRIDGE": "nobr"}, err: netplan.ErrNoSuchLink, msg: "tap0: bridge nobr"},
		{name: "ip outside network", file: routedEnv, over: map[string]string{"IP": "198.51.100.4"}, err: netplan.ErrOutsideNetwork},
		{name: "firewall fails", file: routedEnv, setup: func(g *rig) { g.fw.err = errors.New("nft: EPERM") }, msg: "tap1: firewall: nft: EPERM"},
		{name: "host fails", file: routedEnv, setup: func(g *rig) { g.host.applyErr = errors.New("netlink: EBUSY") }, msg: "tap1: netlink: EBUSY"},
		{name: "binding fails", file: routedEnv, over: map[string]string{"NETWORK_TAGS": "nfdhcpd"},
			setup: func(g *rig) { g.cfg.NFDHCPDStateDir = "/proc/nonexistent/x" }},
		{name: "bad usage", argv: []string{"diktyo-ifup", "sideways"}, err: ErrUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t)
			if tc.setup != nil {
				tc.setup(g)
			}
			argv := tc.argv
			if argv == nil {
				argv = []string{"kvm-vif-bridge"}
			}
			var env []string
			if tc.file != "" {
				env = environ(t, tc.file, tc.over)
			}
			err := g.run(argv, env)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err %q: want one line containing %q", err, tc.msg)
			}
			g.assertClean("tap0", "tap1", "tap7")
			if recs, _ := g.r.Records(); len(recs) != 0 {
				t.Fatalf("records left: %d", len(recs))
			}
		})
	}
}

func TestPoolLookup(t *testing.T) {
	g := newRig(t)
	g.nets.nets = map[string]*ganeti.Network{"100": {Name: "net2",
		Subnet: netip.MustParsePrefix("198.18.100.0/24"), Gateway: netip.MustParseAddr("198.18.100.1"),
		Subnet6: netip.MustParsePrefix("2001:db8:100::/64"), Gateway6: netip.MustParseAddr("2001:db8:100::1"),
		Tags: ganeti.NewTags("nfdhcpd")}}
	noNet := map[string]string{"NETWORK_NAME": "", "NETWORK_UUID": "", "NETWORK_TAGS": "", "NETWORK_SUBNET": "",
		"NETWORK_GATEWAY": "", "NETWORK_SUBNET6": "", "NETWORK_GATEWAY6": "", "NETWORK_MAC_PREFIX": ""}
	g.mustUp(routedEnv, noNet)
	if g.nets.calls != 1 {
		t.Fatalf("pool consulted %d times", g.nets.calls)
	}
	b, err := binding.ReadFile(filepath.Join(g.cfg.NFDHCPDStateDir, "tap1"))
	if err != nil || b.Gateway.String() != "198.18.100.1" || !b.EUI64.IsValid() {
		t.Fatalf("binding from the pool network: %+v %v", b, err)
	}
	// With NETWORK_* the pool is not consulted.
	g.mustUp(routedEnv, nil)
	if g.nets.calls != 1 {
		t.Fatal("pool consulted although Ganeti passed the network")
	}
}

func TestReconcile(t *testing.T) {
	g := newRig(t)
	g.host.addTap("tap2", 12)
	g.host.addTap("tap3", 13)
	g.mustUp(bridgedEnv, nil)                                                    // tap0 stays
	g.mustUp(routedEnv, nil)                                                     // tap1 vanishes
	g.mustUp(routedEnv, map[string]string{"INTERFACE": "tap2", "INSTANCE": "b"}) // tap2 is recreated
	g.host.delTap("tap1")
	g.host.delTap("tap2")
	g.host.addTap("tap2", 50)
	// Filter state without record: of a gone tap (removed) and of a live
	// tap not managed here (kept).
	g.fw.filters["tap9"] = netplan.Filter{Tap: "tap9"}
	g.fw.filters["tap3"] = netplan.Filter{Tap: "tap3"}
	if err := g.run([]string{"diktyo-ifup", "reconcile"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := g.out.String(); got != "removed stale state of tap1\nremoved stale state of tap2\nremoved stale state of tap9\n" {
		t.Fatalf("output %q", got)
	}
	recs, _ := g.r.Records()
	if len(recs) != 1 || recs[0].NIC.Tap != "tap0" {
		t.Fatalf("records left: %v", recs)
	}
	if got := g.host.snapshot(); !slices.Equal(got, []string{"tap tap0  1500 gntbr0"}) {
		t.Fatalf("host after reconcile: %q", got)
	}
	if l, _ := g.fw.List(); !slices.Equal(l, []string{"tap0", "tap3"}) {
		t.Fatalf("filters after reconcile: %q", l)
	}
}

func TestShow(t *testing.T) {
	g := newRig(t)
	g.mustUp(routedEnv, allTags)
	g.mustUp(bridgedEnv, nil)
	if err := g.run([]string{"diktyo-ifup", "show"}, nil); err != nil {
		t.Fatal(err)
	}
	want := "TAP   INSTANCE          NIC     MODE     IPV4          IPV6                               STATE\n" +
		"tap0  kvm1.ganeti.test  0/nic0  bridged  198.51.100.2  2001:db8::a800:ff:fe0d:f178        complete\n" +
		"tap1  kvm2.ganeti.test  0       routed   198.18.100.2  2001:db8:100:0:a800:1ff:fe2d:2b3b  complete\n"
	if g.out.String() != want {
		t.Fatalf("show:\n%s\nwant\n%s", g.out, want)
	}
	g.out.Reset()
	if err := g.run([]string{"diktyo-ifup", "show", "--json", "tap1"}, nil); err != nil {
		t.Fatal(err)
	}
	var recs []*Record
	if err := json.Unmarshal(g.out.Bytes(), &recs); err != nil || len(recs) != 1 || recs[0].Plan.Binding == nil {
		t.Fatalf("show --json: %v %s", err, g.out)
	}
	// MACs print as text (the routed tap's TAP_CONSTANT_MAC, the VM's).
	for _, want := range []string{`"mac": "` + recs[0].Plan.Host.Tap.MAC.String() + `"`, `"mac": "aa:00:01:2d:2b:3b"`} {
		if !strings.Contains(g.out.String(), want) {
			t.Errorf("show --json has no %s:\n%s", want, g.out)
		}
	}
	if err := g.run([]string{"diktyo-ifup", "show", "../x"}, nil); !errors.Is(err, ifname.ErrInvalid) {
		t.Fatalf("show ../x: %v", err)
	}
}

func TestLockTimeout(t *testing.T) {
	g := newRig(t)
	g.r.lockWait = 50 * time.Millisecond
	if err := g.r.st.ensure(); err != nil {
		t.Fatal(err)
	}
	l, err := g.r.st.lock("tap1", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer l.unlock(false)
	err = g.up(routedEnv, nil)
	if !errors.Is(err, flock.ErrTimeout) || !strings.HasPrefix(err.Error(), "tap1: ") {
		t.Fatalf("err = %v", err)
	}
}

// Concurrent ups and downs of the same taps by different NICs serialize:
// at the end every tap's host state, filter and binding are exactly its
// record's, and after downs nothing is left.
func TestConcurrent(t *testing.T) {
	g := newRig(t)
	owners := []map[string]string{
		{"INSTANCE": "a", "INTERFACE_UUID": "u-a", "MAC": "aa:00:01:00:00:0a", "IP": "198.18.100.10"},
		{"INSTANCE": "b", "INTERFACE_UUID": "u-b", "MAC": "aa:00:01:00:00:0b", "IP": "198.18.100.11"},
	}
	envs := make([][]string, len(owners))
	for i, o := range owners {
		envs[i] = environ(t, routedEnv, o)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range 50 {
				env := envs[rng.IntN(len(envs))]
				argv := []string{"kvm-vif-bridge"}
				if rng.IntN(3) == 0 {
					argv = []string{"kvm-ifdown-custom", "tap1"}
					env = nil
				}
				if err := Main(context.Background(), argv, env, g.r); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if rec := g.record("tap1"); rec != nil {
		var objs []string
		json.Unmarshal(rec.HostApplied, &objs)
		if got := g.host.snapshot(); !slices.Equal(got, slices.Sorted(slices.Values(objs))) {
			t.Fatalf("host %q differs from record %q", got, objs)
		}
		if f, _ := g.fw.get("tap1"); f.IPv4[0] != rec.Plan.Filter.IPv4[0] {
			t.Fatalf("filter of another owner: %+v", f)
		}
	}
	if err := g.r.Down(context.Background(), "tap1", nil); err != nil {
		t.Fatal(err)
	}
	g.assertClean("tap1")
}

// 1000 cycles of up/down on random NICs leave nothing behind.
func TestNoLeak(t *testing.T) {
	g := newRig(t)
	rng := rand.New(rand.NewPCG(1, 2))
	taps := []string{"tap0", "tap1", "tap2", "tap3"}
	for i, tap := range taps {
		g.host.addTap(tap, 20+i)
	}
	up := map[string]bool{}
	for i := range 1000 {
		tap := taps[rng.IntN(len(taps))]
		if rng.IntN(2) == 0 {
			file, over := routedEnv, map[string]string{"INTERFACE": tap, "INSTANCE": "vm" + string(rune('a'+rng.IntN(3))),
				"INTERFACE_UUID": "u" + string(rune('a'+rng.IntN(3))), "NETWORK_TAGS": "nfdhcpd"}
			if rng.IntN(2) == 0 {
				file = bridgedEnv
			}
			if err := g.up(file, over); err != nil {
				t.Fatalf("cycle %d: %v", i, err)
			}
			up[tap] = true
		} else {
			if err := g.r.Down(context.Background(), tap, nil); err != nil {
				t.Fatalf("cycle %d: %v", i, err)
			}
			delete(up, tap)
		}
	}
	for _, tap := range taps {
		if err := g.r.Down(context.Background(), tap, nil); err != nil {
			t.Fatal(err)
		}
	}
	g.assertClean(taps...)
	if ents, _ := os.ReadDir(g.r.st.dir); len(ents) != 0 {
		t.Fatalf("state dir not empty: %v", ents)
	}
}

// A table without default routes never fails an up: everything but the
// uplink-side steps is set up, one warning says what was skipped, and a
// reconcile completes the steps once the table has a default route.
func TestUpWithoutUplink(t *testing.T) {
	g := newRig(t)
	g.mustUp(routedEnv, map[string]string{"LINK": "101"})
	rec := g.record("tap1")
	if rec == nil || !rec.Complete || len(rec.Plan.Host.UplinkPending) != 2 {
		t.Fatalf("record: %+v", rec)
	}
	snap := g.host.snapshot()
	if slices.ContainsFunc(snap, func(o string) bool { return strings.HasPrefix(o, "proxy ") }) ||
		!slices.Contains(snap, "route 198.18.100.2/32 tap1 101") || !slices.Contains(snap, "sysctl net/ipv4/conf/tap1/forwarding 1") {
		t.Fatalf("host: %q", snap)
	}
	logs := g.logs.String()
	if strings.Count(logs, "level=WARN") != 1 || !strings.Contains(logs, "no IPv6 default route: proxy NDP and unsolicited NA of 2001:db8:100:0:a800:1ff:fe2d:2b3b skipped") ||
		!strings.Contains(logs, "no IPv4 default route: gratuitous ARP of 198.18.100.2 skipped") || !strings.Contains(logs, "UPLINK_101") {
		t.Fatalf("warning: %s", logs)
	}

	// Still no route: reconcile changes nothing.
	if err := g.run([]string{"diktyo-ifup", "reconcile"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := g.host.snapshot(); !slices.Equal(got, snap) {
		t.Fatalf("reconcile without uplink changed %q to %q", snap, got)
	}
	// The table gets an IPv6 default route only, then an IPv4 one too.
	g.host.mu.Lock()
	g.host.uplinks[101] = [2]string{"", "eth1"}
	g.host.mu.Unlock()
	if err := g.run([]string{"diktyo-ifup", "reconcile"}, nil); err != nil {
		t.Fatal(err)
	}
	if rec := g.record("tap1"); len(rec.Plan.Host.UplinkPending) != 1 || !slices.Contains(g.host.snapshot(), "proxy 2001:db8:100:0:a800:1ff:fe2d:2b3b eth1") {
		t.Fatalf("after the IPv6 route: %+v %q", rec.Plan.Host, g.host.snapshot())
	}
	g.host.mu.Lock()
	g.host.uplinks[101] = [2]string{"eth1", "eth1"}
	g.host.mu.Unlock()
	if err := g.run([]string{"diktyo-ifup", "reconcile"}, nil); err != nil {
		t.Fatal(err)
	}
	rec = g.record("tap1")
	if len(rec.Plan.Host.UplinkPending) != 0 || len(rec.Plan.Host.Announce) != 2 {
		t.Fatalf("after the IPv4 route: %+v", rec.Plan.Host)
	}
	// The completed record equals a fresh plan: a repeated up keeps it.
	calls := len(g.host.calls)
	g.mustUp(routedEnv, map[string]string{"LINK": "101"})
	if slices.ContainsFunc(g.host.calls[calls:], func(c string) bool { return strings.HasPrefix(c, "remove") }) {
		t.Fatalf("a repeated up tore the NIC down: %q", g.host.calls[calls:])
	}
	if err := g.r.Down(context.Background(), "tap1", nil); err != nil {
		t.Fatal(err)
	}
	g.assertClean("tap1")
}

// A configured uplink (UPLINK_<table>, UPLINK) serves a table without a
// default route while the device exists.
func TestUpConfiguredUplink(t *testing.T) {
	g := newRig(t)
	g.cfg.Uplink = "eth7"
	g.cfg.Uplinks["101"] = "eth5"
	g.host.links["eth5"] = netplan.LinkFacts{Name: "eth5", Exists: true, Index: 5, Kind: "veth"}
	g.mustUp(routedEnv, map[string]string{"LINK": "101"})
	if rec := g.record("tap1"); len(rec.Plan.Host.UplinkPending) != 0 || !slices.Contains(g.host.snapshot(), "proxy 2001:db8:100:0:a800:1ff:fe2d:2b3b eth5") {
		t.Fatalf("with UPLINK_101: %+v %q", rec.Plan.Host, g.host.snapshot())
	}
	if g.logs.String() != "" {
		t.Fatalf("logs: %s", g.logs)
	}
	// The global uplink does not exist: pending, and the warning says so.
	g.mustUp(routedEnv, map[string]string{"LINK": "102", "INTERFACE": "tap0", "INSTANCE": "b"})
	if rec := g.record("tap0"); len(rec.Plan.Host.UplinkPending) != 2 || !strings.Contains(g.logs.String(), "the configured uplink eth7 does not exist") {
		t.Fatalf("with a missing UPLINK: %+v\n%s", rec.Plan.Host, g.logs)
	}
}

// Reconcile removes the binding files diktyo-ifup wrote for taps that
// have neither a record nor a device, and nothing else.
func TestReconcileBindings(t *testing.T) {
	g := newRig(t)
	g.mustUp(routedEnv, map[string]string{"NETWORK_TAGS": "nfdhcpd"}) // tap1: recorded, kept
	dir := g.cfg.NFDHCPDStateDir
	b, err := binding.ReadFile(filepath.Join(dir, "tap1"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(tap string) {
		c := b.Clone()
		c.Tap, c.InDev = tap, tap
		if err := binding.WriteFile(dir, c); err != nil {
			t.Fatal(err)
		}
	}
	write("tap8") // ours, no record, no device: removed
	write("tap0") // ours, no record, the device exists: kept
	grnet, err := os.ReadFile("../binding/testdata/tap5")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tap5", ".tap8.tmp-1", "README"} { // not ours: kept
		if err := os.WriteFile(filepath.Join(dir, name), grnet, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.run([]string{"diktyo-ifup", "reconcile"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := g.out.String(); got != "removed stale state of tap8\n" {
		t.Fatalf("output %q", got)
	}
	des, _ := os.ReadDir(dir)
	var left []string
	for _, de := range des {
		left = append(left, de.Name())
	}
	if want := []string{".tap8.tmp-1", "README", "tap0", "tap1", "tap5"}; !slices.Equal(left, want) {
		t.Fatalf("bindings left %q, want %q", left, want)
	}
}

// A crash that lost a record leaves its tap a user of the table's shared
// rules; reconcile releases it, and with the last user the rules go.
func TestReconcileReleasesStaleUsers(t *testing.T) {
	g := newRig(t)
	g.mustUp(routedEnv, nil)
	if err := os.Remove(g.r.st.recordPath("tap1")); err != nil {
		t.Fatal(err)
	}
	g.host.delTap("tap1")
	if err := g.run([]string{"diktyo-ifup", "reconcile"}, nil); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(g.host.calls, "release-stale") || len(g.host.users) != 0 {
		t.Fatalf("calls %q, users %v", g.host.calls, g.host.users)
	}
	for _, o := range g.host.snapshot() {
		if strings.Contains(o, " mark ") {
			t.Fatalf("shared rule left: %q", o)
		}
	}
}

// The firewall's tables are created only when Apply finds them missing;
// any other error is returned as it is, without an Init.
func TestFirewallAdapterInit(t *testing.T) {
	for _, tc := range []struct {
		name      string
		first     error
		wantInits int
		wantErr   bool
	}{
		{"applied", nil, 0, false},
		{"not initialized", fmt.Errorf("apply: %w", firewall.ErrNotInitialized), 1, false},
		{"other error", errors.New("EPERM"), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeTables{first: tc.first}
			err := (&FirewallAdapter{F: f}).Apply(netplan.Filter{Tap: "tap1"})
			if f.inits != tc.wantInits || (err != nil) != tc.wantErr {
				t.Fatalf("inits %d, err %v; want %d inits, error %v", f.inits, err, tc.wantInits, tc.wantErr)
			}
		})
	}
}

// fakeTables fails its first Apply with first.
type fakeTables struct {
	first          error
	applies, inits int
}

func (f *fakeTables) Init() error { f.inits++; return nil }
func (f *fakeTables) Apply(netplan.Filter) error {
	f.applies++
	if f.applies == 1 {
		return f.first
	}
	return nil
}
func (f *fakeTables) Remove(netplan.Filter) error { return nil }
func (f *fakeTables) RemoveTap(string) error      { return nil }
func (f *fakeTables) List() ([]string, error)     { return nil, nil }
