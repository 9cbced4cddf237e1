package ganetisync

import (
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/ipam"
)

// Network is a Ganeti network.
type Network struct {
	Name      string
	UUID      string // "" when unknown (network hooks carry none)
	Subnet    netip.Prefix
	Gateway   netip.Addr
	Subnet6   netip.Prefix
	Gateway6  netip.Addr
	MACPrefix string // "aa:00:00", "" for none
	Tags      []string
	// Groups maps node group names to how they connect the network; nil
	// when unknown (it is then not compared).
	Groups map[string]ipam.Connection
	// External are Ganeti's external reservations as gnt-network lists
	// them (network, broadcast and gateway addresses included); nil when
	// unknown (then not compared).
	External []netip.Addr
}

// NIC is one NIC of a Ganeti instance.
type NIC struct {
	Index       int
	UUID        string
	Name        string
	IP          netip.Addr
	MAC         net.HardwareAddr
	Link        string
	Network     string // Ganeti network name, "" for none
	NetworkUUID string // "" for none or unknown
}

// ID is how the pool names the NIC in an owner: its UUID, else its name,
// else its index.
func (n *NIC) ID() string {
	switch {
	case n.UUID != "":
		return n.UUID
	case n.Name != "":
		return n.Name
	}
	return strconv.Itoa(n.Index)
}

// Names reports whether id, the NIC part of a pool owner, names n: its
// UUID, name or index.
func (n *NIC) Names(id string) bool {
	return id != "" && (id == n.UUID || id == n.Name || id == strconv.Itoa(n.Index))
}

// Instance is a Ganeti instance and its NICs.
type Instance struct {
	Name string
	NICs []NIC
}

// Owner is the pool owner of n.
func (i *Instance) Owner(n *NIC) ipam.Owner { return ipam.Owner{Instance: i.Name, NIC: n.ID()} }

// InstanceOf converts the instance of a hook environment.
func InstanceOf(in *ganeti.Instance) Instance {
	out := Instance{Name: in.Name, NICs: make([]NIC, 0, len(in.NICs))}
	for _, n := range in.NICs {
		nic := NIC{Index: n.Index, UUID: n.UUID, Name: n.Name, IP: n.IP, MAC: net.HardwareAddr(n.MAC), Link: n.Link}
		if n.Network != nil {
			nic.Network, nic.NetworkUUID = n.Network.Name, n.Network.UUID
		}
		out.NICs = append(out.NICs, nic)
	}
	return out
}

// NetworkOf converts the network of a network hook's environment. Groups
// and External stay unknown: the environment has neither.
func NetworkOf(n *ganeti.Network) Network {
	g := Network{Name: n.Name, UUID: n.UUID, Subnet: n.Subnet, Gateway: n.Gateway,
		Subnet6: n.Subnet6, Gateway6: n.Gateway6, Tags: n.Tags.Sorted()}
	if len(n.MACPrefix) > 0 {
		g.MACPrefix = n.MACPrefix.String()
	}
	return g
}

// definition is the pool definition of g (Groups included when known).
func (g *Network) definition() (ipam.Network, error) {
	n := ipam.Network{Name: g.Name, UUID: g.UUID, Subnet: g.Subnet, Gateway: g.Gateway,
		Subnet6: g.Subnet6, Gateway6: g.Gateway6, Tags: slices.Clone(g.Tags)}
	if g.MACPrefix != "" {
		p, err := ipam.ParseMACPrefix(g.MACPrefix)
		if err != nil {
			return n, err
		}
		n.MACPrefix = p
	}
	if len(g.Groups) > 0 {
		n.Connections = make(map[string]ipam.Connection, len(g.Groups))
		for k, c := range g.Groups {
			n.Connections[k] = c
		}
	}
	return n, n.Validate()
}

// systemAddr reports whether ip is the network, broadcast or gateway
// address of p: Ganeti lists them as external reservations, the pool
// holds them by definition.
func systemAddr(p *ipam.Network, ip netip.Addr) bool {
	if !p.Subnet.IsValid() {
		return false
	}
	off, ok := p.Offset(ip)
	return ok && (off == 0 || off == p.Size()-1 || ip == p.Gateway)
}
