package ganeti

import (
	"net/netip"
	"strconv"

	"github.com/diktyo/diktyo/pkg/mac"
)

// IfupEnv is the environment Ganeti's KVM hypervisor gives the
// /etc/ganeti/kvm-vif-bridge script (kvm-ifup) for one tap device.
type IfupEnv struct {
	Instance  string     `json:"instance"`       // INSTANCE: instance name
	Interface string     `json:"interface"`      // INTERFACE: tap device, e.g. "tap0"
	Index     int        `json:"index"`          // INTERFACE_INDEX: NIC index in the instance
	Name      string     `json:"name,omitempty"` // INTERFACE_NAME: NIC name, if it has one
	UUID      string     `json:"uuid,omitempty"` // INTERFACE_UUID: NIC UUID
	MAC       mac.Addr   `json:"mac,omitempty"`  // MAC
	IP        netip.Addr `json:"ip,omitzero"`    // IP, if the NIC has one
	Mode      NICMode    `json:"mode"`           // MODE
	Link      string     `json:"link,omitempty"` // LINK: bridge, OVS switch or routing table
	// Bridge is BRIDGE, set (to Link) in bridged mode only.
	Bridge string `json:"bridge,omitempty"`
	VLAN   VLAN   `json:"vlan,omitzero"`  // VLAN
	Tags   Tags   `json:"tags,omitempty"` // TAGS: the instance's tags
	// Network is the network of the NIC (NETWORK_*), nil if none.
	Network *Network `json:"network,omitempty"`
}

// The variables of the kvm-ifup environment that ParseIfupEnv reads.
var ifupVars = map[string]bool{
	"INSTANCE": true, "INTERFACE": true, "MAC": true, "IP": true, "MODE": true,
	"LINK": true, "BRIDGE": true, "VLAN": true, "TAGS": true,
	"INTERFACE_INDEX": true, "INTERFACE_NAME": true, "INTERFACE_UUID": true,
	"NETWORK_NAME": true, "NETWORK_UUID": true, "NETWORK_TAGS": true,
	"NETWORK_SUBNET": true, "NETWORK_GATEWAY": true, "NETWORK_SUBNET6": true,
	"NETWORK_GATEWAY6": true, "NETWORK_MAC_PREFIX": true,
}

// ParseIfupEnv parses a kvm-ifup environment given as "K=V" entries,
// typically os.Environ(). Variables other than those of [IfupEnv] (PATH,
// HOME...) are ignored. INSTANCE, INTERFACE, INTERFACE_INDEX, MAC and MODE
// are required; Ganeti always sets them.
func ParseIfupEnv(environ []string) (*IfupEnv, error) {
	m, err := environToMap(environ, func(k string) bool { return ifupVars[k] })
	if err != nil {
		return nil, err
	}
	return ParseIfupEnvMap(m)
}

// ParseIfupEnvMap is [ParseIfupEnv] for an environment given as a map.
func ParseIfupEnvMap(env map[string]string) (*IfupEnv, error) {
	m := make(map[string]string)
	for k, v := range env {
		if ifupVars[k] {
			m[k] = v
		}
	}
	v := newVarSet("", m)
	e := &IfupEnv{}
	var err error
	if e.Instance, err = v.required("INSTANCE"); err != nil {
		return nil, err
	}
	if e.Interface, err = v.required("INTERFACE"); err != nil {
		return nil, err
	}
	if e.Index, err = v.count("INTERFACE_INDEX", "interface index", false); err != nil {
		return nil, err
	}
	if e.MAC, err = v.mac("MAC", true); err != nil {
		return nil, err
	}
	if e.Mode, err = v.mode("MODE", true); err != nil {
		return nil, err
	}
	if e.IP, err = parseAddr(v.str("IP"), anyFamily); err != nil {
		return nil, v.wrap("IP", err)
	}
	e.Name = v.str("INTERFACE_NAME")
	e.UUID = v.str("INTERFACE_UUID")
	e.Link = v.str("LINK")
	e.Bridge = v.str("BRIDGE")
	if e.VLAN, err = parseVLANValue(v.str("VLAN")); err != nil {
		return nil, v.wrap("VLAN", err)
	}
	e.Tags = ParseTags(v.str("TAGS"))
	if e.Network, err = parseNetwork(v, "NETWORK_"); err != nil {
		return nil, err
	}
	return e, nil
}

// Environ renders e into "K=V" entries, sorted, the way Ganeti sets them:
// IP, INTERFACE_NAME, LINK, BRIDGE and INTERFACE_UUID only when set, the
// others always. [ParseIfupEnv] of the result gives back e. Append PATH and
// whatever else a script needs.
func (e *IfupEnv) Environ() []string { return sortedEnviron(e.EnvMap()) }

// EnvMap is [IfupEnv.Environ] as a map.
func (e *IfupEnv) EnvMap() map[string]string {
	m := make(map[string]string)
	set := func(k, v string) { m[k] = v }
	opt := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("INSTANCE", e.Instance)
	set("INTERFACE", e.Interface)
	set("INTERFACE_INDEX", strconv.Itoa(e.Index))
	opt("INTERFACE_NAME", e.Name)
	opt("INTERFACE_UUID", e.UUID)
	set("MAC", e.MAC.String())
	set("MODE", string(e.Mode))
	if e.IP.IsValid() {
		set("IP", e.IP.String())
	}
	opt("LINK", e.Link)
	opt("BRIDGE", e.Bridge)
	set("VLAN", e.VLAN.String())
	set("TAGS", e.Tags.String())
	renderNetwork(set, "NETWORK_", e.Network, true)
	return m
}

// NIC returns the NIC e describes, in the form of a hook NIC.
func (e *IfupEnv) NIC() NIC {
	return NIC{
		Index: e.Index, Name: e.Name, UUID: e.UUID, MAC: e.MAC, IP: e.IP, Mode: e.Mode,
		Link: e.Link, Bridge: e.Bridge, VLAN: e.VLAN, Network: e.Network,
	}
}

// IfupEnv returns the kvm-ifup environment Ganeti gives the script of n
// on tap, for the instance named instance with the given tags: what a
// hook environment says of a NIC is what its ifup will be told (BRIDGE is
// set in bridged mode only). [IfupEnv.NIC] is its inverse.
func (n NIC) IfupEnv(instance string, tags Tags, tap string) *IfupEnv {
	e := &IfupEnv{
		Instance: instance, Interface: tap, Index: n.Index, Name: n.Name, UUID: n.UUID, MAC: n.MAC,
		IP: n.IP, Mode: n.Mode, Link: n.Link, VLAN: n.VLAN, Tags: tags, Network: n.Network,
	}
	if n.Mode == ModeBridged {
		e.Bridge = n.Link
	}
	return e
}
