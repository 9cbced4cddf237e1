package ipamcli

import (
	"net/netip"
	"testing"

	"github.com/diktyo/diktyo/pkg/ipam"
)

func TestGoldenFixture(t *testing.T) {
	db := fixture(t)
	tests := []struct {
		name string
		args []string
	}{
		{"info-24", []string{"network", "info", "public"}},
		{"info-30", []string{"network", "info", "p2p"}},
		{"info-v6only", []string{"network", "info", "v6only"}},
		{"info-json", []string{"network", "info", "-o", "json", "p2p", "v6only"}},
		{"list-default", []string{"network", "list"}},
		{"list-fields", []string{"network", "list", "-o", "name,network,size,free_count,reserved_count,alloc_count,inst_list,external_reservations"}},
		{"list-plus", []string{"network", "list", "-o", "+uuid,ranges", "public"}},
		{"list-no-headers", []string{"network", "list", "--no-headers", "-o", "name,subnet,free"}},
		{"list-separator", []string{"network", "list", "--separator=|", "-o", "name,network,gateway6,group_list,tags"}},
		{"list-json", []string{"network", "list", "-o", "json"}},
		{"list-map", []string{"network", "list", "-o", "name,map", "p2p"}},
		{"ip-list", []string{"ip", "list", "public"}},
		{"ip-list-fields", []string{"ip", "list", "--no-headers", "--separator=,", "-o", "ip,instance,nic", "p2p"}},
		{"ip-list-json", []string{"ip", "list", "-o", "json", "p2p"}},
		{"ip-lookup", []string{"ip", "lookup", "198.18.2.77"}},
		{"ip-lookup-free", []string{"ip", "lookup", "198.18.2.99"}},
		{"ip-lookup-owner", []string{"ip", "lookup", "--owner=vm1.example.org"}},
		{"ip-lookup-owner-nic", []string{"ip", "lookup", "--owner=vm2.example.org:0", "-o", "json"}},
		{"check", []string{"check"}},
		{"check-json", []string{"check", "-o", "json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			goldenFile(t, tt.name, mustRun(t, db, tt.args...))
		})
	}
}

// TestGoldenMaps covers the usage map of a /16 (full map, 1024 lines) and
// of a /8 (coarse map of /20 blocks).
func TestGoldenMaps(t *testing.T) {
	db := newDB(t)
	o := ipam.Owner{Instance: "vm1", NIC: "0"}
	setup(t, db, func(tx *ipam.Txn) error {
		if err := tx.AddNetwork(ipam.Network{Name: "big16", Subnet: pfx("172.16.0.0/16"), Gateway: addr("172.16.0.1")},
			ipam.AddOptions{Reserved: []netip.Addr{addr("172.16.0.2"), addr("172.16.128.0")}}); err != nil {
			return err
		}
		for _, s := range []string{"172.16.0.5", "172.16.1.0", "172.16.255.254"} {
			if err := tx.Reserve("big16", addr(s), o); err != nil {
				return err
			}
		}
		if err := tx.AddNetwork(ipam.Network{Name: "big8", Subnet: pfx("10.0.0.0/8"), Gateway: addr("10.0.0.1")},
			ipam.AddOptions{}); err != nil {
			return err
		}
		// Fill the second /20 block entirely, touch a few others.
		for off := uint32(4096); off < 8192; off++ {
			if err := tx.ReserveExternal("big8", netip.AddrFrom4([4]byte{10, 0, byte(off >> 8), byte(off)})); err != nil {
				return err
			}
		}
		for _, s := range []string{"10.1.0.7", "10.128.0.1", "10.200.17.3"} {
			if err := tx.Reserve("big8", addr(s), o); err != nil {
				return err
			}
		}
		return nil
	})
	goldenFile(t, "info-16", mustRun(t, db, "network", "info", "big16"))
	goldenFile(t, "info-8", mustRun(t, db, "network", "info", "big8"))
}

func TestGoldenCheckProblems(t *testing.T) {
	db := fixture(t)
	st := openRaw(t, db)
	err := st.Update(t.Context(), func(tx ipam.StoreTx) error {
		// A reservation record without its bitmap bit or owner index.
		return tx.Put(append([]byte("o/public/"), 198, 18, 2, 99), []byte("instance\x00ghost\x00"))
	})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	r := runCLI(t, db, "", "check")
	if r.code != ExitInconsistent {
		t.Fatalf("check: exit %d, want %d; stderr %q", r.code, ExitInconsistent, r.stderr)
	}
	goldenFile(t, "check-problems", r.stdout+"stderr: "+r.stderr)
	r = runCLI(t, db, "", "check", "-o", "json")
	if r.code != ExitInconsistent {
		t.Fatalf("check -o json: exit %d", r.code)
	}
	goldenFile(t, "check-problems-json", r.stdout)
}
