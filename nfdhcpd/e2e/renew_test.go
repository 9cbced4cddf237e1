package e2e

import (
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/nettest"
	"github.com/diktyo/diktyo/pkg/nfdconf"
)

// shortLease makes clients renew every 2 s (T1) on a 30 s lease.
func shortLease(c *nfdconf.Config) {
	c.DHCP.LeaseLifetime = 30
	c.DHCP.LeaseRenewal = 2
}

// startRenewing starts a dhclient in v that configures its address and
// renews by unicast to the server, as a VM does. The server address is
// given a static neighbour entry (on real hosts proxy ARP or arptables
// answer for it).
func startRenewing(t *testing.T, v *vm) *nettest.Dhclient {
	t.Helper()
	v.ns.AddNeigh(t, "eth0", serverIP, v.pair.Host.MAC)
	d, err := nettest.StartDhclient4(t, v.ns, "eth0", true)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkRenewals checks that every lease d reported is v's and that at
// least n of them are renewals, and returns how many renewals there were.
func checkRenewals(t *testing.T, d *nettest.Dhclient, v *vm, n int, timeout time.Duration) int {
	t.Helper()
	ls, err := d.WaitLeases(n+1, timeout)
	renewals := 0
	for i, l := range ls {
		if l.Addr.Addr() != v.b.IP {
			t.Errorf("dhclient lease %d (%s): %v, want %v", i, l.Event, l.Addr, v.b.IP)
		}
		if l.Event == "RENEW" {
			renewals++
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if renewals < n {
		t.Fatalf("%d renewals among %d leases, want at least %d:\n%s", renewals, len(ls), n, d.Output())
	}
	return renewals
}

// TestDhclientRenews checks that a configured dhclient renews its lease by
// unicast REQUESTs (RENEWING state, ciaddr set) and keeps its address.
func TestDhclientRenews(t *testing.T) {
	t.Parallel()
	h := newHost(t, nfdconf.ModeSLAACDHCPv6, shortLease)
	v := h.addVM(t, routed, 7)
	h.bind(t, v.b)
	h.waitLog(t, `msg="binding loaded" tap=`+v.b.Tap)
	d := startRenewing(t, v)
	n := checkRenewals(t, d, v, 3, time.Minute)
	t.Logf("%d renewals", n)
	h.checkAlive(t)
	h.queuesDrained(t, qDHCP)
}
