package ifup

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/boltstore"
)

func TestPoolLookupBolt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipam.db")
	ctx := context.Background()
	p := Pool{Path: path}
	// No pool file: no network, no error.
	if n, err := p.Lookup(ctx, "100", netip.MustParseAddr("198.18.100.2"), nil); n != nil || err != nil {
		t.Fatalf("missing pool: %v %v", n, err)
	}
	st, err := boltstore.Open(path, boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	mac := func(s string) ipam.MACPrefix { m, _ := ipam.ParseMACPrefix(s); return m }
	err = ipam.New(st).Update(ctx, func(tx *ipam.Txn) error {
		for _, n := range []ipam.Network{
			{Name: "net2", Subnet: netip.MustParsePrefix("198.18.100.0/24"), Gateway: netip.MustParseAddr("198.18.100.1"),
				Subnet6: netip.MustParsePrefix("2001:db8:100::/64"), Gateway6: netip.MustParseAddr("2001:db8:100::1"),
				MACPrefix: mac("aa:00:01"), Tags: []string{"nfdhcpd"}},
			{Name: "priv1", Subnet: netip.MustParsePrefix("198.51.100.0/25"), MACPrefix: mac("aa:00:02")},
			{Name: "priv2", Subnet: netip.MustParsePrefix("198.51.100.128/25"), MACPrefix: mac("aa:00:03")},
		} {
			if err := tx.AddNetwork(n, ipam.AddOptions{}); err != nil {
				return err
			}
		}
		for net, link := range map[string]string{"net2": "100", "priv1": "br1", "priv2": "br1"} {
			if err := tx.Connect(net, "default", ipam.Connection{Mode: ipam.ModeBridged, Link: link}); err != nil {
				return err
			}
		}
		return nil
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	n, err := p.Lookup(ctx, "100", netip.MustParseAddr("198.18.100.2"), nil)
	if err != nil || n == nil || n.Name != "net2" || n.Gateway6.String() != "2001:db8:100::1" || !n.Tags.Has("nfdhcpd") || n.MACPrefix.String() != "aa:00:01" {
		t.Fatalf("lookup: %+v %v", n, err)
	}
	if n, err := p.Lookup(ctx, "100", netip.MustParseAddr("198.51.100.2"), nil); n != nil || err != nil {
		t.Fatalf("IP outside: %v %v", n, err)
	}
	// Two networks on one bridge, no IP: the MAC prefix decides.
	hw, _ := net.ParseMAC("aa:00:03:00:00:01")
	if n, err := p.Lookup(ctx, "br1", netip.Addr{}, hw); err != nil || n == nil || n.Name != "priv2" {
		t.Fatalf("by MAC: %+v %v", n, err)
	}
	hw, _ = net.ParseMAC("aa:00:09:00:00:01")
	if _, err := p.Lookup(ctx, "br1", netip.Addr{}, hw); !errors.Is(err, ErrAmbiguousNetwork) {
		t.Fatalf("ambiguous: %v", err)
	}
}
