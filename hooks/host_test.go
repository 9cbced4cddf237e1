package main

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/firewall/firewalltest"
	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/ganeti/ganetitest"
	"github.com/diktyo/diktyo/pkg/hook"
	"github.com/diktyo/diktyo/pkg/nettest"
)

// hostNode is a node with a namespace of its own, set up as a Ganeti KVM
// host: diktyo's nftables tables, the bridge gntbr0 (net1's link) with a
// port to the outside, and routing table 100 (net2's link) whose default
// route leaves through the uplink up1 to router, where up1's peer is
// routerPort. Addresses: up1 gets uplinkHost (".254"-style).
func hostNode(t *testing.T, name string, router *nettest.NS, routerPort, uplinkHost4, uplinkHost6 string) *node {
	t.Helper()
	nettest.RequireRoot(t, "nft")
	n := newNode(t, name, nettest.NewNS(t, "hk"))
	// QUEUE_BYPASS=yes is in the node's config too.
	firewalltest.Host(t, n.ns)
	br := nettest.Bridge(t, n.ns, "gntbr0")
	// A fixed MAC and a port of its own, as on a real host: otherwise the
	// bridge's MAC and carrier follow the taps that come and go.
	n.ns.Run(t, "ip", "link", "set", "gntbr0", "address", "02:00:00:00:0b:01")
	nettest.Veth(t, n.ns, "gnt-out", nettest.NewNS(t, "hko"), "eth0").Host.SetMaster(t, br)
	nettest.Veth(t, n.ns, "up1", router, routerPort)
	n.ns.RouteUplink(t, "up1", uplinkHost4, uplinkHost6)
	n.ns.WaitUp(t, "gntbr0")
	return n
}

// newRouter is the upstream router of table 100's uplinks: a bridge br0
// holding 198.18.100.1 and 2001:db8:100::1; ports join it with
// routerPort.
func newRouter(t *testing.T) *nettest.NS {
	t.Helper()
	r := nettest.NewNS(t, "hkr")
	nettest.Bridge(t, r, "br0")
	r.Run(t, "ip", "addr", "add", "198.18.100.1/24", "dev", "br0")
	r.Run(t, "ip", "addr", "add", "2001:db8:100::1/64", "dev", "br0", "nodad")
	return r
}

// routerPort enslaves the router's end of a node's uplink to br0.
func routerPort(t *testing.T, r *nettest.NS, port string) {
	t.Helper()
	r.Run(t, "ip", "link", "set", port, "master", "br0")
	r.Run(t, "ip", "link", "set", port, "up")
}

var (
	linkIndex = regexp.MustCompile(`(?m)^\d+: |@if\d+| link-netns(id)? \S+`)
	linkLocal = regexp.MustCompile(`(?m)^.*fe80::.*\n`)
)

// snapshot is the node's state that NICs and hooks change: links (without
// their indexes: Ganeti's taps come and go), policy rules, routes, proxy
// neighbour entries, nftables, the tap and proxy sysctls, diktyo-ifup's
// records and table users, the binding files.
func (n *node) snapshot() string {
	n.t.Helper()
	out := n.ns.Snapshot(n.t, "sh", "-c", "ip -o link show | sed 's/ qlen.*//'; ip rule; ip -6 rule; "+
		"ip route show table all; ip -6 route show table all; ip neigh show proxy; ip -6 neigh show proxy; nft list ruleset; "+
		"for f in /proc/sys/net/ipv4/conf/*/proxy_arp /proc/sys/net/ipv6/conf/*/proxy_ndp "+
		"/proc/sys/net/ipv4/conf/*/forwarding /proc/sys/net/ipv6/conf/*/forwarding; do echo $f $(cat $f); done; "+
		"cd "+n.dir+" && find state nfdhcpd ! -type d 2>/dev/null | grep -v -e '[.]lock$' -e '^state/uplink-' | sort; true")
	return linkLocal.ReplaceAllString(linkIndex.ReplaceAllString(out, ""), "")
}

func (n *node) expectSnapshot(what, want string) {
	n.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	got := n.snapshot()
	// Set elements of a removed NIC expire within a second.
	for got != want && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		got = n.snapshot()
	}
	if got != want {
		n.t.Fatalf("%s: %s: state differs:\n%s", n.name, what, nettest.LineDiff(want, got))
	}
}

// vmTap creates the VM side of a NIC: a namespace behind a veth whose host
// end is named tap (the tap QEMU would create); it returns a func that
// deletes it (the VM went away, and its tap with it).
func (n *node) vmTap(tap string, mac string) func() {
	n.t.Helper()
	v := nettest.NewNS(n.t, "hkv")
	nettest.Veth(n.t, n.ns, tap, v, "eth0")
	v.Run(n.t, "ip", "link", "set", "eth0", "address", mac)
	return func() {
		if _, err := n.ns.Output("ip", "link", "del", tap); err != nil {
			n.t.Logf("%s: del %s: %v", n.name, tap, err)
		}
	}
}

// ifupEnv is the kvm-ifup environment Ganeti gives tap for nic of inst.
func ifupEnv(inst *ganeti.Instance, nic ganeti.NIC, tap string) map[string]string {
	return nic.IfupEnv(inst.Name, inst.Tags, tap).EnvMap()
}

// Every real hook environment runs on both nodes, each with the
// instance's NICs wired by diktyo-ifup first (the NIC a modify removed
// too): teardowns leave the node as it was before any NIC, verifies keep
// exactly the NICs the instance still has, and everything else changes
// nothing.
func TestHostEffectsOfEveryDump(t *testing.T) {
	nettest.RequireRoot(t, "nft")
	router := newRouter(t)
	nodes := map[string]*node{}
	for i, name := range []string{master, node2} {
		nodes[name] = hostNode(t, name, router, fmt.Sprintf("p%d", i), fmt.Sprintf("198.18.100.%d", 254-i), fmt.Sprintf("2001:db8:100::%x", 0xfffe-i))
		routerPort(t, router, fmt.Sprintf("p%d", i))
	}
	dumps, err := filepath.Glob(filepath.Join(ganetitest.Dir(), "*", "*-p*.env"))
	if err != nil || len(dumps) < 50 {
		t.Fatalf("dumps: %d, %v", len(dumps), err)
	}
	for _, path := range dumps {
		name := filepath.Base(filepath.Dir(path)) + "/" + filepath.Base(path)
		env := dumpHookEnv(t, name, nil)
		e, err := ganeti.ParseHookEnv(env)
		if err != nil {
			t.Fatal(err)
		}
		for _, nodeName := range []string{master, node2} {
			n := nodes[nodeName]
			baseline := n.snapshot()
			plan := hook.Decide(e, nodeName)
			var nics []ganeti.NIC
			if e.Instance != nil {
				nics = e.Instance.NICs
				if strings.Contains(name, "remove-nic") && e.Phase == ganeti.PhasePost {
					// The NIC the modify removed: wired here before.
					removed := nics[0]
					removed.Index, removed.IP, removed.MAC = 1, ip("198.51.100.3"), mac("aa:00:00:40:9f:d1")
					removed.UUID, removed.Name = "3928ac09-0a47-40c5-af76-df60154a0340", ""
					nics = append(nics[:1:1], removed)
				}
			}
			var wiredFirst string
			dels := map[string]func(){}
			for i, nic := range nics {
				tap := fmt.Sprintf("tap%d", i)
				dels[tap] = n.vmTap(tap, nic.MAC.String())
				n.mustIfup(ifupEnv(e.Instance, nic, tap), "up")
				if i == 0 {
					wiredFirst = n.snapshot()
				}
			}
			wired := n.snapshot()
			want := wired
			switch plan.Host {
			case hook.HostDown:
				// The instance stopped, or left: its taps are gone.
				for _, del := range dels {
					del()
				}
				dels = nil
				want = baseline
			case hook.HostVerify:
				if len(nics) > len(e.Latest().Instance.NICs) {
					dels["tap1"]() // hot-removed
					delete(dels, "tap1")
					want = wiredFirst
				}
			}
			out, err := n.hook(env)
			if err != nil {
				t.Fatalf("%s on %s: %v\n%s", name, nodeName, err, out)
			}
			n.expectSnapshot(name, want)
			if plan.Host == hook.HostDown && len(nics) > 0 && !strings.Contains(out, "host: removed the NICs' state instance="+e.Instance.Name+" taps=tap0") {
				t.Errorf("%s on %s: log %q", name, nodeName, out)
			}
			// Clean up for the next dump; the node is as before.
			for tap, del := range dels {
				n.mustIfup(nil, "down", tap)
				del()
			}
			n.expectSnapshot(name+" (clean-up)", baseline)
		}
	}
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// mac parses s; a []byte is assignable to net.HardwareAddr and mac.Addr.
func mac(s string) []byte {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func netPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
