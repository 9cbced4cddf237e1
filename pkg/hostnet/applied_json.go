package hostnet

import (
	"github.com/diktyo/diktyo/pkg/jsonx"
	"github.com/diktyo/diktyo/pkg/netplan"
)

// AppendJSON writes the record exactly as encoding/json marshals an
// Applied, without reflection (diktyo-ifup stores it in its state file).
func (a *Applied) AppendJSON(w *jsonx.Writer) {
	w.BeginObject()
	w.Key("tap")
	a.Tap.appendJSON(w)
	w.ArrayField("sysctls", len(a.Sysctls), func(i int) { a.Sysctls[i].appendJSON(w) })
	w.ArrayField("rules", len(a.Rules), func(i int) { a.Rules[i].AppendJSON(w) })
	w.ArrayField("routes", len(a.Routes), func(i int) { a.Routes[i].AppendJSON(w) })
	w.ArrayField("proxy_neighs", len(a.ProxyNeighs), func(i int) { a.ProxyNeighs[i].AppendJSON(w) })
	if a.OVS != nil {
		w.Key("ovs")
		a.OVS.AppendJSON(w)
	}
	if a.OVSFlows != "" {
		w.Key("ovs_flows")
		w.String(a.OVSFlows)
	}
	w.EndObject()
}

// DecodeJSON decodes a record into a with encoding/json's rules, without
// reflection.
func (a *Applied) DecodeJSON(r *jsonx.Reader) error {
	names := []string{"tap", "sysctls", "rules", "routes", "proxy_neighs", "ovs", "ovs_flows"}
	return r.Object(names, func(i int) error {
		switch i {
		case 0:
			return a.Tap.decodeJSON(r)
		case 1:
			return jsonx.Slice(r, &a.Sysctls, (*SysctlChange).decodeJSON)
		case 2:
			return jsonx.Slice(r, &a.Rules, (*netplan.Rule).DecodeJSON)
		case 3:
			return jsonx.Slice(r, &a.Routes, (*netplan.Route).DecodeJSON)
		case 4:
			return jsonx.Slice(r, &a.ProxyNeighs, (*netplan.ProxyNeigh).DecodeJSON)
		case 5:
			return jsonx.Ptr(r, &a.OVS, (*netplan.OVSPort).DecodeJSON)
		default:
			return r.String(&a.OVSFlows)
		}
	})
}

func (t *TapChange) appendJSON(w *jsonx.Writer) {
	w.BeginObject()
	w.Key("name")
	w.String(t.Name)
	if t.Index != 0 {
		w.Key("index")
		w.Int(int64(t.Index))
	}
	if len(t.PrevMAC) > 0 {
		w.Key("prev_mac")
		w.Base64(t.PrevMAC)
	}
	if t.PrevMTU != 0 {
		w.Key("prev_mtu")
		w.Int(int64(t.PrevMTU))
	}
	if t.SetUp {
		w.Key("set_up")
		w.Bool(true)
	}
	if t.Attached != "" {
		w.Key("attached")
		w.String(t.Attached)
	}
	if t.PrevMaster != "" {
		w.Key("prev_master")
		w.String(t.PrevMaster)
	}
	w.EndObject()
}

func (t *TapChange) decodeJSON(r *jsonx.Reader) error {
	names := []string{"name", "index", "prev_mac", "prev_mtu", "set_up", "attached", "prev_master"}
	return r.Object(names, func(i int) error {
		switch i {
		case 0:
			return r.String(&t.Name)
		case 1:
			return r.Int(&t.Index)
		case 2:
			return r.Bytes((*[]byte)(&t.PrevMAC))
		case 3:
			return r.Int(&t.PrevMTU)
		case 4:
			return r.Bool(&t.SetUp)
		case 5:
			return r.String(&t.Attached)
		default:
			return r.String(&t.PrevMaster)
		}
	})
}

func (s *SysctlChange) appendJSON(w *jsonx.Writer) {
	w.BeginObject()
	w.Key("key")
	w.String(s.Key)
	w.Key("value")
	w.String(s.Value)
	w.Key("prev")
	w.String(s.Prev)
	w.EndObject()
}

func (s *SysctlChange) decodeJSON(r *jsonx.Reader) error {
	return r.Object([]string{"key", "value", "prev"}, func(i int) error {
		switch i {
		case 0:
			return r.String(&s.Key)
		case 1:
			return r.String(&s.Value)
		default:
			return r.String(&s.Prev)
		}
	})
}
