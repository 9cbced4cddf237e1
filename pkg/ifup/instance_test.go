package ifup

import (
	"context"
	"slices"
	"testing"

	"github.com/diktyo/diktyo/pkg/netplan"
)

// DownInstance finds an instance's NICs by instance name and NIC UUID:
// another instance's NIC on a reused tap name is never touched, and drop
// picks the NICs to remove.
func TestDownInstance(t *testing.T) {
	g := newRig(t)
	g.host.addTap("tap2", 12)
	g.mustUp(bridgedEnv, map[string]string{"INTERFACE": "tap0"})                                                                                                          // kvm1 NIC 0
	g.mustUp(bridgedEnv, map[string]string{"INTERFACE": "tap2", "INTERFACE_INDEX": "1", "INTERFACE_UUID": "nic1-uuid", "MAC": "aa:00:00:00:00:02", "IP": "198.51.100.3"}) // kvm1 NIC 1
	g.mustUp(routedEnv, nil)                                                                                                                                              // kvm2 on tap1
	ctx := context.Background()

	recs, err := InstanceRecords(g.cfg.StateDir, "kvm1.ganeti.test")
	if err != nil || len(recs) != 2 {
		t.Fatalf("records of kvm1: %d, %v", len(recs), err)
	}
	done, err := g.r.DownInstance(ctx, "kvm1.ganeti.test", func(id netplan.NICID) bool { return id.UUID == "nic1-uuid" })
	if err != nil || !slices.Equal(done, []string{"tap2"}) {
		t.Fatalf("down NIC 1: %v, %v", done, err)
	}
	if g.record("tap2") != nil || g.record("tap0") == nil || g.record("tap1") == nil {
		t.Fatal("wrong records removed")
	}
	done, err = g.r.DownInstance(ctx, "kvm1.ganeti.test", nil)
	if err != nil || !slices.Equal(done, []string{"tap0"}) {
		t.Fatalf("down kvm1: %v, %v", done, err)
	}
	g.assertCleanOf("tap0", "tap2")
	// Again: nothing left, nothing done.
	if done, err := g.r.DownInstance(ctx, "kvm1.ganeti.test", nil); err != nil || len(done) != 0 {
		t.Fatalf("second down: %v, %v", done, err)
	}
	if g.record("tap1") == nil {
		t.Fatal("kvm2's NIC was removed")
	}
	done, err = g.r.DownInstance(ctx, "kvm2.ganeti.test", nil)
	if err != nil || !slices.Equal(done, []string{"tap1"}) {
		t.Fatalf("down kvm2: %v, %v", done, err)
	}
	g.assertClean("tap0", "tap1", "tap2")
}

// assertCleanOf checks that taps have no record, filter or binding left
// (other taps may still have host objects).
func (g *rig) assertCleanOf(taps ...string) {
	g.t.Helper()
	for _, tap := range taps {
		if g.record(tap) != nil {
			g.t.Errorf("%s: record left", tap)
		}
		if _, ok := g.fw.get(tap); ok {
			g.t.Errorf("%s: filter left", tap)
		}
	}
}

// Reannounce sends the recorded announcements of the instance's live,
// up taps, and nothing for a tap that is down, gone or recreated.
func TestReannounce(t *testing.T) {
	g := newRig(t)
	g.mustUp(routedEnv, nil) // kvm2 on tap1: a gratuitous ARP and an NA on eth1
	g.mustUp(bridgedEnv, nil)
	rec := g.record("tap1")
	if len(rec.Plan.Host.Announce) == 0 {
		t.Fatal("routed NIC without announcements")
	}
	ctx := context.Background()
	apply := func() int {
		n := 0
		for _, c := range g.host.calls {
			if c == "apply tap1" {
				n++
			}
		}
		return n
	}
	before := apply()
	// The fake's taps are down until marked up.
	if done, err := g.r.Reannounce(ctx, "kvm2.ganeti.test"); err != nil || len(done) != 0 || apply() != before {
		t.Fatalf("tap down: %v, %v", done, err)
	}
	l := g.host.links["tap1"]
	l.Up = true
	g.host.links["tap1"] = l
	done, err := g.r.Reannounce(ctx, "kvm2.ganeti.test")
	if err != nil || !slices.Equal(done, []string{"tap1"}) || apply() != before+1 {
		t.Fatalf("reannounce: %v, %v", done, err)
	}
	// The bridged kvm1 has nothing to announce.
	if done, err := g.r.Reannounce(ctx, "kvm1.ganeti.test"); err != nil || len(done) != 0 {
		t.Fatalf("bridged: %v, %v", done, err)
	}
	// A recreated tap is not the recorded device.
	g.host.delTap("tap1")
	g.host.addTap("tap1", 77)
	if done, err := g.r.Reannounce(ctx, "kvm2.ganeti.test"); err != nil || len(done) != 0 {
		t.Fatalf("recreated tap: %v, %v", done, err)
	}
}
