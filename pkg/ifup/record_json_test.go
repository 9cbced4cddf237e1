package ifup

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/hostnet"
	"github.com/diktyo/diktyo/pkg/netplan"
)

// fixture is a record written by diktyo-ifup before the codec (encoding/json
// MarshalIndent), copied from a benchmark host's state directory.
const fixture = "testdata/record-routed.json"

// refPlan is a netplan.Plan with the reflection-based JSON methods Plan had
// before the codec; refRecord is a Record holding one. encoding/json on a
// refRecord is the reference the codec must match.
type refPlan netplan.Plan

func (p refPlan) MarshalJSON() ([]byte, error) {
	type plain netplan.Plan
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
	type plain netplan.Plan
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

type refRecord struct {
	Version     int             `json:"version"`
	NIC         netplan.NICID   `json:"nic"`
	TapIndex    int             `json:"tap_index"`
	Plan        *refPlan        `json:"plan"`
	HostApplied json.RawMessage `json:"host_applied,omitempty"`
	Complete    bool            `json:"complete"`
	Updated     time.Time       `json:"updated"`
}

func refOf(r *Record) *refRecord {
	return &refRecord{Version: r.Version, NIC: r.NIC, TapIndex: r.TapIndex, Plan: (*refPlan)(r.Plan),
		HostApplied: r.HostApplied, Complete: r.Complete, Updated: r.Updated}
}

func (r *refRecord) record() Record {
	return Record{Version: r.Version, NIC: r.NIC, TapIndex: r.TapIndex, Plan: (*netplan.Plan)(r.Plan),
		HostApplied: r.HostApplied, Complete: r.Complete, Updated: r.Updated}
}

// TestRefRecordMirrorsRecord keeps refRecord in step with Record.
func TestRefRecordMirrorsRecord(t *testing.T) {
	a, b := reflect.TypeFor[Record](), reflect.TypeFor[refRecord]()
	if a.NumField() != b.NumField() {
		t.Fatalf("Record has %d fields, refRecord %d", a.NumField(), b.NumField())
	}
	for i := range a.NumField() {
		fa, fb := a.Field(i), b.Field(i)
		if fa.Name != fb.Name || fa.Tag != fb.Tag || fa.Type != fb.Type && fa.Name != "Plan" {
			t.Fatalf("field %d: %v vs %v", i, fa, fb)
		}
	}
}

// refDecode decodes data as encoding/json decoded records before the codec.
func refDecode(data []byte) (Record, error) {
	var ref refRecord
	if err := json.Unmarshal(data, &ref); err != nil {
		return Record{}, err
	}
	return ref.record(), nil
}

// refEncode encodes r as diktyo-ifup did before the codec.
func refEncode(r *Record) ([]byte, error) {
	b, err := json.MarshalIndent(refOf(r), "", "  ")
	return append(b, '\n'), err
}

// compactApplied returns r with HostApplied compacted: its layout changes
// when a record is written (re-indented) and read (kept as in the file).
func compactApplied(t testing.TB, r Record) Record {
	t.Helper()
	if r.HostApplied != nil {
		var b bytes.Buffer
		if err := json.Compact(&b, r.HostApplied); err != nil {
			t.Fatal(err)
		}
		r.HostApplied = b.Bytes()
	}
	return r
}

func mustBinding(t testing.TB, tap, text string) *binding.Binding {
	t.Helper()
	b, err := binding.Parse(tap, strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureRecord is what the fixture holds.
func fixtureRecord(t testing.TB) Record {
	eui := netip.MustParseAddr("2001:db8:100:0:a800:1ff:fe00:1")
	v4 := netip.MustParseAddr("198.18.1.3")
	routes := []netplan.Route{{Dst: netip.PrefixFrom(v4, 32), Dev: "tb1", Table: 100}, {Dst: netip.PrefixFrom(eui, 128), Dev: "tb1", Table: 100}}
	nic := netplan.NICID{Tap: "tb1", Instance: "vm1.example.org", UUID: "00000000-0000-4000-8000-000000000001"}
	applied := hostnet.Applied{
		Tap:         hostnet.TapChange{Name: "tb1", Index: 7, PrevMAC: net.HardwareAddr{0x02, 0x35, 0x6d, 0xf2, 0xdd, 0x19}},
		Sysctls:     []hostnet.SysctlChange{{Key: "net/ipv4/conf/tb1/proxy_arp", Value: "1", Prev: "0"}},
		Rules:       []netplan.Rule{{Family: 4, IIF: "tb1", Table: 100, Priority: 32000}, {Family: 6, IIF: "tb1", Table: 100, Priority: 32000}},
		Routes:      routes,
		ProxyNeighs: []netplan.ProxyNeigh{{Addr: eui, Dev: "up1"}},
	}
	return Record{
		Version: 1, NIC: nic, TapIndex: 7, Complete: true,
		Updated: time.Date(2026, 11, 27, 15, 38, 1, 837222102, time.UTC),
		Plan: &netplan.Plan{
			NIC: nic, Mode: netplan.ModeRouted,
			Host: netplan.Host{
				Tap: netplan.Tap{Name: "tb1", MAC: net.HardwareAddr{0xcc, 0x47, 0x52, 0x4e, 0x45, 0x54}},
				Sysctls: []netplan.Sysctl{{Key: "net/ipv4/conf/tb1/proxy_arp", Value: "1"},
					{Key: "net/ipv6/conf/tb1/proxy_ndp", Value: "0"}},
				Rules:       []netplan.Rule{{Family: 4, IIF: "tb1", Table: 100}, {Family: 6, IIF: "tb1", Table: 100}},
				Routes:      routes,
				ProxyNeighs: []netplan.ProxyNeigh{{Addr: eui, Dev: "up1"}},
				Announce: []netplan.Announce{{Kind: netplan.GratuitousARP, Addr: v4, Dev: "up1"},
					{Kind: netplan.UnsolicitedNA, Addr: eui, Dev: "up1"}},
			},
			Filter: netplan.Filter{
				Tap: "tb1", Mode: netplan.ModeRouted, MAC: net.HardwareAddr{0xaa, 0, 1, 0, 0, 1}, AntiSpoof: true,
				IPv4: []netip.Addr{v4}, IPv6: []netip.Addr{eui}, LinkLocal6: true, Profile: netplan.ProfileProtected,
				ARPGateway: netip.MustParseAddr("198.18.0.1"), Queues: &netplan.Queues{DHCP: 42, DHCPv6: 45, RS: 43, NS: 44},
			},
			Binding: mustBinding(t, "tb1", "INDEV=tb1\nIP=198.18.1.3\nMAC=aa:00:01:00:00:01\nHOSTNAME=vm1.example.org\n"+
				"TAGS=\"synnefo:network:0:protected\"\nGATEWAY=198.18.0.1\nSUBNET=198.18.0.0/16\nGATEWAY6=2001:db8:100::1\n"+
				"SUBNET6=2001:db8:100::/64\nEUI64=2001:db8:100:0:a800:1ff:fe00:1\nPRIVATE=1\n"),
		},
		HostApplied: encodeApplied(&applied),
	}
}

// testRecords are records of every kind of NIC, complete or not, with
// and without host_applied, and with strings that need escapes.
func testRecords(t testing.TB) map[string]Record {
	routed := fixtureRecord(t)

	incomplete := fixtureRecord(t)
	incomplete.Complete, incomplete.HostApplied = false, nil

	nullApplied := fixtureRecord(t)
	nullApplied.HostApplied = json.RawMessage("null")

	onDisk := fixtureRecord(t)
	onDisk.HostApplied = json.RawMessage("{\n    \"tap\": {\n      \"name\": \"tb1\",\n      \"index\": 7\n    },\r\n\t\"rules\" : [ ]\n  }")

	escapes := fixtureRecord(t)
	escapes.NIC.Instance = `<&>"\ ελληνικά` + "\u2028\x01\x7f😀"
	escapes.NIC.Name = "nic\t0"
	escapes.Plan.NIC = escapes.NIC
	escapes.Plan.Host.Sysctls[0].Value = "</script>"
	escapes.HostApplied = encodeApplied(&hostnet.Applied{Tap: hostnet.TapChange{Name: "<tb1>&", Attached: "br\u2029"},
		Sysctls: []hostnet.SysctlChange{{Key: `"k"`, Value: "\\", Prev: "\n"}}})
	escapes.Updated = time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("", 5*3600+30*60))

	bridgedNIC := netplan.NICID{Tap: "tap0", Instance: "kvm1.ganeti.test", UUID: "2307dc9d-3ef4-4362-a6c4-a164039a76a6", Name: "nic0"}
	bridgedApplied := hostnet.Applied{Tap: hostnet.TapChange{Name: "tap0", Index: 10, PrevMTU: 1500, SetUp: true, Attached: "gntbr0"}}
	bridged := Record{
		Version: 1, NIC: bridgedNIC, TapIndex: 10, Complete: true, Updated: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
		Plan: &netplan.Plan{
			NIC: bridgedNIC, Mode: netplan.ModeBridged,
			Host: netplan.Host{Tap: netplan.Tap{Name: "tap0", MTU: 9000, Master: "gntbr0"}},
			Filter: netplan.Filter{Tap: "tap0", Mode: netplan.ModeBridged, Bridge: "gntbr0", MAC: net.HardwareAddr{0xaa, 0, 0, 0x0d, 0xf1, 0x78},
				AntiSpoof: true, IPv4: []netip.Addr{netip.MustParseAddr("198.51.100.2")},
				MACFilter: &netplan.MACFilter{Prefix: net.HardwareAddr{0xaa, 0, 0, 0, 0, 0}, Mask: net.HardwareAddr{0xff, 0xff, 0xf0, 0, 0, 0}},
				Queues:    &netplan.Queues{DHCP: 42, DHCPv6: 45, RS: 43, NS: 44, Bypass: true}},
			Binding: mustBinding(t, "tap0", "INDEV=gntbr0\nIP=198.51.100.2\nMAC=aa:00:00:0d:f1:78\nHOSTNAME=kvm1.ganeti.test\nMTU=9000\n"),
		},
		HostApplied: encodeApplied(&bridgedApplied),
	}

	ovsNIC := netplan.NICID{Tap: "tap2", Instance: "kvm3", Index: 1}
	ovsApplied := hostnet.Applied{Tap: hostnet.TapChange{Name: "tap2", Index: 4, SetUp: true}, OVS: &netplan.OVSPort{Bridge: "ovsbr0", Tag: 10, Trunks: []int{20, 30}}}
	ovs := Record{
		Version: 1, NIC: ovsNIC, TapIndex: 4, Updated: time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC),
		Plan: &netplan.Plan{
			NIC: ovsNIC, Mode: netplan.ModeOpenvSwitch,
			Host:   netplan.Host{Tap: netplan.Tap{Name: "tap2"}, OVS: &netplan.OVSPort{Bridge: "ovsbr0", Tag: 10, Trunks: []int{20, 30}}},
			Filter: netplan.Filter{Tap: "tap2", Mode: netplan.ModeOpenvSwitch, LinkLocal6: true},
		},
		HostApplied: encodeApplied(&ovsApplied),
	}

	return map[string]Record{
		"routed complete":     routed,
		"routed incomplete":   incomplete,
		"host_applied null":   nullApplied,
		"host_applied layout": onDisk,
		"escapes":             escapes,
		"bridged":             bridged,
		"openvswitch":         ovs,
		"no plan":             {Version: 1, NIC: netplan.NICID{Tap: "tap9"}},
	}
}

func TestRecordJSON(t *testing.T) {
	for name, rec := range testRecords(t) {
		t.Run(name, func(t *testing.T) {
			want, err := refEncode(&rec)
			if err != nil {
				t.Fatal(err)
			}
			got, err := encodeRecord(&rec)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("encode: %v\n got %s\nwant %s", err, got, want)
			}
			// The same bytes whatever path encodes a Record (show uses
			// encoding/json; Plan's MarshalJSON is the codec).
			viaJSON, err := json.MarshalIndent(&rec, "", "  ")
			if err != nil || !bytes.Equal(append(viaJSON, '\n'), want) {
				t.Fatalf("json.MarshalIndent: %v\n%s", err, viaJSON)
			}
			compact, err := json.Marshal(refOf(&rec))
			if err != nil {
				t.Fatal(err)
			}
			for _, data := range [][]byte{got, compact} {
				back, err := decodeRecord(data)
				if err != nil {
					t.Fatalf("decode %s: %v", data, err)
				}
				ref, err := refDecode(data)
				if err != nil || !reflect.DeepEqual(back, ref) {
					t.Fatalf("decode %s: %v\n got %+v\nwant %+v", data, err, back, ref)
				}
				if !reflect.DeepEqual(compactApplied(t, back), compactApplied(t, rec)) {
					t.Fatalf("round trip:\n got %+v\nwant %+v", back, rec)
				}
			}
		})
	}
}

// TestRecordFixture: a record file written before the codec reads as
// encoding/json read it and is written back byte for byte.
func TestRecordFixture(t *testing.T) {
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeRecord(data)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := refDecode(data)
	if err != nil || !reflect.DeepEqual(got, ref) {
		t.Fatalf("%v\n got %+v\nwant %+v", err, got, ref)
	}
	if want := fixtureRecord(t); !reflect.DeepEqual(compactApplied(t, got), want) {
		t.Fatalf("\n got %+v\nwant %+v", got, want)
	}
	again, err := encodeRecord(&got)
	if err != nil || !bytes.Equal(again, data) {
		t.Fatalf("re-encoded differs: %v\n%s", err, again)
	}
	a, err := AppliedOf(netplan.Host{}, 0, got.HostApplied)
	var want hostnet.Applied
	if json.Unmarshal(got.HostApplied, &want) != nil || err != nil || !reflect.DeepEqual(a, want) {
		t.Fatalf("AppliedOf: %v\n got %+v\nwant %+v", err, a, want)
	}
}

func TestStoreRoundTrip(t *testing.T) {
	st := store{dir: t.TempDir()}
	for name, rec := range testRecords(t) {
		if rec.Plan == nil {
			continue
		}
		if err := st.write(&rec); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		data, _ := os.ReadFile(st.recordPath(rec.NIC.Tap))
		if want, _ := refEncode(&rec); !bytes.Equal(data, want) {
			t.Fatalf("%s: file\n%s\nwant\n%s", name, data, want)
		}
		back, err := st.read(rec.NIC.Tap)
		if err != nil || !reflect.DeepEqual(compactApplied(t, *back), compactApplied(t, rec)) {
			t.Fatalf("%s: read %v\n got %+v\nwant %+v", name, err, back, rec)
		}
	}
	bad := fixtureRecord(t)
	bad.Updated = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := st.write(&bad); err == nil {
		t.Fatal("wrote a time RFC 3339 cannot hold")
	}
	bad = fixtureRecord(t)
	bad.HostApplied = json.RawMessage(`{"tap":`)
	if err := st.write(&bad); err == nil {
		t.Fatal("wrote invalid host_applied")
	}
}

// TestStoreReadBad: every record that does not parse, or is not one this
// version wrote for this tap, is ErrBadRecord.
func TestStoreReadBad(t *testing.T) {
	good, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	swap := func(old, new string) []byte {
		if !bytes.Contains(good, []byte(old)) {
			t.Fatalf("%q not in the fixture", old)
		}
		return bytes.Replace(good, []byte(old), []byte(new), 1)
	}
	for name, data := range map[string][]byte{
		"empty":              nil,
		"white space":        []byte(" \n"),
		"null":               []byte("null"),
		"array":              []byte("[]"),
		"truncated":          good[:len(good)/3],
		"torn":               good[:len(good)-3],
		"trailing garbage":   append(bytes.Clone(good), "{}"...),
		"version 2":          swap(`"version": 1`, `"version": 2`),
		"version string":     swap(`"version": 1`, `"version": "1"`),
		"version fraction":   swap(`"version": 1`, `"version": 1.0`),
		"other tap":          swap(`"tap": "tb1",`+"\n    \"instance\"", `"tap": "tb2",`+"\n    \"instance\""),
		"no plan":            swap(`"plan": {`, `"plan": null, "x": {`),
		"tap_index overflow": swap(`"tap_index": 7`, `"tap_index": 18446744073709551616`),
		"complete string":    swap(`"complete": true`, `"complete": "yes"`),
		"updated number":     swap(`"updated": "2026-11-27T15:38:01.837222102Z"`, `"updated": 1`),
		"updated bad":        swap(`"updated": "2026-11-27T15:38:01.837222102Z"`, `"updated": "yesterday"`),
		"updated escaped":    swap(`"updated": "2026-11-27T15:38:01.837222102Z"`, `"updated": "2026\u002d11-27T15:38:01Z"`),
		"bad mac":            swap(`"zEdSTkVU"`, `"zEdSTkV"`),
		"bad address":        swap(`"arp_gateway": "198.18.0.1"`, `"arp_gateway": "198.18.0"`),
		"bad binding":        swap(`"binding": "INDEV=tb1\n`, `"binding": "INDEV\n`),
		"host_applied bad":   swap(`"host_applied": {`, `"host_applied": {,`),
		"nested garbage":     swap(`"plan": {`, `"plan": {"x": [[[{]]],`),
	} {
		st := store{dir: t.TempDir()}
		if err := os.WriteFile(st.recordPath("tb1"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		if rec, err := st.read("tb1"); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: %v %+v, want ErrBadRecord", name, err, rec)
		}
	}
}

func TestRecordDecodeErrors(t *testing.T) {
	for _, in := range []string{
		``, `{`, `{"version":`, `{"version":1,}`, `{"nic":[]}`, `{"plan":5}`, `{"plan":"x"}`, `{"plan":[]}`,
		`{"plan":{"nic":{"index":1e400}}}`, `{"host_applied":}`, `{"host_applied":{"a":1}`, `{"complete":null,"updated":{}}`,
		`{"tap_index":-9223372036854775809}`, `{"plan":{"host":{"rules":[{"table":"100"}]}}}`,
		`{"plan":{"filter":{"queues":{"dhcp":1.5}}}}`, `{"plan":{"filter":{"mac_filter":{"mask":"!"}}}}`,
		`{"plan":{"host":{"routes":[{"dst":"198.18.0.0/99"}]}}}`, `{"plan":{"host":{"tap":{"mac":[1,2,300]}}}}`,
		"{\"nic\":{\"tap\":\"a\x00\"}}", `{"unknown":[1,2,{"a":}]}`, `{} {}`,
	} {
		if _, err := decodeRecord([]byte(in)); err == nil {
			t.Errorf("accepted %q", in)
		}
		if _, err := refDecode([]byte(in)); err == nil {
			t.Errorf("encoding/json accepts %q", in)
		}
	}
}

func TestSamePlan(t *testing.T) {
	a, b := fixtureRecord(t).Plan, fixtureRecord(t).Plan
	other := fixtureRecord(t).Plan
	other.Filter.Queues.Bypass = true
	noBinding := fixtureRecord(t).Plan
	noBinding.Binding = nil
	oldSame := func(x, y *netplan.Plan) bool {
		bx, err1 := json.Marshal((*refPlan)(x))
		by, err2 := json.Marshal((*refPlan)(y))
		return err1 == nil && err2 == nil && string(bx) == string(by)
	}
	for _, tc := range []struct {
		x, y *netplan.Plan
		want bool
	}{{a, b, true}, {a, other, false}, {a, noBinding, false}, {nil, nil, true}, {a, nil, false}, {nil, b, false}} {
		if got := samePlan(tc.x, tc.y); got != tc.want || got != oldSame(tc.x, tc.y) {
			t.Errorf("samePlan(%p, %p) = %v, want %v", tc.x, tc.y, got, tc.want)
		}
	}
}

func TestHostRecordCodec(t *testing.T) {
	rec := fixtureRecord(t)
	data, _ := os.ReadFile(fixture)
	onDisk, err := decodeRecord(data)
	if err != nil {
		t.Fatal(err)
	}
	bridged := hostnet.Applied{Tap: hostnet.TapChange{Name: "tb1", Index: 7, SetUp: true, Attached: "br0", PrevMaster: "br1"},
		OVS: &netplan.OVSPort{Bridge: "ovsbr0", Trunks: []int{1}}}
	for _, tc := range []struct {
		name     string
		old, new json.RawMessage
	}{
		{"compact", rec.HostApplied, encodeApplied(&bridged)},
		{"indented", onDisk.HostApplied, encodeApplied(&bridged)},
		{"null", json.RawMessage("null"), rec.HostApplied},
	} {
		var a, b hostnet.Applied
		if json.Unmarshal(tc.old, &a) != nil || json.Unmarshal(tc.new, &b) != nil {
			t.Fatal(tc.name)
		}
		got, err := AppliedOf(netplan.Host{}, 0, tc.old)
		if err != nil || !reflect.DeepEqual(got, a) {
			t.Fatalf("%s: AppliedOf %v\n got %+v\nwant %+v", tc.name, err, got, a)
		}
		merged, err := HostnetAdapter{}.Merge(tc.old, tc.new)
		want, _ := json.Marshal(a.Merge(b))
		if err != nil || !bytes.Equal(merged, want) {
			t.Fatalf("%s: Merge %v\n got %s\nwant %s", tc.name, err, merged, want)
		}
	}
	for _, bad := range []string{``, `{"tap":`, `[]`, `{"tap":{"index":"7"}}`, `{} x`} {
		if _, err := AppliedOf(netplan.Host{}, 0, json.RawMessage(bad)); !errors.Is(err, ErrBadRecord) {
			t.Errorf("AppliedOf(%q): %v", bad, err)
		}
		if _, err := (HostnetAdapter{}).Merge(rec.HostApplied, json.RawMessage(bad)); !errors.Is(err, ErrBadRecord) {
			t.Errorf("Merge(%q): %v", bad, err)
		}
	}
}
