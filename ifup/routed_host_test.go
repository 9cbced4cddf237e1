package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diktyo/diktyo/pkg/nettest"
)

// A host whose IPv4 forwarding is off everywhere but on the uplink (the
// operator's setting, see the README): diktyo-ifup turns forwarding on
// for the routed tap, and the VM and a peer behind the uplink reach each
// other. IPv6 forwards only with net.ipv6.conf.all.forwarding=1: an up
// without it warns, naming the sysctl, and changes nothing global.
func TestE2ERoutedForwardingOff(t *testing.T) {
	h := newHost(t)
	for _, k := range []string{"net/ipv4/conf/all/forwarding", "net/ipv4/conf/default/forwarding",
		"net/ipv6/conf/all/forwarding", "net/ipv6/conf/default/forwarding"} {
		h.ns.Sysctl(t, k, "0")
	}
	out4, out6, outside := routedNetOutside(t, h)
	h.ns.Sysctl(t, "net/ipv4/conf/up1/forwarding", "1")
	env := envOf(t, "kvm-ifup-kvm2.ganeti.test-nic0.env", map[string]string{"INTERFACE": "tap-f1"})
	v := vm(t, h, "tap-f1", env["MAC"])
	configureRoutedVM(t, v)
	before := h.snapshot()

	out, err := h.ifup("kvm-vif-bridge", env)
	if err != nil {
		t.Fatalf("up: %v: %s", err, out)
	}
	if !strings.Contains(out, "net.ipv6.conf.all.forwarding = 0") || strings.Count(out, "\n") != 1 {
		t.Fatalf("up without IPv6 forwarding: want one warning naming the sysctl, got:\n%s", out)
	}
	for k, want := range map[string]string{
		"net/ipv4/conf/tap-f1/forwarding": "1", "net/ipv6/conf/tap-f1/forwarding": "1",
		"net/ipv4/conf/all/forwarding": "0", "net/ipv6/conf/all/forwarding": "0",
	} {
		if got := strings.TrimSpace(h.ns.Run(t, "cat", "/proc/sys/"+k)); got != want {
			t.Errorf("%s = %s, want %s", k, got, want)
		}
	}
	ping(t, v, out4)
	ping(t, outside, "198.18.100.2")

	// With the documented global IPv6 setting, IPv6 flows too, and an up
	// no longer warns.
	h.ns.Sysctl(t, "net/ipv6/conf/all/forwarding", "1")
	h.ns.Sysctl(t, "net/ipv6/conf/tap-f1/forwarding", "1") // writing all/ set every device
	if out, err := h.ifup("kvm-vif-bridge", env); err != nil || out != "" {
		t.Fatalf("up with IPv6 forwarding: %v: %q", err, out)
	}
	ping(t, v, out6)
	ping(t, outside, routedEUI64)
	h.ns.Sysctl(t, "net/ipv6/conf/all/forwarding", "0")
	h.ns.Sysctl(t, "net/ipv6/conf/tap-f1/forwarding", "1")

	// down restores what the tap had: forwarding off.
	h.mustIfup("kvm-ifdown-custom", nil, "tap-f1")
	h.checkSnapshot(before)
}

// A table without default routes never fails a VM start: everything but
// the uplink-side steps is set up, one warning says what was skipped and
// how to fix it, and a reconcile completes the steps once the route is
// there. A configured uplink (UPLINK_<table>) serves at once.
func TestE2ERoutedNoDefaultRoute(t *testing.T) {
	h := newHost(t)
	out4, out6, outside := routedNetOutside(t, h)
	h.ns.Run(t, "ip", "route", "del", "default", "table", "100")
	h.ns.Run(t, "ip", "-6", "route", "del", "default", "table", "100")
	env := envOf(t, "kvm-ifup-kvm2.ganeti.test-nic0.env", map[string]string{"INTERFACE": "tap-n1"})
	v := vm(t, h, "tap-n1", env["MAC"])
	configureRoutedVM(t, v)
	before := h.snapshot()

	out, err := h.ifup("kvm-vif-bridge", env)
	if err != nil {
		t.Fatalf("up without default routes: %v: %s", err, out)
	}
	for _, want := range []string{"tap-n1: table 100: no IPv4 default route: gratuitous ARP of 198.18.100.2 skipped",
		"no IPv6 default route: proxy NDP and unsolicited NA of " + routedEUI64 + " skipped", "UPLINK_100", "diktyo-ifup reconcile"} {
		if !strings.Contains(out, want) || strings.Count(out, "\n") != 1 {
			t.Fatalf("up: want one warning saying %q, got:\n%s", want, out)
		}
	}
	if p := h.ns.Run(t, "ip", "-6", "neigh", "show", "proxy"); p != "" {
		t.Fatalf("proxy NDP without an uplink: %s", p)
	}
	ping(t, v, "198.18.100.1") // the router is on-link in table 100

	// The default routes come back; a reconcile adds what was skipped.
	h.ns.Run(t, "ip", "route", "add", "default", "via", "198.18.100.1", "dev", "up1", "table", "100")
	h.ns.Run(t, "ip", "-6", "route", "add", "default", "via", "2001:db8:100::1", "dev", "up1", "table", "100")
	if out, err := h.ifup("", nil, "reconcile"); err != nil {
		t.Fatalf("reconcile: %v: %s", err, out)
	}
	if p := h.ns.Run(t, "ip", "-6", "neigh", "show", "proxy"); !strings.Contains(p, routedEUI64+" dev up1") {
		t.Fatalf("proxy NDP after reconcile: %q", p)
	}
	if show, _ := h.ifup("", nil, "show", "--json", "tap-n1"); strings.Contains(show, "uplink_pending") {
		t.Fatalf("record still has pending steps:\n%s", show)
	}
	ping(t, v, out4)
	ping(t, v, out6)
	ping(t, outside, routedEUI64)
	h.mustIfup("kvm-ifdown-custom", nil, "tap-n1")
	h.ns.Run(t, "ip", "route", "del", "default", "table", "100")
	h.ns.Run(t, "ip", "-6", "route", "del", "default", "table", "100")
	h.checkSnapshot(before)

	// UPLINK_100 names the uplink: nothing is skipped, nothing warned.
	if err := os.WriteFile(h.config, append(must(os.ReadFile(h.config)), "UPLINK_100=up1\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := h.ifup("kvm-vif-bridge", env); err != nil || out != "" {
		t.Fatalf("up with UPLINK_100: %v: %q", err, out)
	}
	if p := h.ns.Run(t, "ip", "-6", "neigh", "show", "proxy"); !strings.Contains(p, routedEUI64+" dev up1") {
		t.Fatalf("proxy NDP with UPLINK_100: %q", p)
	}
	h.mustIfup("kvm-ifdown-custom", nil, "tap-n1")
	h.checkSnapshot(before)
}

// reconcile removes the binding file diktyo-ifup wrote for a tap that
// vanished with its record (a crash, a lost state directory), and never a
// binding file somebody else wrote.
func TestE2EReconcileOrphanBinding(t *testing.T) {
	h := newHost(t)
	routedNet(t, h)
	// An operator's binding of a tap that does not exist either.
	bindings := filepath.Join(h.dir, "nfdhcpd")
	theirs := "INDEV=tap-x8\nMAC=aa:00:00:00:00:08\nHOSTNAME=x8\n"
	if err := os.MkdirAll(bindings, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bindings, "tap-x8"), []byte(theirs), 0o644); err != nil {
		t.Fatal(err)
	}
	before := h.snapshot()
	v := vm(t, h, "tap-o9", "aa:00:01:2d:2b:3b")
	h.mustIfup("kvm-vif-bridge", envOf(t, "kvm-ifup-kvm2.ganeti.test-nic0.env", map[string]string{"INTERFACE": "tap-o9"}))
	if _, err := os.Stat(filepath.Join(bindings, "tap-o9")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(h.dir, "state", "ifup", "tap-o9.json")); err != nil {
		t.Fatal(err)
	}
	v.Run(t, "ip", "link", "del", "eth0") // the VM is gone, and its tap with it
	out, err := h.ifup("", nil, "reconcile")
	if err != nil || !strings.Contains(out, "tap-o9") {
		t.Fatalf("reconcile: %v: %s", err, out)
	}
	if got, err := os.ReadFile(filepath.Join(bindings, "tap-x8")); err != nil || string(got) != theirs {
		t.Fatalf("the operator's binding: %v %q", err, got)
	}
	// Without the record nothing says which uplink proxy entry was the
	// NIC's: that one stays (the hooks remove NICs by their records).
	h.ns.Run(t, "ip", "-6", "neigh", "del", "proxy", routedEUI64, "dev", "up1")
	h.checkSnapshot(before)
}

// ROUTED_REQUIRE_TAG=yes gives the routed setup only to NICs of networks
// tagged IP_LESS_ROUTED_TAG, as GRNET's scripts did: an untagged routed
// NIC gets the constant tap MAC and its firewall, and no rule, route,
// sysctl or proxy entry; a tagged one gets everything and reaches the
// outside.
func TestE2ERoutedRequireTag(t *testing.T) {
	h := newHost(t)
	out4, _ := routedNet(t, h)
	if err := os.WriteFile(h.config, append(must(os.ReadFile(h.config)), "ROUTED_REQUIRE_TAG=yes\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	env := envOf(t, "kvm-ifup-kvm2.ganeti.test-nic0.env", map[string]string{"INTERFACE": "tap-t1", "NETWORK_TAGS": "nfdhcpd"})
	v := vm(t, h, "tap-t1", env["MAC"])
	configureRoutedVM(t, v)
	before := h.snapshot()

	h.mustIfup("kvm-vif-bridge", env)
	if link := h.ns.Run(t, "ip", "-o", "link", "show", "tap-t1"); !strings.Contains(link, "cc:47:52:4e:45:54") {
		t.Fatalf("untagged routed tap without TAP_CONSTANT_MAC: %s", link)
	}
	after := h.snapshot()
	for _, l := range strings.Split(nettest.LineDiff(before, after), "\n") {
		if strings.HasPrefix(l, "+ ") && (strings.Contains(l, "lookup 100") || strings.Contains(l, "table 100") ||
			strings.Contains(l, " proxy") || strings.Contains(l, "tap-t1/proxy_arp 1") || strings.Contains(l, "tap-t1/forwarding 1")) {
			t.Errorf("untagged routed NIC got routed setup: %s", l)
		}
	}
	h.mustIfup("kvm-ifdown-custom", nil, "tap-t1")
	h.checkSnapshot(before)

	// Tagged: the whole routed setup, and the VM reaches the outside.
	env["NETWORK_TAGS"] = "nfdhcpd ip-less-routed"
	h.mustIfup("kvm-vif-bridge", env)
	if r := h.ns.Run(t, "ip", "route", "show", "table", "100"); !strings.Contains(r, "198.18.100.2 dev tap-t1") {
		t.Fatalf("tagged routed NIC: table 100:\n%s", r)
	}
	ping(t, v, out4)
	h.mustIfup("kvm-ifdown-custom", nil, "tap-t1")
	h.checkSnapshot(before)
}
