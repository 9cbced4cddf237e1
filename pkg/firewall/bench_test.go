package firewall

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/nettest"
)

// BenchmarkApplyRemove applies and removes one routed NIC (anti-spoof,
// profile, ARP gateway, queues) with 0 and 1000 other NICs present. The
// taps do not exist: netdev chains may name missing devices on this
// kernel, and hook registration is per device anyway.
func BenchmarkApplyRemove(b *testing.B) {
	nettest.RequireRoot(b, "nft")
	for _, others := range []int{0, 1000} {
		b.Run(fmt.Sprintf("nics=%d", others), func(b *testing.B) {
			ns := nettest.NewNS(b, "fw-")
			fw := newFirewall(b, ns)
			for i := range others {
				f := routedFilter(fmt.Sprintf("tapo%d", i))
				if i%2 == 1 {
					f = bridgedFilter(f.Tap)
				}
				if err := fw.Apply(f); err != nil {
					b.Fatal(err)
				}
			}
			f := routedFilter("tapbench")
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := fw.Apply(f); err != nil {
					b.Fatal(err)
				}
				if err := fw.Remove(f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkApplyRemoveInterleaved alternates apply+remove of one NIC
// between a namespace with no other NIC and one with 1000, so that load
// from the rest of the machine hits both alike; it reports the median of
// each (ns-median-0, ns-median-1000).
func BenchmarkApplyRemoveInterleaved(b *testing.B) {
	nettest.RequireRoot(b, "nft")
	empty, full := nettest.NewNS(b, "fw-"), nettest.NewNS(b, "fw-")
	fw0, fw1000 := newFirewall(b, empty), newFirewall(b, full)
	for i := range 1000 {
		f := routedFilter(fmt.Sprintf("tapo%d", i))
		if i%2 == 1 {
			f = bridgedFilter(f.Tap)
		}
		if err := fw1000.Apply(f); err != nil {
			b.Fatal(err)
		}
	}
	f := routedFilter("tapbench")
	cycle := func(fw *Firewall) time.Duration {
		start := time.Now()
		if err := fw.Apply(f); err != nil {
			b.Fatal(err)
		}
		if err := fw.Remove(f); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var d0, d1000 []time.Duration
	b.ResetTimer()
	for b.Loop() {
		d0 = append(d0, cycle(fw0))
		d1000 = append(d1000, cycle(fw1000))
	}
	median := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2].Nanoseconds())
	}
	b.ReportMetric(median(d0), "ns-median-0")
	b.ReportMetric(median(d1000), "ns-median-1000")
}
