package hostnet

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/eui64"
	"github.com/diktyo/diktyo/pkg/netplan"
	"github.com/diktyo/diktyo/pkg/nettest"
)

// Addresses of the routed test network (198.51.100.0/24, 2001:db8:1::/64).
var (
	routerIP4  = netip.MustParseAddr("198.51.100.1")
	routerIP6  = netip.MustParseAddr("2001:db8:1::1")
	routerLL   = netip.MustParseAddr("fe80::1")
	subnet6    = netip.MustParsePrefix("2001:db8:1::/64")
	tapMAC     = net.HardwareAddr{0xcc, 0x47, 0x52, 0x4e, 0x4f, 0x46} // GRNET's TAP_CONSTANT_MAC
	testTable  = 100
	uplinkName = "upl0"
)

// routedEnv is a host namespace whose table 100 routes through a router
// namespace on the uplink, configured as a GRNET routed host is by its
// operator (forwarding, proxy ARP/NDP on the uplink, uplink traffic looked
// up in table 100).
type routedEnv struct {
	host, router *testNS
}

func newRoutedEnv(t testing.TB) *routedEnv {
	t.Helper()
	e := &routedEnv{host: newNS(t, "host"), router: newNS(t, "rtr")}
	h, r := e.host, e.router
	for _, kv := range [][2]string{
		{"net/ipv4/conf/all/forwarding", "1"}, {"net/ipv6/conf/all/forwarding", "1"},
	} {
		h.Sysctl(t, kv[0], kv[1])
	}
	nettest.VethDown(t, h.NS, uplinkName, r.NS, "rtr0")
	r.ip(t, "addr", "add", routerIP4.String()+"/24", "dev", "rtr0")
	r.ip(t, "addr", "add", routerIP6.String()+"/64", "dev", "rtr0", "nodad")
	r.ip(t, "addr", "add", routerLL.String()+"/64", "dev", "rtr0", "nodad")
	r.ip(t, "link", "set", "rtr0", "up")
	h.Sysctl(t, "net/ipv6/conf/"+uplinkName+"/accept_dad", "0")
	h.ip(t, "link", "set", uplinkName, "up")
	h.waitLinkLocal(t, uplinkName)
	h.Sysctl(t, "net/ipv4/conf/"+uplinkName+"/proxy_arp", "1")
	h.Sysctl(t, "net/ipv6/conf/"+uplinkName+"/proxy_ndp", "1")
	h.ip(t, "-4", "route", "add", "default", "via", routerIP4.String(), "dev", uplinkName, "onlink", "table", "100")
	h.ip(t, "-6", "route", "add", "default", "via", routerLL.String(), "dev", uplinkName, "table", "100")
	h.ip(t, "-4", "rule", "add", "iif", uplinkName, "table", "100", "pref", "1000")
	h.ip(t, "-6", "rule", "add", "iif", uplinkName, "table", "100", "pref", "1000")
	return e
}

// addVM creates a VM namespace behind a veth whose host end is tap.
func (e *routedEnv) addVM(t testing.TB, tap string, mac net.HardwareAddr) *testNS {
	t.Helper()
	vm := newNS(t, "vm")
	nettest.VethDown(t, e.host.NS, tap, vm.NS, "eth0")
	vm.ip(t, "link", "set", "eth0", "address", mac.String())
	vm.ip(t, "link", "set", "eth0", "up")
	return vm
}

// routedPlan is what the planner produces for a routed NIC (GRNET's
// kvm-ifup-custom): constant MAC, proxy ARP, rules and host routes in the
// table, proxy NDP on the uplink, announcements.
func routedPlan(tap string, table int, uplink string, ip4 netip.Addr, mac net.HardwareAddr) netplan.Host {
	eui, _ := eui64.Addr(subnet6, mac)
	return netplan.Host{
		Tap: netplan.Tap{Name: tap, MAC: []byte(tapMAC)},
		Sysctls: []netplan.Sysctl{
			{Key: "net/ipv4/conf/" + tap + "/proxy_arp", Value: "1"},
			{Key: "net/ipv6/conf/" + tap + "/proxy_ndp", Value: "0"},
		},
		Rules: []netplan.Rule{
			{Family: 4, IIF: tap, Table: table},
			{Family: 6, IIF: tap, Table: table},
		},
		Routes: []netplan.Route{
			{Dst: netip.PrefixFrom(ip4, 32), Dev: tap, Table: table},
			{Dst: netip.PrefixFrom(eui, 128), Dev: tap, Table: table},
		},
		ProxyNeighs: []netplan.ProxyNeigh{{Addr: eui, Dev: uplink}},
		Announce: []netplan.Announce{
			{Kind: netplan.GratuitousARP, Addr: ip4, Dev: uplink},
			{Kind: netplan.UnsolicitedNA, Addr: eui, Dev: uplink},
		},
	}
}

func isGARP(mac net.HardwareAddr, ip netip.Addr) func([]byte) bool {
	a4 := ip.As4()
	return func(f []byte) bool {
		return len(f) >= 42 && binary.BigEndian.Uint16(f[12:]) == 0x0806 &&
			binary.BigEndian.Uint16(f[20:]) == 1 && net.HardwareAddr(f[22:28]).String() == mac.String() &&
			netip.AddrFrom4([4]byte(f[28:32])) == netip.AddrFrom4(a4) && netip.AddrFrom4([4]byte(f[38:42])) == netip.AddrFrom4(a4)
	}
}

func isUnsolicitedNA(mac net.HardwareAddr, target netip.Addr) func([]byte) bool {
	return func(f []byte) bool {
		return len(f) >= 78 && binary.BigEndian.Uint16(f[12:]) == 0x86dd && f[20] == 58 && f[54] == 136 &&
			net.HardwareAddr(f[6:12]).String() == mac.String() && netip.AddrFrom16([16]byte(f[62:78])) == target
	}
}

func TestRouted(t *testing.T) {
	needRoot(t)
	e := newRoutedEnv(t)
	tap := "tap-r1"
	vmMAC := net.HardwareAddr{0xaa, 0x00, 0x00, 0x12, 0x34, 0x56}
	vmIP := netip.MustParseAddr("198.51.100.10")
	eui, _ := eui64.Addr(subnet6, vmMAC)
	vm := e.addVM(t, tap, vmMAC)
	a := e.host.applier(t, Options{})

	// Facts the planner reads.
	f, err := a.Facts(tap, "", testTable)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Tap.Exists || f.Tap.Up || f.Uplink4 != uplinkName || f.Uplink6 != uplinkName {
		t.Fatalf("facts: %+v", f)
	}
	before := e.host.snapshot(t, tap, uplinkName)
	upl, err := a.LinkFacts(uplinkName)
	if err != nil {
		t.Fatal(err)
	}
	capt := startCapture(t, e.router, "rtr0")

	plan := routedPlan(tap, testTable, uplinkName, vmIP, vmMAC)
	applied, err := a.Apply(plan)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if err := capt.waitFor(10*time.Second, map[string]func([]byte) bool{
		"gratuitous ARP": isGARP(net.HardwareAddr(upl.MAC), vmIP),
		"unsolicited NA": isUnsolicitedNA(net.HardwareAddr(upl.MAC), eui),
	}); err != nil {
		t.Errorf("announcements on the uplink: %v", err)
	}
	tf, _ := a.LinkFacts(tap)
	if !tf.Up || tf.MAC.String() != tapMAC.String() {
		t.Errorf("tap after Apply: %+v", tf)
	}
	if len(applied.Sysctls) != 1 || applied.Sysctls[0].Prev != "0" || !applied.Tap.SetUp || applied.Tap.PrevMAC == nil {
		t.Errorf("record: %+v", applied)
	}

	// Apply again: nothing changes, the record still lists the objects.
	mid := e.host.snapshot(t, tap, uplinkName)
	again, err := a.Apply(plan)
	if err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	sameSnapshot(t, "second Apply", mid, e.host.snapshot(t, tap, uplinkName))
	if len(again.Sysctls) != 0 || again.Tap.SetUp || len(again.Rules) != 2 || len(again.Routes) != 2 || len(again.ProxyNeighs) != 1 {
		t.Errorf("second record: %+v", again)
	}

	// The VM, configured as GRNET VMs are (IPv4 /32 with an on-link
	// gateway, EUI-64 with the tap's link-local as router).
	vm.ip(t, "addr", "add", vmIP.String()+"/32", "dev", "eth0")
	vm.ip(t, "route", "add", routerIP4.String(), "dev", "eth0")
	vm.ip(t, "route", "add", "default", "via", routerIP4.String())
	vm.ip(t, "-6", "addr", "add", eui.String()+"/128", "dev", "eth0", "nodad")
	vm.ip(t, "-6", "route", "add", "default", "via", eui64.LinkLocal(tapMAC).String(), "dev", "eth0")
	if err := vm.Ping(routerIP4.String(), 20*time.Second); err != nil {
		t.Error(err)
	}
	if err := vm.Ping(routerIP6.String(), 20*time.Second); err != nil {
		t.Error(err)
	}

	if err := a.Remove(applied.Merge(again)); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	sameSnapshot(t, "after Remove", before, e.host.snapshot(t, tap, uplinkName))
	if err := a.Remove(applied); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	sameSnapshot(t, "after second Remove", before, e.host.snapshot(t, tap, uplinkName))
}

// A crash half-way (some objects applied, no record kept) is completed by
// the next Apply, whose record then removes every object of the NIC. With
// the interrupted Apply's record kept and merged, Remove restores all.
func TestRoutedCompletesInterrupted(t *testing.T) {
	needRoot(t)
	e := newRoutedEnv(t)
	tap := "tap-c1"
	mac := net.HardwareAddr{0xaa, 0, 0, 0, 0, 0x21}
	e.addVM(t, tap, mac)
	a := e.host.applier(t, Options{})
	objects := func() string { return e.host.routedObjects(t, "100") }
	before, beforeAll := objects(), e.host.snapshot(t, tap, uplinkName)
	plan := routedPlan(tap, testTable, uplinkName, netip.MustParseAddr("198.51.100.21"), mac)
	half := plan
	half.Rules = plan.Rules[:1]
	half.Routes = plan.Routes[1:]
	half.Announce = nil

	halfRec, err := a.Apply(half)
	if err != nil {
		t.Fatal(err)
	}
	full, err := a.Apply(plan)
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Rules) != 2 || len(full.Routes) != 2 || len(full.ProxyNeighs) != 1 || len(full.Sysctls) != 0 {
		t.Errorf("record: %+v", full)
	}
	if err := a.Remove(full); err != nil {
		t.Fatal(err)
	}
	sameSnapshot(t, "record of the completing Apply", before, objects())

	if _, err := a.Apply(half); err != nil {
		t.Fatal(err)
	}
	full, err = a.Apply(plan)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Remove(halfRec.Merge(full)); err != nil {
		t.Fatal(err)
	}
	sameSnapshot(t, "merged records", beforeAll, e.host.snapshot(t, tap, uplinkName))
}

func TestBadInput(t *testing.T) {
	needRoot(t)
	e := newRoutedEnv(t)
	tap := "tap-b1"
	mac := net.HardwareAddr{0xaa, 0, 0, 0, 0, 0x31}
	e.addVM(t, tap, mac)
	e.host.ip(t, "link", "add", "br-b1", "type", "bridge")
	a := e.host.applier(t, Options{})
	before := e.host.snapshot(t, tap, uplinkName, "br-b1")
	ip4 := netip.MustParseAddr("198.51.100.31")

	t.Run("missing tap", func(t *testing.T) {
		_, err := a.Apply(routedPlan("tap-nope", testTable, uplinkName, ip4, mac))
		if !errors.Is(err, netplan.ErrNoSuchLink) || err.Error() != "tap-nope: no such device" {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("missing bridge", func(t *testing.T) {
		_, err := a.Apply(netplan.Host{Tap: netplan.Tap{Name: tap, MTU: 1400, Master: "br-nope"}})
		if !errors.Is(err, netplan.ErrNoSuchLink) || err.Error() != "tap-b1: bridge br-nope: no such device" {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("missing uplink", func(t *testing.T) {
		_, err := a.Apply(routedPlan(tap, testTable, "upl-nope", ip4, mac))
		if !errors.Is(err, netplan.ErrNoSuchLink) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("table without default route", func(t *testing.T) {
		f, err := a.Facts(tap, "", 101)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Uplink(4)
		if !errors.Is(err, netplan.ErrNoDefaultRoute) || err.Error() != "table 101 has no IPv4 default route" {
			t.Errorf("err = %v", err)
		}
		if _, err := a.Uplink(101, 6); !errors.Is(err, netplan.ErrNoDefaultRoute) {
			t.Errorf("IPv6: err = %v", err)
		}
		if dev, err := a.Uplink(testTable, 6); err != nil || dev != uplinkName {
			t.Errorf("table 100 IPv6 uplink = %q, %v", dev, err)
		}
	})
	t.Run("invalid plan", func(t *testing.T) {
		p := routedPlan(tap, testTable, uplinkName, ip4, mac)
		p.Rules[1].Family = 5
		if _, err := a.Apply(p); !errors.Is(err, ErrInvalid) {
			t.Errorf("err = %v", err)
		}
		p = routedPlan(tap, testTable, uplinkName, ip4, mac)
		p.Sysctls[0].Key = "net/../../etc/passwd"
		if _, err := a.Apply(p); !errors.Is(err, ErrInvalid) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("missing sysctl rolls back", func(t *testing.T) {
		p := routedPlan(tap, testTable, uplinkName, ip4, mac)
		p.Sysctls = append(p.Sysctls, netplan.Sysctl{Key: "net/ipv4/conf/" + tap + "/no_such_key", Value: "1"})
		_, err := a.Apply(p)
		if !errors.Is(err, ErrNoSysctl) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("failing ovs-vsctl rolls back", func(t *testing.T) {
		fa := e.host.applier(t, Options{OVSVsctl: func(args ...string) ([]byte, error) {
			return []byte("ovs-vsctl: unix:/nope: database connection failed"), errors.New("exit status 1")
		}})
		p := routedPlan(tap, testTable, uplinkName, ip4, mac)
		p.OVS = &netplan.OVSPort{Bridge: "br-ovs", Tag: 10}
		_, err := fa.Apply(p)
		if !errors.Is(err, ErrOVS) {
			t.Errorf("err = %v", err)
		}
		t.Log(err)
	})
	sameSnapshot(t, "after bad input", before, e.host.snapshot(t, tap, uplinkName, "br-b1"))
}

// The usual Remove: the VM stopped and its tap is gone. Rules (kept by
// name) and proxy entries on the uplink go; nothing fails.
func TestRemoveAfterTapGone(t *testing.T) {
	needRoot(t)
	e := newRoutedEnv(t)
	tap := "tap-g1"
	mac := net.HardwareAddr{0xaa, 0, 0, 0, 0, 0x41}
	e.addVM(t, tap, mac)
	a := e.host.applier(t, Options{})
	objects := func() string { return e.host.routedObjects(t, "all") }
	before := objects()
	rec, err := a.Apply(routedPlan(tap, testTable, uplinkName, netip.MustParseAddr("198.51.100.41"), mac))
	if err != nil {
		t.Fatal(err)
	}
	e.host.ip(t, "link", "del", tap)
	if err := a.Remove(rec); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	sameSnapshot(t, "after Remove", before, objects())
}

// routedObjects lists what a routed NIC adds to the host besides links
// and sysctls: rules, proxy neighbours, the IPv6 routes of table 100 and
// the IPv4 routes of table4 (a number, or "all").
func (n *testNS) routedObjects(t testing.TB, table4 string) string {
	t.Helper()
	var s string
	for _, cmd := range [][]string{{"-4", "rule"}, {"-6", "rule"}, {"neigh", "show", "proxy"},
		{"-4", "route", "show", "table", table4}, {"-6", "route", "show", "table", "100"}} {
		s += n.ip(t, cmd...)
	}
	return s
}
