package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/nettest"
	"github.com/diktyo/diktyo/pkg/nfdconf"
	"github.com/diktyo/diktyo/pkg/ovsflow"
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

// ovsHost is a host namespace with a private Open vSwitch (userspace
// datapath) whose bridge br-ovs has its local interface up, and
// diktyo-ifup configured to use it.
type ovsHost struct {
	*host
	db string
}

func newOVSHost(t *testing.T) *ovsHost {
	t.Helper()
	nettest.RequireRoot(t, "ovs-ofctl")
	h := newHost(t)
	db := startOVS(t, h)
	if err := os.WriteFile(h.config, append(must(os.ReadFile(h.config)), []byte("OVS_DB="+db+"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	vsctl(t, db, "add-br", "br-ovs", "--", "set", "bridge", "br-ovs", "datapath_type=netdev")
	// Steered DHCP, RS and NS reach nfdhcpd through the bridge's local
	// interface.
	h.ns.Run(t, "ip", "link", "set", "br-ovs", "up")
	return &ovsHost{host: h, db: db}
}

// ofctl runs ovs-ofctl's cmd on br-ovs (its socket is in the private run
// directory) with args.
func (o *ovsHost) ofctl(t *testing.T, cmd string, args ...string) string {
	t.Helper()
	args = append([]string{cmd, "unix:" + filepath.Join(o.dir, "ovs", "br-ovs.mgmt")}, args...)
	out, err := exec.Command("ovs-ofctl", append([]string{"--timeout=20", "--no-stats", "--names"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ovs-ofctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// snapshot adds the bridge's ports and OpenFlow flows to the host's.
func (o *ovsHost) snapshot(t *testing.T) string {
	t.Helper()
	return o.host.snapshot() + "## ports\n" + vsctl(t, o.db, "list-ports", "br-ovs") + "\n## flows\n" + o.ofctl(t, "dump-flows")
}

func (o *ovsHost) checkSnapshot(t *testing.T, before string) {
	t.Helper()
	if after := o.snapshot(t); after != before {
		t.Fatalf("host state differs from the pre-test snapshot:\n%s\n--- before:\n%s\n--- after:\n%s", nettest.LineDiff(before, after), before, after)
	}
}

// port plugs a namespace into br-ovs as an operator's port (no
// diktyo-ifup): eth0 with mac and addrs, in VLAN 10.
func (o *ovsHost) port(t *testing.T, name, mac string, addrs ...string) *nettest.NS {
	t.Helper()
	ns := nettest.NewNS(t, "ifp")
	nettest.Veth(t, o.ns, name, ns, "eth0")
	ns.Run(t, "ip", "link", "set", "eth0", "address", mac)
	noTxChecksum(t, ns)
	vsctl(t, o.db, "add-port", "br-ovs", name, "tag=10")
	for _, a := range addrs {
		ns.Run(t, "ip", "addr", "add", a, "dev", "eth0", "nodad")
	}
	return ns
}

// nic is an Open vSwitch NIC of the kvm1 dump on br-ovs, VLAN 10, with
// over applied: the VM namespace (not set up yet) and its environment.
func (o *ovsHost) nic(t *testing.T, tap string, over map[string]string) (*nettest.NS, map[string]string) {
	t.Helper()
	m := map[string]string{"INTERFACE": tap, "MODE": "openvswitch", "LINK": "br-ovs", "BRIDGE": "", "VLAN": ".10",
		"NETWORK_TAGS": ""}
	for k, v := range over {
		m[k] = v
	}
	env := envOf(t, "kvm-ifup-kvm1.ganeti.test-nic0.env", m)
	v := vm(t, o.host, tap, env["MAC"])
	noTxChecksum(t, v)
	return v, env
}

// noTxChecksum makes eth0 of ns compute its checksums: the userspace
// datapath reads the host end of a veth through AF_PACKET and forwards
// TCP and UDP whose offloaded checksum was never filled in, which the
// receiver drops (Open vSwitch's documentation has veths' tx offload
// turned off).
func noTxChecksum(t *testing.T, ns *nettest.NS) {
	t.Helper()
	nettest.RequireRoot(t, "ethtool")
	ns.Run(t, "ethtool", "-K", "eth0", "tx", "off")
}

// addrs gives a VM its IPv4 address and EUI-64 IPv6 address and waits
// for its link-local address.
func addrs(t *testing.T, v *nettest.NS, ip4, ip6 string) {
	t.Helper()
	v.Run(t, "ip", "addr", "add", ip4+"/24", "dev", "eth0")
	v.Run(t, "ip", "addr", "add", ip6+"/64", "dev", "eth0", "nodad")
	if _, err := nettest.WaitLinkLocal(v, "eth0", 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// The VM of the kvm1 dump: its MAC and addresses.
var (
	vmMAC  = net.HardwareAddr{0xaa, 0, 0, 0x0d, 0xf1, 0x78}
	vmIP   = netip.MustParseAddr("198.51.100.2")
	vmEUI  = netip.MustParseAddr("2001:db8::a800:ff:fe0d:f178")
	vmLL   = netip.MustParseAddr("fe80::a800:ff:fe0d:f178")
	gwIP   = netip.MustParseAddr("198.51.100.1")
	gwIP6  = netip.MustParseAddr("2001:db8::1")
	gwMAC  = "aa:00:00:00:00:01"
	vicIP  = netip.MustParseAddr("198.51.100.9")
	vicIP6 = netip.MustParseAddr("2001:db8::9")
)

// gateway is the network's router, an operator's port on the switch.
func (o *ovsHost) gateway(t *testing.T) *nettest.NS {
	return o.port(t, "up-o", gwMAC, gwIP.String()+"/24", gwIP6.String()+"/64")
}

func TestE2EOpenvSwitch(t *testing.T) {
	o := newOVSHost(t)
	r := o.gateway(t)
	noTap := o.snapshot(t)
	v, env := o.nic(t, "tap-o1", nil)
	before := o.snapshot(t)

	o.mustIfup("kvm-vif-bridge", env)
	first := o.snapshot(t)
	o.mustIfup("kvm-vif-bridge", env)
	if again := o.snapshot(t); again != first {
		t.Fatalf("second up changed the host:\n%s", nettest.LineDiff(first, again))
	}
	if got := vsctl(t, o.db, "get", "port", "tap-o1", "tag"); got != "10" {
		t.Fatalf("tag of tap-o1 = %q", got)
	}
	if !strings.Contains(first, `in_port="tap-o1"`) {
		t.Fatalf("no flows for tap-o1:\n%s", first)
	}
	addrs(t, v, vmIP.String(), vmEUI.String())
	ping(t, v, gwIP.String())
	ping(t, v, gwIP6.String())
	ping(t, r, vmEUI.String())

	// ovs-vswitchd lost the flows (a restart without ovs-ctl's save and
	// restore): reconcile writes them again, and changes nothing else.
	o.ofctl(t, "del-flows", ovsflow.DeleteMatch(ovsflow.Cookie("tap-o1")))
	if strings.Contains(o.snapshot(t), `in_port="tap-o1"`) {
		t.Fatal("flows of tap-o1 not deleted")
	}
	if out, err := o.ifup("", nil, "reconcile"); err != nil {
		t.Fatalf("reconcile: %v: %s", err, out)
	}
	if again := o.snapshot(t); again != first {
		t.Fatalf("reconcile did not restore the flows:\n%s", nettest.LineDiff(first, again))
	}

	o.mustIfup("kvm-ifdown-custom", nil, "tap-o1")
	o.checkSnapshot(t, before)

	// reconcile removes the port, flows and tables of a VM that went away.
	o.mustIfup("kvm-vif-bridge", withTags(env, "synnefo:network:0:protected"))
	v.Run(t, "ip", "link", "del", "eth0")
	if out, err := o.ifup("", nil, "reconcile"); err != nil || !strings.Contains(out, "tap-o1") {
		t.Fatalf("reconcile: %v: %s", err, out)
	}
	o.checkSnapshot(t, noTap)
}

func withTags(env map[string]string, tags string) map[string]string {
	m := maps.Clone(env)
	m["TAGS"] = tags
	return m
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// attackFrames are what a VM at mac/ip/eui/ll must not get onto the
// switch: a foreign source MAC, IPv4 or IPv6 source, ARP with a foreign
// sender address or sender MAC, an NA for another node's address (the
// gateway's) or with a foreign target link-layer address, an NS with a
// foreign source link-layer address (each of these three would poison
// the victim's neighbour cache), a router advertisement and DHCP and
// DHCPv6 server replies. legitFrames are what it may send; "end" last.
func attackFrames(mac net.HardwareAddr, ip, eui, ll netip.Addr) [][]byte {
	foreign := net.HardwareAddr{0x02, 0, 0, 0, 0x66, 0x66}
	sn, snMAC := nettest.SolicitedNode(vicIP6)
	return [][]byte{
		nettest.UDP4(nettest.BroadcastMAC, foreign, ip, broadcast4, 0, 1234, 9999, []byte(nettest.MarkerPrefix+"spoof-mac")),
		nettest.UDP4(nettest.BroadcastMAC, mac, netip.MustParseAddr("198.51.100.77"), broadcast4, 0, 1234, 9999, []byte(nettest.MarkerPrefix+"spoof-ip")),
		nettest.ARP(nettest.BroadcastMAC, mac, 1, mac, gwIP, vicIP, "arp-spa"),
		nettest.ARP(nettest.BroadcastMAC, mac, 1, foreign, ip, vicIP, "arp-sha"),
		nettest.UDP6(nettest.AllNodesMAC, mac, netip.MustParseAddr("2001:db8::77"), nettest.AllNodes, nettest.IP6Opts{}, 1234, 9999, []byte(nettest.MarkerPrefix+"spoof-ip6")),
		nettest.ICMP6(nettest.AllNodesMAC, mac, ll, nettest.AllNodes, nettest.IP6Opts{}, nettest.NDTarget(nettest.NDNA, nettest.NAOverride, gwIP6, nettest.NDOpt(nettest.OptTLL, mac), nettest.MarkerOpt("na-target"))),
		nettest.ICMP6(nettest.AllNodesMAC, mac, eui, nettest.AllNodes, nettest.IP6Opts{}, nettest.NDTarget(nettest.NDNA, nettest.NAOverride, eui, nettest.NDOpt(nettest.OptTLL, foreign), nettest.MarkerOpt("na-tlla"))),
		// Link-local NA targets: the EUI-64 one only.
		nettest.ICMP6(nettest.AllNodesMAC, mac, ll, nettest.AllNodes, nettest.IP6Opts{}, nettest.NDTarget(nettest.NDNA, nettest.NAOverride, netip.MustParseAddr("fe80::77"), nettest.NDOpt(nettest.OptTLL, mac), nettest.MarkerOpt("na-ll"))),
		nettest.ICMP6(snMAC, mac, eui, sn, nettest.IP6Opts{}, nettest.NDTarget(nettest.NDNS, 0, vicIP6, nettest.NDOpt(nettest.OptSLL, foreign), nettest.MarkerOpt("ns-slla"))),
		// Two source link-layer options: Open vSwitch zeroes both.
		nettest.ICMP6(snMAC, mac, eui, sn, nettest.IP6Opts{}, nettest.NDTarget(nettest.NDNS, 0, vicIP6, nettest.NDOpt(nettest.OptSLL, foreign), nettest.NDOpt(nettest.OptSLL, mac), nettest.MarkerOpt("ns-2slla"))),
		nettest.ICMP6(nettest.AllNodesMAC, mac, ll, nettest.AllNodes, nettest.IP6Opts{}, nettest.RouterAdvertisement(nettest.NDOpt(nettest.OptSLL, mac), nettest.MarkerOpt("ra"))),
		nettest.UDP4(nettest.BroadcastMAC, mac, ip, broadcast4, 0, 67, 68, []byte(nettest.MarkerPrefix+"dhcp-server")),
		nettest.UDP6(nettest.AllNodesMAC, mac, ll, nettest.AllNodes, nettest.IP6Opts{}, 547, 546, []byte(nettest.MarkerPrefix+"dhcpv6-server")),
	}
}

func legitFrames(mac net.HardwareAddr, ip, eui, ll netip.Addr) [][]byte {
	sn, snMAC := nettest.SolicitedNode(vicIP6)
	return [][]byte{
		nettest.UDP4(nettest.BroadcastMAC, mac, ip, broadcast4, 0, 1234, 9999, []byte(nettest.MarkerPrefix+"legit")),
		nettest.UDP6(nettest.AllNodesMAC, mac, ll, nettest.AllNodes, nettest.IP6Opts{}, 1234, 9999, []byte(nettest.MarkerPrefix+"legit6")),
		nettest.ICMP6(nettest.AllNodesMAC, mac, eui, nettest.AllNodes, nettest.IP6Opts{}, nettest.NDTarget(nettest.NDNA, nettest.NAOverride, eui, nettest.NDOpt(nettest.OptTLL, mac), nettest.MarkerOpt("legit-na"))),
		nettest.ICMP6(snMAC, mac, eui, sn, nettest.IP6Opts{}, nettest.NDTarget(nettest.NDNS, 0, vicIP6, nettest.NDOpt(nettest.OptSLL, mac), nettest.MarkerOpt("legit-ns"))),
		nettest.ICMP6(snMAC, mac, unspecified6, sn, nettest.IP6Opts{}, nettest.NDTarget(nettest.NDNS, 0, eui, nettest.MarkerOpt("legit-dad"))),
		nettest.UDP4(nettest.BroadcastMAC, mac, ip, broadcast4, 0, 1234, 9999, []byte(nettest.MarkerPrefix+"end")),
	}
}

// TestE2EOpenvSwitchAntiSpoof sends real frames from an Open vSwitch VM:
// none of the spoofed ones reaches a victim on the same bridge or changes
// its neighbour cache, the legitimate ones and ping do. The same frames
// sent once the NIC is down and its port re-added by hand (no flows)
// poison the victim: the test would see it.
func TestE2EOpenvSwitchAntiSpoof(t *testing.T) {
	o := newOVSHost(t)
	gw := o.gateway(t)
	victim := o.port(t, "vic-o", "02:00:00:00:00:09", vicIP.String()+"/24", vicIP6.String()+"/64")
	// ARP entries may be replaced at once (the default locktime of 1 s
	// would hide a poisoning right after the pings).
	victim.Sysctl(t, "net/ipv4/neigh/eth0/locktime", "0")
	v, env := o.nic(t, "tap-oa", nil)
	o.mustIfup("kvm-vif-bridge", env)
	addrs(t, v, vmIP.String(), vmEUI.String())
	for _, a := range []netip.Addr{gwIP, gwIP6, vmIP, vmEUI} {
		ping(t, victim, a.String())
	}
	ping(t, v, gwIP.String())
	ping(t, v, vicIP6.String())
	ping(t, gw, vmEUI.String())

	cache := func() map[netip.Addr]string {
		m := map[netip.Addr]string{}
		for _, a := range []netip.Addr{gwIP, gwIP6, vmIP, vmEUI} {
			m[a] = neighMAC(t, victim, a)
		}
		return m
	}
	want := map[netip.Addr]string{gwIP: gwMAC, gwIP6: gwMAC, vmIP: vmMAC.String(), vmEUI: vmMAC.String()}
	if got := cache(); !maps.Equal(got, want) {
		t.Fatalf("victim's neighbours before: %v, want %v", got, want)
	}
	attack := attackFrames(vmMAC, vmIP, vmEUI, vmLL)
	legit := legitFrames(vmMAC, vmIP, vmEUI, vmLL)
	send := openRaw(t, v, 0)
	seen := func(frames ...[]byte) []string {
		wait := startCapture(t, victim, 5*time.Second)
		send.send(t, frames...)
		return wait()
	}
	if got, want := seen(append(slices.Clone(attack), legit...)...), []string{"end", "legit", "legit-dad", "legit-na", "legit-ns", "legit6"}; !slices.Equal(got, want) {
		t.Errorf("victim received %q, want only %q", got, want)
	}
	time.Sleep(200 * time.Millisecond)
	if got := cache(); !maps.Equal(got, want) {
		t.Errorf("victim's neighbours after the attack: %v, want %v", got, want)
	}
	ping(t, v, gwIP.String())
	ping(t, victim, vmEUI.String())

	// Control: without diktyo's flows the same frames get through.
	o.mustIfup("kvm-ifdown-custom", nil, "tap-oa")
	vsctl(t, o.db, "add-port", "br-ovs", "tap-oa", "tag=10")
	got := seen(append(slices.Clone(attack), legit[len(legit)-1])...)
	for _, f := range attack {
		name := markerName(f)
		if !slices.Contains(got, name) {
			t.Errorf("control: %s did not reach the victim without flows (seen %q)", name, got)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if c := cache(); c[gwIP] != vmMAC.String() || c[gwIP6] != vmMAC.String() || c[vmIP] != "02:00:00:00:66:66" || c[vmEUI] != "02:00:00:00:66:66" {
		t.Errorf("control: the victim's neighbours were not poisoned: %v", c)
	}
}

// markerName is the marker of a test frame.
func markerName(f []byte) string {
	i := bytes.Index(f, []byte(nettest.MarkerPrefix))
	name := f[i+len(nettest.MarkerPrefix):]
	if j := bytes.IndexByte(name, 0); j >= 0 {
		name = name[:j]
	}
	return string(name)
}

// TestE2EOpenvSwitchPrivate: on a private-filtered network, a VM of
// another MAC prefix on the same bridge reaches an Open vSwitch VM
// neither by unicast nor by nettest.BroadcastMAC (ARP included); a VM of the same
// prefix, and the network's router, do.
func TestE2EOpenvSwitchPrivate(t *testing.T) {
	o := newOVSHost(t)
	o.gateway(t)
	v, env := o.nic(t, "tap-op", map[string]string{"NETWORK_TAGS": "private-filtered"})
	o.mustIfup("kvm-vif-bridge", env)
	addrs(t, v, vmIP.String(), vmEUI.String())
	same, envSame := o.nic(t, "tap-oq", map[string]string{"NETWORK_TAGS": "private-filtered", "MAC": "aa:00:00:0d:f1:79",
		"IP": "198.51.100.3", "INSTANCE": "kvm3.ganeti.test", "INTERFACE_UUID": "uuid-oq"})
	o.mustIfup("kvm-vif-bridge", envSame)
	addrs(t, same, "198.51.100.3", "2001:db8::a800:ff:fe0d:f179")
	other := o.port(t, "oth-o", "aa:10:00:00:00:0c", "198.51.100.12/24", "2001:db8::c/64")

	ping(t, same, vmIP.String())
	ping(t, same, vmEUI.String())
	ping(t, v, gwIP.String())
	ping(t, other, gwIP.String()) // the other VM is on the network
	if err := other.Echo("", vmIP.String(), 2*time.Second); err == nil {
		t.Error("a VM of another MAC prefix pings the private VM")
	}
	if err := other.Echo("", vmEUI.String(), 2*time.Second); err == nil {
		t.Error("a VM of another MAC prefix pings the private VM over IPv6")
	}
	if mac := neighMAC(t, v, netip.MustParseAddr("198.51.100.12")); mac != "" {
		t.Errorf("the other prefix's ARP request reached the VM (neighbour %s)", mac)
	}
	// Broadcasts: the same prefix's arrive, the other's do not.
	wait := startCapture(t, v, 5*time.Second)
	sameMAC := net.HardwareAddr{0xaa, 0, 0, 0x0d, 0xf1, 0x79}
	otherMAC := net.HardwareAddr{0xaa, 0x10, 0, 0, 0, 0x0c}
	openRaw(t, other, 0).send(t, nettest.UDP4(nettest.BroadcastMAC, otherMAC, netip.MustParseAddr("198.51.100.12"), broadcast4, 0, 1, 9, []byte(nettest.MarkerPrefix+"other")),
		nettest.ARP(nettest.BroadcastMAC, otherMAC, 1, otherMAC, netip.MustParseAddr("198.51.100.12"), vmIP, "other-arp"))
	openRaw(t, same, 0).send(t, nettest.UDP4(nettest.BroadcastMAC, sameMAC, netip.MustParseAddr("198.51.100.3"), broadcast4, 0, 1, 9, []byte(nettest.MarkerPrefix+"same")),
		nettest.UDP4(nettest.BroadcastMAC, sameMAC, netip.MustParseAddr("198.51.100.3"), broadcast4, 0, 1, 9, []byte(nettest.MarkerPrefix+"end")))
	if got := wait(); !slices.Equal(got, []string{"end", "same"}) {
		t.Errorf("the private VM received %q, want the same prefix's only", got)
	}
}

// serveTCP accepts connections on addr:port inside ns and greets them.
func serveTCP(t *testing.T, ns *nettest.NS, addr string, port int) {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
}

// tcpConnect opens a TCP connection from ns to addr:port and reads the
// greeting.
func tcpConnect(ns *nettest.NS, addr string, port int) error {
	var c net.Conn
	if err := ns.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", net.JoinHostPort(addr, strconv.Itoa(port)), 2*time.Second)
		return err
	}); err != nil {
		return err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	b := make([]byte, 2)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "hi" {
		return fmt.Errorf("greeting %q: %v", b, err)
	}
	return nil
}

// TestE2EOpenvSwitchProfiles: snf-network's profiles on Open vSwitch
// (stateless, on the tap's egress hook). limited lets tcp 22 in and not
// tcp 80, protected neither; both let ping in and the VM's own
// connections out; unprotected lets everything in.
func TestE2EOpenvSwitchProfiles(t *testing.T) {
	o := newOVSHost(t)
	gw := o.gateway(t)
	v, env := o.nic(t, "tap-of", nil)
	addrs(t, v, vmIP.String(), vmEUI.String())
	for _, port := range []int{22, 80} {
		serveTCP(t, v, "::", port)
	}
	serveTCP(t, gw, "::", 8080)
	for _, tc := range []struct {
		profile string
		open    []int
		closed  []int
	}{
		{"limited", []int{22}, []int{80}},
		{"protected", nil, []int{22, 80}},
		{"unprotected", []int{22, 80}, nil},
	} {
		o.mustIfup("kvm-vif-bridge", withTags(env, "synnefo:network:0:"+tc.profile))
		for _, dst := range []netip.Addr{vmIP, vmEUI} {
			for _, port := range tc.open {
				if err := tcpConnect(gw, dst.String(), port); err != nil {
					t.Errorf("%s: tcp %s port %d: %v", tc.profile, dst, port, err)
				}
			}
			for _, port := range tc.closed {
				if err := tcpConnect(gw, dst.String(), port); err == nil {
					t.Errorf("%s: tcp %s port %d is open", tc.profile, dst, port)
				}
			}
			ping(t, gw, dst.String())
		}
		for _, dst := range []netip.Addr{gwIP, gwIP6} {
			if err := tcpConnect(v, dst.String(), 8080); err != nil {
				t.Errorf("%s: the VM's own connection to %s: %v", tc.profile, dst, err)
			}
		}
	}
}

// nfdhcpdBinary builds nfdhcpd once (without cgo, as make build does),
// next to the diktyo-ifup binary of TestMain.
var nfdhcpdBinary = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(filepath.Dir(binary), "nfdhcpd")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append(buildFlags, "-o", bin, "github.com/diktyo/diktyo/nfdhcpd")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build nfdhcpd: %w: %s", err, out)
	}
	return bin, nil
})

// c6dns are the DNS servers nfdhcpd's DHCPv6 replies carry.
var c6dns = []netip.Addr{netip.MustParseAddr("2001:db8:53::1")}

// startNfdhcpd runs nfdhcpd in the host namespace on diktyo-ifup's
// binding directory (queues 42-45, as diktyo-ifup steers) and returns its
// log.
func (o *ovsHost) startNfdhcpd(t *testing.T) *nettest.LogBuffer {
	t.Helper()
	bin, err := nfdhcpdBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(o.dir, "nfdhcpd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := nfdconf.Default()
	c.General.PIDFile, c.General.DataPath, c.General.LogDir, c.General.User = filepath.Join(o.dir, "nfdhcpd.pid"), dir, o.dir, "root"
	c.DHCP.ServerIP = gwIP
	c.IPv6.Nameservers = c6dns
	conf := filepath.Join(o.dir, "nfdhcpd.conf")
	if err := os.WriteFile(conf, c.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := &nettest.LogBuffer{}
	cmd := o.ns.Exec(context.Background(), bin, "-f", "-c", conf)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	out.Wait(t, "nfdhcpd serving", 30*time.Second)
	return out
}

// TestE2EOpenvSwitchNfdhcpd: real nfdhcpd serves an Open vSwitch VM of an
// nfdhcpd network (private-filtered, with the protected profile). Its DHCP, RS and DHCPv6 go to the bridge's local port
// only (a port on the switch never sees its DHCP), reach nfdhcpd through
// diktyo's queue rules, and the answers come back out of the tap: udhcpc
// gets the binding's address, rdisc6 the router advertisement, a
// stateless DHCPv6 client its DNS servers.
func TestE2EOpenvSwitchNfdhcpd(t *testing.T) {
	nettest.RequireRoot(t, "udhcpc", "rdisc6", "dhclient")
	o := newOVSHost(t)
	o.gateway(t)
	watcher := o.port(t, "vic-o", "02:00:00:00:00:09")
	logs := o.startNfdhcpd(t)
	// The MAC filter and the profile of traffic to the VM let nfdhcpd's
	// replies through (they come from the tap's MAC).
	v, env := o.nic(t, "tap-od", map[string]string{"NETWORK_TAGS": "nfdhcpd private-filtered",
		"TAGS": "synnefo:network:0:protected"})
	v.Sysctl(t, "net/ipv6/conf/eth0/accept_ra", "0")
	o.mustIfup("kvm-vif-bridge", env)
	logs.Wait(t, `tap=tap-od`, 30*time.Second)

	dhcp := 0
	done := make(chan struct{})
	watch := openRaw(t, watcher, unix.ETH_P_ALL)
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		watch.c.SetReadDeadline(time.Now().Add(20 * time.Second))
		for {
			n, _, err := watch.c.ReadFrom(buf)
			if err != nil {
				return
			}
			f := buf[:n]
			if n > 14+28 && bytes.Equal(f[6:12], vmMAC) && f[12] == 0x08 && f[13] == 0 && f[23] == unix.IPPROTO_UDP && f[36] == 0 && f[37] == 67 {
				dhcp++
			}
			if markerName(f) == "end" {
				return
			}
		}
	}()
	lease, err := nettest.Udhcpc(t, v, "eth0")
	if err != nil {
		t.Fatalf("udhcpc: %v\nnfdhcpd:\n%s", err, logs)
	}
	if lease.Addr != netip.PrefixFrom(vmIP, 24) {
		t.Errorf("lease %s, want %s/24", lease.Addr, vmIP)
	}
	ra, err := nettest.Rdisc6(t, v, "eth0")
	if err != nil {
		t.Fatalf("rdisc6: %v\nnfdhcpd:\n%s", err, logs)
	}
	if len(ra.Prefixes) != 1 || ra.Prefixes[0].Prefix != netip.MustParsePrefix("2001:db8::/64") {
		t.Errorf("RA prefixes %v, want 2001:db8::/64", ra.Prefixes)
	}
	if info, err := nettest.Dhclient6Stateless(t, v, "eth0"); err != nil || !slices.Equal(info.DNS, c6dns) {
		t.Errorf("stateless DHCPv6: %+v, %v\nnfdhcpd:\n%s", info, err, logs)
	}
	openRaw(t, v, 0).send(t, nettest.UDP4(nettest.BroadcastMAC, vmMAC, vmIP, broadcast4, 0, 1234, 9999, []byte(nettest.MarkerPrefix+"end")))
	<-done
	if dhcp != 0 {
		t.Errorf("a port on the switch saw %d DHCP requests of the VM", dhcp)
	}
}

// TestE2EOpenvSwitchUpgrade: a NIC that an older diktyo-ifup set up (a
// netdev ingress table on the tap, no flows, a record without them) is
// removed exactly by down.
func TestE2EOpenvSwitchUpgrade(t *testing.T) {
	o := newOVSHost(t)
	_, env := o.nic(t, "tap-ou", nil)
	before := o.snapshot(t)
	o.mustIfup("kvm-vif-bridge", withTags(env, "synnefo:network:0:protected"))

	// Turn the state into what the older diktyo-ifup left.
	o.ofctl(t, "del-flows", "cookie=0xd1d1000000000000/0xffff000000000000")
	o.ns.Run(t, "nft", "delete table netdev diktyo_tap-ou; add table netdev diktyo_tap-ou; "+
		"add chain netdev diktyo_tap-ou nic_tap-ou { type filter hook ingress device tap-ou priority -500; }; "+
		"add rule netdev diktyo_tap-ou nic_tap-ou ether saddr != aa:00:00:0d:f1:78 drop")
	path := filepath.Join(o.dir, "state", "ifup", "tap-ou.json")
	var rec map[string]any
	if err := json.Unmarshal(must(os.ReadFile(path)), &rec); err != nil {
		t.Fatal(err)
	}
	plan := rec["plan"].(map[string]any)
	delete(plan["host"].(map[string]any)["ovs"].(map[string]any), "guard")
	delete(plan["filter"].(map[string]any), "tap_mac")
	delete(rec["host_applied"].(map[string]any), "ovs_flows")
	if err := os.WriteFile(path, must(json.Marshal(rec)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ := o.ifup("", nil, "show", "tap-ou"); !strings.Contains(out, "tap-ou") {
		t.Fatalf("the older record does not read:\n%s", out)
	}

	o.mustIfup("kvm-ifdown-custom", nil, "tap-ou")
	o.checkSnapshot(t, before)
}
