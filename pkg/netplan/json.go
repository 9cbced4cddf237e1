package netplan

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/jsonx"
)

// The plan's JSON codec, written by hand on pkg/jsonx so that diktyo-ifup
// reads and writes its state records without encoding/json's reflection.
// Each AppendJSON writes exactly what encoding/json writes for the type's
// struct tags (omitempty, omitzero, base64 MACs, text addresses); each
// DecodeJSON decodes with encoding/json's rules into the receiver. The
// types other packages embed in their own records export theirs.

// AppendJSON writes the plan as [Plan.MarshalJSON] does.
func (p *Plan) AppendJSON(w *jsonx.Writer) {
	w.BeginObject()
	w.Key("nic")
	p.NIC.AppendJSON(w)
	w.Key("mode")
	w.String(string(p.Mode))
	w.Key("host")
	p.Host.appendJSON(w)
	w.Key("filter")
	p.Filter.appendJSON(w)
	if p.Binding != nil {
		if b := p.Binding.Marshal(); len(b) > 0 {
			w.Key("binding")
			w.StringBytes(b)
		}
	}
	w.EndObject()
}

// DecodeJSON decodes a plan written by AppendJSON into p, as
// [Plan.UnmarshalJSON] does: the binding text is parsed for p.NIC.Tap, and
// p.Binding is nil when the input has none.
func (p *Plan) DecodeJSON(r *jsonx.Reader) error {
	var bind string
	err := r.Object([]string{"nic", "mode", "host", "filter", "binding"}, func(i int) error {
		switch i {
		case 0:
			return p.NIC.DecodeJSON(r)
		case 1:
			return r.String((*string)(&p.Mode))
		case 2:
			return p.Host.decodeJSON(r)
		case 3:
			return p.Filter.decodeJSON(r)
		default:
			return r.String(&bind)
		}
	})
	if err != nil {
		return err
	}
	p.Binding = nil
	if bind != "" {
		bd, err := binding.Parse(p.NIC.Tap, strings.NewReader(bind))
		if err != nil {
			return fmt.Errorf("plan of %s: %w", p.NIC.Tap, err)
		}
		p.Binding = bd
	}
	return nil
}

// AppendJSON writes the NIC identity.
func (id *NICID) AppendJSON(w *jsonx.Writer) {
	w.BeginObject()
	w.Key("tap")
	w.String(id.Tap)
	w.Key("instance")
	w.String(id.Instance)
	if id.UUID != "" {
		w.Key("uuid")
		w.String(id.UUID)
	}
	w.Key("index")
	w.Int(int64(id.Index))
	if id.Name != "" {
		w.Key("name")
		w.String(id.Name)
	}
	w.EndObject()
}

// DecodeJSON decodes a NIC identity into id.
func (id *NICID) DecodeJSON(r *jsonx.Reader) error {
	return r.Object([]string{"tap", "instance", "uuid", "index", "name"}, func(i int) error {
		switch i {
		case 0:
			return r.String(&id.Tap)
		case 1:
			return r.String(&id.Instance)
		case 2:
			return r.String(&id.UUID)
		case 3:
			return r.Int(&id.Index)
		default:
			return r.String(&id.Name)
		}
	})
}

func (h *Host) appendJSON(w *jsonx.Writer) {
	w.BeginObject()
	w.Key("tap")
	h.Tap.appendJSON(w)
	w.ArrayField("sysctls", len(h.Sysctls), func(i int) { h.Sysctls[i].appendJSON(w) })
	w.ArrayField("rules", len(h.Rules), func(i int) { h.Rules[i].AppendJSON(w) })
	w.ArrayField("routes", len(h.Routes), func(i int) { h.Routes[i].AppendJSON(w) })
	w.ArrayField("proxy_neighs", len(h.ProxyNeighs), func(i int) { h.ProxyNeighs[i].AppendJSON(w) })
	w.ArrayField("announce", len(h.Announce), func(i int) { h.Announce[i].appendJSON(w) })
	if h.OVS != nil {
		w.Key("ovs")
		h.OVS.AppendJSON(w)
	}
	w.ArrayField("uplink_pending", len(h.UplinkPending), func(i int) { h.UplinkPending[i].appendJSON(w) })
	w.EndObject()
}

func (h *Host) decodeJSON(r *jsonx.Reader) error {
	names := []string{"tap", "sysctls", "rules", "routes", "proxy_neighs", "announce", "ovs", "uplink_pending"}
	return r.Object(names, func(i int) error {
		switch i {
		case 0:
			return h.Tap.decodeJSON(r)
		case 1:
			return jsonx.Slice(r, &h.Sysctls, (*Sysctl).decodeJSON)
		case 2:
			return jsonx.Slice(r, &h.Rules, (*Rule).DecodeJSON)
		case 3:
			return jsonx.Slice(r, &h.Routes, (*Route).DecodeJSON)
		case 4:
			return jsonx.Slice(r, &h.ProxyNeighs, (*ProxyNeigh).DecodeJSON)
		case 5:
			return jsonx.Slice(r, &h.Announce, (*Announce).decodeJSON)
		case 6:
			return jsonx.Ptr(r, &h.OVS, (*OVSPort).DecodeJSON)
		default:
			return jsonx.Slice(r, &h.UplinkPending, (*UplinkPending).decodeJSON)
		}
	})
}

func (u *UplinkPending) appendJSON(w *jsonx.Writer) {
	w.BeginObject()
	w.Key("addr")
	w.Addr(u.Addr)
	w.Key("table")
	w.Int(int64(u.Table))
	w.EndObject()
}

func (u *UplinkPending) decodeJSON(r *jsonx.Reader) error {
	return r.Object([]string{"addr", "table"}, func(i int) error {
		if i == 0 {
			return r.Addr(&u.Addr)
		}
		return r.Int(&u.Table)
	})
}

func (t *Tap) appendJSON(w *jsonx.Writer) {
	w.BeginObject()
	w.Key("name")
	w.String(t.Name)
	if len(t.MAC) > 0 {
		w.Key("mac")
		w.Base64(t.MAC)
	}
	if t.MTU != 0 {
		w.Key("mtu")
		w.Int(int64(t.MTU))
	}
	if t.Master != "" {
		w.Key("master")
		w.String(t.Master)
	}
	w.EndObject()
}

func (t *Tap) decodeJSON(r *jsonx.Reader) error {
	return r.Object([]string{"name", "mac", "mtu", "master"}, func(i int) error {
		switch i {
		case 0:
			return r.String(&t.Name)
		case 1:
			return r.Bytes((*[]byte)(&t.MAC))
		case 2:
			return r.Int(&t.MTU)
		default:
			return r.String(&t.Master)
		}
	})
}

func (s *Sysctl) appendJSON(w *jsonx.Writer) {
	w.BeginObject()
	w.Key("key")
	w.String(s.Key)
	w.Key("value")
	w.String(s.Value)
	w.EndObject()
}

func (s *Sysctl) decodeJSON(r *jsonx.Reader) error {
	return r.Object([]string{"key", "value"}, func(i int) error {
		if i == 0 {
			return r.String(&s.Key)
		}
		return r.String(&s.Value)
	})
}

// AppendJSON writes the rule.
func (rl *Rule) AppendJSON(w *jsonx.Writer) {
	w.BeginObject()
	w.Key("family")
	w.Int(int64(rl.Family))
	if rl.IIF != "" {
		w.Key("iif")
		w.String(rl.IIF)
	}
	if rl.Mark != 0 {
		w.Key("mark")
		w.Uint(uint64(rl.Mark))
	}
	w.Key("table")
	w.Int(int64(rl.Table))
	if rl.Priority != 0 {
		w.Key("priority")
		w.Int(int64(rl.Priority))
	}
	w.EndObject()
}

// DecodeJSON decodes a rule into rl.
func (rl *Rule) DecodeJSON(r *jsonx.Reader) error {
	return r.Object([]string{"family", "iif", "mark", "table", "priority"}, func(i int) error {
		switch i {
		case 0:
			return r.Int(&rl.Family)
		case 1:
			return r.String(&rl.IIF)
		case 2:
			return r.Uint32(&rl.Mark)
		case 3:
			return r.Int(&rl.Table)
		default:
			return r.Int(&rl.Priority)
		}
	})
}

// AppendJSON writes the route.
func (rt *Route) AppendJSON(w *jsonx.Writer) {
	w.BeginObject()
	w.Key("dst")
	w.Prefix(rt.Dst)
	w.Key("dev")
	w.String(rt.Dev)
	w.Key("table")
	w.Int(int64(rt.Table))
	w.EndObject()
}

// DecodeJSON decodes a route into rt.
func (rt *Route) DecodeJSON(r *jsonx.Reader) error {
	return r.Object([]string{"dst", "dev", "table"}, func(i int) error {
		switch i {
		case 0:
			return r.Prefix(&rt.Dst)
		case 1:
			return r.String(&rt.Dev)
		default:
			return r.Int(&rt.Table)
		}
	})
}

// AppendJSON writes the proxy NDP entry.
func (pn *ProxyNeigh) AppendJSON(w *jsonx.Writer) {
	w.BeginObject()
	w.Key("addr")
	w.Addr(pn.Addr)
	w.Key("dev")
	w.String(pn.Dev)
	w.EndObject()
}

// DecodeJSON decodes a proxy NDP entry into pn.
func (pn *ProxyNeigh) DecodeJSON(r *jsonx.Reader) error {
	return r.Object([]string{"addr", "dev"}, func(i int) error {
		if i == 0 {
			return r.Addr(&pn.Addr)
		}
		return r.String(&pn.Dev)
	})
}

func (a *Announce) appendJSON(w *jsonx.Writer) {
	w.BeginObject()
	w.Key("kind")
	w.String(string(a.Kind))
	w.Key("addr")
	w.Addr(a.Addr)
	w.Key("dev")
	w.String(a.Dev)
	w.EndObject()
}

func (a *Announce) decodeJSON(r *jsonx.Reader) error {
	return r.Object([]string{"kind", "addr", "dev"}, func(i int) error {
		switch i {
		case 0:
			return r.String((*string)(&a.Kind))
		case 1:
			return r.Addr(&a.Addr)
		default:
			return r.String(&a.Dev)
		}
	})
}

// AppendJSON writes the Open vSwitch port.
func (o *OVSPort) AppendJSON(w *jsonx.Writer) {
	w.BeginObject()
	w.Key("bridge")
	w.String(o.Bridge)
	if o.Tag != 0 {
		w.Key("tag")
		w.Int(int64(o.Tag))
	}
	if len(o.Trunks) > 0 {
		w.Key("trunks")
		w.BeginArray()
		for _, t := range o.Trunks {
			w.Int(int64(t))
		}
		w.EndArray()
	}
	if o.Guard != nil {
		w.Key("guard")
		o.Guard.appendJSON(w)
	}
	w.EndObject()
}

// DecodeJSON decodes an Open vSwitch port into o.
func (o *OVSPort) DecodeJSON(r *jsonx.Reader) error {
	return r.Object([]string{"bridge", "tag", "trunks", "guard"}, func(i int) error {
		switch i {
		case 0:
			return r.String(&o.Bridge)
		case 1:
			return r.Int(&o.Tag)
		case 2:
			return jsonx.Slice(r, &o.Trunks, func(n *int, r *jsonx.Reader) error { return r.Int(n) })
		default:
			return jsonx.Ptr(r, &o.Guard, (*Filter).decodeJSON)
		}
	})
}

func (f *Filter) appendJSON(w *jsonx.Writer) {
	w.BeginObject()
	w.Key("tap")
	w.String(f.Tap)
	w.Key("mode")
	w.String(string(f.Mode))
	if f.Bridge != "" {
		w.Key("bridge")
		w.String(f.Bridge)
	}
	w.Key("mac")
	w.Base64(f.MAC)
	if f.TapMAC != nil {
		w.Key("tap_mac")
		w.Base64(f.TapMAC)
	}
	w.Key("anti_spoof")
	w.Bool(f.AntiSpoof)
	if len(f.IPv4) > 0 {
		w.Key("ipv4")
		appendAddrs(w, f.IPv4)
	}
	if len(f.IPv6) > 0 {
		w.Key("ipv6")
		appendAddrs(w, f.IPv6)
	}
	w.Key("link_local6")
	w.Bool(f.LinkLocal6)
	if f.RouterLL6 != (netip.Addr{}) {
		w.Key("router_ll6")
		w.Addr(f.RouterLL6)
	}
	if f.Profile != "" {
		w.Key("profile")
		w.String(string(f.Profile))
	}
	if f.MACFilter != nil {
		w.Key("mac_filter")
		w.BeginObject()
		w.Key("prefix")
		w.Base64(f.MACFilter.Prefix)
		w.Key("mask")
		w.Base64(f.MACFilter.Mask)
		w.EndObject()
	}
	if f.ARPGateway != (netip.Addr{}) {
		w.Key("arp_gateway")
		w.Addr(f.ARPGateway)
	}
	if q := f.Queues; q != nil {
		w.Key("queues")
		w.BeginObject()
		w.Key("dhcp")
		w.Uint(uint64(q.DHCP))
		w.Key("dhcpv6")
		w.Uint(uint64(q.DHCPv6))
		w.Key("rs")
		w.Uint(uint64(q.RS))
		w.Key("ns")
		w.Uint(uint64(q.NS))
		w.Key("bypass")
		w.Bool(q.Bypass)
		w.EndObject()
	}
	if f.RouteMark != 0 {
		w.Key("route_mark")
		w.Uint(uint64(f.RouteMark))
	}
	w.EndObject()
}

func appendAddrs(w *jsonx.Writer, addrs []netip.Addr) {
	w.BeginArray()
	for _, a := range addrs {
		w.Addr(a)
	}
	w.EndArray()
}

func (f *Filter) decodeJSON(r *jsonx.Reader) error {
	names := []string{"tap", "mode", "bridge", "mac", "anti_spoof", "ipv4", "ipv6",
		"link_local6", "profile", "mac_filter", "arp_gateway", "queues", "route_mark", "router_ll6", "tap_mac"}
	return r.Object(names, func(i int) error {
		switch i {
		case 0:
			return r.String(&f.Tap)
		case 1:
			return r.String((*string)(&f.Mode))
		case 2:
			return r.String(&f.Bridge)
		case 3:
			return r.Bytes((*[]byte)(&f.MAC))
		case 4:
			return r.Bool(&f.AntiSpoof)
		case 5:
			return jsonx.Slice(r, &f.IPv4, decodeAddr)
		case 6:
			return jsonx.Slice(r, &f.IPv6, decodeAddr)
		case 7:
			return r.Bool(&f.LinkLocal6)
		case 8:
			return r.String((*string)(&f.Profile))
		case 9:
			return jsonx.Ptr(r, &f.MACFilter, (*MACFilter).decodeJSON)
		case 10:
			return r.Addr(&f.ARPGateway)
		case 11:
			return jsonx.Ptr(r, &f.Queues, (*Queues).decodeJSON)
		case 12:
			return r.Uint32(&f.RouteMark)
		case 13:
			return r.Addr(&f.RouterLL6)
		default:
			return r.Bytes((*[]byte)(&f.TapMAC))
		}
	})
}

func decodeAddr(a *netip.Addr, r *jsonx.Reader) error { return r.Addr(a) }

func (m *MACFilter) decodeJSON(r *jsonx.Reader) error {
	return r.Object([]string{"prefix", "mask"}, func(i int) error {
		if i == 0 {
			return r.Bytes((*[]byte)(&m.Prefix))
		}
		return r.Bytes((*[]byte)(&m.Mask))
	})
}

func (q *Queues) decodeJSON(r *jsonx.Reader) error {
	return r.Object([]string{"dhcp", "dhcpv6", "rs", "ns", "bypass"}, func(i int) error {
		switch i {
		case 0:
			return r.Uint16(&q.DHCP)
		case 1:
			return r.Uint16(&q.DHCPv6)
		case 2:
			return r.Uint16(&q.RS)
		case 3:
			return r.Uint16(&q.NS)
		default:
			return r.Bool(&q.Bypass)
		}
	})
}
