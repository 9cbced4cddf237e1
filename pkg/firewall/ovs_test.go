package firewall

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/diktyo/diktyo/pkg/netplan"
	"github.com/diktyo/diktyo/pkg/nettest"
	"github.com/diktyo/diktyo/pkg/ovsflow"
)

// The flows of pkg/ovsflow and the ovs_steer chain agree on how a steered
// frame carries its queue mark.
func TestOVSSteerEncoding(t *testing.T) {
	if !bytes.Equal(ovsflow.SteerPrefix, ovsSteerPrefix) || !bytes.Equal(ovsflow.SteerMask, ovsSteerMask) {
		t.Errorf("ovsflow selects %s/%s, firewall %s/%s", ovsflow.SteerPrefix, ovsflow.SteerMask, ovsSteerPrefix, ovsSteerMask)
	}
	for _, q := range []QueueTarget{{Num: 42}, {Num: 45, Bypass: true}, {Num: 0xffff, Bypass: true}} {
		if got, want := ovsflow.QueueMark(q.Num, q.Bypass), q.mark(); got != want {
			t.Errorf("%+v: ovsflow mark %#x, firewall %#x", q, got, want)
		}
		if m := ovsflow.SteerMAC(q.mark()); !bytes.Equal(m[offSteerMark:], ne32be(q.mark())) {
			t.Errorf("%+v: %s does not carry the mark at byte %d", q, m, offSteerMark)
		}
	}
}

func ne32be(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

// An Open vSwitch NIC gets a netdev table with an egress chain only when
// it needs one; Remove deletes it, also the ingress-only table an older
// diktyo created (RemoveTap, reconcile, likewise). Steering needs the
// ovs_steer chain of Init.
func TestOVSEgressTable(t *testing.T) {
	nettest.RequireRoot(t, "nft")
	ns, vm := nettest.NewNS(t, "fw-"), nettest.NewNS(t, "fw-")
	vethPair(t, ns, "tap-o1", vm, "eth0", "")
	fw, err := New(Options{NetNS: ns.Fd(), Steerings: allSteerings()})
	if err != nil {
		t.Fatal(err)
	}
	f := routedFilter("tap-o1")
	f.Mode, f.ARPGateway, f.RouteMark, f.Profile = netplan.ModeOpenvSwitch, netipZero(), 0, netplan.ProfileProtected
	if err := fw.Apply(f); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("Apply with steering before Init = %v, want ErrNotInitialized", err)
	}
	if err := fw.Init(); err != nil {
		t.Fatal(err)
	}
	initial := ruleset(t, ns)
	if err := fw.Apply(f); err != nil {
		t.Fatal(err)
	}
	got := ruleset(t, ns)
	if !strings.Contains(got, "table netdev diktyo_tap-o1") || !strings.Contains(got, `hook egress device "tap-o1"`) {
		t.Errorf("no egress chain:\n%s", got)
	}
	if taps, err := fw.List(); err != nil || len(taps) != 1 || taps[0] != "tap-o1" {
		t.Errorf("List = %v, %v", taps, err)
	}
	if err := fw.Remove(f); err != nil {
		t.Fatal(err)
	}
	if got := ruleset(t, ns); got != initial {
		t.Errorf("Remove left:\n%s", got)
	}
	f.Profile = netplan.ProfileUnprotected
	if err := fw.Apply(f); err != nil {
		t.Fatal(err)
	}
	if got := ruleset(t, ns); got != initial {
		t.Errorf("an unprotected NIC without MAC filter has a table:\n%s", got)
	}
	// An older diktyo's ingress table of the tap.
	ns.Run(t, "nft", "add table netdev diktyo_tap-o1; add chain netdev diktyo_tap-o1 nic_tap-o1 { type filter hook ingress device tap-o1 priority -500; }")
	if err := fw.Remove(f); err != nil {
		t.Fatal(err)
	}
	if got := ruleset(t, ns); got != initial {
		t.Errorf("Remove left the old ingress table:\n%s", got)
	}
	ns.Run(t, "nft", "add table netdev diktyo_tap-o1; add chain netdev diktyo_tap-o1 nic_tap-o1 { type filter hook ingress device tap-o1 priority -500; }")
	if err := fw.RemoveTap("tap-o1"); err != nil {
		t.Fatal(err)
	}
	if got := ruleset(t, ns); got != initial {
		t.Errorf("RemoveTap left the old ingress table:\n%s", got)
	}
}
