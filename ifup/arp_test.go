package main

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/diktyo/diktyo/pkg/nettest"
)

// uplinkElsewhere builds a routed topology in which the host's uplink
// up1 has an address in another subnet than the VMs' network
// (198.18.50.0/24 against 198.18.100.0/24): the main table has no route
// to the VMs' gateway 198.18.100.1, only table 100 has (its default
// route, via the router R, and the VM subnet). R routes the VM subnet
// back to the host.
func uplinkElsewhere(t *testing.T, h *host) {
	t.Helper()
	r := nettest.NewNS(t, "ifr")
	nettest.Veth(t, h.ns, "up1", r, "eth0")
	for _, c := range [][]string{
		{"ip", "addr", "add", "198.18.50.1/24", "dev", "eth0"},
		{"ip", "addr", "add", "198.18.100.1/32", "dev", "eth0"},
		{"ip", "route", "add", "198.18.100.0/24", "via", "198.18.50.254"},
	} {
		r.Run(t, c...)
	}
	for _, c := range [][]string{
		{"ip", "addr", "add", "198.18.50.254/24", "dev", "up1"},
		{"ip", "route", "add", "default", "via", "198.18.50.1", "dev", "up1", "table", "100"},
		{"ip", "route", "add", "198.18.100.0/24", "via", "198.18.50.1", "dev", "up1", "table", "100"},
		{"ip", "rule", "add", "iif", "up1", "lookup", "100", "pref", "31000"},
	} {
		h.ns.Run(t, c...)
	}
	if out, err := h.ns.Output("ip", "route", "get", "198.18.100.1"); err == nil {
		t.Fatalf("the host's main table routes the VMs' gateway, so the test proves nothing: %s", out)
	}
}

// appendConfig adds KEY=VALUE lines to the host's diktyo configuration.
func appendConfig(t *testing.T, h *host, lines string) {
	t.Helper()
	f, err := os.OpenFile(h.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(lines)
	if err := errors.Join(err, f.Close()); err != nil {
		t.Fatal(err)
	}
}

// TestE2EARPThroughTable: the ARP request of a routed VM for its gateway
// is answered (proxy ARP) on a host whose main table has no route to the
// gateway: the kernel routes the request's target with the packet's mark,
// which arp diktyo input sets from the tap's table (the default design),
// or by the tap's own `iif` rule (PER_TAP_RULES=yes).
func TestE2EARPThroughTable(t *testing.T) {
	for _, tc := range []struct{ name, config string }{
		{"mark", ""},
		{"per-tap-rules", "PER_TAP_RULES=yes\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t)
			appendConfig(t, h, tc.config)
			uplinkElsewhere(t, h)
			env := envOf(t, "kvm-ifup-kvm2.ganeti.test-nic0.env", map[string]string{"INTERFACE": "tap-p1",
				"NETWORK_SUBNET6": "", "NETWORK_GATEWAY6": ""})
			v := vm(t, h, "tap-p1", env["MAC"])
			before := h.snapshot()

			h.mustIfup("kvm-vif-bridge", env)
			v.Run(t, "ip", "addr", "add", env["IP"]+"/24", "dev", "eth0")
			v.Run(t, "ip", "route", "add", "default", "via", "198.18.100.1")
			ping(t, v, "198.18.100.1")
			f := strings.Fields(v.Run(t, "ip", "neigh", "show", "198.18.100.1", "dev", "eth0"))
			if len(f) < 3 || f[0] != "198.18.100.1" || f[1] != "lladdr" || f[2] != "cc:47:52:4e:45:54" ||
				(f[len(f)-1] != "REACHABLE" && f[len(f)-1] != "STALE") {
				t.Fatalf("VM's neighbour entry of its gateway: %q, want lladdr cc:47:52:4e:45:54 (TAP_CONSTANT_MAC) REACHABLE or STALE", f)
			}

			h.mustIfup("kvm-ifdown-custom", nil, "tap-p1")
			h.checkSnapshot(before)
		})
	}
}
