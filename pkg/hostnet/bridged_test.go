package hostnet

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/netplan"
)

func TestBridged(t *testing.T) {
	needRoot(t)
	host, vm1, vm2 := newNS(t, "host"), newNS(t, "vm"), newNS(t, "vm")
	host.ip(t, "link", "add", "br-x", "mtu", "1400", "type", "bridge")
	host.ip(t, "link", "set", "br-x", "up")
	host.veth(t, "p-other", vm2, "eth0")
	host.ip(t, "link", "set", "p-other", "mtu", "1400", "master", "br-x", "up")
	host.veth(t, "tap-b1", vm1, "eth0")
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
	if err := ping(t, vm1, netip.MustParseAddr("198.51.100.21"), 20*time.Second); err != nil {
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
		cmd := exec.Command("ip", append([]string{"netns", "exec", ns.name, name}, args...)...)
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

func TestOpenvSwitch(t *testing.T) {
	needRoot(t)
	host, vm := newNS(t, "host"), newNS(t, "vm")
	o := startOVS(t, host)
	o.vsctl(t, "add-br", "br-ovs", "--", "set", "bridge", "br-ovs", "datapath_type=netdev")
	host.veth(t, "tap-o1", vm, "eth0")
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
	if err := a.Remove(rec.Merge(rec2)); err != nil {
		t.Fatal(err)
	}
	if got := o.vsctl(t, "list-ports", "br-ovs"); got != "" {
		t.Errorf("ports after Remove = %q", got)
	}
	if err := a.Remove(rec); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	sameSnapshot(t, "after Remove", before, host.snapshot(t, "tap-o1"))
}
