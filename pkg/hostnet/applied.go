package hostnet

import (
	"bytes"
	"slices"

	"github.com/diktyo/diktyo/pkg/mac"
	"github.com/diktyo/diktyo/pkg/netplan"
)

// Applied records what one Apply changed, so that Remove can undo exactly
// that from the record alone. It is stored as JSON in diktyo's per-tap
// state file.
type Applied struct {
	Tap TapChange `json:"tap"`
	// Sysctls are the keys Apply changed, with the values to restore.
	Sysctls []SysctlChange `json:"sysctls,omitempty"`
	// Rules, Routes, ProxyNeighs and OVS are the NIC's objects present
	// after Apply (created now or by an earlier, interrupted Apply).
	// Rules carry their effective priority.
	Rules       []netplan.Rule       `json:"rules,omitempty"`
	Routes      []netplan.Route      `json:"routes,omitempty"`
	ProxyNeighs []netplan.ProxyNeigh `json:"proxy_neighs,omitempty"`
	OVS         *netplan.OVSPort     `json:"ovs,omitempty"`
	// OVSFlows is the bridge Apply wrote the NIC's OpenFlow flows on (""
	// for none); their cookie is ovsflow.Cookie of the tap.
	OVSFlows string `json:"ovs_flows,omitempty"`
}

// TapChange records what Apply did to the tap device. Index identifies the
// device: Remove leaves a device of the same name but another index alone
// (Ganeti reuses tap names).
type TapChange struct {
	Name  string `json:"name"`
	Index int    `json:"index,omitempty"`
	// PrevMAC and PrevMTU are set when Apply changed the MAC / MTU.
	PrevMAC mac.Addr `json:"prev_mac,omitempty"`
	PrevMTU int      `json:"prev_mtu,omitempty"`
	// SetUp: Apply brought the link up.
	SetUp bool `json:"set_up,omitempty"`
	// Attached is the bridge Apply attached the tap to ("" when the tap
	// was already there or has no master); PrevMaster is the master it
	// had before ("" for none).
	Attached   string `json:"attached,omitempty"`
	PrevMaster string `json:"prev_master,omitempty"`
}

// SysctlChange is one /proc/sys key Apply set to Value; Prev is restored
// by Remove.
type SysctlChange struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Prev  string `json:"prev"`
}

// Empty reports whether the record holds nothing to remove.
func (a Applied) Empty() bool {
	t := a.Tap
	return t.PrevMAC == nil && t.PrevMTU == 0 && !t.SetUp && t.Attached == "" &&
		len(a.Sysctls) == 0 && len(a.Rules) == 0 && len(a.Routes) == 0 &&
		len(a.ProxyNeighs) == 0 && a.OVS == nil && a.OVSFlows == ""
}

// Merge combines the record of an earlier Apply of the same NIC (a) with
// the record of a later one (b), for callers that Apply again without
// Remove: the earliest previous values are kept (the later Apply found
// the earlier one's values already set) and objects are united. If the
// tap was recreated in between (another index), b's tap record wins.
func (a Applied) Merge(b Applied) Applied {
	m := Applied{Tap: b.Tap}
	if a.Tap.Name == b.Tap.Name && (a.Tap.Index == b.Tap.Index || b.Tap.Index == 0) {
		t := a.Tap
		if b.Tap.Index != 0 {
			t.Index = b.Tap.Index
		}
		if t.PrevMAC == nil {
			t.PrevMAC = b.Tap.PrevMAC
		}
		if t.PrevMTU == 0 {
			t.PrevMTU = b.Tap.PrevMTU
		}
		t.SetUp = a.Tap.SetUp || b.Tap.SetUp
		if b.Tap.Attached != "" {
			t.Attached = b.Tap.Attached
			if a.Tap.Attached == "" {
				t.PrevMaster = b.Tap.PrevMaster
			}
		}
		m.Tap = t
	}
	m.Sysctls = slices.Clone(a.Sysctls)
	for _, s := range b.Sysctls {
		i := slices.IndexFunc(m.Sysctls, func(x SysctlChange) bool { return x.Key == s.Key })
		if i < 0 {
			m.Sysctls = append(m.Sysctls, s)
		} else {
			m.Sysctls[i].Value = s.Value
		}
	}
	m.Rules = union(a.Rules, b.Rules, func(x, y netplan.Rule) bool { return x == y })
	m.Routes = union(a.Routes, b.Routes, func(x, y netplan.Route) bool { return x == y })
	m.ProxyNeighs = union(a.ProxyNeighs, b.ProxyNeighs, func(x, y netplan.ProxyNeigh) bool { return x == y })
	m.OVS, m.OVSFlows = a.OVS, a.OVSFlows
	if b.OVS != nil {
		m.OVS = b.OVS
	}
	if b.OVSFlows != "" {
		m.OVSFlows = b.OVSFlows
	}
	return m
}

func union[T any](a, b []T, eq func(x, y T) bool) []T {
	out := slices.Clone(a)
	for _, y := range b {
		if !slices.ContainsFunc(out, func(x T) bool { return eq(x, y) }) {
			out = append(out, y)
		}
	}
	return out
}

func sameMAC(a, b []byte) bool { return bytes.Equal(a, b) }
