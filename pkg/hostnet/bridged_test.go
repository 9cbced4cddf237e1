package hostnet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/netplan"
	"github.com/diktyo/diktyo/pkg/nettest"
	"github.com/diktyo/diktyo/pkg/ovsflow"
)

func TestBridged(t *testing.T) {
	needRoot(t)
	host, vm1, vm2 := newNS(t, "host"), newNS(t, "vm"), newNS(t, "vm")
	host.ip(t, "link", "add", "br-x", "mtu", "1400", "type", "bridge")
	host.ip(t, "link", "set", "br-x", "up")
	nettest.VethDown(t, host.NS, "p-other", vm2.NS, "eth0")
	host.ip(t, "link", "set", "p-other", "mtu", "1400", "master", "br-x", "up")
	nettest.VethDown(t, host.NS, "tap-b1", vm1.NS, "eth0")
	for i, vm := range []*testNS{vm1, vm2} {
		vm.ip(t, "link", "set", "eth0", "mtu", "1400", "up")
		vm.ip(t, "addr", "add", []string{"198.51.100.20/24", "198.51.100.21/24"}[i], "dev", "eth0")
	}
	a := host.applier(t, Options{})
	f, err := a.Facts("tap-b1", "br-x", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Link.Exists || f.Link.Kind != "bridge" || f.Link.MTU != 1400 || f.Tap.Master != "" {
		t.Fatalf("facts: %+v", f)
	}
	host.waitLinkLocal(t, "br-x") // or it may appear between the snapshots
	before := host.snapshot(t, "tap-b1", "br-x")

	plan := netplan.Host{Tap: netplan.Tap{Name: "tap-b1", MTU: f.Link.MTU, Master: "br-x"}}
	rec, err := a.Apply(plan)
	if err != nil {
		t.Fatal(err)
	}
	tf, _ := a.LinkFacts("tap-b1")
	if tf.Master != "br-x" || tf.MTU != 1400 || !tf.Up {
		t.Errorf("tap after Apply: %+v", tf)
	}
	if rec.Tap.Attached != "br-x" || rec.Tap.PrevMTU != 1500 || !rec.Tap.SetUp {
		t.Errorf("record: %+v", rec.Tap)
	}
	if again, err := a.Apply(plan); err != nil || !again.Empty() {
		t.Errorf("second Apply: %+v, %v", again, err)
	}
	if err := vm1.Ping("198.51.100.21", 20*time.Second); err != nil {
		t.Error(err)
	}
	if err := a.Remove(rec); err != nil {
		t.Fatal(err)
	}
	sameSnapshot(t, "after Remove", before, host.snapshot(t, "tap-b1", "br-x"))
}

// ovsEnv is a private Open vSwitch (userspace datapath) run inside a test
// namespace: its own conf.db, ovsdb-server and ovs-vswitchd, killed at
// cleanup.
type ovsEnv struct {
	dir string
	db  string
}

func startOVS(t testing.TB, ns *testNS) *ovsEnv {
	t.Helper()
	for _, bin := range []string{"ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("needs %s (make deps installs openvswitch-switch)", bin)
		}
	}
	dir, err := os.MkdirTemp("", "hnovs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	o := &ovsEnv{dir: dir, db: "unix:" + filepath.Join(dir, "db.sock")}
	if out, err := exec.Command("ovsdb-tool", "create", filepath.Join(dir, "conf.db"),
		"/usr/share/openvswitch/vswitch.ovsschema").CombinedOutput(); err != nil {
		t.Fatalf("ovsdb-tool: %v: %s", err, out)
	}
	env := append(os.Environ(), "OVS_RUNDIR="+dir, "OVS_DBDIR="+dir, "OVS_LOGDIR="+dir, "OVS_SYSCONFDIR="+dir)
	start := func(name string, args ...string) {
		cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name(), name}, args...)...)
		cmd.Env = env
		if err := cmd.Start(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
	start("ovsdb-server", filepath.Join(dir, "conf.db"), "--remote=punix:"+filepath.Join(dir, "db.sock"),
		"--unixctl="+filepath.Join(dir, "ovsdb-server.ctl"), "--log-file="+filepath.Join(dir, "ovsdb-server.log"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "db.sock")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ovsdb-server: no socket")
		}
		time.Sleep(20 * time.Millisecond)
	}
	o.vsctl(t, "--no-wait", "init")
	start("ovs-vswitchd", o.db, "--unixctl="+filepath.Join(dir, "ovs-vswitchd.ctl"),
		"--log-file="+filepath.Join(dir, "ovs-vswitchd.log"))
	return o
}

func (o *ovsEnv) vsctl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("ovs-vsctl", append([]string{"--timeout=20", "--db=" + o.db}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ovs-vsctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// ofctl runs ovs-ofctl on bridge's OpenFlow socket (--no-stats output).
func (o *ovsEnv) ofctl(t testing.TB, cmd, bridge string) string {
	t.Helper()
	out, err := exec.Command("ovs-ofctl", "--timeout=20", "--no-stats", "--names", cmd,
		"unix:"+filepath.Join(o.dir, bridge+".mgmt")).CombinedOutput()
	if err != nil {
		t.Fatalf("ovs-ofctl %s %s: %v: %s", cmd, bridge, err, out)
	}
	return string(out)
}

func TestOpenvSwitch(t *testing.T) {
	needRoot(t)
	host, vm := newNS(t, "host"), newNS(t, "vm")
	o := startOVS(t, host)
	o.vsctl(t, "add-br", "br-ovs", "--", "set", "bridge", "br-ovs", "datapath_type=netdev")
	nettest.VethDown(t, host.NS, "tap-o1", vm.NS, "eth0")
	a := host.applier(t, Options{OVSDB: o.db, Timeout: 20 * time.Second})
	f, err := a.Facts("tap-o1", "br-ovs", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Link.Exists || !f.Tap.Exists {
		t.Fatalf("facts: %+v", f)
	}
	before := host.snapshot(t, "tap-o1")

	plan := netplan.Host{Tap: netplan.Tap{Name: "tap-o1"}, OVS: &netplan.OVSPort{Bridge: "br-ovs", Tag: 10}}
	rec, err := a.Apply(plan)
	if err != nil {
		t.Fatal(err)
	}
	if got := o.vsctl(t, "list-ports", "br-ovs"); got != "tap-o1" {
		t.Errorf("ports = %q", got)
	}
	if got := o.vsctl(t, "get", "port", "tap-o1", "tag"); got != "10" {
		t.Errorf("tag = %q", got)
	}
	// Applying again with other VLANs updates the existing port.
	plan.OVS = &netplan.OVSPort{Bridge: "br-ovs", Tag: 10, Trunks: []int{20, 30}}
	rec2, err := a.Apply(plan)
	if err != nil {
		t.Fatal(err)
	}
	if got := o.vsctl(t, "get", "port", "tap-o1", "tag", "trunks", "vlan_mode"); got != "10\n[20, 30]\nnative-untagged" {
		t.Errorf("tag, trunks, vlan_mode = %q", got)
	}
	// With a guard, the port's flows follow it (cookie of the tap).
	plan.OVS.Guard = &netplan.Filter{Tap: "tap-o1", Mode: netplan.ModeOpenvSwitch,
		MAC: []byte{0xaa, 0, 0, 0, 0, 1}, AntiSpoof: true, LinkLocal6: true,
		Queues: &netplan.Queues{DHCP: 42, RS: 43, NS: 44, DHCPv6: 45}}
	rec3, err := a.Apply(plan)
	if err != nil {
		t.Fatal(err)
	}
	cookie := fmt.Sprintf("cookie=%#x", ovsflow.Cookie("tap-o1"))
	flows := o.ofctl(t, "dump-flows", "br-ovs")
	if n := strings.Count(flows, cookie); n < 10 || !strings.Contains(flows, `in_port="tap-o1"`) {
		t.Errorf("%d flows with %s:\n%s", n, cookie, flows)
	}
	// Applying again replaces them (one bundle): no duplicates.
	if _, err := a.Apply(plan); err != nil {
		t.Fatal(err)
	}
	if again := o.ofctl(t, "dump-flows", "br-ovs"); strings.Count(again, cookie) != strings.Count(flows, cookie) {
		t.Errorf("second Apply: %d flows, first %d", strings.Count(again, cookie), strings.Count(flows, cookie))
	}
	if err := a.Remove(rec.Merge(rec2).Merge(rec3)); err != nil {
		t.Fatal(err)
	}
	if got := o.vsctl(t, "list-ports", "br-ovs"); got != "" {
		t.Errorf("ports after Remove = %q", got)
	}
	if got := o.ofctl(t, "dump-flows", "br-ovs"); strings.Contains(got, "cookie=0xd1d1") || !strings.Contains(got, "actions=NORMAL") {
		t.Errorf("flows after Remove:\n%s", got)
	}
	if err := a.Remove(rec); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	sameSnapshot(t, "after Remove", before, host.snapshot(t, "tap-o1"))
}

// An Open vSwitch port with a guard gets its flows in one ovs-ofctl
// bundle after the port exists; Remove deletes them by cookie, also from
// a record derived from the plan (an up interrupted before Apply
// returned), and a record without flows (an older diktyo's) runs no
// ovs-ofctl.
func TestOVSFlowsApplyRemove(t *testing.T) {
	var calls []string
	vsctl := func(args ...string) ([]byte, error) {
		calls = append(calls, "ovs-vsctl "+strings.Join(args, " "))
		return nil, nil
	}
	ofctl := func(stdin []byte, args ...string) ([]byte, error) {
		c := "ovs-ofctl " + strings.Join(args, " ")
		if stdin != nil {
			first, _, _ := strings.Cut(string(stdin), "\n")
			c += " <" + first
		}
		calls = append(calls, c)
		return nil, nil
	}
	needRoot(t)
	host, vm := newNS(t, "host"), newNS(t, "vm")
	nettest.VethDown(t, host.NS, "tap-f1", vm.NS, "eth0")
	a := host.applier(t, Options{OVSVsctl: vsctl, OVSOFCtl: ofctl, OVSDB: "unix:/run/ovs/db.sock"})
	guard := &netplan.Filter{Tap: "tap-f1", Mode: netplan.ModeOpenvSwitch, MAC: []byte{0xaa, 0, 0, 0, 0, 1}, AntiSpoof: true}
	h := netplan.Host{Tap: netplan.Tap{Name: "tap-f1"}, OVS: &netplan.OVSPort{Bridge: "br-ovs", Tag: 5, Guard: guard}}
	rec, err := a.Apply(h)
	if err != nil {
		t.Fatal(err)
	}
	del := "ovs-ofctl del-flows unix:/run/ovs/br-ovs.mgmt " + ovsflow.DeleteMatch(ovsflow.Cookie("tap-f1"))
	want := []string{
		"ovs-vsctl " + strings.Join(ovsAddArgs(netplan.OVSPort{Bridge: "br-ovs", Tag: 5}, "tap-f1"), " "),
		"ovs-ofctl --bundle add-flows unix:/run/ovs/br-ovs.mgmt - <delete " + ovsflow.DeleteMatch(ovsflow.Cookie("tap-f1")),
	}
	if !slices.Equal(calls, want) {
		t.Errorf("Apply ran\n%s\nwant\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	if rec.OVSFlows != "br-ovs" || rec.OVS == nil || rec.OVS.Guard != nil {
		t.Errorf("record: flows %q, port %+v (the guard is not recorded)", rec.OVSFlows, rec.OVS)
	}
	for name, r := range map[string]Applied{
		"record":    rec,
		"from plan": {Tap: TapChange{Name: "tap-f1"}, OVS: h.OVS},
	} {
		calls = nil
		if err := a.Remove(r); err != nil {
			t.Fatal(err)
		}
		if len(calls) != 2 || calls[0] != del || !strings.Contains(calls[1], "del-port br-ovs tap-f1") {
			t.Errorf("%s: Remove ran %q", name, calls)
		}
	}
	calls = nil
	if err := a.Remove(Applied{Tap: TapChange{Name: "tap-f1"}, OVS: &netplan.OVSPort{Bridge: "br-ovs"}}); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || strings.Contains(calls[0], "ovs-ofctl") {
		t.Errorf("old record: Remove ran %q", calls)
	}
}
