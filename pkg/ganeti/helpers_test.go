package ganeti

import (
	"encoding/json"
	"net/netip"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/diktyo/diktyo/pkg/mac"
)

// testdata is the fixture directory, relative to this package.
const testdata = "../../testdata/ganeti"

func fixture(name string) string { return filepath.Join(testdata, filepath.FromSlash(name)) }

func mustMAC(t testing.TB, s string) mac.Addr {
	t.Helper()
	m, err := mac.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func loadEnv(t testing.TB, name string) []string {
	t.Helper()
	env, err := ReadEnvFile(fixture(name))
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func loadHook(t testing.TB, name string) *HookEnv {
	t.Helper()
	e, err := ParseHookEnv(loadEnv(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return e
}

func loadIfup(t testing.TB, name string) *IfupEnv {
	t.Helper()
	e, err := ParseIfupEnv(loadEnv(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return e
}

// assertEqual compares with reflect.DeepEqual and shows both sides as JSON.
func assertEqual(t testing.TB, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("%s:\ngot  %s\nwant %s", what, g, w)
	}
}

var (
	net1 = &Network{
		Name:      "net1",
		UUID:      "5d052136-8f8a-42cb-aa98-7cf5137dbf97",
		Subnet:    netip.MustParsePrefix("198.51.100.0/24"),
		Gateway:   netip.MustParseAddr("198.51.100.1"),
		Subnet6:   netip.MustParsePrefix("2001:db8::/64"),
		Gateway6:  netip.MustParseAddr("2001:db8::1"),
		MACPrefix: mac.Addr{0xaa, 0, 0},
		Tags:      NewTags("nfdhcpd"),
	}
	net2 = &Network{
		Name:      "net2",
		UUID:      "487e6d8c-e8d2-4718-98d3-147592bdec07",
		Subnet:    netip.MustParsePrefix("198.18.100.0/24"),
		Gateway:   netip.MustParseAddr("198.18.100.1"),
		Subnet6:   netip.MustParsePrefix("2001:db8:100::/64"),
		Gateway6:  netip.MustParseAddr("2001:db8:100::1"),
		MACPrefix: mac.Addr{0xaa, 0, 1},
		Tags:      NewTags("routed", "nfdhcpd"),
	}
)

// The NICs of the fixtures, by a short name.
func fixtureNICs(t testing.TB) map[string]NIC {
	kvm1 := NIC{Index: 0, Name: "nic0", UUID: "2307dc9d-3ef4-4362-a6c4-a164039a76a6",
		MAC: mustMAC(t, "aa:00:00:0d:f1:78"), IP: netip.MustParseAddr("198.51.100.2"),
		Mode: ModeBridged, Link: "gntbr0", Bridge: "gntbr0", Network: net1}
	kvm1NoName := kvm1
	kvm1NoName.Name = ""
	return map[string]NIC{
		"kvm1":        kvm1,
		"kvm1-noname": kvm1NoName,
		"kvm1-nic1": {Index: 1, UUID: "3928ac09-0a47-40c5-af76-df60154a0340",
			MAC: mustMAC(t, "aa:00:00:40:9f:d1"), IP: netip.MustParseAddr("198.51.100.3"),
			Mode: ModeBridged, Link: "gntbr0", Bridge: "gntbr0", Network: net1},
		"kvm2": {Index: 0, UUID: "a730afce-aaec-4b13-969e-c993d431da2e",
			MAC: mustMAC(t, "aa:00:01:2d:2b:3b"), IP: netip.MustParseAddr("198.18.100.2"),
			Mode: ModeRouted, Link: "100", Network: net2},
		"fake1": {Index: 0, UUID: "2e26ded3-13d3-4038-ba93-f13e21561324",
			MAC: mustMAC(t, "aa:00:00:36:26:bf"), IP: netip.MustParseAddr("198.51.100.2"),
			Mode: ModeBridged, Link: "gntbr0", Bridge: "gntbr0", Network: net1},
		"fake1-nic1": {Index: 1, UUID: "bcbb6021-f002-4983-9fc4-282132781f2b",
			MAC: mustMAC(t, "aa:00:00:81:28:3a"), IP: netip.MustParseAddr("198.51.100.3"),
			Mode: ModeBridged, Link: "gntbr0", Bridge: "gntbr0", Network: net1},
	}
}

// allFixtures returns the .env fixtures, relative to testdata ("kvm/x.env").
func allFixtures(t testing.TB) []string {
	t.Helper()
	var r []string
	for _, dir := range []string{"kvm", "fake"} {
		m, err := filepath.Glob(filepath.Join(testdata, dir, "*.env"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			r = append(r, dir+"/"+filepath.Base(f))
		}
	}
	if len(r) < 60 {
		t.Fatalf("only %d fixtures found in %s", len(r), testdata)
	}
	return r
}

func isIfupFixture(name string) bool {
	b := filepath.Base(name)
	return len(b) >= 8 && b[:8] == "kvm-ifup"
}
