package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/nettest"
)

// Ganeti's two networks as gnt-network lists them, before and after they
// are connected to the node group "default".
const (
	uuidNet1 = "5d052136-8f8a-42cb-aa98-7cf5137dbf97"
	uuidNet2 = "487e6d8c-e8d2-4718-98d3-147592bdec07"
	net1Line = "net1|" + uuidNet1 + "|198.51.100.0/24|198.51.100.1|2001:db8::/64|2001:db8::1|aa:00:00|nfdhcpd|%s|198.51.100.0, 198.51.100.1, 198.51.100.255\n"
	net2Line = "net2|" + uuidNet2 + "|198.18.100.0/24|198.18.100.1|2001:db8:100::/64|2001:db8:100::1|aa:00:01|nfdhcpd,routed|%s|198.18.100.0, 198.18.100.1, 198.18.100.255\n"
)

// cluster is two nodes, A (the master, vm.ganeti.test) and B
// (n2.ganeti.test), whose routed uplinks meet at router r.
type cluster struct {
	t      *testing.T
	a, b   *node
	r      *nettest.NS
	vmTaps map[*node]map[string]func() // the VM's taps on each node
}

// instance is what Ganeti knows of the test's instance.
type instance struct {
	name    string
	primary string
	nics    []ganeti.NIC
}

// The instance's NICs: NIC 0 routed in net2, NIC 1 (hot-added) bridged in
// net1.
func nic0() ganeti.NIC {
	return ganeti.NIC{Index: 0, UUID: "11111111-0000-4000-8000-000000000000", IP: ip("198.18.100.2"), MAC: mac("aa:00:01:2d:2b:3b"),
		Mode: ganeti.ModeRouted, Link: "100", Network: &ganeti.Network{Name: "net2", UUID: uuidNet2,
			Subnet: netPrefix("198.18.100.0/24"), Gateway: ip("198.18.100.1"), Subnet6: netPrefix("2001:db8:100::/64"),
			Gateway6: ip("2001:db8:100::1"), MACPrefix: mac("aa:00:01:00:00:00")[:3], Tags: ganeti.NewTags("nfdhcpd", "routed")}}
}

func nic1() ganeti.NIC {
	return ganeti.NIC{Index: 1, UUID: "11111111-0000-4000-8000-000000000001", Name: "nic1", IP: ip("198.51.100.3"), MAC: mac("aa:00:00:40:9f:d1"),
		Mode: ganeti.ModeBridged, Link: "gntbr0", Bridge: "gntbr0", Network: &ganeti.Network{Name: "net1", UUID: uuidNet1,
			Subnet: netPrefix("198.51.100.0/24"), Gateway: ip("198.51.100.1"), Subnet6: netPrefix("2001:db8::/64"),
			Gateway6: ip("2001:db8::1"), MACPrefix: mac("aa:00:00:00:00:00")[:3], Tags: ganeti.NewTags("nfdhcpd")}}
}

// env is the hook environment of dump rewritten for inst, which moves from
// inst.primary to after ("" for no move); newName is set for a rename.
func (c *cluster) env(dump string, inst instance, after, newName string) []string {
	if after == "" {
		after = inst.primary
	}
	return dumpHookEnv(c.t, dump, func(e *ganeti.HookEnv) {
		for i, v := range []*ganeti.HookView{&e.HookView, e.Post} {
			if v == nil || v.Instance == nil {
				continue
			}
			v.OpTarget = inst.name
			v.Instance.Name, v.Instance.NewName = inst.name, newName
			v.Instance.NICs = inst.nics
			v.Instance.Primary = inst.primary
			if i == 1 {
				v.Instance.Primary = after
			}
		}
		if inst.primary != after {
			e.Migration = &ganeti.Migration{OldPrimary: inst.primary, NewPrimary: after}
		}
	})
}

// newCluster is nodes A (the master) and B, and their router.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	nettest.RequireRoot(t, "nft")
	c := &cluster{t: t, r: newRouter(t), vmTaps: map[*node]map[string]func(){}}
	c.a = hostNode(t, master, c.r, "pa", "198.18.100.254", "2001:db8:100::fffe")
	c.b = hostNode(t, node2, c.r, "pb", "198.18.100.253", "2001:db8:100::fffd")
	routerPort(t, c.r, "pa")
	routerPort(t, c.r, "pb")
	return c
}

// runHook runs env's hook on the nodes given, as Ganeti does (pre then
// post are separate calls).
func (c *cluster) runHook(env []string, nodes ...*node) {
	c.t.Helper()
	for _, n := range nodes {
		n.mustHook(env)
	}
}

// vmUp is QEMU starting the instance's NICs on n: a tap per NIC, and
// kvm-ifup (diktyo-ifup) for each.
func (c *cluster) vmUp(n *node, inst instance, nics ...ganeti.NIC) {
	c.t.Helper()
	if c.vmTaps[n] == nil {
		c.vmTaps[n] = map[string]func(){}
	}
	in := &ganeti.Instance{Name: inst.name}
	for _, nic := range nics {
		tap := fmt.Sprintf("tap%d", nic.Index)
		c.vmTaps[n][tap] = n.vmTap(tap, nic.MAC.String())
		n.mustIfup(ifupEnv(in, nic, tap), "up")
	}
}

// vmDown is QEMU letting NICs go on n (all when none is named): their
// taps disappear.
func (c *cluster) vmDown(n *node, taps ...string) {
	c.t.Helper()
	if len(taps) == 0 {
		for tap := range c.vmTaps[n] {
			taps = append(taps, tap)
		}
	}
	for _, tap := range taps {
		c.vmTaps[n][tap]()
		delete(c.vmTaps[n], tap)
	}
}

// check compares the pool and both nodes with what they must be.
func (c *cluster) check(step string, pool []string, a, b string) {
	c.t.Helper()
	sameLines(c.t, step+": pool", c.a.holdings(), pool)
	c.a.expectSnapshot(step, a)
	c.b.expectSnapshot(step, b)
	if _, err := os.Stat(c.b.db); err == nil {
		c.t.Fatalf("%s: node B has a pool of its own", step)
	}
}

func (c *cluster) upMAC(n *node) string {
	return strings.TrimSpace(n.ns.Run(c.t, "cat", "/sys/class/net/up1/address"))
}

// routerSees waits for the router's neighbour entry of addr to point to
// lladdr.
func (c *cluster) routerSees(addr, lladdr string) error {
	deadline := time.Now().Add(5 * time.Second)
	var out string
	for time.Now().Before(deadline) {
		out = c.r.Run(c.t, "ip", "neigh", "show", addr, "dev", "br0")
		if strings.Contains(out, "lladdr "+lladdr) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("router: %s: %q, want lladdr %s", addr, out, lladdr)
}

// A simulated life cycle on two nodes: network add and connect, instance
// add, start, NIC hot-add and hot-remove, stop, rename, start, migrate
// to the other node and back, failover, stop, remove. After each step the
// pool and both nodes' state (links, rules, routes, proxy entries,
// nftables, sysctls, records, bindings) are exactly as expected: as the
// node was before any NIC, or as diktyo-ifup left it for the NICs that
// must be there. After a migration the new node announces the VM's
// addresses again.
func TestLifecycle(t *testing.T) {
	c := newCluster(t)
	a0, b0 := c.a.snapshot(), c.b.snapshot()
	A, B := c.a, c.b

	// Networks: gnt-network add net1 and net2, then connect both to
	// "default". Connect hooks run on every node of the group; only the
	// master mirrors.
	A.ganeti(fmt.Sprintf(net1Line, "")+fmt.Sprintf(net2Line, ""), "")
	c.runHook(dumpHookEnv(t, "kvm/network-add-post.env", nil), A)
	c.runHook(dumpHookEnv(t, "kvm/network-add-post.env", func(e *ganeti.HookEnv) {
		for _, v := range []*ganeti.HookView{&e.HookView, e.Post} {
			*v.Network = *nic1().Network
			v.Network.UUID = ""
		}
	}), A)
	A.ganeti(fmt.Sprintf(net1Line, "default (bridged, gntbr0, )")+fmt.Sprintf(net2Line, "default (routed, 100, )"), "")
	c.runHook(dumpHookEnv(t, "kvm/network-connect-post.env", nil), A, B)
	out := A.mustIpam("network", "list", "--no-headers", "--separator=|", "-o", "name,network,uuid")
	if out != "net1|198.51.100.0/24|"+uuidNet1+"\nnet2|198.18.100.0/24|"+uuidNet2+"\n" {
		t.Fatalf("networks:\n%s", out)
	}
	if info := A.mustIpam("network", "info", "net2"); !strings.Contains(info, "default") || !strings.Contains(info, "routed") {
		t.Fatalf("net2 not connected:\n%s", info)
	}
	c.check("network add + connect", nil, a0, b0)

	inst := instance{name: "vm1.ganeti.test", primary: master, nics: []ganeti.NIC{nic0()}}
	held0 := func(name string) string { return "net2 198.18.100.2 " + name + ":" + nic0().UUID }
	held1 := func(name string) string { return "net1 198.51.100.3 " + name + ":" + nic1().UUID }

	// instance add (hooks on the master, which is the primary).
	c.runHook(c.env("kvm/instance-add-pre.env", inst, "", ""), A)
	c.runHook(c.env("kvm/instance-add-post.env", inst, "", ""), A)
	c.check("instance add", []string{held0(inst.name)}, a0, b0)

	// start: kvm-ifup wires NIC 0 on A.
	c.vmUp(A, inst, nic0())
	a1 := A.snapshot()
	c.runHook(c.env("kvm/instance-start-post.env", inst, "", ""), A)
	c.check("start", []string{held0(inst.name)}, a1, b0)

	// modify: hot-add NIC 1 (pre claims its address, kvm-ifup wires it).
	inst.nics = []ganeti.NIC{nic0(), nic1()}
	c.runHook(c.env("kvm/instance-modify-add-nic-hotplug-pre.env", inst, "", ""), A)
	c.vmUp(A, inst, nic1())
	a2 := A.snapshot()
	c.runHook(c.env("kvm/instance-modify-add-nic-hotplug-post.env", inst, "", ""), A)
	c.check("hot-add", []string{held0(inst.name), held1(inst.name)}, a2, b0)

	// modify: hot-remove NIC 1; Ganeti has no kvm-ifdown, the hook tears
	// it down.
	inst.nics = []ganeti.NIC{nic0()}
	c.runHook(c.env("kvm/instance-modify-remove-nic-hotplug-pre.env", inst, "", ""), A)
	c.vmDown(A, "tap1")
	c.runHook(c.env("kvm/instance-modify-remove-nic-hotplug-post.env", inst, "", ""), A)
	c.check("hot-remove", []string{held0(inst.name)}, a1, b0)

	// stop (a rename needs the instance down), rename, start again.
	c.vmDown(A)
	c.runHook(c.env("kvm/instance-stop-post.env", inst, "", ""), A)
	c.check("stop", []string{held0(inst.name)}, a0, b0)
	c.runHook(c.env("fake/instance-rename-post.env", inst, "", "vm9.ganeti.test"), A)
	inst.name = "vm9.ganeti.test"
	c.check("rename", []string{held0(inst.name)}, a0, b0)
	c.vmUp(A, inst, nic0())
	c.runHook(c.env("kvm/instance-start-post.env", inst, "", ""), A)
	c.check("start again", []string{held0(inst.name)}, a1, b0)

	// migrate to B: the target wires the NIC (kvm-ifup), the source's
	// QEMU exits. The router still has A for the VM (the announcements of
	// B's ifup went before the VM moved): the hook on B announces again.
	c.vmUp(B, inst, nic0())
	b1 := B.snapshot()
	time.Sleep(3 * time.Second) // B's ifup announcer is done
	macA, macB := c.upMAC(A), c.upMAC(B)
	const eui64 = "2001:db8:100:0:a800:1ff:fe2d:2b3b"
	for _, addr := range []string{"198.18.100.2", eui64} {
		c.r.Run(t, "ip", "neigh", "replace", addr, "lladdr", macA, "dev", "br0", "nud", "stale")
	}
	c.vmDown(A)
	migrate := c.env("kvm/instance-migrate-to-n2-post.env", inst, node2, "")
	c.runHook(migrate, A, B)
	inst.primary = node2
	c.check("migrate to B", []string{held0(inst.name)}, a0, b1)
	for _, addr := range []string{"198.18.100.2", eui64} {
		if err := c.routerSees(addr, macB); err != nil {
			t.Error(err)
		}
	}
	// Ganeti may run a hook again: nothing changes.
	c.runHook(migrate, A, B)
	c.check("migrate to B, hooks again", []string{held0(inst.name)}, a0, b1)

	// ... and back to A.
	c.vmUp(A, inst, nic0())
	c.vmDown(B)
	c.runHook(c.env("kvm/instance-migrate-back-post.env", inst, master, ""), A, B)
	inst.primary = master
	c.check("migrate back", []string{held0(inst.name)}, a1, b0)

	// failover to B: A's QEMU is gone first, B starts the instance.
	c.vmDown(A)
	c.vmUp(B, inst, nic0())
	c.runHook(c.env("kvm/instance-failover-to-n2-post.env", inst, node2, ""), A, B)
	inst.primary = node2
	c.check("failover", []string{held0(inst.name)}, a0, b1)

	// stop, remove.
	c.vmDown(B)
	c.runHook(c.env("kvm/instance-stop-post.env", inst, "", ""), A, B)
	c.check("stop on B", []string{held0(inst.name)}, a0, b0)
	remove := c.env("kvm/instance-remove-post.env", inst, "", "")
	c.runHook(remove, A, B)
	c.check("remove", nil, a0, b0)
	c.runHook(remove, A, B)
	c.check("remove, hooks again", nil, a0, b0)
	if out := A.mustIpam("check"); !strings.HasPrefix(out, "consistent") {
		t.Errorf("check: %s", out)
	}
}
