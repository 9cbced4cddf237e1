package ganetisync

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/diktyo/diktyo/pkg/ipam"
)

// ConflictError is an address of a NIC that the instance may not have. It
// matches ipam.ErrConflict.
type ConflictError struct {
	Instance string
	NIC      int
	IP       netip.Addr
	// Network is the pool network concerned ("" when the address is in
	// no single one).
	Network string
	// Holder is who holds the address (Kind "" when the problem is not a
	// holder: Reason says what it is).
	Holder ipam.Holding
	Reason string
}

func (e *ConflictError) Error() string {
	s := fmt.Sprintf("%s NIC %d: %v", e.Instance, e.NIC, e.IP)
	if e.Network != "" {
		s += " in " + e.Network
	}
	if e.Holder.Kind != "" {
		return s + " is " + holderText(e.Holder)
	}
	return s + ": " + e.Reason
}

// holderText names who holds an address, as in "is held by vm9:1".
func holderText(h ipam.Holding) string {
	switch h.Kind {
	case ipam.KindInstance:
		return "held by " + h.Owner.String()
	case ipam.KindExternal:
		return "reserved externally"
	}
	return "the network's " + string(h.Kind) + " address"
}

// Unwrap returns ipam.ErrConflict.
func (e *ConflictError) Unwrap() error { return ipam.ErrConflict }

// Claim is the pre-phase check of a NIC list (instance-add, -modify).
// Every address of a NIC in a pool network must be free or held by
// inst.Name in every pool network whose subnet contains it; when all
// are, the free ones are reserved for their NIC in the NIC's network and
// returned. Otherwise nothing is reserved and the error joins one
// *ConflictError per problem.
func Claim(tx *ipam.Txn, inst *Instance) ([]ipam.Holding, error) {
	v, err := newView(tx)
	if err != nil {
		return nil, err
	}
	type want struct {
		net   string
		ip    netip.Addr
		owner ipam.Owner
	}
	var todo []want
	var conflicts []error
	seen := map[netIP]int{}
	for i := range inst.NICs {
		nic := &inst.NICs[i]
		if !nic.IP.IsValid() {
			continue
		}
		bad := func(network, reason string, h ipam.Holding) {
			conflicts = append(conflicts, &ConflictError{Instance: inst.Name, NIC: nic.Index, IP: nic.IP, Network: network, Holder: h, Reason: reason})
		}
		p, err := v.forNIC(nic)
		if err != nil {
			bad("", err.Error()+" and the NIC names none of them", ipam.Holding{})
			continue
		}
		if p == nil {
			continue // outside diktyo's networks
		}
		if !p.Subnet.Contains(nic.IP) {
			bad(p.Name, "outside the pool network's subnet "+prefixString(p.Subnet), ipam.Holding{})
			continue
		}
		if j, dup := seen[netIP{p.Name, nic.IP}]; dup {
			bad(p.Name, fmt.Sprintf("also the address of NIC %d", j), ipam.Holding{})
			continue
		}
		seen[netIP{p.Name, nic.IP}] = nic.Index
		hs, err := tx.Lookup(nic.IP)
		if err != nil {
			return nil, err
		}
		free := false
		ok := true
		for _, h := range hs {
			switch {
			case h.Kind == "":
				free = free || h.Network == p.Name
			case h.Kind == ipam.KindInstance && h.Owner.Instance == inst.Name:
			default:
				bad(h.Network, "", h)
				ok = false
			}
		}
		if ok && free {
			todo = append(todo, want{p.Name, nic.IP, inst.Owner(nic)})
		}
	}
	if len(conflicts) > 0 {
		return nil, errors.Join(conflicts...)
	}
	var reserved []ipam.Holding
	for _, w := range todo {
		if err := tx.Reserve(w.net, w.ip, w.owner); err != nil {
			return nil, err
		}
		reserved = append(reserved, ipam.Holding{Network: w.net, IP: w.ip, Kind: ipam.KindInstance, Owner: w.owner})
	}
	return reserved, nil
}
