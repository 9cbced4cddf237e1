package netplan

import (
	"bytes"
	"slices"
)

// Equal reports whether p and q describe the same host state. Nil and
// empty lists and MACs are equal (a plan read back from a record holds
// nil where a fresh one may hold empty lists); two nil plans are equal.
func (p *Plan) Equal(q *Plan) bool {
	if p == nil || q == nil {
		return p == q
	}
	return p.NIC == q.NIC && p.Mode == q.Mode && p.Host.Equal(&q.Host) && p.Filter.Equal(&q.Filter) &&
		sameBinding(p, q)
}

func sameBinding(p, q *Plan) bool {
	if p.Binding == nil || q.Binding == nil {
		return p.Binding == q.Binding
	}
	return bytes.Equal(p.Binding.Marshal(), q.Binding.Marshal())
}

// Equal reports whether h and o are the same host plan, as [Plan.Equal].
func (h *Host) Equal(o *Host) bool {
	return h.Tap.Name == o.Tap.Name && bytes.Equal(h.Tap.MAC, o.Tap.MAC) && h.Tap.MTU == o.Tap.MTU &&
		h.Tap.Master == o.Tap.Master && slices.Equal(h.Sysctls, o.Sysctls) && slices.Equal(h.Rules, o.Rules) &&
		slices.Equal(h.Routes, o.Routes) && slices.Equal(h.ProxyNeighs, o.ProxyNeighs) &&
		slices.Equal(h.Announce, o.Announce) && h.OVS.Equal(o.OVS) && slices.Equal(h.UplinkPending, o.UplinkPending)
}

// Equal reports whether p and o are the same port (both nil: true), as
// [Plan.Equal].
func (p *OVSPort) Equal(o *OVSPort) bool {
	if p == nil || o == nil {
		return p == o
	}
	return p.Bridge == o.Bridge && p.Tag == o.Tag && slices.Equal(p.Trunks, o.Trunks) && p.Guard.Equal(o.Guard)
}

// Equal reports whether f and o are the same filter (both nil: true), as
// [Plan.Equal].
func (f *Filter) Equal(o *Filter) bool {
	if f == nil || o == nil {
		return f == o
	}
	return f.Tap == o.Tap && f.Mode == o.Mode && f.Bridge == o.Bridge && bytes.Equal(f.MAC, o.MAC) &&
		bytes.Equal(f.TapMAC, o.TapMAC) && f.AntiSpoof == o.AntiSpoof && slices.Equal(f.IPv4, o.IPv4) &&
		slices.Equal(f.IPv6, o.IPv6) && f.LinkLocal6 == o.LinkLocal6 && f.RouterLL6 == o.RouterLL6 &&
		f.Profile == o.Profile && f.MACFilter.equal(o.MACFilter) && f.ARPGateway == o.ARPGateway &&
		sameQueues(f.Queues, o.Queues) && f.RouteMark == o.RouteMark
}

func (m *MACFilter) equal(o *MACFilter) bool {
	if m == nil || o == nil {
		return m == o
	}
	return bytes.Equal(m.Prefix, o.Prefix) && bytes.Equal(m.Mask, o.Mask)
}

func sameQueues(a, b *Queues) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
