package hostnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/diktyo/diktyo/pkg/netplan"
	"github.com/diktyo/diktyo/pkg/nettest"
)

// TestCycles applies and removes random NICs (routed, bridged, some that
// fail half-way and roll back, some applied twice) on a few taps, with
// several NICs present at once; at the end the host is exactly as before.
func TestCycles(t *testing.T) {
	needRoot(t)
	n := 1000
	if testing.Short() {
		n = 100
	}
	e := newRoutedEnv(t)
	vms := newNS(t, "vms")
	// A bridge with a fixed MAC, MTU and a permanent port, as a real
	// host's: an empty bridge changes MAC, MTU and carrier by itself.
	e.host.ip(t, "link", "add", "br-c", "type", "bridge")
	e.host.ip(t, "link", "set", "br-c", "address", "02:00:00:00:0c:01", "mtu", "1450")
	nettest.VethDown(t, e.host.NS, "p-c", vms.NS, "uplc")
	vms.ip(t, "link", "set", "uplc", "up")
	e.host.Sysctl(t, "net/ipv6/conf/p-c/accept_dad", "0")
	e.host.Sysctl(t, "net/ipv6/conf/br-c/accept_dad", "0")
	e.host.ip(t, "link", "set", "p-c", "mtu", "1450", "master", "br-c", "up")
	e.host.ip(t, "link", "set", "br-c", "up")
	e.host.waitLinkLocal(t, "p-c")
	e.host.waitLinkLocal(t, "br-c")
	taps := make([]string, 6)
	for i := range taps {
		taps[i] = fmt.Sprintf("tap-y%d", i)
		nettest.VethDown(t, e.host.NS, taps[i], vms.NS, fmt.Sprintf("eth%d", i))
	}
	a := e.host.applier(t, Options{})
	failing := e.host.applier(t, Options{OVSVsctl: func(args ...string) ([]byte, error) {
		return nil, errors.New("injected failure")
	}})
	before := e.host.snapshot(t, append(taps, uplinkName, "br-c")...)

	rnd := rand.New(rand.NewPCG(1, 2))
	active := map[string]Applied{}
	applies, fails := 0, 0
	for applies < n {
		tap := taps[rnd.IntN(len(taps))]
		if rec, ok := active[tap]; ok {
			if err := a.Remove(rec); err != nil {
				t.Fatalf("Remove %s: %v", tap, err)
			}
			if rnd.IntN(4) == 0 {
				if err := a.Remove(rec); err != nil {
					t.Fatalf("second Remove %s: %v", tap, err)
				}
			}
			delete(active, tap)
			continue
		}
		applies++
		var plan netplan.Host
		if rnd.IntN(2) == 0 {
			ip := netip.AddrFrom4([4]byte{198, 51, 100, byte(64 + rnd.IntN(180))})
			mac := net.HardwareAddr{0xaa, 0, 0, byte(rnd.IntN(256)), byte(rnd.IntN(256)), byte(rnd.IntN(256))}
			plan = routedPlan(tap, testTable, uplinkName, ip, mac)
			if rnd.IntN(2) == 0 {
				plan.Announce = nil
			}
		} else {
			plan = netplan.Host{Tap: netplan.Tap{Name: tap, MTU: 1450, Master: "br-c"}}
		}
		if rnd.IntN(8) == 0 {
			plan.OVS = &netplan.OVSPort{Bridge: "br-ovs", Tag: 1 + rnd.IntN(4094)}
			if _, err := failing.Apply(plan); err == nil {
				t.Fatalf("Apply with failing ovs-vsctl succeeded")
			}
			fails++
			continue
		}
		rec, err := a.Apply(plan)
		if err != nil {
			t.Fatalf("Apply %s: %v", tap, err)
		}
		if rnd.IntN(4) == 0 {
			again, err := a.Apply(plan)
			if err != nil {
				t.Fatalf("second Apply %s: %v", tap, err)
			}
			rec = rec.Merge(again)
		}
		active[tap] = rec
	}
	for tap, rec := range active {
		if err := a.Remove(rec); err != nil {
			t.Fatalf("Remove %s: %v", tap, err)
		}
	}
	t.Logf("%d applies (%d rolled back)", applies, fails)
	sameSnapshot(t, "after cycles", before, e.host.snapshot(t, append(taps, uplinkName, "br-c")...))
}
