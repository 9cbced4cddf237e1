package netplan

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/ganeti/ganetitest"
	"github.com/diktyo/diktyo/pkg/golden"
)

const goldenDir = "testdata/plan"

func testOptions() Options {
	return Options{
		MACFilteredTag:  "private-filtered",
		NFDHCPDTag:      "nfdhcpd",
		IPLessRoutedTag: "ip-less-routed",
		TapMAC:          net.HardwareAddr{0xcc, 0x47, 0x52, 0x4e, 0x45, 0x54},
		MACMask:         net.HardwareAddr{0xff, 0xff, 0xf0, 0, 0, 0},
		AntiSpoof:       true,
		Queues:          Queues{DHCP: 42, RS: 43, NS: 44, DHCPv6: 45},
	}
}

func bridgeFacts(tap, br string, mtu int) HostFacts {
	return HostFacts{
		Tap:  LinkFacts{Name: tap, Exists: true, Index: 7, Kind: "tun"},
		Link: LinkFacts{Name: br, Exists: true, Index: 3, Kind: "bridge", MTU: mtu, MAC: []byte{2, 0, 0, 0, 0x0e, 1}},
	}
}

// ovsFacts: the tap's own MAC is part of an Open vSwitch NIC's filter.
func ovsFacts(tap, br string) HostFacts {
	f := bridgeFacts(tap, br, 1500)
	f.Tap.MAC = []byte{0xfe, 0x54, 0x00, 0x12, 0x34, 0x56}
	f.Link.Kind = "openvswitch"
	return f
}

func routedFacts(tap string, table int) HostFacts {
	return HostFacts{
		Tap:   LinkFacts{Name: tap, Exists: true, Index: 7, Kind: "tun"},
		Table: table, Uplink4: "eth1", Uplink6: "eth1",
	}
}

// noUplink is f of a table without default routes, with link as the
// facts of the configured uplink.
func noUplink(f HostFacts, link LinkFacts) HostFacts {
	f.Uplink4, f.Uplink6, f.Link = "", "", link
	return f
}

// env loads a real Ganeti dump and applies overrides ("" deletes).
func env(t *testing.T, file string, over map[string]string) *ganeti.IfupEnv {
	t.Helper()
	e, err := ganeti.ParseIfupEnvMap(ganetitest.Env(t, filepath.Join("kvm", file), over))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

const (
	bridged  = "kvm-ifup-kvm1.ganeti.test-nic0.env"
	bridged1 = "kvm-ifup-kvm1.ganeti.test-nic1.env"
	routed   = "kvm-ifup-kvm2.ganeti.test-nic0.env"
)

var noNetwork = map[string]string{
	"NETWORK_NAME": "", "NETWORK_UUID": "", "NETWORK_TAGS": "", "NETWORK_SUBNET": "",
	"NETWORK_GATEWAY": "", "NETWORK_SUBNET6": "", "NETWORK_GATEWAY6": "", "NETWORK_MAC_PREFIX": "",
}

func TestBuildGolden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  string
		over  map[string]string
		facts HostFacts
		opts  func(*Options)
	}{
		{name: "bridged-kvm1-nic0", file: bridged, facts: bridgeFacts("tap0", "gntbr0", 1500)},
		{name: "bridged-kvm1-nic1", file: bridged1, facts: bridgeFacts("tap1", "gntbr0", 9000)},
		{name: "routed-kvm2-nic0", file: routed, facts: routedFacts("tap1", 100)},
		{name: "routed-all-tags", file: routed, facts: routedFacts("tap1", 100), over: map[string]string{
			"NETWORK_TAGS": "nfdhcpd ip-less-routed private-filtered dns",
			"TAGS":         "synnefo:network:0:protected synnefo:network:a730afce-aaec-4b13-969e-c993d431da2e:unprotected other",
		}},
		{name: "routed-per-tap-rules", file: routed, facts: routedFacts("tap1", 100),
			opts: func(o *Options) { o.PerTapRules = true }},
		{name: "routed-ipv6-only", file: routed, facts: routedFacts("tap1", 100),
			over: map[string]string{"IP": "", "NETWORK_TAGS": "nfdhcpd ip-less-routed"}},
		{name: "routed-disable-ipv6", file: routed, facts: routedFacts("tap1", 100),
			over: map[string]string{"TAGS": "disable_ipv6 synnefo:network:0:limited"}},
		{name: "routed-no-network", file: routed, facts: routedFacts("tap1", 100), over: noNetwork},
		{name: "routed-no-uplink", file: routed, facts: noUplink(routedFacts("tap1", 100), LinkFacts{})},
		{name: "routed-no-ipv6-uplink", file: routed, facts: func() HostFacts {
			f := routedFacts("tap1", 100)
			f.Uplink6 = ""
			return f
		}()},
		{name: "routed-configured-uplink", file: routed,
			facts: noUplink(routedFacts("tap1", 100), LinkFacts{Name: "eth9", Exists: true, Index: 9, Kind: "veth"}),
			opts:  func(o *Options) { o.Uplink = "eth9" }},
		{name: "routed-configured-uplink-missing", file: routed,
			facts: noUplink(routedFacts("tap1", 100), LinkFacts{Name: "eth9"}),
			opts:  func(o *Options) { o.Uplink = "eth9" }},
		{name: "routed-require-tag-untagged", file: routed, facts: routedFacts("tap1", 100),
			over: map[string]string{"NETWORK_TAGS": "nfdhcpd"},
			opts: func(o *Options) { o.RoutedRequireTag = true }},
		{name: "routed-require-tag-tagged", file: routed, facts: routedFacts("tap1", 100),
			over: map[string]string{"NETWORK_TAGS": "nfdhcpd ip-less-routed"},
			opts: func(o *Options) { o.RoutedRequireTag = true }},
		{name: "bridged-private-filtered", file: bridged, facts: bridgeFacts("tap0", "gntbr0", 1500),
			over: map[string]string{"NETWORK_TAGS": "private-filtered nfdhcpd", "INTERFACE_NAME": "nic0",
				"TAGS": "synnefo:network:nic0:limited"}},
		{name: "bridged-no-network", file: bridged, facts: bridgeFacts("tap0", "gntbr0", 1500), over: noNetwork},
		{name: "bridged-no-antispoof", file: bridged, facts: bridgeFacts("tap0", "gntbr0", 1500),
			opts: func(o *Options) { o.AntiSpoof = false; o.Queues.Bypass = true }},
		{name: "ovs-hybrid-vlan", file: bridged, facts: bridgeFacts("tap0", "ovsbr0", 1500),
			over: map[string]string{"MODE": "openvswitch", "LINK": "ovsbr0", "BRIDGE": "", "VLAN": ".10:20:30"}},
		{name: "ovs-private-filtered", file: bridged, facts: ovsFacts("tap0", "ovsbr0"),
			over: map[string]string{"MODE": "openvswitch", "LINK": "ovsbr0", "BRIDGE": "", "VLAN": ".10",
				"NETWORK_TAGS": "private-filtered nfdhcpd", "TAGS": "synnefo:network:0:protected"}},
		{name: "ovs-no-antispoof", file: bridged, facts: ovsFacts("tap0", "ovsbr0"),
			over: map[string]string{"MODE": "openvswitch", "LINK": "ovsbr0", "BRIDGE": "", "NETWORK_TAGS": ""},
			opts: func(o *Options) { o.AntiSpoof = false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions()
			if tc.opts != nil {
				tc.opts(&opts)
			}
			e := env(t, tc.file, tc.over)
			p, err := Build(Input{Env: e, Network: e.Network, Options: opts, Facts: tc.facts})
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(p, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden.Check(t, filepath.Join(goldenDir, tc.name+".json"), got)
			// Plans survive the state file round trip.
			var back Plan
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatal(err)
			}
			again, _ := json.MarshalIndent(&back, "", "  ")
			if !bytes.Equal(append(again, '\n'), got) {
				t.Fatalf("JSON round trip differs:\n%s", again)
			}
			// Pure: the same input gives the same plan.
			p2, _ := Build(Input{Env: e, Network: e.Network, Options: opts, Facts: tc.facts})
			if b2, _ := json.MarshalIndent(p2, "", "  "); !bytes.Equal(append(b2, '\n'), got) {
				t.Fatal("Build is not deterministic")
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  string
		over  map[string]string
		facts func(*HostFacts)
		err   error
		msg   string
	}{
		{name: "tap missing", file: bridged, facts: func(f *HostFacts) { f.Tap.Exists = false }, err: ErrNoSuchLink, msg: "tap tap0"},
		{name: "bridge missing", file: bridged, facts: func(f *HostFacts) { f.Link.Exists = false }, err: ErrNoSuchLink, msg: "bridge gntbr0"},
		{name: "link not a bridge", file: bridged, facts: func(f *HostFacts) { f.Link.Kind = "veth" }, err: ErrInvalid},
		{name: "ovs bridge missing", file: bridged, over: map[string]string{"MODE": "openvswitch"},
			facts: func(f *HostFacts) { f.Link.Exists = false }, err: ErrNoSuchLink},
		{name: "no table", file: routed, facts: func(f *HostFacts) { f.Table = 0 }, err: ErrNoTable},
		{name: "ip outside", file: routed, over: map[string]string{"IP": "198.51.100.9"}, err: ErrOutsideNetwork, msg: "198.51.100.9 is not in 198.18.100.0/24"},
		{name: "ipv6 in IP", file: routed, over: map[string]string{"IP": "2001:db8::5"}, err: ErrInvalid},
		{name: "bad tap name", file: routed, over: map[string]string{"INTERFACE": "../../etc"}, err: ErrInvalid},
		{name: "long tap name", file: routed, over: map[string]string{"INTERFACE": "tap0123456789abcdef"}, err: ErrInvalid},
		{name: "bad bridge name", file: bridged, over: map[string]string{"LINK": "a b"}, err: ErrInvalid},
		{name: "subnet6 not /64", file: routed, over: map[string]string{"NETWORK_SUBNET6": "2001:db8::/48"}, err: ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := env(t, tc.file, tc.over)
			f := routedFacts(e.Interface, 100)
			if e.Mode != ganeti.ModeRouted {
				f = bridgeFacts(e.Interface, e.Link, 1500)
			}
			if tc.facts != nil {
				tc.facts(&f)
			}
			_, err := Build(Input{Env: e, Network: e.Network, Options: testOptions(), Facts: f})
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err %q does not say %q", err, tc.msg)
			}
		})
	}
}

func TestProfileOf(t *testing.T) {
	e := &ganeti.IfupEnv{Index: 1, Name: "pub", UUID: "u-1"}
	for tags, want := range map[string]Profile{
		"":                                ProfileNone,
		"synnefo:network:0:protected":     ProfileNone,
		"synnefo:network:1:unprotected":   ProfileUnprotected,
		"synnefo:network:pub:limited":     ProfileLimited,
		"synnefo:network:u-1:protected x": ProfileProtected,
		"synnefo:network:1:bogus":         ProfileNone,
		"synnefo:network:1:unprotected synnefo:network:pub:protected synnefo:network:u-1:limited": ProfileProtected,
		"synnefo:network:1:unprotected synnefo:network:u-1:limited":                               ProfileLimited,
	} {
		e.Tags = ganeti.ParseTags(tags)
		if got := ProfileOf(e); got != want {
			t.Errorf("ProfileOf(%q) = %q, want %q", tags, got, want)
		}
	}
}

func TestParseTable(t *testing.T) {
	names := ParseRTTables(strings.NewReader("# comment\n255\tlocal\n254 main\n100 routed_net # x\n0x10 hex\nbad\n"))
	for link, want := range map[string]int{"100": 100, "routed_net": 100, "hex": 16, "4000000000": 4000000000} {
		if got, err := ParseTable(link, names); err != nil || got != want {
			t.Errorf("ParseTable(%q) = %d, %v; want %d", link, got, err, want)
		}
	}
	for _, link := range []string{"", "main", "local", "254", "0", "nope", "-1"} {
		if _, err := ParseTable(link, names); !errors.Is(err, ErrNoTable) {
			t.Errorf("ParseTable(%q): %v, want ErrNoTable", link, err)
		}
	}
}

func TestSameNIC(t *testing.T) {
	a := NICID{Tap: "tap1", Instance: "vm1", UUID: "u1", Index: 0}
	for _, tc := range []struct {
		b    NICID
		same bool
	}{
		{NICID{Tap: "tap9", Instance: "vm1", UUID: "u1", Index: 3}, true},
		{NICID{Tap: "tap1", Instance: "vm2", UUID: "u1"}, false},
		{NICID{Tap: "tap1", Instance: "vm1", UUID: "u2"}, false},
		{NICID{Tap: "tap1", Instance: "vm1", Index: 0}, false},
	} {
		if got := a.SameNIC(tc.b); got != tc.same {
			t.Errorf("SameNIC(%+v) = %v", tc.b, got)
		}
	}
	if !(NICID{Instance: "v", Index: 2}).SameNIC(NICID{Instance: "v", Index: 2}) {
		t.Error("index match without UUIDs")
	}
}

func TestCompleteUplink(t *testing.T) {
	e := env(t, routed, nil)
	p, err := Build(Input{Env: e, Network: e.Network, Options: testOptions(), Facts: noUplink(routedFacts("tap1", 100), LinkFacts{})})
	if err != nil {
		t.Fatal(err)
	}
	h := p.Host
	if len(h.UplinkPending) != 2 || len(h.Announce) != 0 || len(h.ProxyNeighs) != 0 {
		t.Fatalf("plan without uplink: pending %v, announce %v, proxies %v", h.UplinkPending, h.Announce, h.ProxyNeighs)
	}
	// Nothing known yet: nothing changes.
	same, added := CompleteUplink(h, "", "")
	if len(same.UplinkPending) != 2 || len(added.Announce)+len(added.ProxyNeighs) != 0 || added.Tap.Name != "tap1" {
		t.Fatalf("CompleteUplink without uplinks: %+v, %+v", same, added)
	}
	// IPv6 first, then IPv4: the result equals a plan made with both.
	half, added := CompleteUplink(h, "", "eth1")
	if len(half.UplinkPending) != 1 || !half.UplinkPending[0].Addr.Is4() || len(added.ProxyNeighs) != 1 || len(added.Announce) != 1 {
		t.Fatalf("IPv6 completion: %+v, added %+v", half, added)
	}
	full, added := CompleteUplink(half, "eth1", "")
	if len(added.Announce) != 1 || added.Announce[0].Kind != GratuitousARP || len(added.ProxyNeighs) != 0 {
		t.Fatalf("IPv4 completion added %+v", added)
	}
	want, err := Build(Input{Env: e, Network: e.Network, Options: testOptions(), Facts: routedFacts("tap1", 100)})
	if err != nil {
		t.Fatal(err)
	}
	sortHost := func(h Host) string {
		slices.SortFunc(h.Announce, func(a, b Announce) int { return strings.Compare(string(a.Kind), string(b.Kind)) })
		b, _ := json.Marshal(Plan{Host: h})
		return string(b)
	}
	if got, w := sortHost(full), sortHost(want.Host); got != w {
		t.Fatalf("completed host\n%s\nwant\n%s", got, w)
	}
	if s := (UplinkPending{Addr: h.UplinkPending[1].Addr}).Steps(); s != "proxy NDP and unsolicited NA" {
		t.Fatalf("Steps = %q", s)
	}
}
