package ipam

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
)

var ctx = context.Background()

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr           { return netip.MustParseAddr(s) }
func owner(i, n string) Owner          { return Owner{Instance: i, NIC: n} }

func newPool(t testing.TB, nets ...Network) *Pool {
	t.Helper()
	p := New(newMapStore(), WithRand(rand.New(rand.NewPCG(1, 2))))
	for _, n := range nets {
		if err := p.Update(ctx, func(tx *Txn) error { return tx.AddNetwork(n, AddOptions{}) }); err != nil {
			t.Fatalf("add %s: %v", n.Name, err)
		}
	}
	return p
}

func update(t testing.TB, p *Pool, fn func(*Txn) error) {
	t.Helper()
	if err := p.Update(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

func mustCheck(t testing.TB, p *Pool) {
	t.Helper()
	if err := p.View(ctx, func(tx *Txn) error {
		probs, err := tx.Check()
		if err != nil {
			return err
		}
		for _, pr := range probs {
			t.Errorf("check: %s", pr)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func allocAll(t testing.TB, p *Pool, name string, max int) []netip.Addr {
	t.Helper()
	var got []netip.Addr
	err := p.Update(ctx, func(tx *Txn) error {
		for i := 0; i < max; i++ {
			a, err := tx.Allocate(name, owner(fmt.Sprintf("vm%d", i), "0"))
			if errors.Is(err, ErrExhausted) {
				return nil
			}
			if err != nil {
				return err
			}
			got = append(got, a)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestNetworkValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    Network
		err  error
	}{
		{"slash8", Network{Name: "a", Subnet: mustPrefix("10.0.0.0/8")}, nil},
		{"slash30", Network{Name: "a", Subnet: mustPrefix("198.51.100.0/30"), Gateway: ip("198.51.100.1")}, nil},
		{"slash31", Network{Name: "a", Subnet: mustPrefix("198.51.100.0/31")}, ErrInvalid},
		{"slash32", Network{Name: "a", Subnet: mustPrefix("198.51.100.1/32")}, ErrInvalid},
		{"slash7", Network{Name: "a", Subnet: mustPrefix("10.0.0.0/7")}, ErrInvalid},
		{"hostbits", Network{Name: "a", Subnet: mustPrefix("198.51.100.1/24")}, ErrInvalid},
		{"ipv6 as subnet", Network{Name: "a", Subnet: mustPrefix("2001:db8::/64")}, ErrInvalid},
		{"gw outside", Network{Name: "a", Subnet: mustPrefix("198.51.100.0/24"), Gateway: ip("198.51.101.1")}, ErrOutOfNetwork},
		{"gw network addr", Network{Name: "a", Subnet: mustPrefix("198.51.100.0/24"), Gateway: ip("198.51.100.0")}, ErrOutOfNetwork},
		{"gw broadcast", Network{Name: "a", Subnet: mustPrefix("198.51.100.0/24"), Gateway: ip("198.51.100.255")}, ErrOutOfNetwork},
		{"gw without subnet", Network{Name: "a", Subnet6: mustPrefix("2001:db8::/64"), Gateway: ip("198.51.100.1")}, ErrInvalid},
		{"ipv6 only", Network{Name: "a", Subnet6: mustPrefix("2001:db8::/64"), Gateway6: ip("2001:db8::1")}, nil},
		{"ipv6 ll gateway", Network{Name: "a", Subnet6: mustPrefix("2001:db8::/64"), Gateway6: ip("fe80::1")}, nil},
		{"ipv6 /48", Network{Name: "a", Subnet6: mustPrefix("2001:db8::/48")}, ErrInvalid},
		{"gw6 outside", Network{Name: "a", Subnet6: mustPrefix("2001:db8::/64"), Gateway6: ip("2001:db9::1")}, ErrOutOfNetwork},
		{"nothing", Network{Name: "a"}, ErrInvalid},
		{"bad name", Network{Name: "a b", Subnet: mustPrefix("198.51.100.0/24")}, ErrInvalid},
		{"empty name", Network{Subnet: mustPrefix("198.51.100.0/24")}, ErrInvalid},
		{"multicast mac prefix", Network{Name: "a", Subnet: mustPrefix("198.51.100.0/24"), MACPrefix: MACPrefix{0xab, 0, 0}}, ErrInvalid},
		{"universal mac prefix", Network{Name: "a", Subnet: mustPrefix("198.51.100.0/24"), MACPrefix: MACPrefix{0x00, 0x11, 0x22}}, ErrInvalid},
		{"range outside", Network{Name: "a", Subnet: mustPrefix("198.51.100.0/24"), Ranges: []Range{{ip("198.51.100.10"), ip("198.51.101.10")}}}, ErrOutOfNetwork},
		{"range without subnet", Network{Name: "a", Subnet6: mustPrefix("2001:db8::/64"), Ranges: []Range{{ip("198.51.100.10"), ip("198.51.100.11")}}}, ErrInvalid},
		{"bad group", Network{Name: "a", Subnet: mustPrefix("198.51.100.0/24"), Connections: map[string]Connection{"g 1": {ModeRouted, "100", ""}}}, ErrInvalid},
		{"bad mode", Network{Name: "a", Subnet: mustPrefix("198.51.100.0/24"), Connections: map[string]Connection{"g1": {"nat", "100", ""}}}, ErrInvalid},
		{"empty link", Network{Name: "a", Subnet: mustPrefix("198.51.100.0/24"), Connections: map[string]Connection{"g1": {ModeBridged, "", ""}}}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.n
			err := n.Validate()
			if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("Validate: %v, want %v", err, tc.err)
			}
		})
	}
}

func TestParseMACPrefixAndRange(t *testing.T) {
	if p, err := ParseMACPrefix("aa:00:00"); err != nil || p.String() != "aa:00:00" {
		t.Errorf("ParseMACPrefix: %v %v", p, err)
	}
	for _, bad := range []string{"aa:00", "aa:00:00:00", "zz:00:00", "01:00:00", "00:00:00", ""} {
		if _, err := ParseMACPrefix(bad); err == nil {
			t.Errorf("ParseMACPrefix(%q) accepted", bad)
		}
	}
	for in, want := range map[string]string{
		"198.51.100.10-198.51.100.20": "198.51.100.10-198.51.100.20",
		"198.51.100.7":                "198.51.100.7-198.51.100.7",
		"198.51.100.64/26":            "198.51.100.64-198.51.100.127",
	} {
		if r, err := ParseRange(in); err != nil || r.String() != want {
			t.Errorf("ParseRange(%q) = %v, %v", in, r, err)
		}
	}
	for _, bad := range []string{"198.51.100.20-198.51.100.10", "x-y", "2001:db8::1-2001:db8::2"} {
		if _, err := ParseRange(bad); err == nil {
			t.Errorf("ParseRange(%q) accepted", bad)
		}
	}
}

func TestAllocatorEdges(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    Network
		want []string // every address handed out, in order, until exhausted
	}{
		{"slash30 gw first", Network{Subnet: mustPrefix("198.51.100.0/30"), Gateway: ip("198.51.100.1")},
			[]string{"198.51.100.2"}},
		{"slash30 gw last", Network{Subnet: mustPrefix("198.51.100.0/30"), Gateway: ip("198.51.100.2")},
			[]string{"198.51.100.1"}},
		{"slash30 no gw", Network{Subnet: mustPrefix("198.51.100.0/30")},
			[]string{"198.51.100.1", "198.51.100.2"}},
		{"slash29 gw at start", Network{Subnet: mustPrefix("198.51.100.8/29"), Gateway: ip("198.51.100.9")},
			[]string{"198.51.100.10", "198.51.100.11", "198.51.100.12", "198.51.100.13", "198.51.100.14"}},
		{"slash29 gw at end", Network{Subnet: mustPrefix("198.51.100.8/29"), Gateway: ip("198.51.100.14")},
			[]string{"198.51.100.9", "198.51.100.10", "198.51.100.11", "198.51.100.12", "198.51.100.13"}},
		{"ranges", Network{Subnet: mustPrefix("198.51.100.0/24"), Gateway: ip("198.51.100.1"),
			Ranges: []Range{{ip("198.51.100.250"), ip("198.51.100.255")}, {ip("198.51.100.0"), ip("198.51.100.2")}, {ip("198.51.100.100"), ip("198.51.100.101")}}},
			[]string{"198.51.100.2", "198.51.100.100", "198.51.100.101", "198.51.100.250", "198.51.100.251", "198.51.100.252", "198.51.100.253", "198.51.100.254"}},
		{"range across words", Network{Subnet: mustPrefix("198.18.0.0/16"),
			Ranges: []Range{{ip("198.18.0.62"), ip("198.18.0.66")}, {ip("198.18.128.0"), ip("198.18.128.0")}}},
			[]string{"198.18.0.62", "198.18.0.63", "198.18.0.64", "198.18.0.65", "198.18.0.66", "198.18.128.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.n.Name = "n"
			p := newPool(t, tc.n)
			got := allocAll(t, p, "n", 1000)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("allocated %v\nwant      %v", got, tc.want)
			}
			err := p.Update(ctx, func(tx *Txn) error { _, err := tx.Allocate("n", owner("late", "")); return err })
			if !errors.Is(err, ErrExhausted) {
				t.Fatalf("allocate from full pool: %v, want ErrExhausted", err)
			}
			mustCheck(t, p)
		})
	}
}

func TestCursorRoundRobinAndWrap(t *testing.T) {
	p := newPool(t, Network{Name: "n", Subnet: mustPrefix("198.51.100.0/29"), Gateway: ip("198.51.100.1")})
	a := allocAll(t, p, "n", 2) // .2 .3
	update(t, p, func(tx *Txn) error { return tx.Release("n", a[0], &Owner{Instance: "vm0", NIC: "0"}) })
	// The just-released .2 is not handed out again at once.
	var next netip.Addr
	update(t, p, func(tx *Txn) (err error) { next, err = tx.Allocate("n", owner("x", "")); return })
	if next != ip("198.51.100.4") {
		t.Fatalf("after release got %v, want .4", next)
	}
	// .5 .6 then wrap to .2.
	var rest []netip.Addr
	update(t, p, func(tx *Txn) error {
		for range 3 {
			a, err := tx.Allocate("n", owner("y", ""))
			if err != nil {
				return err
			}
			rest = append(rest, a)
		}
		return nil
	})
	if fmt.Sprint(rest) != "[198.51.100.5 198.51.100.6 198.51.100.2]" {
		t.Fatalf("wrap: got %v", rest)
	}
	mustCheck(t, p)
}

func TestReserveReleaseOwners(t *testing.T) {
	p := newPool(t, Network{Name: "n", Subnet: mustPrefix("198.51.100.0/24"), Gateway: ip("198.51.100.1")})
	a, b := owner("web1.example.org", "uuid-a"), owner("db1.example.org", "0")
	update(t, p, func(tx *Txn) error { return tx.Reserve("n", ip("198.51.100.10"), a) })

	for _, tc := range []struct {
		name string
		fn   func(*Txn) error
		err  error
		msg  string
	}{
		{"reserve taken", func(tx *Txn) error { return tx.Reserve("n", ip("198.51.100.10"), b) }, ErrConflict, "held by web1.example.org:uuid-a"},
		{"reserve same owner again", func(tx *Txn) error { return tx.Reserve("n", ip("198.51.100.10"), a) }, ErrConflict, "held by web1"},
		{"reserve gateway", func(tx *Txn) error { return tx.Reserve("n", ip("198.51.100.1"), b) }, ErrConflict, "the gateway address"},
		{"reserve network", func(tx *Txn) error { return tx.Reserve("n", ip("198.51.100.0"), b) }, ErrConflict, "the network address"},
		{"reserve broadcast", func(tx *Txn) error { return tx.Reserve("n", ip("198.51.100.255"), b) }, ErrConflict, "the broadcast address"},
		{"reserve outside", func(tx *Txn) error { return tx.Reserve("n", ip("198.51.101.5"), b) }, ErrOutOfNetwork, "outside"},
		{"reserve unknown net", func(tx *Txn) error { return tx.Reserve("zz", ip("198.51.100.5"), b) }, ErrNotFound, "network zz"},
		{"reserve bad owner", func(tx *Txn) error { return tx.Reserve("n", ip("198.51.100.5"), Owner{}) }, ErrInvalid, "empty instance"},
		{"release other owner", func(tx *Txn) error { return tx.Release("n", ip("198.51.100.10"), &b) }, ErrNotOwner, "held by web1"},
		{"release gateway", func(tx *Txn) error { return tx.Release("n", ip("198.51.100.1"), nil) }, ErrNotOwner, "gateway"},
		{"release other nic", func(tx *Txn) error {
			o := owner("web1.example.org", "uuid-b")
			return tx.Release("n", ip("198.51.100.10"), &o)
		}, ErrNotOwner, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Update(ctx, tc.fn)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if !bytes.Contains([]byte(err.Error()), []byte(tc.msg)) {
				t.Fatalf("error %q does not say %q", err, tc.msg)
			}
			var he *HeldError
			if errors.Is(tc.err, ErrConflict) && !errors.As(err, &he) {
				t.Fatalf("conflict is not a *HeldError: %T", err)
			}
		})
	}
	// Release is idempotent for the owner (instance-wide owner matches too).
	inst := Owner{Instance: "web1.example.org"}
	for range 2 {
		update(t, p, func(tx *Txn) error { return tx.Release("n", ip("198.51.100.10"), &inst) })
	}
	update(t, p, func(tx *Txn) error { return tx.ReserveExternal("n", ip("198.51.100.20")) })
	if err := p.Update(ctx, func(tx *Txn) error { return tx.Release("n", ip("198.51.100.20"), &a) }); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("owner released external: %v", err)
	}
	update(t, p, func(tx *Txn) error { return tx.Release("n", ip("198.51.100.20"), nil) })
	mustCheck(t, p)
}

func TestOwnerOperations(t *testing.T) {
	p := newPool(t,
		Network{Name: "pub", Subnet: mustPrefix("198.51.100.0/24"), Gateway: ip("198.51.100.1"), MACPrefix: MACPrefix{0xaa, 0, 0}},
		Network{Name: "priv", Subnet: mustPrefix("198.18.0.0/24"), MACPrefix: MACPrefix{0xaa, 0, 1}})
	vm := "vm1.example.org"
	update(t, p, func(tx *Txn) error {
		if _, err := tx.Allocate("pub", owner(vm, "nic-a")); err != nil {
			return err
		}
		if _, err := tx.Allocate("priv", owner(vm, "nic-b")); err != nil {
			return err
		}
		if _, err := tx.GenerateMAC("pub", owner(vm, "nic-a")); err != nil {
			return err
		}
		_, err := tx.Allocate("pub", owner("other", "0"))
		return err
	})
	var hs []Holding
	update(t, p, func(tx *Txn) (err error) { hs, err = tx.ByOwner(Owner{Instance: vm}); return })
	if len(hs) != 3 {
		t.Fatalf("ByOwner: %v", hs)
	}
	update(t, p, func(tx *Txn) (err error) { hs, err = tx.ByOwner(owner(vm, "nic-b")); return })
	if len(hs) != 1 || hs[0].Network != "priv" {
		t.Fatalf("ByOwner nic-b: %v", hs)
	}
	// Rename the instance.
	update(t, p, func(tx *Txn) (err error) {
		_, err = tx.Reassign(Owner{Instance: vm}, Owner{Instance: "vm2.example.org"})
		return
	})
	update(t, p, func(tx *Txn) (err error) { hs, err = tx.ByOwner(Owner{Instance: vm}); return })
	if len(hs) != 0 {
		t.Fatalf("old name still holds %v", hs)
	}
	// Move one NIC to another instance.
	update(t, p, func(tx *Txn) (err error) {
		_, err = tx.Reassign(owner("vm2.example.org", "nic-b"), owner("vm3", "nic-0"))
		return
	})
	update(t, p, func(tx *Txn) (err error) { hs, err = tx.ByOwner(Owner{Instance: "vm3"}); return })
	if len(hs) != 1 || hs[0].Owner != owner("vm3", "nic-0") {
		t.Fatalf("moved NIC: %v", hs)
	}
	mustCheck(t, p)
	update(t, p, func(tx *Txn) (err error) { hs, err = tx.ReleaseOwner(Owner{Instance: "vm2.example.org"}); return })
	if len(hs) != 2 {
		t.Fatalf("ReleaseOwner released %v", hs)
	}
	update(t, p, func(tx *Txn) (err error) { hs, err = tx.ByOwner(Owner{Instance: "vm2.example.org"}); return })
	if len(hs) != 0 {
		t.Fatalf("after ReleaseOwner: %v", hs)
	}
	mustCheck(t, p)
}

func TestMACs(t *testing.T) {
	p := newPool(t, Network{Name: "n", Subnet: mustPrefix("198.51.100.0/24"), MACPrefix: MACPrefix{0xaa, 0, 0}},
		Network{Name: "v6", Subnet6: mustPrefix("2001:db8::/64")})
	seen := map[string]bool{}
	update(t, p, func(tx *Txn) error {
		for i := range 500 {
			m, err := tx.GenerateMAC("n", owner(fmt.Sprint("vm", i), "0"))
			if err != nil {
				return err
			}
			if !(MACPrefix{0xaa, 0, 0}).Contains(m) || seen[m.String()] {
				return fmt.Errorf("bad or duplicate MAC %v", m)
			}
			seen[m.String()] = true
		}
		return nil
	})
	mac, _ := net.ParseMAC("aa:00:00:00:00:01")
	update(t, p, func(tx *Txn) error { return tx.ReserveMAC("n", mac, owner("a", "")) })
	if err := p.Update(ctx, func(tx *Txn) error { return tx.ReserveMAC("n", mac, owner("b", "")) }); !errors.Is(err, ErrConflict) {
		t.Fatalf("double MAC: %v", err)
	}
	other, _ := net.ParseMAC("aa:00:01:00:00:01")
	if err := p.Update(ctx, func(tx *Txn) error { return tx.ReserveMAC("n", other, owner("b", "")) }); !errors.Is(err, ErrOutOfNetwork) {
		t.Fatalf("MAC outside prefix: %v", err)
	}
	if err := p.Update(ctx, func(tx *Txn) error { _, err := tx.GenerateMAC("v6", owner("b", "")); return err }); !errors.Is(err, ErrInvalid) {
		t.Fatalf("MAC without prefix: %v", err)
	}
	if err := p.Update(ctx, func(tx *Txn) error {
		return tx.ModifyNetwork("n", func(n *Network) error { n.MACPrefix = MACPrefix{0xaa, 0, 9}; return nil })
	}); !errors.Is(err, ErrInUse) {
		t.Fatalf("MAC prefix change with MACs reserved: %v", err)
	}
	if err := p.Update(ctx, func(tx *Txn) error { return tx.ReleaseMAC(mac, &Owner{Instance: "b"}) }); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("release other's MAC: %v", err)
	}
	update(t, p, func(tx *Txn) error { return tx.ReleaseMAC(mac, &Owner{Instance: "a"}) })
	update(t, p, func(tx *Txn) error { return tx.ReleaseMAC(mac, &Owner{Instance: "a"}) })
	mustCheck(t, p)
}

func TestNetworkLifecycle(t *testing.T) {
	p := newPool(t, Network{Name: "n", Subnet: mustPrefix("198.51.100.0/24"), Gateway: ip("198.51.100.1"), Tags: []string{"b", "a", "a"}})
	// Overlap refused unless allowed.
	over := Network{Name: "o", Subnet: mustPrefix("198.51.100.128/25")}
	if err := p.Update(ctx, func(tx *Txn) error { return tx.AddNetwork(over, AddOptions{}) }); !errors.Is(err, ErrOverlap) {
		t.Fatalf("overlap: %v", err)
	}
	update(t, p, func(tx *Txn) error { return tx.AddNetwork(over, AddOptions{AllowOverlap: true}) })
	if err := p.Update(ctx, func(tx *Txn) error { return tx.AddNetwork(over, AddOptions{AllowOverlap: true}) }); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	update(t, p, func(tx *Txn) error { return tx.Reserve("n", ip("198.51.100.2"), owner("vm", "0")) })
	// Gateway change: the new one must be free, the old becomes free.
	err := p.Update(ctx, func(tx *Txn) error {
		return tx.ModifyNetwork("n", func(n *Network) error { n.Gateway = ip("198.51.100.2"); return nil })
	})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("gateway onto a held address: %v", err)
	}
	update(t, p, func(tx *Txn) error {
		return tx.ModifyNetwork("n", func(n *Network) error {
			n.Gateway = ip("198.51.100.254")
			n.Ranges = []Range{{ip("198.51.100.1"), ip("198.51.100.9")}}
			return nil
		})
	})
	var got []netip.Addr
	update(t, p, func(tx *Txn) error {
		for range 8 {
			a, err := tx.Allocate("n", owner("x", ""))
			if err != nil {
				return err
			}
			got = append(got, a)
		}
		return nil
	})
	if fmt.Sprint(got) != "[198.51.100.1 198.51.100.3 198.51.100.4 198.51.100.5 198.51.100.6 198.51.100.7 198.51.100.8 198.51.100.9]" {
		t.Fatalf("after modify: %v", got)
	}
	if err := p.Update(ctx, func(tx *Txn) error {
		return tx.ModifyNetwork("n", func(n *Network) error { n.Subnet = mustPrefix("198.51.100.0/23"); return nil })
	}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("subnet change: %v", err)
	}
	update(t, p, func(tx *Txn) error {
		return tx.Connect("n", "default", Connection{Mode: ModeRouted, Link: "100"})
	})
	var found []*Network
	update(t, p, func(tx *Txn) (err error) { found, err = tx.FindNetworks("100", ip("198.51.100.77")); return })
	if len(found) != 1 || found[0].Name != "n" {
		t.Fatalf("FindNetworks: %v", found)
	}
	if err := p.Update(ctx, func(tx *Txn) error { return tx.Disconnect("n", "other") }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("disconnect unknown: %v", err)
	}
	update(t, p, func(tx *Txn) error { return tx.RenameNetwork("n", "n2") })
	var hs []Holding
	update(t, p, func(tx *Txn) (err error) { hs, err = tx.ByOwner(Owner{Instance: "vm"}); return })
	if len(hs) != 1 || hs[0].Network != "n2" || hs[0].IP != ip("198.51.100.2") {
		t.Fatalf("after rename: %v", hs)
	}
	mustCheck(t, p)
	if err := p.Update(ctx, func(tx *Txn) error { return tx.RemoveNetwork("n2", false) }); !errors.Is(err, ErrInUse) {
		t.Fatalf("remove in use: %v", err)
	}
	update(t, p, func(tx *Txn) error { return tx.RemoveNetwork("n2", true) })
	update(t, p, func(tx *Txn) error { return tx.RemoveNetwork("o", false) })
	st := p.store.(*mapStore)
	if len(st.m) != 0 {
		t.Fatalf("keys left after removing every network: %d", len(st.m))
	}
}

func TestIPv6OnlyNetwork(t *testing.T) {
	p := newPool(t, Network{Name: "v6", Subnet6: mustPrefix("2001:db8::/64"), MACPrefix: MACPrefix{0xaa, 0, 0}})
	if err := p.Update(ctx, func(tx *Txn) error { _, err := tx.Allocate("v6", owner("a", "")); return err }); !errors.Is(err, ErrNoIPv4) {
		t.Fatalf("allocate on IPv6-only: %v", err)
	}
	update(t, p, func(tx *Txn) error { _, err := tx.GenerateMAC("v6", owner("a", "")); return err })
	mustCheck(t, p)
}

func TestCheckFindsCorruption(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(m map[string][]byte)
		want    string
	}{
		{"bit cleared", func(m map[string][]byte) {
			m[string(chunkKey("n", 0))][1] &^= 0x04 // offset 10
		}, "reserved (instance) but free in the bitmap"},
		{"stray record", func(m map[string][]byte) {
			m[string(recKey("n", ip("198.51.100.40")))] = record{Kind: KindExternal}.marshal()
		}, "198.51.100.40 reserved (external) but free"},
		{"index missing", func(m map[string][]byte) {
			delete(m, string(idxKey("vm", "n", ip("198.51.100.10"))))
		}, "missing from the owner index"},
		{"counter off", func(m map[string][]byte) {
			m[string(stateKey("n"))][5]++
		}, "counter says"},
		{"cursor out", func(m map[string][]byte) {
			m[string(stateKey("n"))][1] = 0xff
			m[string(stateKey("n"))][2] = 0xff
		}, "cursor"},
		{"orphan bit", func(m map[string][]byte) {
			m[string(chunkKey("n", 0))][6] |= 0x01 // offset 48
		}, "taken in the bitmap without a reservation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPool(t, Network{Name: "n", Subnet: mustPrefix("198.51.100.0/24"), Gateway: ip("198.51.100.1")})
			update(t, p, func(tx *Txn) error { return tx.Reserve("n", ip("198.51.100.10"), owner("vm", "0")) })
			mustCheck(t, p)
			tc.corrupt(p.store.(*mapStore).m)
			var probs []string
			if err := p.View(ctx, func(tx *Txn) (err error) { probs, err = tx.Check(); return }); err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains([]byte(fmt.Sprint(probs)), []byte(tc.want)) {
				t.Fatalf("check found %q, want %q", probs, tc.want)
			}
		})
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	p := newPool(t,
		Network{Name: "pub", Subnet: mustPrefix("198.51.100.0/24"), Gateway: ip("198.51.100.1"),
			Subnet6: mustPrefix("2001:db8::/64"), Gateway6: ip("2001:db8::1"), MACPrefix: MACPrefix{0xaa, 0, 0},
			Tags: []string{"nfdhcpd", "public"}, Ranges: []Range{{ip("198.51.100.100"), ip("198.51.100.200")}}},
		Network{Name: "v6only", Subnet6: mustPrefix("2001:db8:1::/64")})
	update(t, p, func(tx *Txn) error {
		if err := tx.Connect("pub", "default", Connection{Mode: ModeBridged, Link: "br0", VLAN: ".10"}); err != nil {
			return err
		}
		if err := tx.ReserveExternal("pub", ip("198.51.100.5")); err != nil {
			return err
		}
		for i := range 20 {
			if _, err := tx.Allocate("pub", owner(fmt.Sprint("vm", i), "0")); err != nil {
				return err
			}
		}
		_, err := tx.GenerateMAC("pub", owner("vm1", "0"))
		return err
	})
	first := exportBytes(t, p)
	d, err := ReadDump(bytes.NewReader(first))
	if err != nil {
		t.Fatal(err)
	}
	q := newPool(t)
	update(t, q, func(tx *Txn) error { return tx.Import(d, false) })
	second := exportBytes(t, q)
	if !bytes.Equal(first, second) {
		t.Fatalf("round trip differs:\n%s\n---\n%s", first, second)
	}
	mustCheck(t, q)
	// The cursor survived: both pools allocate the same next address.
	var a, b netip.Addr
	update(t, p, func(tx *Txn) (err error) { a, err = tx.Allocate("pub", owner("n", "")); return })
	update(t, q, func(tx *Txn) (err error) { b, err = tx.Allocate("pub", owner("n", "")); return })
	if a != b {
		t.Fatalf("next allocation differs: %v vs %v", a, b)
	}
	// Importing again without replace is refused and changes nothing.
	if err := q.Update(ctx, func(tx *Txn) error { return tx.Import(d, false) }); !errors.Is(err, ErrExists) {
		t.Fatalf("re-import: %v", err)
	}
	update(t, q, func(tx *Txn) error { return tx.Import(d, true) })
	if got := exportBytes(t, q); !bytes.Equal(first, got) {
		t.Fatal("replace import differs")
	}
}

func TestReadDumpErrors(t *testing.T) {
	for name, in := range map[string]string{
		"not json":      "nope",
		"unknown field": `{"schema":1,"networks":[],"x":1}`,
		"schema 0":      `{"networks":[]}`,
		"trailing":      `{"schema":1,"networks":[]} {}`,
	} {
		if _, err := ReadDump(bytes.NewReader([]byte(in))); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := ReadDump(bytes.NewReader([]byte(`{"schema":99,"networks":[]}`))); !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("schema 99: %v", err)
	}
	// Semantically bad dumps fail inside Import and leave nothing behind.
	for name, in := range map[string]string{
		"double reservation": `{"schema":1,"networks":[{"name":"a","subnet":"198.51.100.0/24","gateway":"","subnet6":"","gateway6":"","mac_prefix":"","tags":[],"ranges":null,"connections":null,"cursor":0,"reservations":[{"ip":"198.51.100.9","kind":"external"},{"ip":"198.51.100.9","kind":"external"}],"macs":[]}]}`,
		"cursor outside":     `{"schema":1,"networks":[{"name":"a","subnet":"198.51.100.0/24","gateway":"","subnet6":"","gateway6":"","mac_prefix":"","tags":[],"ranges":null,"connections":null,"cursor":256,"reservations":[],"macs":[]}]}`,
		"reservation gw":     `{"schema":1,"networks":[{"name":"a","subnet":"198.51.100.0/24","gateway":"198.51.100.1","subnet6":"","gateway6":"","mac_prefix":"","tags":[],"ranges":null,"connections":null,"cursor":0,"reservations":[{"ip":"198.51.100.1","kind":"instance","owner":{"instance":"x"}}],"macs":[]}]}`,
		"bad kind":           `{"schema":1,"networks":[{"name":"a","subnet":"198.51.100.0/24","gateway":"","subnet6":"","gateway6":"","mac_prefix":"","tags":[],"ranges":null,"connections":null,"cursor":0,"reservations":[{"ip":"198.51.100.3","kind":"gateway"}],"macs":[]}]}`,
		"bad mac":            `{"schema":1,"networks":[{"name":"a","subnet":"198.51.100.0/24","gateway":"","subnet6":"","gateway6":"","mac_prefix":"aa:00:00","tags":[],"ranges":null,"connections":null,"cursor":0,"reservations":[],"macs":[{"mac":"bb:00:00:00:00:01","owner":{"instance":"x"}}]}]}`,
	} {
		d, err := ReadDump(bytes.NewReader([]byte(in)))
		if err != nil {
			t.Errorf("%s: ReadDump: %v", name, err)
			continue
		}
		p := newPool(t)
		if err := p.Update(ctx, func(tx *Txn) error { return tx.Import(d, false) }); err == nil {
			t.Errorf("%s: imported", name)
		}
		if n := len(p.store.(*mapStore).m); n != 0 {
			t.Errorf("%s: %d keys left after a failed import", name, n)
		}
	}
}

func TestRandomOpsKeepInvariants(t *testing.T) {
	p := newPool(t, Network{Name: "n", Subnet: mustPrefix("198.18.0.0/22"), Gateway: ip("198.18.3.254"),
		Ranges: []Range{{ip("198.18.0.10"), ip("198.18.1.200")}, {ip("198.18.2.0"), ip("198.18.3.255")}}})
	r := rand.New(rand.NewPCG(7, 7))
	held := map[netip.Addr]Owner{}
	for round := range 40 {
		update(t, p, func(tx *Txn) error {
			for range 50 {
				switch r.IntN(4) {
				case 0, 1:
					o := owner(fmt.Sprint("vm", r.IntN(30)), fmt.Sprint(r.IntN(3)))
					a, err := tx.Allocate("n", o)
					if errors.Is(err, ErrExhausted) {
						continue
					}
					if err != nil {
						return err
					}
					if _, dup := held[a]; dup {
						return fmt.Errorf("round %d: %v handed out twice", round, a)
					}
					held[a] = o
				case 2:
					for a, o := range held {
						if err := tx.Release("n", a, &o); err != nil {
							return err
						}
						delete(held, a)
						break
					}
				case 3:
					a := from4(addr4(ip("198.18.0.0")) + uint32(r.IntN(1024)))
					err := tx.Reserve("n", a, owner("static", ""))
					if err == nil {
						held[a] = owner("static", "")
					} else if !errors.Is(err, ErrConflict) {
						return err
					}
				}
			}
			return nil
		})
	}
	mustCheck(t, p)
	var st Stats
	update(t, p, func(tx *Txn) (err error) { st, err = tx.Stats("n"); return })
	if st.Taken != uint32(len(held))+3 {
		t.Fatalf("stats taken %d, model %d + 3 system", st.Taken, len(held))
	}
}

func TestValidName(t *testing.T) {
	long := string(bytes.Repeat([]byte("a"), 64))
	for s, want := range map[string]bool{
		"a": true, "net-1.public_v2+x": true, "9net": true, long: true, long + "a": false,
		"": false, "-net": false, ".net": false, "ne t": false, "net/1": false, "nét": false, "net:1": false,
	} {
		if got := ValidName("network", s) == nil; got != want {
			t.Errorf("ValidName(%q) = %v, want %v", s, got, want)
		}
	}
}
