package ifup

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/diktyo/diktyo/pkg/hostnet"
	"github.com/diktyo/diktyo/pkg/netplan"
)

func TestAppliedOf(t *testing.T) {
	planned := netplan.Host{
		Tap:         netplan.Tap{Name: "tap1", MTU: 1500, Master: "br0"},
		Sysctls:     []netplan.Sysctl{{Key: "net/ipv4/conf/tap1/proxy_arp", Value: "1"}},
		Rules:       []netplan.Rule{{Family: 4, IIF: "tap1", Table: 100}, {Family: 6, IIF: "tap1", Table: 100, Priority: 5}},
		Routes:      []netplan.Route{{Dst: netip.MustParsePrefix("198.18.100.2/32"), Dev: "tap1", Table: 100}},
		ProxyNeighs: []netplan.ProxyNeigh{{Addr: netip.MustParseAddr("2001:db8::1"), Dev: "eth1"}},
		OVS:         &netplan.OVSPort{Bridge: "ovs0", Tag: 10},
	}
	// Without a record: the NIC's own objects from the plan, rules with
	// their effective priority, nothing to restore.
	a, err := AppliedOf(planned, 42, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Tap.Name != "tap1" || a.Tap.Index != 42 || a.Tap.Attached != "" || len(a.Sysctls) != 0 ||
		a.Rules[0].Priority != netplan.DefaultRulePriority || a.Rules[1].Priority != 5 ||
		len(a.Routes) != 1 || len(a.ProxyNeighs) != 1 || a.OVS == nil {
		t.Fatalf("derived %+v", a)
	}
	// With a record: the record, whatever the plan says.
	rec := hostnet.Applied{Tap: hostnet.TapChange{Name: "tap1", Index: 7, SetUp: true}}
	raw, _ := json.Marshal(rec)
	if a, err := AppliedOf(planned, 42, raw); err != nil || a.Tap.Index != 7 || len(a.Rules) != 0 {
		t.Fatalf("decoded %+v %v", a, err)
	}
	if _, err := AppliedOf(planned, 42, json.RawMessage(`{"tap":`)); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("bad record: %v", err)
	}
}

func TestUsage(t *testing.T) {
	g := newRig(t)
	for _, argv := range [][]string{{}, {"diktyo-ifup"}, {"diktyo-ifup", "down"}, {"diktyo-ifup", "up", "-x"},
		{"diktyo-ifup", "reconcile", "x"}, {"kvm-ifdown-custom"}} {
		if err := Main(t.Context(), argv, nil, g.r); !errors.Is(err, ErrUsage) {
			t.Errorf("%q: %v, want ErrUsage", argv, err)
		}
	}
	if err := g.run([]string{"diktyo-ifup", "help"}, nil); err != nil || !strings.Contains(g.out.String(), "usage:") {
		t.Fatalf("help: %v %q", err, g.out)
	}
	// A tap argument and a different $INTERFACE disagree.
	err := g.run([]string{"diktyo-ifup", "up", "tap0"}, environ(t, routedEnv, nil))
	if !errors.Is(err, ErrUsage) {
		t.Fatalf("tap mismatch: %v", err)
	}
}
