package netplan

import (
	"bytes"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/jsonx"
)

// refPlan is a Plan with the reflection-based JSON methods Plan had before
// its hand-written codec: encoding/json on a refPlan is the reference the
// codec must match byte for byte and value for value.
type refPlan Plan

func (p refPlan) MarshalJSON() ([]byte, error) {
	type plain Plan
	aux := struct {
		plain
		Binding string `json:"binding,omitempty"`
	}{plain: plain(p)}
	aux.plain.Binding = nil
	if p.Binding != nil {
		aux.Binding = string(p.Binding.Marshal())
	}
	return json.Marshal(aux)
}

func (p *refPlan) UnmarshalJSON(b []byte) error {
	type plain Plan
	aux := struct {
		*plain
		Binding string `json:"binding"`
	}{plain: (*plain)(p)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	p.Binding = nil
	if aux.Binding != "" {
		bd, err := binding.Parse(p.NIC.Tap, strings.NewReader(aux.Binding))
		if err != nil {
			return err
		}
		p.Binding = bd
	}
	return nil
}

func mustBinding(t testing.TB, tap, text string) *binding.Binding {
	t.Helper()
	b, err := binding.Parse(tap, strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func vmMAC() net.HardwareAddr { return net.HardwareAddr{0xaa, 0, 1, 0, 0, 1} }

func routedPlan(t testing.TB) *Plan {
	tapMAC := net.HardwareAddr{0xcc, 0x47, 0x52, 0x4e, 0x45, 0x54}
	eui := netip.MustParseAddr("2001:db8:100:0:a800:1ff:fe00:1")
	return &Plan{
		NIC:  NICID{Tap: "tb1", Instance: "vm1.example.org", UUID: "00000000-0000-4000-8000-000000000001"},
		Mode: ModeRouted,
		Host: Host{
			Tap:     Tap{Name: "tb1", MAC: tapMAC},
			Sysctls: []Sysctl{{Key: "net/ipv4/conf/tb1/proxy_arp", Value: "1"}, {Key: "net/ipv6/conf/tb1/proxy_ndp", Value: "0"}},
			Rules:   []Rule{{Family: 4, IIF: "tb1", Table: 100}, {Family: 6, IIF: "tb1", Table: 100, Priority: 32000}},
			Routes: []Route{{Dst: netip.MustParsePrefix("198.18.1.3/32"), Dev: "tb1", Table: 100},
				{Dst: netip.PrefixFrom(eui, 128), Dev: "tb1", Table: 100}},
			ProxyNeighs: []ProxyNeigh{{Addr: eui, Dev: "up1"}},
			Announce: []Announce{{Kind: GratuitousARP, Addr: netip.MustParseAddr("198.18.1.3"), Dev: "up1"},
				{Kind: UnsolicitedNA, Addr: eui, Dev: "up1"}},
		},
		Filter: Filter{
			Tap: "tb1", Mode: ModeRouted, MAC: vmMAC(), AntiSpoof: true,
			IPv4: []netip.Addr{netip.MustParseAddr("198.18.1.3")}, IPv6: []netip.Addr{eui}, LinkLocal6: true,
			Profile: ProfileProtected, ARPGateway: netip.MustParseAddr("198.18.0.1"),
			Queues:    &Queues{DHCP: 42, DHCPv6: 45, RS: 43, NS: 44},
			RouterLL6: netip.MustParseAddr("fe80::ce47:52ff:fe4e:4554"),
			TapMAC:    net.HardwareAddr{0xcc, 0x47, 0x52, 0x4e, 0x45, 0x54},
		},
		Binding: mustBinding(t, "tb1", "INDEV=tb1\nIP=198.18.1.3\nMAC=aa:00:01:00:00:01\nHOSTNAME=vm1.example.org\n"+
			"TAGS=\"synnefo:network:0:protected\"\nGATEWAY=198.18.0.1\nSUBNET=198.18.0.0/16\nGATEWAY6=2001:db8:100::1\n"+
			"SUBNET6=2001:db8:100::/64\nEUI64=2001:db8:100:0:a800:1ff:fe00:1\nPRIVATE=1\n"),
	}
}

// testPlans are realistic plans and plans with every optional part, odd
// strings and zero values.
func testPlans(t testing.TB) map[string]*Plan {
	escapes := routedPlan(t)
	escapes.NIC.Instance = `<&>"\ vm ελληνικά` + "\u2028\u2029\x00\x1f\x7f\t\U0001F600"
	escapes.NIC.Name = "nic\n0"
	escapes.NIC.Index = -1
	escapes.Host.Sysctls[0].Value = "a\"b\\c</script>"
	escapes.Filter.Profile = "custom <profile>"
	escapes.Host.ProxyNeighs = append(escapes.Host.ProxyNeighs, ProxyNeigh{Addr: netip.MustParseAddr("fe80::1%up<1>"), Dev: "up1"})
	escapes.Host.Routes[0].Dst = netip.Prefix{}
	escapes.Filter.IPv4 = append(escapes.Filter.IPv4, netip.Addr{})

	noBinding := routedPlan(t)
	noBinding.Binding = nil
	noBinding.Filter.Queues = nil
	noBinding.Filter.ARPGateway = netip.Addr{}

	return map[string]*Plan{
		"routed":     routedPlan(t),
		"escapes":    escapes,
		"no-binding": noBinding,
		"bridged-mac-filter": {
			NIC:  NICID{Tap: "tap0", Instance: "kvm1.ganeti.test", Index: 2, Name: "nic2"},
			Mode: ModeBridged,
			Host: Host{Tap: Tap{Name: "tap0", MTU: 9000, Master: "gntbr0"}},
			Filter: Filter{
				Tap: "tap0", Mode: ModeBridged, Bridge: "gntbr0", MAC: net.HardwareAddr{0xaa, 0, 0, 0x0d, 0xf1, 0x78},
				MACFilter: &MACFilter{Prefix: net.HardwareAddr{0xaa, 0, 0, 0, 0, 0}, Mask: net.HardwareAddr{0xff, 0xff, 0xf0, 0, 0, 0}},
				Profile:   ProfileLimited, Queues: &Queues{DHCP: 65535, Bypass: true},
			},
			Binding: mustBinding(t, "tap0", "INDEV=gntbr0\nIP=198.51.100.23\nMAC=aa:00:00:0d:f1:78\nHOSTNAME=vm23\nMTU=9000\nMACSPOOF=1\n"),
		},
		"bridged-nil-macs": {
			NIC:    NICID{Tap: "tap3", Instance: "i"},
			Mode:   ModeBridged,
			Host:   Host{Tap: Tap{Name: "tap3"}},
			Filter: Filter{Tap: "tap3", Mode: ModeBridged, MACFilter: &MACFilter{}},
		},
		"openvswitch-trunks": {
			NIC:  NICID{Tap: "tap2", Instance: "kvm3", UUID: "2307dc9d-3ef4-4362-a6c4-a164039a76a6"},
			Mode: ModeOpenvSwitch,
			Host: Host{Tap: Tap{Name: "tap2", MTU: 1500}, OVS: &OVSPort{Bridge: "ovsbr0", Tag: 10, Trunks: []int{20, 30, 4094}}},
			Filter: Filter{Tap: "tap2", Mode: ModeOpenvSwitch, MAC: net.HardwareAddr{}, LinkLocal6: true,
				IPv6: []netip.Addr{netip.MustParseAddr("2001:db8::a800:ff:fe0d:f178")}},
		},
		"openvswitch-untagged": {
			NIC:    NICID{Tap: "tap4", Instance: "kvm4"},
			Mode:   ModeOpenvSwitch,
			Host:   Host{Tap: Tap{Name: "tap4"}, OVS: &OVSPort{Bridge: "ovsbr0"}},
			Filter: Filter{Tap: "tap4", Mode: ModeOpenvSwitch, MAC: vmMAC()},
		},
		"zero": {},
	}
}

// marshalCodec returns p through the codec, compact or indented.
func marshalCodec(p *Plan, indent string) ([]byte, error) {
	w := jsonx.NewWriter(nil, indent)
	p.AppendJSON(w)
	return w.Bytes(), w.Err()
}

// decodeCodec decodes a whole input into a fresh plan with the codec.
func decodeCodec(data []byte) (*Plan, error) {
	var p Plan
	r := jsonx.NewReader(data)
	if err := p.DecodeJSON(r); err != nil {
		return nil, err
	}
	return &p, r.End()
}

func TestPlanJSON(t *testing.T) {
	for name, p := range testPlans(t) {
		t.Run(name, func(t *testing.T) {
			wantCompact, err := json.Marshal((*refPlan)(p))
			if err != nil {
				t.Fatal(err)
			}
			wantIndent, err := json.MarshalIndent((*refPlan)(p), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name string
				want []byte
				got  func() ([]byte, error)
			}{
				{"AppendJSON compact", wantCompact, func() ([]byte, error) { return marshalCodec(p, "") }},
				{"AppendJSON indented", wantIndent, func() ([]byte, error) { return marshalCodec(p, "  ") }},
				{"MarshalJSON", wantCompact, p.MarshalJSON},
				{"json.Marshal", wantCompact, func() ([]byte, error) { return json.Marshal(p) }},
				{"json.MarshalIndent", wantIndent, func() ([]byte, error) { return json.MarshalIndent(p, "", "  ") }},
			} {
				got, err := tc.got()
				if err != nil || !bytes.Equal(got, tc.want) {
					t.Fatalf("%s: %v\n got %s\nwant %s", tc.name, err, got, tc.want)
				}
			}
			for _, data := range [][]byte{wantCompact, wantIndent} {
				got, err := decodeCodec(data)
				if err != nil || !reflect.DeepEqual(got, p) {
					t.Fatalf("decode %s: %v\n got %+v\nwant %+v", data, err, got, p)
				}
				var viaJSON Plan
				if err := json.Unmarshal(data, &viaJSON); err != nil || !reflect.DeepEqual(&viaJSON, p) {
					t.Fatalf("json.Unmarshal (UnmarshalJSON) %s: %v\n got %+v", data, err, viaJSON)
				}
				var ref refPlan
				if err := json.Unmarshal(data, &ref); err != nil || !reflect.DeepEqual((*Plan)(&ref), p) {
					t.Fatalf("reference decode %s: %v", data, err)
				}
			}
		})
	}
}

// TestPlanJSONGolden: the golden plans (encoding/json's output before the
// codec) decode as encoding/json decodes them and encode back to the same
// bytes.
func TestPlanJSONGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden plans: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeCodec(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var ref refPlan
		if err := json.Unmarshal(data, &ref); err != nil || !reflect.DeepEqual(got, (*Plan)(&ref)) {
			t.Fatalf("%s: %v\n got %+v\nwant %+v", f, err, got, ref)
		}
		again, err := marshalCodec(got, "  ")
		if err != nil || !bytes.Equal(append(again, '\n'), data) {
			t.Fatalf("%s: re-encoded differs (%v):\n%s", f, err, again)
		}
	}
}

func TestPlanJSONErrors(t *testing.T) {
	good, err := json.Marshal((*refPlan)(routedPlan(t)))
	if err != nil {
		t.Fatal(err)
	}
	swap := func(old, new string) string {
		if !strings.Contains(string(good), old) {
			t.Fatalf("%q not in %s", old, good)
		}
		return strings.Replace(string(good), old, new, 1)
	}
	cases := map[string]string{
		"empty":              ``,
		"not an object":      `[]`,
		"string":             `"plan"`,
		"nic not an object":  swap(`"nic":{`, `"nic":["x"],"x":{`),
		"index string":       swap(`"index":0`, `"index":"0"`),
		"index fraction":     swap(`"index":0`, `"index":0.5`),
		"index exponent":     swap(`"index":0`, `"index":1e2`),
		"index overflow":     swap(`"index":0`, `"index":9223372036854775808`),
		"table overflow":     swap(`"table":100`, `"table":-99999999999999999999`),
		"queue overflow":     swap(`"dhcp":42`, `"dhcp":65536`),
		"queue negative":     swap(`"dhcp":42`, `"dhcp":-1`),
		"queue minus zero":   swap(`"dhcp":42`, `"dhcp":-0`),
		"mode number":        swap(`"mode":"routed"`, `"mode":1`),
		"bad base64":         swap(`"mac":"qgABAAAB"`, `"mac":"qgABAAA!"`),
		"short base64":       swap(`"mac":"qgABAAAB"`, `"mac":"qgABAAA"`),
		"mac object":         swap(`"mac":"qgABAAAB"`, `"mac":{}`),
		"mac byte overflow":  swap(`"mac":"qgABAAAB"`, `"mac":[1,256]`),
		"bad address":        swap(`"198.18.1.3"]`, `"198.18.1.300"]`),
		"address number":     swap(`"198.18.1.3"]`, `4]`),
		"bad prefix":         swap(`"198.18.1.3/32"`, `"198.18.1.3/33"`),
		"prefix no length":   swap(`"198.18.1.3/32"`, `"198.18.1.3"`),
		"bool string":        swap(`"anti_spoof":true`, `"anti_spoof":"true"`),
		"rules object":       swap(`"rules":[`, `"rules":{"x":[`),
		"rule not object":    swap(`"rules":[{`, `"rules":[1,{`),
		"ovs array":          swap(`"host":{`, `"host":{"ovs":[],`),
		"trunk string":       swap(`"host":{`, `"host":{"ovs":{"bridge":"b","trunks":["1"]},`),
		"binding number":     swap(`"binding":"`, `"binding":1,"x":"`),
		"binding invalid":    swap(`"binding":"INDEV=tb1\n`, `"binding":"INDEV=tb1/x\n`),
		"binding no MAC":     swap(`MAC=aa:00:01:00:00:01\n`, ``),
		"unknown garbage":    swap(`"mode":`, `"extra":{"a":[1,2,}],"mode":`),
		"unknown bad escape": swap(`"mode":`, `"extra":"\x","mode":`),
		"trailing":           string(good) + `{}`,
		"truncated":          string(good[:len(good)/2]),
		"unterminated":       string(good[:len(good)-1]),
		"control in string":  swap(`"vm1.example.org"`, "\"vm1\x01\""),
		"nested garbage":     swap(`"host":{`, `"host":{"tap":{"name":{"x":[[[[`),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeCodec([]byte(in)); err == nil {
				t.Fatalf("accepted %s", in)
			}
			var ref refPlan
			if err := json.Unmarshal([]byte(in), &ref); err == nil {
				t.Fatalf("encoding/json accepts %s", in)
			}
		})
	}
	for i := range len(good) {
		if _, err := decodeCodec(good[:i]); err == nil {
			t.Fatalf("accepted truncated %s", good[:i])
		}
	}
}

// TestPlanJSONInvalidUTF8: invalid UTF-8 is written as U+FFFD, so it does
// not survive a round trip, with encoding/json as with the codec.
func TestPlanJSONInvalidUTF8(t *testing.T) {
	p := routedPlan(t)
	p.NIC.Instance = "vm\xff\xc3(\xed\xa0\x80"
	want, _ := json.Marshal((*refPlan)(p))
	got, err := marshalCodec(p, "")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%v\n got %s\nwant %s", err, got, want)
	}
	back, err := decodeCodec(got)
	if err != nil || back.NIC.Instance != "vm\ufffd\ufffd(\ufffd\ufffd\ufffd" {
		t.Fatalf("%v %q", err, back.NIC.Instance)
	}
}

// TestPlanJSONNull: null leaves a plan as encoding/json leaves a struct,
// except that, as before the codec, it has no binding.
func TestPlanJSONNull(t *testing.T) {
	p := routedPlan(t)
	if err := json.Unmarshal([]byte(" null "), p); err != nil || p.Binding != nil || p.NIC.Tap != "tb1" {
		t.Fatalf("null: %v %+v", err, p)
	}
}
