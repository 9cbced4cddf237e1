package nettest

import (
	"strings"
	"testing"
	"time"
)

// RouteUplink makes dev, with the host's own addresses addr4 (/24) and
// addr6 (/64), the uplink of the routed network of the root tests, as
// GRNET's vmrouter.ifup does on a hypervisor: routing table 100 holds the
// VMs' subnets 198.18.100.0/24 and 2001:db8:100::/64 via dev and default
// routes via the router 198.18.100.1 and 2001:db8:100::1; packets coming
// in on dev use table 100; dev answers for the VMs upstream (proxy ARP
// and NDP).
func (n *NS) RouteUplink(t testing.TB, dev, addr4, addr6 string) {
	t.Helper()
	for _, c := range [][]string{
		{"ip", "addr", "add", addr4 + "/24", "dev", dev},
		{"ip", "addr", "add", addr6 + "/64", "dev", dev, "nodad"},
		{"ip", "route", "add", "198.18.100.0/24", "dev", dev, "table", "100"},
		{"ip", "route", "add", "default", "via", "198.18.100.1", "dev", dev, "table", "100"},
		{"ip", "-6", "route", "add", "2001:db8:100::/64", "dev", dev, "table", "100"},
		{"ip", "-6", "route", "add", "default", "via", "2001:db8:100::1", "dev", dev, "table", "100"},
		{"ip", "rule", "add", "iif", dev, "lookup", "100", "pref", "31000"},
		{"ip", "-6", "rule", "add", "iif", dev, "lookup", "100", "pref", "31000"},
		{"sysctl", "-qw", "net.ipv4.conf." + dev + ".proxy_arp=1", "net.ipv6.conf." + dev + ".proxy_ndp=1"},
	} {
		n.Run(t, c...)
	}
}

// WaitUp waits (5 s at most) until the kernel reports dev's operstate UP,
// as a new bridge takes a moment to.
func (n *NS) WaitUp(t testing.TB, dev string) {
	t.Helper()
	for range 100 {
		if strings.Contains(n.Run(t, "ip", "-o", "link", "show", dev), "state UP") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: %s not UP", n, dev)
}
