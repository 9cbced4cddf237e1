package hostnet

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
)

// benchHost is a routed host with others NICs already applied (their own
// taps, rules, routes and proxy entries) and one more tap to cycle.
func benchHost(b *testing.B, others int) (*routedEnv, *Applier) {
	b.Helper()
	e := newRoutedEnv(b)
	var batch strings.Builder
	for i := 0; i <= others; i++ {
		fmt.Fprintf(&batch, "tuntap add dev tb%d mode tap\n", i)
	}
	cmd := exec.Command("ip", "-n", e.host.Name(), "-batch", "-")
	cmd.Stdin = strings.NewReader(batch.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("create taps: %v: %s", err, out)
	}
	a := e.host.applier(b, Options{})
	for i := 1; i <= others; i++ {
		p := routedPlan(fmt.Sprintf("tb%d", i), testTable, uplinkName,
			netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), benchMAC(i))
		p.Announce = nil
		if _, err := a.Apply(p); err != nil {
			b.Fatal(err)
		}
	}
	return e, a
}

func benchMAC(i int) net.HardwareAddr { return net.HardwareAddr{0xaa, 0, 1, 0, byte(i >> 8), byte(i)} }

// BenchmarkApplyRemove is one routed NIC applied and removed (two
// sysctls, two rules, two routes, a proxy entry, a GARP and an NA) on a
// host with 0 or 1000 other NICs: the cost must not grow with them.
//
// In the "tap-ready" variants the tap is already up with its MAC (as on a
// re-run of ifup), which leaves out the kernel's link up/down work (IPv6
// address configuration and a walk of the IPv6 routes on down).
func BenchmarkApplyRemove(b *testing.B) {
	needRoot(b)
	for _, c := range []struct {
		others int
		ready  bool
	}{{0, false}, {1000, false}, {0, true}, {1000, true}} {
		name := fmt.Sprintf("others=%d", c.others)
		if c.ready {
			name += "/tap-ready"
		}
		b.Run(name, func(b *testing.B) {
			e, a := benchHost(b, c.others)
			if c.ready {
				e.host.ip(b, "link", "set", "tb0", "address", tapMAC.String(), "up")
			}
			plan := routedPlan("tb0", testTable, uplinkName, netip.MustParseAddr("198.51.100.200"), benchMAC(0))
			b.ReportAllocs()
			for b.Loop() {
				rec, err := a.Apply(plan)
				if err != nil {
					b.Fatal(err)
				}
				if err := a.Remove(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFacts reads the planner's facts with 0 or 1000 other NICs'
// routes in the table: without a cache a dump of the whole table (the
// kernel has no lookup of a table's default route); with the uplink cache
// only the routes via the cached uplink, so the cost must not grow with
// the NICs.
func BenchmarkFacts(b *testing.B) {
	needRoot(b)
	for _, others := range []int{0, 1000} {
		for _, cache := range []bool{false, true} {
			b.Run(fmt.Sprintf("others=%d/cache=%v", others, cache), func(b *testing.B) {
				e, _ := benchHost(b, others)
				opts := Options{}
				if cache {
					opts.StateDir = b.TempDir()
				}
				a := e.host.applier(b, opts)
				b.ReportAllocs()
				for b.Loop() {
					f, err := a.Facts("tb0", "", testTable)
					if err != nil {
						b.Fatal(err)
					}
					if f.Uplink4 != uplinkName || f.Uplink6 != uplinkName {
						b.Fatalf("facts: %+v", f)
					}
				}
			})
		}
	}
}
