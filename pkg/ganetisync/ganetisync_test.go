package ganetisync

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/memstore"
)

const (
	uuidNet1 = "5d052136-8f8a-42cb-aa98-7cf5137dbf97"
	uuidNet2 = "487e6d8c-e8d2-4718-98d3-147592bdec07"
	uuidK1N0 = "2307dc9d-3ef4-4362-a6c4-a164039a76a6"
	uuidK1N1 = "3928ac09-0a47-40c5-af76-df60154a0340"
	uuidK2N0 = "a730afce-aaec-4b13-969e-c993d431da2e"
)

// fixture parses a testdata file.
func fixture[T any](t *testing.T, name string, parse func([]byte) ([]T, error)) []T {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	v, err := parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func fixtureNetworks(t *testing.T) []Network {
	return fixture(t, "gnt-network-list.txt", ParseNetworks)
}

func fixtureInstances(t *testing.T) []Instance {
	return fixture(t, "gnt-instance-list.txt", ParseInstances)
}

func newPool() *ipam.Pool { return ipam.New(memstore.New()) }

func update(t *testing.T, p *ipam.Pool, fn func(tx *ipam.Txn) error) {
	t.Helper()
	if err := p.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// holdings lists "net ip kind owner" of every reservation and "net MAC
// mac instance owner" of every MAC, system addresses left out (the
// pool's own Export walks them).
func holdings(t *testing.T, p *ipam.Pool) []string {
	t.Helper()
	var d *ipam.Dump
	if err := p.View(context.Background(), func(tx *ipam.Txn) (err error) {
		d, err = tx.Export()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range d.Networks {
		for _, r := range n.Reservations {
			out = append(out, strings.TrimSpace(n.Name+" "+r.IP.String()+" "+string(r.Kind)+" "+r.Owner.String()))
		}
		for _, m := range n.MACs {
			out = append(out, n.Name+" MAC "+m.MAC+" "+string(ipam.KindInstance)+" "+m.Owner.String())
		}
	}
	return out
}

// diffApply runs diff and applies its changes of every kind in one
// update of p, and returns the changes.
func diffApply(t *testing.T, p *ipam.Pool, diff func(*ipam.Txn) ([]Change, error)) []Change {
	t.Helper()
	var got []Change
	update(t, p, func(tx *ipam.Txn) error {
		ch, err := diff(tx)
		got = ch
		if err != nil {
			return err
		}
		_, err = ApplyKinds(tx, ch, Add, Update, Release)
		return err
	})
	return got
}

func changeLines(changes []Change) []string {
	var out []string
	for _, c := range changes {
		out = append(out, c.Kind.String()+" "+c.String())
	}
	return out
}

func sameLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestParseNetworks(t *testing.T) {
	nets := fixtureNetworks(t)
	if len(nets) != 3 {
		t.Fatalf("%d networks", len(nets))
	}
	n2 := nets[1]
	if n2.Name != "net2" || n2.UUID != uuidNet2 || n2.Subnet != netip.MustParsePrefix("198.18.100.0/24") ||
		n2.Gateway != netip.MustParseAddr("198.18.100.1") || n2.Gateway6 != netip.MustParseAddr("2001:db8:100::1") ||
		n2.MACPrefix != "aa:00:01" || !slices.Equal(n2.Tags, []string{"nfdhcpd", "routed"}) || len(n2.External) != 4 {
		t.Errorf("net2: %+v", n2)
	}
	if c := n2.Groups["g2"]; c != (ipam.Connection{Mode: ipam.ModeOpenvSwitch, Link: "sw0", VLAN: ".10:20"}) {
		t.Errorf("net2 g2: %+v", c)
	}
	if c := n2.Groups["default"]; c != (ipam.Connection{Mode: ipam.ModeRouted, Link: "100"}) {
		t.Errorf("net2 default: %+v", c)
	}
	n3 := nets[2]
	if n3.Gateway.IsValid() || n3.Subnet6.IsValid() || n3.MACPrefix != "" || n3.Tags != nil || len(n3.Groups) != 0 || n3.Groups == nil {
		t.Errorf("net3 (unset values): %+v", n3)
	}
	rejects(t, func(b []byte) error { _, err := ParseNetworks(b); return err },
		"net1|u|198.51.100.0/24",
		"net1|u|198.51.100.0/99|-|-|-|-|||",
		"net1|u|198.51.100.0/24|-|-|-|-||default routed|",
		"net1|u|198.51.100.0/24|-|-|-|-|||198.51.100.x")
}

// rejects checks that parse fails with ErrGaneti on every bad line.
func rejects(t *testing.T, parse func([]byte) error, bad ...string) {
	t.Helper()
	for _, line := range bad {
		if err := parse([]byte(line + "\n")); !errors.Is(err, ErrGaneti) {
			t.Errorf("%q: %v, want ErrGaneti", line, err)
		}
	}
}

func TestParseInstances(t *testing.T) {
	insts := fixtureInstances(t)
	if len(insts) != 4 {
		t.Fatalf("%d instances", len(insts))
	}
	k1 := insts[0]
	if len(k1.NICs) != 2 || k1.NICs[0].UUID != uuidK1N0 || k1.NICs[0].Name != "nic0" || k1.NICs[1].Name != "" ||
		k1.NICs[1].IP != netip.MustParseAddr("198.51.100.3") || k1.NICs[1].MAC.String() != "aa:00:00:40:9f:d1" ||
		k1.NICs[1].NetworkUUID != uuidNet1 || k1.NICs[1].Link != "gntbr0" || k1.NICs[1].Index != 1 {
		t.Errorf("kvm1: %+v", k1)
	}
	if p := insts[2]; p.NICs[0].UUID != "6f1e3c2a-0000-4000-8000-000000000001" || p.NICs[0].IP.IsValid() || p.NICs[0].NetworkUUID != "" {
		t.Errorf("plain (Python 2 list, None values): %+v", p)
	}
	if n := insts[3]; len(n.NICs) != 0 {
		t.Errorf("nonic: %+v", n)
	}
	rejects(t, func(b []byte) error { _, err := ParseInstances(b); return err },
		"i|['a', 'b']|[None]|1.2.3.4|aa:00:00:00:00:01|br0|None",
		"i|['a'|[None]|1.2.3.4|aa:00:00:00:00:01|br0|None",
		"i|['a']|[None]|1.2.3.x|aa:00:00:00:00:01|br0|None",
		"i|['a']|[None]|1.2.3.4|zz|br0|None",
		"i|['a']|[None]")
}

// A network only in Ganeti is added with its external reservations and
// connections; the same diff again finds nothing.
func TestDiffNetworkAddIdempotent(t *testing.T) {
	p := newPool()
	nets := fixtureNetworks(t)
	var got []Change
	update(t, p, func(tx *ipam.Txn) error {
		ch, err := DiffNetwork(tx, &nets[1], "")
		got = ch
		if err != nil {
			return err
		}
		_, err = ApplyKinds(tx, ch, Add)
		return err
	})
	sameLines(t, "diff", changeLines(got), []string{"add network net2: only in Ganeti: add 198.18.100.0/24 2001:db8:100::/64"})
	sameLines(t, "pool", holdings(t, p), []string{"net2 198.18.100.9 external"})
	update(t, p, func(tx *ipam.Txn) error {
		n, err := tx.Network("net2")
		if err != nil {
			return err
		}
		if n.UUID != uuidNet2 || len(n.Connections) != 2 || n.Connections["g2"].VLAN != ".10:20" || !n.HasTag("routed") {
			t.Errorf("added network: %+v", n)
		}
		ch, err := DiffNetwork(tx, &nets[1], "")
		if len(ch) != 0 {
			t.Errorf("second diff: %v", changeLines(ch))
		}
		return err
	})
}

func TestDiffNetworkFields(t *testing.T) {
	p := newPool()
	update(t, p, func(tx *ipam.Txn) error {
		return tx.AddNetwork(ipam.Network{Name: "old1", Subnet: netip.MustParsePrefix("198.51.100.0/24"),
			Gateway: netip.MustParseAddr("198.51.100.254"), Tags: []string{"x"},
			Connections: map[string]ipam.Connection{"default": {Mode: ipam.ModeRouted, Link: "100"}, "gone": {Mode: ipam.ModeBridged, Link: "br9"}}},
			ipam.AddOptions{Reserved: []netip.Addr{netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.77")}})
	})
	g := fixtureNetworks(t)[0]
	got := diffApply(t, p, func(tx *ipam.Txn) ([]Change, error) {
		if err := tx.ModifyNetwork("old1", func(n *ipam.Network) error { n.UUID = uuidNet1; return nil }); err != nil {
			return nil, err
		}
		return DiffNetwork(tx, &g, "")
	})
	sameLines(t, "diff", changeLines(got), []string{
		"update network net1: named old1 in the pool (same UUID): rename",
		"update network net1: gateway: Ganeti 198.51.100.1, pool 198.51.100.254",
		"update network net1: IPv6: Ganeti 2001:db8::/64 gateway 2001:db8::1, pool none gateway none",
		"update network net1: MAC prefix: Ganeti aa:00:00, pool none",
		"update network net1: tags: Ganeti [nfdhcpd], pool [x]",
		"update network net1: group default: Ganeti mode=bridged,link=gntbr0, pool mode=routed,link=100",
		"release network net1: group gone: connected in the pool only (mode=bridged,link=br9): disconnect",
		"release net1 198.51.100.77: reserved externally in the pool only: release",
	})
	sameLines(t, "pool", holdings(t, p), nil)
	update(t, p, func(tx *ipam.Txn) error {
		ch, err := DiffNetwork(tx, &g, "")
		if len(ch) != 0 {
			t.Errorf("second diff: %v", changeLines(ch))
		}
		return err
	})
	// A subnet that differs cannot be applied.
	g.Subnet = netip.MustParsePrefix("198.51.100.0/25")
	update(t, p, func(tx *ipam.Txn) error {
		ch, err := DiffNetwork(tx, &g, "")
		if len(ch) != 1 || ch[0].Kind != Manual || ch[0].Applicable() || !errors.Is(ch[0].Apply(tx), ErrManual) {
			t.Errorf("subnet change: %v", changeLines(ch))
		}
		return err
	})
}

// With a group named, only that group's connection is compared.
func TestDiffNetworkGroup(t *testing.T) {
	p := newPool()
	nets := fixtureNetworks(t)
	update(t, p, func(tx *ipam.Txn) error {
		return tx.AddNetwork(ipam.Network{Name: "net2", Subnet: netip.MustParsePrefix("198.18.100.0/24"),
			Connections: map[string]ipam.Connection{"old": {Mode: ipam.ModeRouted, Link: "100"}}}, ipam.AddOptions{})
	})
	update(t, p, func(tx *ipam.Txn) error {
		ch, err := DiffNetwork(tx, &nets[1], "g2")
		sameLines(t, "g2", changeLines(ch), []string{"add network net2: group g2: Ganeti mode=openvswitch,link=sw0,vlan=.10:20, pool not connected"})
		if err != nil {
			return err
		}
		ch, err = DiffNetwork(tx, &nets[1], "old")
		sameLines(t, "old", changeLines(ch), []string{"release network net2: group old: connected in the pool only (mode=routed,link=100): disconnect"})
		return err
	})
}

func TestDiffExternalConflict(t *testing.T) {
	p := newPool()
	g := fixtureNetworks(t)[1]
	update(t, p, func(tx *ipam.Txn) error {
		def, err := g.definition()
		if err != nil {
			return err
		}
		if err := tx.AddNetwork(def, ipam.AddOptions{}); err != nil {
			return err
		}
		return tx.Reserve("net2", netip.MustParseAddr("198.18.100.9"), ipam.Owner{Instance: "vm9", NIC: "0"})
	})
	update(t, p, func(tx *ipam.Txn) error {
		ch, err := DiffNetwork(tx, &g, "")
		sameLines(t, "diff", changeLines(ch), []string{"conflict net2 198.18.100.9: reserved externally in Ganeti, held by vm9:0 in the pool"})
		if err != nil {
			return err
		}
		_, err = ApplyKinds(tx, ch, Conflict)
		return err
	})
	sameLines(t, "pool", holdings(t, p), []string{"net2 198.18.100.9 external"})
}

// mirrored is a pool holding net1 and net2 as Ganeti has them.
func mirrored(t *testing.T) *ipam.Pool {
	t.Helper()
	p := newPool()
	update(t, p, func(tx *ipam.Txn) error {
		for _, g := range fixtureNetworks(t)[:2] {
			ch, err := DiffNetwork(tx, &g, "")
			if err != nil {
				return err
			}
			if _, err := ApplyKinds(tx, ch, Add); err != nil {
				return err
			}
		}
		return nil
	})
	return p
}

func TestDiffInstance(t *testing.T) {
	p := mirrored(t)
	k1 := fixtureInstances(t)[0]
	k1.NICs[0].Network = "net1"
	update(t, p, func(tx *ipam.Txn) error {
		for _, r := range []struct {
			ip    string
			owner ipam.Owner
		}{
			{"198.51.100.3", ipam.Owner{Instance: k1.Name, NIC: "1"}}, // allocated beforehand by index
			{"198.51.100.50", ipam.Owner{Instance: k1.Name, NIC: uuidK1N0}},
		} {
			if err := tx.Reserve("net1", netip.MustParseAddr(r.ip), r.owner); err != nil {
				return err
			}
		}
		return nil
	})
	got := diffApply(t, p, func(tx *ipam.Txn) ([]Change, error) { return DiffInstance(tx, &k1) })
	sameLines(t, "diff", changeLines(got), []string{
		"add net1 198.51.100.2: kvm1.ganeti.test:" + uuidK1N0 + " in Ganeti, free in the pool: reserve",
		"update net1 198.51.100.3: kvm1.ganeti.test:" + uuidK1N1 + " in Ganeti, held as kvm1.ganeti.test:1: rename the holder",
		"release net1 198.51.100.50: held by kvm1.ganeti.test:" + uuidK1N0 + ", which no NIC of kvm1.ganeti.test has in Ganeti: release",
	})
	sameLines(t, "pool", holdings(t, p), []string{
		"net1 198.51.100.2 instance kvm1.ganeti.test:" + uuidK1N0,
		"net1 198.51.100.3 instance kvm1.ganeti.test:" + uuidK1N1,
		"net2 198.18.100.9 external",
	})
	update(t, p, func(tx *ipam.Txn) error {
		ch, err := DiffInstance(tx, &k1)
		if len(ch) != 0 {
			t.Errorf("second diff: %v", changeLines(ch))
		}
		return err
	})
	// Another instance's address is a conflict, not applied by hooks.
	k2 := Instance{Name: "other", NICs: []NIC{{Index: 0, UUID: "u", IP: netip.MustParseAddr("198.51.100.2"), Network: "net1"},
		{Index: 1, IP: netip.MustParseAddr("192.168.7.7")},                                 // outside every pool network
		{Index: 2, IP: netip.MustParseAddr("198.18.100.1"), NetworkUUID: uuidNet2},         // the gateway
		{Index: 3, IP: netip.MustParseAddr("198.18.100.7"), Network: "net1", Name: "eth3"}, // not in net1
	}}
	update(t, p, func(tx *ipam.Txn) error {
		ch, err := DiffInstance(tx, &k2)
		sameLines(t, "conflicts", changeLines(ch), []string{
			"conflict net1 198.51.100.2: other:u in Ganeti, held by kvm1.ganeti.test:" + uuidK1N0 + " in the pool",
			"manual net2 198.18.100.1: other:2 in Ganeti, the gateway address in the pool",
			"manual instance other NIC 3: 198.18.100.7 is outside pool network net1 (198.51.100.0/24)",
		})
		return err
	})
}

func TestClaim(t *testing.T) {
	p := mirrored(t)
	// A diktyo-only network overlapping net1 (the same range defined
	// twice), with an address reserved outside Ganeti.
	update(t, p, func(tx *ipam.Txn) error {
		if err := tx.AddNetwork(ipam.Network{Name: "big", Subnet: netip.MustParsePrefix("198.51.0.0/16")}, ipam.AddOptions{AllowOverlap: true}); err != nil {
			return err
		}
		if err := tx.ReserveExternal("big", netip.MustParseAddr("198.51.100.66")); err != nil {
			return err
		}
		return tx.Reserve("net2", netip.MustParseAddr("198.18.100.5"), ipam.Owner{Instance: "vm9", NIC: "1"})
	})
	nic := func(i int, ip, network string) NIC {
		return NIC{Index: i, UUID: "uuid-" + ip, IP: netip.MustParseAddr(ip), Network: network}
	}
	for _, tc := range []struct {
		name string
		inst Instance
		want []string // reserved, or conflicts
		err  bool
	}{
		{"free", Instance{Name: "a", NICs: []NIC{nic(0, "198.51.100.10", "net1"), nic(1, "198.18.100.10", "net2"), nic(2, "192.168.1.1", "")}},
			[]string{"net1 198.51.100.10 a:uuid-198.51.100.10", "net2 198.18.100.10 a:uuid-198.18.100.10"}, false},
		{"held by itself", Instance{Name: "a", NICs: []NIC{nic(0, "198.51.100.10", "net1")}}, nil, false},
		{"held by another", Instance{Name: "b", NICs: []NIC{nic(0, "198.18.100.5", "net2"), nic(1, "198.51.100.11", "net1")}},
			[]string{"b NIC 0: 198.18.100.5 in net2 is held by vm9:1"}, true},
		{"reserved in an overlapping network", Instance{Name: "b", NICs: []NIC{nic(0, "198.51.100.66", "net1")}},
			[]string{"b NIC 0: 198.51.100.66 in big is reserved externally"}, true},
		{"the gateway", Instance{Name: "b", NICs: []NIC{nic(0, "198.18.100.1", "net2")}},
			[]string{"b NIC 0: 198.18.100.1 in net2 is the network's gateway address"}, true},
		{"twice", Instance{Name: "b", NICs: []NIC{nic(0, "198.51.100.12", "net1"), nic(1, "198.51.100.12", "net1")}},
			[]string{"b NIC 1: 198.51.100.12 in net1: also the address of NIC 0"}, true},
		{"outside its network", Instance{Name: "b", NICs: []NIC{nic(0, "198.18.100.12", "net1")}},
			[]string{"b NIC 0: 198.18.100.12 in net1: outside the pool network's subnet 198.51.100.0/24"}, true},
		{"no network, ambiguous", Instance{Name: "b", NICs: []NIC{nic(0, "198.51.100.13", "")}},
			[]string{"b NIC 0: 198.51.100.13: 198.51.100.13: in several pool networks (big, net1) and the NIC names none of them"}, true},
		{"no network, one pool network", Instance{Name: "c", NICs: []NIC{nic(0, "198.51.7.7", "")}},
			[]string{"big 198.51.7.7 c:uuid-198.51.7.7"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := holdings(t, p)
			var got []string
			err := p.Update(context.Background(), func(tx *ipam.Txn) error {
				hs, err := Claim(tx, &tc.inst)
				for _, h := range hs {
					got = append(got, h.Network+" "+h.IP.String()+" "+h.Owner.String())
				}
				return err
			})
			if tc.err {
				if !errors.Is(err, ipam.ErrConflict) {
					t.Fatalf("err %v, want a conflict", err)
				}
				got = strings.Split(err.Error(), "\n")
				if after := holdings(t, p); !slices.Equal(before, after) {
					t.Errorf("a refused claim changed the pool:\n%v\n%v", before, after)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			sameLines(t, tc.name, got, tc.want)
		})
	}
}

// Sync of the fixture cluster against a pool that missed some hooks:
// every difference is listed, applying them makes a second sync find
// nothing.
func TestSync(t *testing.T) {
	p := newPool()
	update(t, p, func(tx *ipam.Txn) error {
		if err := tx.AddNetwork(ipam.Network{Name: "net1", Subnet: netip.MustParsePrefix("198.51.100.0/24"), Gateway: netip.MustParseAddr("198.51.100.1"),
			Subnet6: netip.MustParsePrefix("2001:db8::/64"), Gateway6: netip.MustParseAddr("2001:db8::1"), MACPrefix: ipam.MACPrefix{0xaa, 0, 0},
			Tags: []string{"nfdhcpd"}, Connections: map[string]ipam.Connection{"default": {Mode: ipam.ModeBridged, Link: "gntbr0"}}}, ipam.AddOptions{}); err != nil {
			return err
		}
		if err := tx.AddNetwork(ipam.Network{Name: "only-diktyo", Subnet: netip.MustParsePrefix("10.0.0.0/8")}, ipam.AddOptions{}); err != nil {
			return err
		}
		for _, r := range []struct {
			net, ip string
			owner   ipam.Owner
		}{
			{"net1", "198.51.100.2", ipam.Owner{Instance: "kvm1.ganeti.test", NIC: "0"}},
			{"net1", "198.51.100.40", ipam.Owner{Instance: "removed.ganeti.test", NIC: "x"}},
			{"only-diktyo", "10.1.2.3", ipam.Owner{Instance: "gone.ganeti.test", NIC: "0"}},
		} {
			if err := tx.Reserve(r.net, netip.MustParseAddr(r.ip), r.owner); err != nil {
				return err
			}
		}
		return nil
	})
	nets, insts := fixtureNetworks(t), fixtureInstances(t)
	var report *Report
	err := p.Update(context.Background(), func(tx *ipam.Txn) error {
		var err error
		report, err = Sync(tx, nets, insts)
		if err != nil {
			return err
		}
		return errors.New("roll back")
	})
	if err == nil || err.Error() != "roll back" {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := report.Write(&out, false); err != nil {
		t.Fatal(err)
	}
	want := `network net1: UUID: Ganeti ` + uuidNet1 + `, pool none
network net2: only in Ganeti: add 198.18.100.0/24 2001:db8:100::/64
network net3: only in Ganeti: add 198.18.64.0/26
note: network only-diktyo: only in the pool: kept
net1 198.51.100.2: kvm1.ganeti.test:` + uuidK1N0 + ` in Ganeti, held as kvm1.ganeti.test:0: rename the holder
net1 198.51.100.3: kvm1.ganeti.test:` + uuidK1N1 + ` in Ganeti, free in the pool: reserve
net2 198.18.100.2: kvm2.ganeti.test:` + uuidK2N0 + ` in Ganeti, free in the pool: reserve
net1 198.51.100.40: held by removed.ganeti.test:x, an instance Ganeti does not know: release
only-diktyo 10.1.2.3: held by gone.ganeti.test:0, an instance Ganeti does not know: release
`
	if out.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", out.String(), want)
	}
	if report.Disagreements() != 8 || report.Unapplied() != 0 {
		t.Errorf("disagreements %d, unapplied %d", report.Disagreements(), report.Unapplied())
	}
	update(t, p, func(tx *ipam.Txn) error {
		_, err := Sync(tx, fixtureNetworks(t), fixtureInstances(t))
		return err
	})
	update(t, p, func(tx *ipam.Txn) error {
		r, err := Sync(tx, fixtureNetworks(t), fixtureInstances(t))
		if err == nil && r.Disagreements() != 0 {
			t.Errorf("second sync: %v", changeLines(r.Changes))
		}
		return err
	})
	sameLines(t, "pool", holdings(t, p), []string{
		"net1 198.51.100.2 instance kvm1.ganeti.test:" + uuidK1N0,
		"net1 198.51.100.3 instance kvm1.ganeti.test:" + uuidK1N1,
		"net2 198.18.100.2 instance kvm2.ganeti.test:" + uuidK2N0,
		"net2 198.18.100.9 external",
	})
}

// fakeCommands writes gnt-network and gnt-instance scripts that check
// their arguments and print the fixtures.
func fakeCommands(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, fixture := range map[string]string{"gnt-network": "gnt-network-list.txt", "gnt-instance": "gnt-instance-list.txt"} {
		abs, err := filepath.Abs(filepath.Join("testdata", fixture))
		if err != nil {
			t.Fatal(err)
		}
		script := "#!/bin/sh\n" +
			"# the environment is clean: no Ganeti hook variable reaches the command\n" +
			"env | grep -q '^GANETI_' && { echo 'GANETI_ variables leaked' >&2; exit 3; }\n" +
			"[ \"$1 $2 $3\" = \"list --no-headers --separator=|\" ] || { echo \"bad args: $*\" >&2; exit 2; }\n" +
			"cat " + abs + "\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCLI(t *testing.T) {
	t.Setenv("GANETI_HOOKS_PATH", "instance-add")
	c := CLI{Dir: fakeCommands(t)}
	nets, err := c.Networks(context.Background())
	if err != nil || len(nets) != 3 {
		t.Fatalf("networks: %d, %v", len(nets), err)
	}
	insts, err := c.Instances(context.Background())
	if err != nil || len(insts) != 4 {
		t.Fatalf("instances: %d, %v", len(insts), err)
	}
	_, err = CLI{Dir: t.TempDir()}.Networks(context.Background())
	if !errors.Is(err, ErrGaneti) || !strings.Contains(err.Error(), "gnt-network list") {
		t.Fatalf("missing command: %v", err)
	}
}

// RunSync reports without changing the pool, then applies with apply.
func TestRunSync(t *testing.T) {
	p := mirrored(t)
	c := CLI{Dir: fakeCommands(t)}
	update := func(fn func(*ipam.Txn) error) error { return p.Update(context.Background(), fn) }
	before := holdings(t, p)
	var out strings.Builder
	err := RunSync(context.Background(), c, update, false, &out)
	if !errors.Is(err, ErrDisagree) || !strings.HasSuffix(out.String(), "4 disagreements; run with --apply to take Ganeti's side\n") {
		t.Fatalf("report: %v\n%s", err, out.String())
	}
	if after := holdings(t, p); !slices.Equal(before, after) {
		t.Fatalf("a report changed the pool: %v", after)
	}
	out.Reset()
	if err := RunSync(context.Background(), c, update, true, &out); err != nil || !strings.HasPrefix(out.String(), "applied: ") || !strings.HasSuffix(out.String(), "applied 4 changes\n") {
		t.Fatalf("apply: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := RunSync(context.Background(), c, update, false, &out); err != nil || out.String() != "in step with Ganeti: 3 networks, 4 instances\n" {
		t.Fatalf("after apply: %v\n%s", err, out.String())
	}
}
