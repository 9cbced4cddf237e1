package hostnet

import (
	"bytes"
	"encoding/json"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/diktyo/diktyo/pkg/jsonx"
	"github.com/diktyo/diktyo/pkg/netplan"
)

func encodeApplied(a *Applied, indent string) ([]byte, error) {
	w := jsonx.NewWriter(nil, indent)
	a.AppendJSON(w)
	return w.Bytes(), w.Err()
}

func decodeApplied(data []byte) (*Applied, error) {
	var a Applied
	r := jsonx.NewReader(data)
	if err := a.DecodeJSON(r); err != nil {
		return nil, err
	}
	return &a, r.End()
}

func testApplieds() map[string]*Applied {
	eui := netip.MustParseAddr("2001:db8:100:0:a800:1ff:fe00:1")
	return map[string]*Applied{
		"every field": {
			Tap: TapChange{Name: "tap0", Index: 7, PrevMAC: net.HardwareAddr{2, 0x35, 0x6d, 0xf2, 0xdd, 0x19}, PrevMTU: 1500,
				SetUp: true, Attached: "br0", PrevMaster: "br1"},
			Sysctls: []SysctlChange{{Key: "net/ipv4/conf/tap0/proxy_arp", Value: "1", Prev: "0"},
				{Key: "net/ipv6/conf/tap0/proxy_ndp", Value: "1", Prev: ""}},
			Rules: []netplan.Rule{{Family: 4, IIF: "tap0", Table: 100, Priority: 32000}, {Family: 6, IIF: "tap0", Table: 100}},
			Routes: []netplan.Route{{Dst: netip.MustParsePrefix("198.18.1.3/32"), Dev: "tap0", Table: 100},
				{Dst: netip.PrefixFrom(eui, 128), Dev: "tap0", Table: 254}},
			ProxyNeighs: []netplan.ProxyNeigh{{Addr: eui, Dev: "eth1"}, {Addr: netip.MustParseAddr("fe80::1%eth1"), Dev: "eth1"}},
			OVS:         &netplan.OVSPort{Bridge: "ovsbr0", Tag: 3, Trunks: []int{4, 5}},
			OVSFlows:    "ovsbr0",
		},
		"routed": {
			Tap:         TapChange{Name: "tb1", Index: 7, PrevMAC: net.HardwareAddr{2, 0x35, 0x6d, 0xf2, 0xdd, 0x19}},
			Sysctls:     []SysctlChange{{Key: "net/ipv4/conf/tb1/proxy_arp", Value: "1", Prev: "0"}},
			Rules:       []netplan.Rule{{Family: 4, IIF: "tb1", Table: 100, Priority: 32000}},
			Routes:      []netplan.Route{{Dst: netip.MustParsePrefix("198.18.1.3/32"), Dev: "tb1", Table: 100}},
			ProxyNeighs: []netplan.ProxyNeigh{{Addr: eui, Dev: "up1"}},
		},
		"bridged": {Tap: TapChange{Name: "tap1", Index: 12, PrevMTU: 1500, SetUp: true, Attached: "gntbr0"}},
		"ovs":     {Tap: TapChange{Name: "tap2"}, OVS: &netplan.OVSPort{Bridge: "ovsbr0"}},
		"ovs guard": {Tap: TapChange{Name: "tap2"}, OVS: &netplan.OVSPort{Bridge: "ovsbr0", Guard: &netplan.Filter{
			Tap: "tap2", Mode: netplan.ModeOpenvSwitch, MAC: net.HardwareAddr{0xaa, 0, 0, 0, 0, 1}, AntiSpoof: true}}},
		"escapes": {
			Tap:     TapChange{Name: `<&>"\` + "ελληνικά\u2028", Attached: "br\x01"},
			Sysctls: []SysctlChange{{Key: "k\n", Value: "</script>", Prev: "\t"}},
		},
		"zero": {},
	}
}

func TestAppliedJSONCodec(t *testing.T) {
	for name, a := range testApplieds() {
		t.Run(name, func(t *testing.T) {
			wantCompact, err := json.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			wantIndent, _ := json.MarshalIndent(a, "", "  ")
			for indent, want := range map[string][]byte{"": wantCompact, "  ": wantIndent} {
				got, err := encodeApplied(a, indent)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("indent %q: %v\n got %s\nwant %s", indent, err, got, want)
				}
				back, err := decodeApplied(got)
				if err != nil || !reflect.DeepEqual(back, a) {
					t.Fatalf("decode %s: %v\n got %+v\nwant %+v", got, err, back, a)
				}
			}
		})
	}
}

func TestAppliedJSONErrors(t *testing.T) {
	good, _ := json.Marshal(testApplieds()["every field"])
	swap := func(old, new string) string {
		if !strings.Contains(string(good), old) {
			t.Fatalf("%q not in %s", old, good)
		}
		return strings.Replace(string(good), old, new, 1)
	}
	for name, in := range map[string]string{
		"empty":          ``,
		"array":          `[{}]`,
		"tap string":     `{"tap":"tap0"}`,
		"index float":    swap(`"index":7`, `"index":7.0`),
		"index overflow": swap(`"index":7`, `"index":92233720368547758070`),
		"bad base64":     swap(`"prev_mac":"AjVt8t0Z"`, `"prev_mac":"AjVt8t0"`),
		"set_up number":  swap(`"set_up":true`, `"set_up":1`),
		"sysctls object": swap(`"sysctls":[`, `"sysctls":{"a":[`),
		"prev number":    swap(`"prev":"0"`, `"prev":0`),
		"bad prefix":     swap(`"198.18.1.3/32"`, `"198.18.1.3/99"`),
		"bad address":    swap(`"fe80::1%eth1"`, `"fe80::1%"`),
		"ovs string":     swap(`"ovs":{`, `"ovs":"x","y":{`),
		"trunk float":    swap(`[4,5]`, `[4,5.5]`),
		"truncated":      string(good[:len(good)-2]),
		"trailing":       string(good) + ",",
		"nested garbage": swap(`"tap":{`, `"zzz":[{"a":[}]],"tap":{`),
	} {
		if _, err := decodeApplied([]byte(in)); err == nil {
			t.Errorf("%s: accepted %s", name, in)
		}
		var a Applied
		if err := json.Unmarshal([]byte(in), &a); err == nil {
			t.Errorf("%s: encoding/json accepts %s", name, in)
		}
	}
}
