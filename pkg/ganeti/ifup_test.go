package ganeti

import (
	"encoding/json"
	"net/netip"
	"os"
	"strings"
	"testing"
)

func TestIfupFixtures(t *testing.T) {
	nics := fixtureNICs(t)
	kvm1nic0 := &IfupEnv{Instance: "kvm1.ganeti.test", Interface: "tap0", Index: 0, Name: "nic0",
		UUID: "2307dc9d-3ef4-4362-a6c4-a164039a76a6", MAC: mustMAC(t, "aa:00:00:0d:f1:78"),
		IP: netip.MustParseAddr("198.51.100.2"), Mode: ModeBridged, Link: "gntbr0", Bridge: "gntbr0",
		Tags: NewTags("harness:tag1"), Network: net1}
	want := map[string]*IfupEnv{
		"kvm/kvm-ifup.env":                       kvm1nic0,
		"kvm/kvm-ifup-kvm1.ganeti.test-nic0.env": kvm1nic0,
		"kvm/kvm-ifup-kvm1.ganeti.test-nic1.env": {Instance: "kvm1.ganeti.test", Interface: "tap1", Index: 1,
			UUID: "3928ac09-0a47-40c5-af76-df60154a0340", MAC: mustMAC(t, "aa:00:00:40:9f:d1"),
			IP: netip.MustParseAddr("198.51.100.3"), Mode: ModeBridged, Link: "gntbr0", Bridge: "gntbr0",
			Tags: NewTags("harness:tag1"), Network: net1},
		// A routed NIC: no BRIDGE; an instance without tags; tap1 for NIC 0.
		"kvm/kvm-ifup-kvm2.ganeti.test-nic0.env": {Instance: "kvm2.ganeti.test", Interface: "tap1", Index: 0,
			UUID: "a730afce-aaec-4b13-969e-c993d431da2e", MAC: mustMAC(t, "aa:00:01:2d:2b:3b"),
			IP: netip.MustParseAddr("198.18.100.2"), Mode: ModeRouted, Link: "100", Network: net2},
	}
	seen := 0
	for _, name := range allFixtures(t) {
		if !isIfupFixture(name) {
			continue
		}
		seen++
		w, ok := want[name]
		if !ok {
			t.Errorf("fixture %s has no expected value", name)
			continue
		}
		e := loadIfup(t, name)
		assertEqual(t, name, e, w)
		if e.VLAN.IsZero() != true || e.Network.Tags.Has("routed") != (e.Mode == ModeRouted) {
			t.Errorf("%s: VLAN %v, network tags %v", name, e.VLAN, e.Network.Tags)
		}
		// Round trip, and Environ gives back what Ganeti set (less PATH,
		// HOME... and up to the order of the tags).
		out := e.Environ()
		e2, err := ParseIfupEnv(out)
		if err != nil {
			t.Fatalf("%s: reparse: %v", name, err)
		}
		assertEqual(t, name+" round trip", e2, e)
		var ganeti []string
		for _, kv := range loadEnv(t, name) {
			if k, _, _ := strings.Cut(kv, "="); ifupVars[k] {
				ganeti = append(ganeti, kv)
			}
		}
		assertSameEnv(t, name, out, ganeti, "")
	}
	if seen != len(want) {
		t.Errorf("%d kvm-ifup fixtures on disk, %d expected", seen, len(want))
	}
	if got := want["kvm/kvm-ifup-kvm2.ganeti.test-nic0.env"].NIC(); !equalNIC(got, nics["kvm2"]) {
		t.Errorf("NIC() = %+v", got)
	}
}

func equalNIC(a, b NIC) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// kvm-ifup.log holds every kvm-vif-bridge run of the capture session, on two
// nodes.
func TestIfupLog(t *testing.T) {
	f, err := os.Open(fixture("kvm/kvm-ifup.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := ReadEnvLog(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 11 {
		t.Fatalf("%d records, want 11", len(recs))
	}
	nodes := map[string]int{}
	for i, r := range recs {
		if !strings.Contains(r.Header, "argv0=/etc/ganeti/kvm-vif-bridge") {
			t.Errorf("record %d: header %q", i, r.Header)
		}
		for _, n := range []string{"vm", "n2"} {
			if strings.Contains(r.Header, " node="+n+" ") {
				nodes[n]++
			}
		}
		e, err := ParseIfupEnv(r.Environ)
		if err != nil {
			t.Errorf("record %d: %v", i, err)
			continue
		}
		if e.Mode == ModeRouted {
			if e.Instance != "kvm2.ganeti.test" || e.Bridge != "" || e.Link != "100" {
				t.Errorf("record %d: routed NIC %+v", i, e)
			}
		} else if e.Instance != "kvm1.ganeti.test" || e.Bridge != "gntbr0" || e.Network.Name != "net1" {
			t.Errorf("record %d: bridged NIC %+v", i, e)
		}
	}
	if nodes["vm"] != 9 || nodes["n2"] != 2 {
		t.Errorf("records per node = %v, want vm:9 n2:2", nodes)
	}
	// The first run is NIC 0 of kvm1 before it was named, the third after.
	if recs[0].Environ == nil || strings.Contains(strings.Join(recs[0].Environ, "\n"), "INTERFACE_NAME") {
		t.Error("record 0 should have no INTERFACE_NAME")
	}
	if e, _ := ParseIfupEnv(recs[2].Environ); e == nil || e.Name != "nic0" {
		t.Errorf("record 2: %+v, want INTERFACE_NAME nic0", e)
	}
}

func TestParseIfupEnvMap(t *testing.T) {
	m := map[string]string{"INSTANCE": "i1", "INTERFACE": "tap3", "INTERFACE_INDEX": "2",
		"MAC": "aa:00:00:00:00:01", "MODE": "openvswitch", "LINK": "br-int", "VLAN": ".10:20:30",
		"TAGS": "b a", "HOME": "/root", "NETWORK_FOO": "ignored"}
	e, err := ParseIfupEnvMap(m)
	if err != nil {
		t.Fatal(err)
	}
	want := &IfupEnv{Instance: "i1", Interface: "tap3", Index: 2, MAC: mustMAC(t, "aa:00:00:00:00:01"),
		Mode: ModeOpenvSwitch, Link: "br-int", VLAN: VLAN{Access: 10, Trunks: []int{20, 30}}, Tags: NewTags("a", "b")}
	assertEqual(t, "ifup", e, want)
	assertEqual(t, "Environ", e.Environ(), []string{"INSTANCE=i1", "INTERFACE=tap3", "INTERFACE_INDEX=2",
		"LINK=br-int", "MAC=aa:00:00:00:00:01", "MODE=openvswitch", "TAGS=a b", "VLAN=.10:20:30"})
}
