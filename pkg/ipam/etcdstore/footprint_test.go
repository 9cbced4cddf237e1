package etcdstore

import (
	"context"
	"net/netip"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore/etcdtest"
)

// TestFootprint checks the key layout the package documentation states:
// creating a network and allocating one address write a few small keys,
// whatever the size of the network (a /8 is never one value).
func TestFootprint(t *testing.T) {
	m := etcdtest.Start(t, etcdtest.Config{})
	const prefix = "footprint/cluster1"
	s := open(t, m.Endpoint, prefix)
	defer s.Close()
	type written struct{ keys, bytes, largest int }
	var last written
	s.kv = &lossyKV{KVClient: s.kv, txn: func(_ context.Context, req *pb.TxnRequest, next func(*pb.TxnRequest) (*pb.TxnResponse, error)) (*pb.TxnResponse, error) {
		last = written{}
		for _, op := range req.Success {
			if p := op.GetRequestPut(); p != nil {
				n := len(p.Key) + len(p.Value)
				last.keys++
				last.bytes += n
				last.largest = max(last.largest, n)
			}
		}
		return next(req)
	}}
	pool := ipam.New(s)
	ctx := context.Background()
	for _, tc := range []struct {
		name, subnet        string
		createKeys          int
		createMax, allocMax int // bytes written in all
	}{
		{"slash24", "198.51.100.0/24", 4, 512, 512},
		{"slash16", "198.18.0.0/16", 5, 9 << 10, 5 << 10},
		{"slash8", "10.0.0.0/8", 5, 11 << 10, 7 << 10},
	} {
		err := pool.Update(ctx, func(tx *ipam.Txn) error {
			return tx.AddNetwork(ipam.Network{Name: tc.name, Subnet: netip.MustParsePrefix(tc.subnet)}, ipam.AddOptions{AllowOverlap: true})
		})
		if err != nil {
			t.Fatal(err)
		}
		create := last
		err = pool.Update(ctx, func(tx *ipam.Txn) error {
			_, err := tx.Allocate(tc.name, ipam.Owner{Instance: "vm1.example.org", NIC: "0"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		alloc := last
		t.Logf("%s: create writes %d keys, %d bytes (largest %d); allocate writes %d keys, %d bytes (largest %d)",
			tc.subnet, create.keys, create.bytes, create.largest, alloc.keys, alloc.bytes, alloc.largest)
		if create.keys != tc.createKeys || create.bytes > tc.createMax {
			t.Errorf("%s: create wrote %d keys, %d bytes; want %d keys, at most %d bytes", tc.subnet, create.keys, create.bytes, tc.createKeys, tc.createMax)
		}
		if alloc.keys != 5 || alloc.bytes > tc.allocMax || alloc.largest > 4200 {
			t.Errorf("%s: allocate wrote %d keys, %d bytes, largest %d; want 5 keys, at most %d bytes, none over 4200",
				tc.subnet, alloc.keys, alloc.bytes, alloc.largest, tc.allocMax)
		}
	}
}
