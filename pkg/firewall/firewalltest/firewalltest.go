// Package firewalltest prepares test namespaces (pkg/nettest) as the
// hypervisors that diktyo-ifup and diktyo-hook run on: forwarding on and
// diktyo's nftables tables in place.
//
// This package is for tests only; production code must never import it.
package firewalltest

import (
	"testing"

	"github.com/diktyo/diktyo/pkg/firewall"
	"github.com/diktyo/diktyo/pkg/nettest"
)

// Host turns on IPv4 and IPv6 forwarding in ns and creates diktyo's
// tables there with Init, steering as diktyo-ifup does with the default
// queues and QUEUE_BYPASS=yes: a host whose tables its first up created,
// so that what tests compare is per-NIC state only.
func Host(t testing.TB, ns *nettest.NS) {
	t.Helper()
	nettest.RequireRoot(t, "nft")
	for _, k := range []string{"net/ipv4/ip_forward", "net/ipv4/conf/all/forwarding", "net/ipv6/conf/all/forwarding"} {
		ns.Sysctl(t, k, "1")
	}
	steer := firewall.DefaultSteering()
	steer.Bypass = true
	fw, err := firewall.New(firewall.Options{NetNS: ns.Fd(), Steerings: []firewall.Steering{steer}})
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Init(); err != nil {
		t.Fatalf("netns %s: firewall init: %v", ns, err)
	}
}
