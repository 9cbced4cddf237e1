// Package netplan computes the desired host state of one VM NIC — tap
// settings, routing rules and routes, sysctls, neighbour proxies,
// announcements, an Open vSwitch port, nftables filter inputs and the
// nfdhcpd binding — from the Ganeti ifup environment, diktyo's config and a
// few facts read from the host. It is pure: it must never import netlink,
// nftables, sockets or stores; pkg/hostnet and pkg/firewall apply a Plan.
package netplan

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/ganeti"
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
	// NIC is left out of the JSON when zero: diktyo-ifup's records hold
	// it once, next to the plan.
	NIC  NICID `json:"nic,omitzero"`
	Mode Mode  `json:"mode"`
	// Host is what pkg/hostnet applies with netlink (and ovs-vsctl).
	Host Host `json:"host"`
	// Filter is what pkg/firewall applies with nftables.
	Filter Filter `json:"filter"`
	// Binding is the nfdhcpd binding file to write (nil: none).
	Binding *binding.Binding `json:"binding,omitempty"`
}

// planJSON is Plan as encoding/json sees it, with Binding as text.
type planJSON struct {
	plainPlan
	Binding string `json:"binding,omitempty"`
}

// plainPlan is Plan without its JSON methods.
type plainPlan Plan

// MarshalJSON encodes Binding as the text of its GRNET binding file, the
// form operators read in /var/lib/nfdhcpd.
func (p Plan) MarshalJSON() ([]byte, error) {
	aux := planJSON{plainPlan: plainPlan(p)}
	aux.plainPlan.Binding = nil
	if p.Binding != nil {
		aux.Binding = string(p.Binding.Marshal())
	}
	return json.Marshal(aux)
}

// UnmarshalJSON is the inverse of [Plan.MarshalJSON]; the binding text is
// parsed for the plan's tap (NIC.Tap, else Host.Tap.Name when the JSON
// has no NIC).
func (p *Plan) UnmarshalJSON(b []byte) error {
	var aux planJSON
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*p = Plan(aux.plainPlan)
	p.Binding = nil
	if aux.Binding != "" {
		tap := p.NIC.Tap
		if tap == "" {
			tap = p.Host.Tap.Name
		}
		bd, err := binding.Parse(tap, strings.NewReader(aux.Binding))
		if err != nil {
			return fmt.Errorf("binding of %s: %w", tap, err)
		}
		p.Binding = bd
	}
	return nil
}
