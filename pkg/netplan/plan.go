// Package netplan computes the desired host state of one VM NIC — tap
// settings, routing rules and routes, sysctls, neighbour proxies,
// announcements, an Open vSwitch port, nftables filter inputs and the
// nfdhcpd binding — from the Ganeti ifup environment, diktyo's config and a
// few facts read from the host. It is pure: it must never import netlink,
// nftables, sockets or stores; pkg/hostnet and pkg/firewall apply a Plan.
package netplan

import (
	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/jsonx"
)

// Mode is how the NIC is wired: Ganeti's NIC mode, the one mode type of
// diktyo.
type Mode = ganeti.NICMode

// NIC modes, as Ganeti names them.
const (
	ModeRouted      = ganeti.ModeRouted
	ModeBridged     = ganeti.ModeBridged
	ModeOpenvSwitch = ganeti.ModeOpenvSwitch
)

// NICID identifies the NIC a tap belongs to. Ganeti reuses tap names, so
// recorded state is only ever removed by the owner it was recorded for.
type NICID struct {
	Tap      string `json:"tap"`
	Instance string `json:"instance"`
	UUID     string `json:"uuid,omitempty"`
	Index    int    `json:"index"`
	Name     string `json:"name,omitempty"`
}

// SameNIC reports whether two IDs name the same NIC (instance and UUID, or
// instance and index when Ganeti gave no UUID).
func (a NICID) SameNIC(b NICID) bool {
	if a.Instance != b.Instance {
		return false
	}
	if a.UUID != "" || b.UUID != "" {
		return a.UUID == b.UUID
	}
	return a.Index == b.Index
}

// Plan is the whole desired host state of one NIC.
type Plan struct {
	NIC  NICID `json:"nic"`
	Mode Mode  `json:"mode"`
	// Host is what pkg/hostnet applies with netlink (and ovs-vsctl).
	Host Host `json:"host"`
	// Filter is what pkg/firewall applies with nftables.
	Filter Filter `json:"filter"`
	// Binding is the nfdhcpd binding file to write (nil: none).
	Binding *binding.Binding `json:"binding,omitempty"`
}

// MarshalJSON encodes Binding as the text of its GRNET binding file, the
// form operators read in /var/lib/nfdhcpd. It is [Plan.AppendJSON]: no
// reflection.
func (p Plan) MarshalJSON() ([]byte, error) {
	w := jsonx.NewWriter(make([]byte, 0, 1024), "")
	p.AppendJSON(w)
	return w.Bytes(), w.Err()
}

// UnmarshalJSON is the inverse of [Plan.MarshalJSON]: [Plan.DecodeJSON]
// of the whole input.
func (p *Plan) UnmarshalJSON(b []byte) error {
	r := jsonx.NewReader(b)
	if err := p.DecodeJSON(r); err != nil {
		return err
	}
	return r.End()
}
