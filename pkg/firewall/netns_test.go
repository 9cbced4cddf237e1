package firewall

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/netplan"
	"github.com/diktyo/diktyo/pkg/nettest"
	"github.com/diktyo/diktyo/pkg/nfqueue"
	"golang.org/x/sys/unix"
)

// allSteerings are the default queues with and without bypass, so that
// the reference filters need no steering chain beyond Init's.
func allSteerings() []Steering {
	s := DefaultSteering()
	b := s
	b.Bypass = true
	return []Steering{s, b}
}

// settled waits until the ruleset of ns equals want (expired elements
// are freed by the sets' garbage collection, within seconds) and returns
// the last ruleset seen.
func settled(t *testing.T, ns *nettest.NS, want string) string {
	t.Helper()
	var got string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got = ruleset(t, ns); got == want {
			break
		}
	}
	return got
}

func TestNotInitialized(t *testing.T) {
	nettest.RequireRoot(t, "nft")
	ns := nettest.NewNS(t, "fw-")
	fw, err := New(Options{NetNS: ns.Fd()})
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Apply(routedFilter("tap0")); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("Apply before Init = %v, want ErrNotInitialized", err)
	}
	if err := fw.Remove(routedFilter("tap0")); err != nil {
		t.Errorf("Remove before Init = %v, want nil (nothing to remove)", err)
	}
}

func TestRulesetGolden(t *testing.T) {
	nettest.RequireRoot(t, "nft")
	ns := nettest.NewNS(t, "fw-")
	vm := nettest.NewNS(t, "fw-")
	vethPair(t, ns, "tap0", vm, "eth0", "")
	vethPair(t, ns, "tap1", vm, "eth1", "")
	fw, err := New(Options{NetNS: ns.Fd(), Steerings: allSteerings()})
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Init(); err != nil {
		t.Fatal(err)
	}
	if err := fw.Init(); err != nil {
		t.Fatalf("second Init: %v", err)
	}
	initial := ruleset(t, ns)
	goldenFile(t, "init.ruleset", []byte(initial))

	for _, f := range []netplan.Filter{routedFilter("tap0"), bridgedFilter("tap1")} {
		if err := fw.Apply(f); err != nil {
			t.Fatal(err)
		}
	}
	applied := ruleset(t, ns)
	goldenFile(t, "applied.ruleset", []byte(applied))

	// Idempotent: the same filters again change nothing.
	for _, f := range []netplan.Filter{routedFilter("tap0"), bridgedFilter("tap1")} {
		if err := fw.Apply(f); err != nil {
			t.Fatal(err)
		}
	}
	if got := ruleset(t, ns); got != applied {
		t.Errorf("second Apply changed the ruleset:\n%s", got)
	}
	if taps, err := fw.List(); err != nil || !slices.Equal(taps, []string{"tap0", "tap1"}) {
		t.Errorf("List = %v, %v; want [tap0 tap1]", taps, err)
	}

	// A mode change: Remove the old filter, Apply the new one. Elements
	// the two share are revived by the Apply at once.
	for _, step := range []struct {
		remove, apply netplan.Filter
	}{{routedFilter("tap0"), bridgedFilter("tap0")}, {bridgedFilter("tap0"), routedFilter("tap0")}} {
		if err := fw.Remove(step.remove); err != nil {
			t.Fatal(err)
		}
		if err := fw.Apply(step.apply); err != nil {
			t.Fatal(err)
		}
	}
	if got := settled(t, ns, applied); got != applied {
		t.Errorf("routed→bridged→routed left a different ruleset:\n%s", got)
	}

	for _, f := range []netplan.Filter{routedFilter("tap0"), bridgedFilter("tap1"), bridgedFilter("tap1"), routedFilter("never-was")} {
		if err := fw.Remove(f); err != nil {
			t.Fatalf("Remove(%s): %v", f.Tap, err)
		}
	}
	if taps, err := fw.List(); err != nil || len(taps) != 0 {
		t.Errorf("List right after Remove = %v, %v; want none (expiring elements are gone)", taps, err)
	}
	if got := settled(t, ns, initial); got != initial {
		t.Errorf("Remove left:\n%s\nwant the Init ruleset:\n%s", got, initial)
	}

	// RemoveTap finds a tap's elements without its Filter (reconcile).
	if err := fw.Apply(bridgedFilter("tap1")); err != nil {
		t.Fatal(err)
	}
	if err := fw.RemoveTap("tap1"); err != nil {
		t.Fatal(err)
	}
	if got := settled(t, ns, initial); got != initial {
		t.Errorf("RemoveTap left:\n%s", got)
	}
	if taps, err := fw.List(); err != nil || len(taps) != 0 {
		t.Errorf("List after Remove = %v, %v", taps, err)
	}
}

// TestInitUpgradeARPRouteMarks: Init adds the arp route_mark map to
// tables written before it existed and fills it with the live elements
// of the inet map, so that running routed NICs get their ARP marked.
func TestInitUpgradeARPRouteMarks(t *testing.T) {
	nettest.RequireRoot(t, "nft")
	ns := nettest.NewNS(t, "fw-")
	fw := newFirewall(t, ns)
	gone := routedFilter("tap1")
	gone.RouteMark++
	for _, f := range []netplan.Filter{routedFilter("tap0"), gone} {
		if err := fw.Apply(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Remove(gone); err != nil {
		t.Fatal(err)
	}
	// The tables of the version before: no arp route_mark, no rule.
	ns.Run(t, "nft", "flush", "chain", "arp", TableName, "input")
	ns.Run(t, "nft", "delete", "map", "arp", TableName, mapRoute)
	if err := fw.Init(); err != nil {
		t.Fatal(err)
	}
	// nft prints mark data byte-swapped: 0x6400d1d1 is 0xd1d10064.
	if got := ns.Run(t, "nft", "list", "map", "arp", TableName, mapRoute); !strings.Contains(got, `elements = { "tap0" : 0x6400d1d1 }`) {
		t.Errorf("arp route_mark after Init:\n%s\nwant only tap0's element", got)
	}
	if got := ns.Run(t, "nft", "list", "chain", "arp", TableName, "input"); !strings.Contains(got, "meta mark set iifname map @route_mark") {
		t.Errorf("arp input after Init:\n%s", got)
	}
	if err := fw.Remove(routedFilter("tap0")); err != nil {
		t.Fatal(err)
	}
	if taps, err := fw.List(); err != nil || len(taps) != 0 {
		t.Errorf("List after Remove = %v, %v; want none", taps, err)
	}
}

// TestNoLeak applies and removes random NICs (with random settings) and
// checks that the ruleset ends exactly as it started.
func TestNoLeak(t *testing.T) {
	nettest.RequireRoot(t, "nft")
	cycles := 1000
	if testing.Short() {
		cycles = 50
	}
	ns := nettest.NewNS(t, "fw-")
	fw, err := New(Options{NetNS: ns.Fd(), Steerings: allSteerings()})
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Init(); err != nil {
		t.Fatal(err)
	}
	initial := ruleset(t, ns)
	r := rand.New(rand.NewPCG(1, 2))
	live := map[string]netplan.Filter{}
	for i := range cycles {
		tap := fmt.Sprintf("tap%d", r.IntN(20))
		if old, ok := live[tap]; ok {
			if err := fw.Remove(old); err != nil {
				t.Fatalf("cycle %d: %v", i, err)
			}
			delete(live, tap)
			if r.IntN(2) == 0 {
				continue
			}
		}
		f := routedFilter(tap)
		if r.IntN(2) == 0 {
			f = bridgedFilter(tap)
		}
		f.AntiSpoof = r.IntN(4) != 0
		f.Profile = []netplan.Profile{"", netplan.ProfileProtected, netplan.ProfileLimited, netplan.ProfileUnprotected}[r.IntN(4)]
		if r.IntN(3) == 0 {
			f.Queues = nil
		}
		if r.IntN(5) == 0 {
			f.Mode, f.RouteMark = netplan.ModeOpenvSwitch, 0
		}
		if err := fw.Apply(f); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		live[tap] = f
	}
	for _, f := range live {
		if err := fw.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if got := settled(t, ns, initial); got != initial {
		t.Errorf("after %d cycles:\n%s\nwant:\n%s", cycles, got, initial)
	}
}

// TestAntiSpoofTraffic: a VM behind tapvm on a bridge sends spoofed and
// legit frames; a receiver on the same bridge sees only the legit ones.
func TestAntiSpoofTraffic(t *testing.T) {
	nettest.RequireRoot(t, "nft")
	host, vm, rx := nettest.NewNS(t, "fw-"), nettest.NewNS(t, "fw-"), nettest.NewNS(t, "fw-")
	const vmMAC = "aa:10:00:00:00:02"
	host.Run(t, "ip", "link", "add", "br0", "type", "bridge")
	host.Run(t, "ip", "link", "set", "br0", "up")
	vethPair(t, host, "tapvm", vm, "eth0", vmMAC)
	vethPair(t, host, "taprx", rx, "eth0", "")
	host.Run(t, "ip", "link", "set", "tapvm", "master", "br0")
	host.Run(t, "ip", "link", "set", "taprx", "master", "br0")
	fw := newFirewall(t, host)
	f := bridgedFilter("tapvm")
	f.MACFilter, f.Profile, f.Queues = nil, "", nil
	if err := fw.Apply(f); err != nil {
		t.Fatal(err)
	}
	capture := packetConn(t, rx, "eth0", unix.ETH_P_ALL)
	type result struct {
		seen []string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		seen, err := nettest.CaptureMarkers(capture, 30*time.Second)
		ch <- result{seen, err}
	}()
	frames := trafficFrames(mac(vmMAC), netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("fe80::1234"))
	send := packetConn(t, vm, "eth0", 0)
	for _, name := range []string{"legit", "legit6", "arp", "spoof-ip", "spoof-mac", "spoof-ip6", "dhcp-server", "ra", "vlan", "arp-spoof", "end"} {
		sendRaw(t, send, frames[name])
	}
	res := <-ch
	if res.err != nil {
		t.Fatal(res.err)
	}
	got := res.seen
	if want := []string{"arp", "end", "legit", "legit6"}; !slices.Equal(got, want) {
		t.Errorf("receiver saw %v, want %v", got, want)
	}
}

// TestPrivateFiltered: VMs of two private networks (MAC prefixes) on one
// bridge reach their own network only.
func TestPrivateFiltered(t *testing.T) {
	nettest.RequireRoot(t, "nft")
	host := nettest.NewNS(t, "fw-")
	host.Run(t, "ip", "link", "add", "br0", "type", "bridge")
	host.Run(t, "ip", "link", "set", "br0", "up")
	fw := newFirewall(t, host)
	type vmDef struct{ tap, mac, prefix, ip string }
	vms := []vmDef{
		{"tapa", "aa:10:00:00:00:0a", "aa:10:00:00:00:00", "198.18.0.10"},
		{"tapb", "aa:10:00:00:00:0b", "aa:10:00:00:00:00", "198.18.0.11"},
		{"tapc", "aa:20:00:00:00:0c", "aa:20:00:00:00:00", "198.18.0.12"},
	}
	nss := map[string]*nettest.NS{}
	for _, v := range vms {
		ns := nettest.NewNS(t, "fw-")
		nss[v.tap] = ns
		vethPair(t, host, v.tap, ns, "eth0", v.mac)
		host.Run(t, "ip", "link", "set", v.tap, "master", "br0")
		ns.Run(t, "ip", "addr", "add", v.ip+"/24", "dev", "eth0")
		if err := fw.Apply(netplan.Filter{
			Tap: v.tap, Mode: netplan.ModeBridged, Bridge: "br0", MAC: mac(v.mac),
			AntiSpoof: true, IPv4: addrs(v.ip),
			MACFilter: &netplan.MACFilter{Prefix: mac(v.prefix), Mask: mac("ff:ff:f0:00:00:00")},
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range vms {
		listen(t, nss[v.tap], v.ip+":7")
	}
	ping := func(from, to string) bool {
		return dialFrom(nss[from], to+":7", time.Second) == nil
	}
	if !ping("tapa", "198.18.0.11") {
		t.Error("a → b (same prefix) failed")
	}
	if ping("tapa", "198.18.0.12") {
		t.Error("a → c (other prefix) succeeded")
	}
	if ping("tapc", "198.18.0.10") {
		t.Error("c → a (other prefix) succeeded")
	}
	// c never even learns a's MAC: its ARP broadcast never reached a.
	if out := nss["tapc"].Run(t, "ip", "neigh", "show", "198.18.0.10"); strings.Contains(out, "aa:10") {
		t.Errorf("c resolved a: %s", out)
	}
}

// routedVM wires a routed NIC: VM 198.51.100.10 behind tapr, a client
// 198.18.0.2 behind up0 (host 198.18.0.1).
func routedVM(t *testing.T) (host, vm, client *nettest.NS) {
	host, vm, client = nettest.NewNS(t, "fw-"), nettest.NewNS(t, "fw-"), nettest.NewNS(t, "fw-")
	vethPair(t, host, "tapr", vm, "eth0", "aa:00:00:12:34:56")
	vethPair(t, host, "up0", client, "eth0", "")
	host.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.tapr.proxy_arp=1")
	host.Run(t, "ip", "addr", "add", "198.18.0.1/24", "dev", "up0")
	host.Run(t, "ip", "route", "add", "198.51.100.10/32", "dev", "tapr")
	vm.Run(t, "ip", "addr", "add", "198.51.100.10/24", "dev", "eth0")
	vm.Run(t, "ip", "route", "add", "default", "dev", "eth0")
	client.Run(t, "ip", "addr", "add", "198.18.0.2/24", "dev", "eth0")
	client.Run(t, "ip", "route", "add", "default", "via", "198.18.0.1")
	return host, vm, client
}

// TestProfileLimited: limited lets tcp 22 in and blocks tcp 80.
func TestProfileLimited(t *testing.T) {
	nettest.RequireRoot(t, "nft")
	host, vm, client := routedVM(t)
	fw := newFirewall(t, host)
	f := routedFilter("tapr")
	f.Queues = nil
	if err := fw.Apply(f); err != nil {
		t.Fatal(err)
	}
	listen(t, vm, "198.51.100.10:22")
	listen(t, vm, "198.51.100.10:80")
	dial := func(port string) error { return dialFrom(client, "198.51.100.10:"+port, 2*time.Second) }
	if err := dial("22"); err != nil {
		t.Errorf("tcp 22 to a limited VM: %v", err)
	}
	if err := dial("80"); err == nil {
		t.Error("tcp 80 to a limited VM connected")
	}
	// The host's ARP requests reached the VM with the gateway as sender
	// (arp output mangle): the VM knows 198.51.100.1, not the host's
	// own address.
	if out := vm.Run(t, "ip", "neigh", "show", "198.51.100.1"); !strings.Contains(out, "lladdr") {
		t.Errorf("VM has no neighbour entry for the gateway 198.51.100.1: %q (all: %s)", out, vm.Run(t, "ip", "neigh"))
	}
	if err := fw.Remove(f); err != nil {
		t.Fatal(err)
	}
	f.Profile = netplan.ProfileUnprotected
	if err := fw.Apply(f); err != nil {
		t.Fatal(err)
	}
	if err := dial("80"); err != nil {
		t.Errorf("tcp 80 to an unprotected VM: %v", err)
	}
}

// TestQueueSteering: a DHCP discover from the VM arrives on queue 42,
// routed and bridged.
func TestQueueSteering(t *testing.T) {
	nettest.RequireRoot(t, "nft")
	for _, mode := range []netplan.Mode{netplan.ModeRouted, netplan.ModeBridged} {
		t.Run(string(mode), func(t *testing.T) {
			host, vm := nettest.NewNS(t, "fw-"), nettest.NewNS(t, "fw-")
			vethPair(t, host, "tapq", vm, "eth0", "aa:00:00:12:34:56")
			f := routedFilter("tapq")
			if mode == netplan.ModeBridged {
				host.Run(t, "ip", "link", "add", "br0", "type", "bridge")
				host.Run(t, "ip", "link", "set", "br0", "up")
				host.Run(t, "ip", "link", "set", "tapq", "master", "br0")
				f.Mode, f.Bridge, f.ARPGateway, f.RouteMark = netplan.ModeBridged, "br0", netipZero(), 0
			}
			fw := newFirewall(t, host)
			if err := fw.Apply(f); err != nil {
				t.Fatal(err)
			}
			q, err := nfqueue.Open(nfqueue.Config{Queue: 42, NetNS: host.Fd()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = q.Close() })
			var got atomic.Int32
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				done <- q.Serve(ctx, func(p *nfqueue.Packet) nfqueue.Verdict {
					got.Add(1)
					return nfqueue.Drop
				})
			}()
			sendRaw(t, packetConn(t, vm, "eth0", 0), discoverFrame(t, mac("aa:00:00:12:34:56")))
			deadline := time.Now().Add(5 * time.Second)
			for got.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			cancel()
			<-done
			if got.Load() == 0 {
				t.Error("no packet on queue 42")
			}
		})
	}
}

// listen accepts (and closes) TCP connections on addr inside ns.
func listen(t *testing.T, ns *nettest.NS, addr string) {
	t.Helper()
	var l net.Listener
	if err := ns.Do(func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
}

// dialFrom connects to addr from inside ns.
func dialFrom(ns *nettest.NS, addr string, timeout time.Duration) error {
	return ns.Do(func() error {
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err == nil {
			_ = c.Close()
		}
		return err
	})
}

// Tables made by Init under another queue configuration (QUEUE_BYPASS
// changed since) lack the queue chains of the new one: Apply says
// ErrNotInitialized instead of leaving the NIC's steering dead, and after
// an Init with the new configuration the NIC is steered.
func TestApplyAfterQueueConfigChange(t *testing.T) {
	nettest.RequireRoot(t, "nft")
	ns := nettest.NewNS(t, "fw-")
	old, err := New(Options{NetNS: ns.Fd(), Steerings: []Steering{DefaultSteering()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Init(); err != nil {
		t.Fatal(err)
	}
	bypass := DefaultSteering()
	bypass.Bypass = true
	fw, err := New(Options{NetNS: ns.Fd(), Steerings: []Steering{bypass}})
	if err != nil {
		t.Fatal(err)
	}
	f := routedFilter("tap0")
	q := netplan.Queues(bypass)
	f.Queues = &q
	if err := fw.Apply(f); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("Apply under another queue configuration = %v, want ErrNotInitialized", err)
	}
	if err := fw.Init(); err != nil {
		t.Fatal(err)
	}
	if err := fw.Apply(f); err != nil {
		t.Fatal(err)
	}
	out := ns.Run(t, "nft", "list", "map", "inet", TableName, mapQueues)
	if !strings.Contains(out, "jump queue_42_bypass") {
		t.Fatalf("queues map after Init:\n%s", out)
	}
}
