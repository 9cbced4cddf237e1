package ifup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"time"

	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/storeurl"
)

// ErrAmbiguousNetwork: several pool networks match a NIC without
// NETWORK_* variables.
var ErrAmbiguousNetwork = errors.New("several networks match")

// DefaultPoolTimeout bounds the pool lookup of an up: the pool is only a
// fallback, so it must not hold up a VM start.
const DefaultPoolTimeout = 2 * time.Second

// Pool looks networks up in diktyo's pool, read-only. A missing pool (no
// file, or nothing under the etcd prefix) means no network.
type Pool struct {
	Path    string        // the pool's location: a bbolt path or an etcd:// URL (pkg/ipam/storeurl)
	Timeout time.Duration // 0: DefaultPoolTimeout; bounds the whole lookup
}

// Lookup implements Networks.
func (p Pool) Lookup(ctx context.Context, link string, ip netip.Addr, mac net.HardwareAddr) (*ganeti.Network, error) {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultPoolTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := storeurl.Open(ctx, p.Path, storeurl.Options{ReadOnly: true, Timeout: timeout})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var found []*ipam.Network
	err = ipam.New(st).View(ctx, func(tx *ipam.Txn) error {
		found, err = tx.FindNetworks(link, ip)
		return err
	})
	if err != nil {
		return nil, err
	}
	return pickNetwork(found, link, ip, mac)
}

// pickNetwork chooses among the networks on a link: the only one, or the
// only one whose MAC prefix is the NIC's.
func pickNetwork(found []*ipam.Network, link string, ip netip.Addr, mac net.HardwareAddr) (*ganeti.Network, error) {
	if len(found) > 1 {
		var byMAC []*ipam.Network
		for _, n := range found {
			if !n.MACPrefix.IsZero() && n.MACPrefix.Contains(mac) {
				byMAC = append(byMAC, n)
			}
		}
		if len(byMAC) > 0 {
			found = byMAC
		}
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return toGaneti(found[0]), nil
	}
	names := make([]string, len(found))
	for i, n := range found {
		names[i] = n.Name
	}
	return nil, fmt.Errorf("%w on %s for %v: %v", ErrAmbiguousNetwork, link, ip, names)
}

func toGaneti(n *ipam.Network) *ganeti.Network {
	g := &ganeti.Network{
		Name: n.Name, UUID: n.UUID, Subnet: n.Subnet, Gateway: n.Gateway,
		Subnet6: n.Subnet6, Gateway6: n.Gateway6, Tags: ganeti.NewTags(n.Tags...),
	}
	if !n.MACPrefix.IsZero() {
		g.MACPrefix = n.MACPrefix[:]
	}
	return g
}
