package hostnet

import (
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/diktyo/diktyo/pkg/netplan"
)

func TestValidate(t *testing.T) {
	ok := routedPlan("tap0", 100, "eth1", netip.MustParseAddr("198.51.100.5"), net.HardwareAddr{0xaa, 0, 0, 0, 0, 1})
	if err := validate(ok); err != nil {
		t.Fatalf("valid plan: %v", err)
	}
	for name, mut := range map[string]func(h *netplan.Host){
		"no tap":          func(h *netplan.Host) { h.Tap.Name = "" },
		"long tap":        func(h *netplan.Host) { h.Tap.Name = "tap0123456789abcdef" },
		"short MAC":       func(h *netplan.Host) { h.Tap.MAC = []byte{1, 2} },
		"family":          func(h *netplan.Host) { h.Rules[0].Family = 0 },
		"table 0":         func(h *netplan.Host) { h.Rules[0].Table = 0 },
		"route not net":   func(h *netplan.Host) { h.Routes[0].Dst = netip.MustParsePrefix("198.51.100.5/24") },
		"route table":     func(h *netplan.Host) { h.Routes[1].Table = -1 },
		"proxy dev":       func(h *netplan.Host) { h.ProxyNeighs[0].Dev = "" },
		"garp v6":         func(h *netplan.Host) { h.Announce[0].Addr = netip.MustParseAddr("2001:db8::1") },
		"na v4":           func(h *netplan.Host) { h.Announce[1].Addr = netip.MustParseAddr("198.51.100.1") },
		"kind":            func(h *netplan.Host) { h.Announce[0].Kind = "shout" },
		"sysctl abs":      func(h *netplan.Host) { h.Sysctls[0].Key = "/proc/sys/net/x" },
		"sysctl dotdot":   func(h *netplan.Host) { h.Sysctls[0].Key = "net/../../x" },
		"ovs bridge":      func(h *netplan.Host) { h.OVS = &netplan.OVSPort{Tag: 5} },
		"ovs tag":         func(h *netplan.Host) { h.OVS = &netplan.OVSPort{Bridge: "b", Tag: 4095} },
		"ovs trunk range": func(h *netplan.Host) { h.OVS = &netplan.OVSPort{Bridge: "b", Trunks: []int{0}} },
		"ovs guard": func(h *netplan.Host) {
			h.OVS = &netplan.OVSPort{Bridge: "b", Guard: &netplan.Filter{Tap: h.Tap.Name, AntiSpoof: true}}
		},
	} {
		h := routedPlan("tap0", 100, "eth1", netip.MustParseAddr("198.51.100.5"), net.HardwareAddr{0xaa, 0, 0, 0, 0, 1})
		mut(&h)
		if err := validate(h); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestMerge(t *testing.T) {
	r4 := netplan.Rule{Family: 4, IIF: "tap0", Table: 100, Priority: 32000}
	r6 := netplan.Rule{Family: 6, IIF: "tap0", Table: 100, Priority: 32000}
	a := Applied{
		Tap:     TapChange{Name: "tap0", Index: 7, PrevMAC: []byte{1, 2, 3, 4, 5, 6}, SetUp: true},
		Sysctls: []SysctlChange{{Key: "k1", Value: "1", Prev: "0"}},
		Rules:   []netplan.Rule{r4},
	}
	b := Applied{
		Tap:     TapChange{Name: "tap0", Index: 7, PrevMTU: 1500},
		Sysctls: []SysctlChange{{Key: "k1", Value: "2", Prev: "1"}, {Key: "k2", Value: "1", Prev: "0"}},
		Rules:   []netplan.Rule{r4, r6},
		OVS:     &netplan.OVSPort{Bridge: "br", Tag: 3},
	}
	m := a.Merge(b)
	want := Applied{
		Tap:     TapChange{Name: "tap0", Index: 7, PrevMAC: []byte{1, 2, 3, 4, 5, 6}, PrevMTU: 1500, SetUp: true},
		Sysctls: []SysctlChange{{Key: "k1", Value: "2", Prev: "0"}, {Key: "k2", Value: "1", Prev: "0"}},
		Rules:   []netplan.Rule{r4, r6},
		OVS:     &netplan.OVSPort{Bridge: "br", Tag: 3},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("Merge:\n got %+v\nwant %+v", m, want)
	}
	// A recreated tap: the later tap record wins.
	b.Tap.Index = 9
	if m := a.Merge(b); !reflect.DeepEqual(m.Tap, b.Tap) {
		t.Errorf("recreated tap: %+v", m.Tap)
	}
	if !(Applied{Tap: TapChange{Name: "x", Index: 3}}).Empty() || want.Empty() {
		t.Error("Empty")
	}
}

func TestAppliedJSON(t *testing.T) {
	a := Applied{
		Tap:         TapChange{Name: "tap0", Index: 7, PrevMAC: []byte{1, 2, 3, 4, 5, 6}, Attached: "br0"},
		Sysctls:     []SysctlChange{{Key: "net/ipv4/conf/tap0/proxy_arp", Value: "1", Prev: "0"}},
		Rules:       []netplan.Rule{{Family: 6, IIF: "tap0", Table: 100, Priority: 32000}},
		Routes:      []netplan.Route{{Dst: netip.MustParsePrefix("2001:db8::1/128"), Dev: "tap0", Table: 100}},
		ProxyNeighs: []netplan.ProxyNeigh{{Addr: netip.MustParseAddr("2001:db8::1"), Dev: "eth1"}},
		OVS:         &netplan.OVSPort{Bridge: "br", Tag: 3, Trunks: []int{4, 5}},
	}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back Applied
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, back) {
		t.Errorf("round trip:\n got %+v\nwant %+v\njson %s", back, a, b)
	}
}

func TestIsDeviceKey(t *testing.T) {
	for key, want := range map[string]bool{
		"net/ipv4/conf/tap0/proxy_arp":        true,
		"net/ipv6/neigh/tap0/proxy_delay":     true,
		"net/ipv4/conf/tap01/proxy_arp":       false,
		"net/ipv4/conf/all/forwarding":        false,
		"net/ipv4/ip_forward":                 false,
		"net/ipv6/conf/tap0":                  false,
		"kernel/tap0/x/y":                     false,
		"net/ipv4/route/tap0/gc_min_interval": false,
	} {
		if got := isDeviceKey(key, "tap0"); got != want {
			t.Errorf("isDeviceKey(%q) = %v", key, got)
		}
	}
}

func TestOVSArgs(t *testing.T) {
	for _, c := range []struct {
		p    netplan.OVSPort
		want []string
	}{
		{netplan.OVSPort{Bridge: "b"}, []string{"tag=[]", "trunks=[]", "vlan_mode=[]"}},
		{netplan.OVSPort{Bridge: "b", Tag: 10}, []string{"tag=10", "trunks=[]", "vlan_mode=[]"}},
		{netplan.OVSPort{Bridge: "b", Trunks: []int{10, 20}}, []string{"tag=[]", "trunks=[10,20]", "vlan_mode=[]"}},
		{netplan.OVSPort{Bridge: "b", Tag: 5, Trunks: []int{10}}, []string{"tag=5", "trunks=[10]", "vlan_mode=native-untagged"}},
	} {
		got := ovsAddArgs(c.p, "tap0")
		want := append([]string{"--may-exist", "add-port", "b", "tap0", "--", "set", "Port", "tap0"}, c.want...)
		if !slices.Equal(got, want) {
			t.Errorf("%+v: %q", c.p, got)
		}
	}
}

func TestOFTarget(t *testing.T) {
	for db, want := range map[string]string{
		"":                                  "br-ovs",
		"unix:/run/openvswitch/db.sock":     "unix:/run/openvswitch/br-ovs.mgmt",
		"tcp:198.51.100.1:6640":             "br-ovs",
		"unix:/tmp/diktyo-test/ovs/db.sock": "unix:/tmp/diktyo-test/ovs/br-ovs.mgmt",
	} {
		if got := ofTarget(db, "br-ovs"); got != want {
			t.Errorf("ofTarget(%q) = %q, want %q", db, got, want)
		}
	}
}

func TestProcSysctl(t *testing.T) {
	dir := t.TempDir()
	p := ProcSysctl{Root: dir}
	if _, err := p.Get("net/x"); !errors.Is(err, ErrNoSysctl) {
		t.Errorf("missing key: %v", err)
	}
	if err := p.Set("net/x", "1"); !errors.Is(err, ErrNoSysctl) {
		t.Errorf("set missing key: %v", err)
	}
	if !sameValue("4096\t87380\t6291456\n", "4096 87380 6291456") || sameValue("1", "0") {
		t.Error("sameValue")
	}
}
