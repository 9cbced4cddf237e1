package ifup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/hostnet"
	"github.com/diktyo/diktyo/pkg/ifupconf"
	"github.com/diktyo/diktyo/pkg/mac"
	"github.com/diktyo/diktyo/pkg/netplan"
)

// v1Fixture is a record written by diktyo-ifup's record version 1 (before
// the move to encoding/json: MACs in base64, the NIC inside the plan
// again), what down must remove for it, and a MAC it holds.
type v1Fixture struct {
	file, tap string
	index     int
	// applied is what the host applier must be asked to remove.
	applied hostnet.Applied
	// filter is the tap, mode and MAC of the filter to remove.
	filter  netplan.Filter
	binding bool
	// macs are MACs that must appear, as text, in the rewritten record.
	macs []string
}

func v1Fixtures() []v1Fixture {
	eui1 := netip.MustParseAddr("2001:db8:100:0:a800:1ff:fe00:1")
	v41 := netip.MustParseAddr("198.18.1.3")
	routes1 := []netplan.Route{{Dst: netip.PrefixFrom(v41, 32), Dev: "tb1", Table: 100}, {Dst: netip.PrefixFrom(eui1, 128), Dev: "tb1", Table: 100}}
	rules1 := []netplan.Rule{{Family: 4, IIF: "tb1", Table: 100, Priority: 32000}, {Family: 6, IIF: "tb1", Table: 100, Priority: 32000}}
	eui3 := netip.MustParseAddr("2001:db8:100:0:a800:1ff:fe00:3")
	v43 := netip.MustParseAddr("198.18.1.5")
	guard := netplan.Filter{Tap: "tap2", Mode: netplan.ModeOpenvSwitch, Bridge: "ovsbr0",
		MAC: mac.Addr{0xaa, 0, 0, 0x3c, 0x11, 0x02}, TapMAC: mac.Addr{0xfe, 0x54, 0, 0x3c, 0x11, 0x02},
		AntiSpoof: true, IPv4: []netip.Addr{netip.MustParseAddr("198.51.100.7")},
		IPv6: []netip.Addr{netip.MustParseAddr("2001:db8:7::a800:ff:fe3c:1102")}, LinkLocal6: true,
		RouterLL6: netip.MustParseAddr("fe80::1"), Queues: &netplan.Queues{DHCP: 42, DHCPv6: 45, RS: 43, NS: 44}}
	return []v1Fixture{{
		file: "record-routed.json", tap: "tb1", index: 7, binding: true,
		applied: hostnet.Applied{
			Tap:         hostnet.TapChange{Name: "tb1", Index: 7, PrevMAC: mac.Addr{0x02, 0x35, 0x6d, 0xf2, 0xdd, 0x19}},
			Sysctls:     []hostnet.SysctlChange{{Key: "net/ipv4/conf/tb1/proxy_arp", Value: "1", Prev: "0"}},
			Rules:       rules1,
			Routes:      routes1,
			ProxyNeighs: []netplan.ProxyNeigh{{Addr: eui1, Dev: "up1"}},
		},
		filter: netplan.Filter{Tap: "tb1", Mode: netplan.ModeRouted, MAC: mac.Addr{0xaa, 0, 1, 0, 0, 1}},
		macs:   []string{"cc:47:52:4e:45:54", "aa:00:01:00:00:01", "02:35:6d:f2:dd:19"},
	}, {
		// Interrupted up: no host record; down removes what the plan lists.
		file: "record-routed-incomplete.json", tap: "tb1", index: 7, binding: true,
		applied: hostnet.Applied{
			Tap: hostnet.TapChange{Name: "tb1", Index: 7}, Rules: rules1, Routes: routes1,
			ProxyNeighs: []netplan.ProxyNeigh{{Addr: eui1, Dev: "up1"}},
		},
		filter: netplan.Filter{Tap: "tb1", Mode: netplan.ModeRouted, MAC: mac.Addr{0xaa, 0, 1, 0, 0, 1}},
		macs:   []string{"cc:47:52:4e:45:54", "aa:00:01:00:00:01"},
	}, {
		file: "record-bridged.json", tap: "tap0", index: 10, binding: true,
		applied: hostnet.Applied{Tap: hostnet.TapChange{Name: "tap0", Index: 10, PrevMTU: 1500, SetUp: true, Attached: "gntbr0"}},
		filter:  netplan.Filter{Tap: "tap0", Mode: netplan.ModeBridged, MAC: mac.Addr{0xaa, 0, 0, 0x0d, 0xf1, 0x78}},
		macs:    []string{"aa:00:00:0d:f1:78", "ff:ff:f0:00:00:00"},
	}, {
		file: "record-openvswitch.json", tap: "tap2", index: 4, binding: true,
		applied: hostnet.Applied{Tap: hostnet.TapChange{Name: "tap2", Index: 4, SetUp: true},
			OVS: &netplan.OVSPort{Bridge: "ovsbr0", Tag: 10, Trunks: []int{20, 30}, Guard: &guard}, OVSFlows: "ovsbr0"},
		filter: guard,
		macs:   []string{"aa:00:00:3c:11:02", "fe:54:00:3c:11:02"},
	}, {
		file: "record-uplink-pending.json", tap: "tb3", index: 9, binding: true,
		applied: hostnet.Applied{
			Tap:     hostnet.TapChange{Name: "tb3", Index: 9, PrevMAC: mac.Addr{0x02, 0x35, 0x6d, 0xf2, 0xdd, 0x1b}, SetUp: true},
			Sysctls: []hostnet.SysctlChange{{Key: "net/ipv4/conf/tb3/proxy_arp", Value: "1", Prev: "0"}},
			Rules: []netplan.Rule{{Family: 4, Mark: 0xd1d10064, Table: 100, Priority: 32000},
				{Family: 6, Mark: 0xd1d10064, Table: 100, Priority: 32000}},
			Routes: []netplan.Route{{Dst: netip.PrefixFrom(v43, 32), Dev: "tb3", Table: 100}, {Dst: netip.PrefixFrom(eui3, 128), Dev: "tb3", Table: 100}},
		},
		filter: netplan.Filter{Tap: "tb3", Mode: netplan.ModeRouted, MAC: mac.Addr{0xaa, 0, 1, 0, 0, 3}},
		macs:   []string{"aa:00:01:00:00:03", "02:35:6d:f2:dd:1b"},
	}}
}

// TestRecordV1Fixtures: records of today's diktyo-ifup (version 1) read,
// and what is written back for them (version 2) reads as the same record.
func TestRecordV1Fixtures(t *testing.T) {
	for _, fx := range v1Fixtures() {
		t.Run(fx.file, func(t *testing.T) {
			st := store{dir: t.TempDir()}
			data, err := os.ReadFile(filepath.Join("testdata", fx.file))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(data, []byte(`"version": 1`)) {
				t.Fatal("not a version 1 record")
			}
			if err := os.WriteFile(st.recordPath(fx.tap), data, 0o600); err != nil {
				t.Fatal(err)
			}
			old, err := st.read(fx.tap)
			if err != nil {
				t.Fatal(err)
			}
			if old.NIC.Tap != fx.tap || old.Plan.NIC != old.NIC || old.TapIndex != fx.index ||
				(old.Plan.Binding != nil) != fx.binding || old.Updated.IsZero() {
				t.Fatalf("read %+v", old)
			}
			if got := old.Plan.Filter; got.Tap != fx.filter.Tap || got.Mode != fx.filter.Mode || !bytes.Equal(got.MAC, fx.filter.MAC) {
				t.Fatalf("filter %+v, want %+v", got, fx.filter)
			}
			if err := st.write(old); err != nil {
				t.Fatal(err)
			}
			out, err := os.ReadFile(st.recordPath(fx.tap))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(out, []byte(`"version": 2`)) || bytes.Count(out, []byte(`"nic":`)) != 1 || len(out) >= len(data) {
				t.Fatalf("rewritten (%d bytes, was %d):\n%s", len(out), len(data), out)
			}
			t.Logf("version 2: %d bytes, version 1: %d", len(out), len(data))
			for _, m := range fx.macs {
				if !bytes.Contains(out, []byte(`"`+m+`"`)) {
					t.Errorf("MAC %s not written as text:\n%s", m, out)
				}
			}
			back, err := st.read(fx.tap)
			if err != nil {
				t.Fatal(err)
			}
			if !back.Plan.Equal(old.Plan) || back.NIC != old.NIC || back.TapIndex != old.TapIndex ||
				!bytes.Equal(back.HostApplied, old.HostApplied) || back.Complete != old.Complete || !back.Updated.Equal(old.Updated) {
				t.Fatalf("rewritten record reads\n%+v\nwas\n%+v", back, old)
			}
		})
	}
}

// removingHost is a Host that records what Remove is asked to remove, as
// hostnet would see it.
type removingHost struct {
	*fakeHost
	removed []hostnet.Applied
}

func (h *removingHost) Remove(planned netplan.Host, tapIndex int, applied json.RawMessage) error {
	a, err := AppliedOf(planned, tapIndex, applied)
	if err != nil {
		return err
	}
	h.removed = append(h.removed, a)
	return nil
}

// removingFirewall records the filters Remove is given.
type removingFirewall struct {
	*fakeFirewall
	removed []netplan.Filter
}

func (f *removingFirewall) Remove(x netplan.Filter) error {
	f.removed = append(f.removed, x)
	return f.fakeFirewall.Remove(x)
}

// TestDownV1Fixtures: down of a NIC whose record today's diktyo-ifup
// wrote removes exactly what the record describes: the host objects, the
// filter, the binding and the record.
func TestDownV1Fixtures(t *testing.T) {
	for _, fx := range v1Fixtures() {
		t.Run(fx.file, func(t *testing.T) {
			dir := t.TempDir()
			cfg := ifupconf.Default()
			cfg.StateDir = filepath.Join(dir, "state")
			cfg.NFDHCPDStateDir = filepath.Join(dir, "nfdhcpd")
			host := &removingHost{fakeHost: newFakeHost()}
			fw := &removingFirewall{fakeFirewall: newFakeFirewall()}
			r, err := New(Deps{Config: cfg, Host: host, Firewall: fw, Networks: &fakeNetworks{},
				LockTimeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join("testdata", fx.file))
			if err != nil {
				t.Fatal(err)
			}
			if err := r.st.ensure(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(r.st.recordPath(fx.tap), data, 0o600); err != nil {
				t.Fatal(err)
			}
			rec, err := r.st.read(fx.tap)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(cfg.NFDHCPDStateDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if rec.Plan.Binding != nil {
				if err := binding.WriteFile(cfg.NFDHCPDStateDir, rec.Plan.Binding); err != nil {
					t.Fatal(err)
				}
			}
			other := rec.NIC
			other.Instance += ".other"
			if err := r.Down(context.Background(), fx.tap, &other); !errors.Is(err, ErrNotOwner) {
				t.Fatalf("down as another NIC: %v", err)
			}
			id := rec.NIC
			if err := r.Down(context.Background(), fx.tap, &id); err != nil {
				t.Fatal(err)
			}
			if len(host.removed) != 1 || !reflect.DeepEqual(host.removed[0], fx.applied) {
				t.Fatalf("host removed\n%+v\nwant\n%+v", host.removed, fx.applied)
			}
			if len(fw.removed) != 1 || !fw.removed[0].Equal(&rec.Plan.Filter) {
				t.Fatalf("firewall removed %+v\nwant %+v", fw.removed, rec.Plan.Filter)
			}
			if fx.filter.Mode == netplan.ModeOpenvSwitch && !fw.removed[0].Equal(&fx.filter) {
				t.Fatalf("firewall removed %+v\nwant %+v", fw.removed[0], fx.filter)
			}
			if _, err := os.Stat(filepath.Join(cfg.NFDHCPDStateDir, fx.tap)); fx.binding && !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("binding left: %v", err)
			}
			if r.st.has(fx.tap) {
				t.Fatal("record left")
			}
		})
	}
}

// TestRecordReadBad: a record that does not parse, or that no version of
// diktyo-ifup wrote for this tap, is ErrBadRecord.
func TestRecordReadBad(t *testing.T) {
	good, err := os.ReadFile("testdata/record-routed.json")
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
		"empty":            nil,
		"null":             []byte("null"),
		"array":            []byte("[]"),
		"torn":             good[:len(good)-3],
		"trailing garbage": append(bytes.Clone(good), "{}"...),
		"version 0":        swap(`"version": 1`, `"version": 0`),
		"version 3":        swap(`"version": 1`, `"version": 3`),
		"version string":   swap(`"version": 1`, `"version": "1"`),
		"other tap":        swap(`"tap": "tb1",`+"\n    \"instance\"", `"tap": "tb2",`+"\n    \"instance\""),
		"no plan":          swap(`"plan": {`, `"plan": null, "x": {`),
		"updated bad":      swap(`"updated": "2026-11-27T15:38:01.837222102Z"`, `"updated": "yesterday"`),
		"bad mac":          swap(`"zEdSTkVU"`, `"zEdSTkV"`),
		"bad address":      swap(`"arp_gateway": "198.18.0.1"`, `"arp_gateway": "198.18.0"`),
		"bad binding":      swap(`"binding": "INDEV=tb1\n`, `"binding": "INDEV\n`),
		"host_applied bad": swap(`"host_applied": {`, `"host_applied": {,`),
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

// TestHostRecord: the host record hostnet.Applied goes through JSON
// unchanged, MACs as text; Merge keeps the earlier record's values.
func TestHostRecord(t *testing.T) {
	a := hostnet.Applied{Tap: hostnet.TapChange{Name: "tb1", Index: 7, PrevMAC: mac.Addr{2, 0x35, 0x6d, 0xf2, 0xdd, 0x19}},
		Rules: []netplan.Rule{{Family: 4, IIF: "tb1", Table: 100, Priority: 32000}}}
	b := hostnet.Applied{Tap: hostnet.TapChange{Name: "tb1", Index: 7, SetUp: true},
		OVS: &netplan.OVSPort{Bridge: "ovsbr0", Trunks: []int{1}}}
	ja, err := encodeApplied(&a)
	if err != nil || !strings.Contains(string(ja), `"prev_mac":"02:35:6d:f2:dd:19"`) {
		t.Fatalf("encode: %v %s", err, ja)
	}
	jb, _ := encodeApplied(&b)
	merged, err := HostnetAdapter{}.Merge(ja, jb)
	if err != nil {
		t.Fatal(err)
	}
	got, err := AppliedOf(netplan.Host{}, 0, merged)
	if want := a.Merge(b); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("merged %v\n got %+v\nwant %+v", err, got, want)
	}
	for _, bad := range []string{``, `{"tap":`, `[]`, `{"tap":{"index":"7"}}`, `{} x`} {
		if _, err := AppliedOf(netplan.Host{}, 0, json.RawMessage(bad)); !errors.Is(err, ErrBadRecord) {
			t.Errorf("AppliedOf(%q): %v", bad, err)
		}
		if _, err := (HostnetAdapter{}).Merge(ja, json.RawMessage(bad)); !errors.Is(err, ErrBadRecord) {
			t.Errorf("Merge(%q): %v", bad, err)
		}
	}
}
