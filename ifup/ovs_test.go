package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/nettest"
)

// startOVS runs a private Open vSwitch (userspace datapath) inside the
// host namespace: its own conf.db, ovsdb-server and ovs-vswitchd, killed
// at cleanup. It returns the ovs-vsctl --db value.
func startOVS(t *testing.T, h *host) string {
	t.Helper()
	nettest.RequireRoot(t, "ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl")
	dir := filepath.Join(h.dir, "ovs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	db := "unix:" + filepath.Join(dir, "db.sock")
	if out, err := exec.Command("ovsdb-tool", "create", filepath.Join(dir, "conf.db"),
		"/usr/share/openvswitch/vswitch.ovsschema").CombinedOutput(); err != nil {
		t.Fatalf("ovsdb-tool: %v: %s", err, out)
	}
	env := append(os.Environ(), "OVS_RUNDIR="+dir, "OVS_DBDIR="+dir, "OVS_LOGDIR="+dir, "OVS_SYSCONFDIR="+dir)
	start := func(args ...string) {
		cmd := exec.Command("ip", append([]string{"netns", "exec", h.ns.Name()}, args...)...)
		cmd.Env = env
		if err := cmd.Start(); err != nil {
			t.Fatalf("%s: %v", args[0], err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
	start("ovsdb-server", filepath.Join(dir, "conf.db"), "--remote=punix:"+filepath.Join(dir, "db.sock"),
		"--unixctl="+filepath.Join(dir, "ovsdb-server.ctl"), "--log-file="+filepath.Join(dir, "ovsdb-server.log"))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "db.sock")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ovsdb-server: no socket")
		}
	}
	vsctl(t, db, "--no-wait", "init")
	start("ovs-vswitchd", db, "--unixctl="+filepath.Join(dir, "ovs-vswitchd.ctl"),
		"--log-file="+filepath.Join(dir, "ovs-vswitchd.log"))
	return db
}

func vsctl(t *testing.T, db string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ovs-vsctl", append([]string{"--timeout=20", "--db=" + db}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ovs-vsctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestE2EOpenvSwitch(t *testing.T) {
	h := newHost(t)
	db := startOVS(t, h)
	if err := os.WriteFile(h.config, append(must(os.ReadFile(h.config)), []byte("OVS_DB="+db+"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	vsctl(t, db, "add-br", "br-ovs", "--", "set", "bridge", "br-ovs", "datapath_type=netdev")
	// The gateway is on the same switch, in VLAN 10.
	r := nettest.NewNS(t, "ifr")
	nettest.Veth(t, h.ns, "up-o", r, "eth0")
	vsctl(t, db, "add-port", "br-ovs", "up-o", "tag=10")
	r.Run(t, "ip", "addr", "add", "198.51.100.1/24", "dev", "eth0")
	env := envOf(t, "kvm-ifup-kvm1.ganeti.test-nic0.env", map[string]string{"INTERFACE": "tap-o1",
		"MODE": "openvswitch", "LINK": "br-ovs", "BRIDGE": "", "VLAN": ".10", "NETWORK_TAGS": ""})
	v := vm(t, h, "tap-o1", env["MAC"])
	before := h.snapshot()
	portsBefore := vsctl(t, db, "list-ports", "br-ovs")

	h.mustIfup("kvm-vif-bridge", env)
	h.mustIfup("kvm-vif-bridge", env)
	if got := vsctl(t, db, "get", "port", "tap-o1", "tag"); got != "10" {
		t.Fatalf("tag of tap-o1 = %q", got)
	}
	v.Run(t, "ip", "addr", "add", "198.51.100.2/24", "dev", "eth0")
	ping(t, v, "198.51.100.1")

	h.mustIfup("kvm-ifdown-custom", nil, "tap-o1")
	if got := vsctl(t, db, "list-ports", "br-ovs"); got != portsBefore {
		t.Fatalf("ports after down: %q, before %q", got, portsBefore)
	}
	h.checkSnapshot(before)
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
