package ganeti

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/diktyo/diktyo/pkg/mac"
)

// Phase is a hook phase, GANETI_HOOKS_PHASE.
type Phase string

// The hook phases.
const (
	PhasePre  Phase = "pre"
	PhasePost Phase = "post"
)

// Variable name prefixes of the hook environment.
const (
	HookPrefix     = "GANETI_"
	HookPostPrefix = "GANETI_POST_"
)

// HookEnv is a parsed hook environment.
//
// The embedded [HookView] is built from the GANETI_* variables: the
// environment computed before the operation, which the pre hooks see and
// which Ganeti passes again, unchanged, to the post hooks. Post is built from
// the GANETI_POST_* variables, computed after the operation; it is non-nil
// exactly in the post phase. So env.Instance is the instance as it was before
// the operation and env.Post.Instance as it is after it. See also
// [HookEnv.Latest] and [HookEnv.PrimaryAfter].
type HookEnv struct {
	Path       string `json:"path"`                  // GANETI_HOOKS_PATH, e.g. "instance-migrate"
	Phase      Phase  `json:"phase"`                 // GANETI_HOOKS_PHASE
	Version    int    `json:"version"`               // GANETI_HOOKS_VERSION, 2 for Ganeti 2.x and 3.x
	OpCode     string `json:"op_code"`               // GANETI_OP_CODE, e.g. "OP_INSTANCE_MIGRATE"
	ObjectType string `json:"object_type,omitempty"` // GANETI_OBJECT_TYPE: INSTANCE, NODE, NETWORK, CLUSTER, GROUP...
	Cluster    string `json:"cluster,omitempty"`     // GANETI_CLUSTER
	Master     string `json:"master,omitempty"`      // GANETI_MASTER
	DataDir    string `json:"data_dir,omitempty"`    // GANETI_DATA_DIR

	HookView

	// Post is the view from the GANETI_POST_* variables; nil in the pre
	// phase, non-nil (though possibly empty) in the post phase.
	Post *HookView `json:"post,omitempty"`
}

// HookView is what one set of hook variables (GANETI_* or GANETI_POST_*)
// says. Each pointer is nil when the environment has none of its variables.
type HookView struct {
	OpTarget  string     `json:"op_target,omitempty"` // OP_TARGET
	Instance  *Instance  `json:"instance,omitempty"`  // INSTANCE_*
	Migration *Migration `json:"migration,omitempty"` // OLD_/NEW_PRIMARY, OLD_/NEW_SECONDARY
	Network   *Network   `json:"network,omitempty"`   // NETWORK_* (network hooks)
	Group     *Group     `json:"group,omitempty"`     // GROUP_NAME, GROUP_NETWORK_*
	Node      *Node      `json:"node,omitempty"`      // NODE_NAME, NODE_PIP, NODE_SIP
	// Extra holds every other variable of the view, keyed by its name
	// without the GANETI_ or GANETI_POST_ prefix: for example "REBOOT_TYPE",
	// "MIGRATE_LIVE", "SHUTDOWN_TIMEOUT", "INSTANCE_DISK0_SIZE".
	Extra map[string]string `json:"extra,omitempty"`
}

// Instance is the instance part of a hook environment (INSTANCE_*).
type Instance struct {
	Name string `json:"name"` // INSTANCE_NAME
	// NewName is the new name, in instance-rename hooks only
	// (INSTANCE_NEW_NAME); Name is the old one in both views.
	NewName      string   `json:"new_name,omitempty"`
	Primary      string   `json:"primary"`               // INSTANCE_PRIMARY
	Secondaries  []string `json:"secondaries,omitempty"` // INSTANCE_SECONDARIES
	OSType       string   `json:"os_type,omitempty"`     // INSTANCE_OS_TYPE
	Status       string   `json:"status,omitempty"`      // INSTANCE_STATUS, see AdminUp
	DiskTemplate string   `json:"disk_template,omitempty"`
	Hypervisor   string   `json:"hypervisor,omitempty"`
	MinMem       int      `json:"min_mem,omitempty"` // MiB, INSTANCE_MINMEM
	MaxMem       int      `json:"max_mem,omitempty"` // MiB, INSTANCE_MAXMEM
	Memory       int      `json:"memory,omitempty"`  // MiB, INSTANCE_MEMORY (deprecated alias of MAXMEM)
	VCPUs        int      `json:"vcpus,omitempty"`
	DiskCount    int      `json:"disk_count"` // INSTANCE_DISK_COUNT; the INSTANCE_DISK<i>_* variables are in Extra
	Tags         Tags     `json:"tags,omitempty"`
	NICs         []NIC    `json:"nics,omitempty"` // INSTANCE_NIC<i>_*, len = INSTANCE_NIC_COUNT
	// HV and BE are the hypervisor and backend parameters
	// (INSTANCE_HV_<param>, INSTANCE_BE_<param>), keyed by parameter name.
	HV map[string]string `json:"hv,omitempty"`
	BE map[string]string `json:"be,omitempty"`
}

// AdminUp reports whether the instance is (or, for instance-add, is to be)
// administratively up: Status is "up", or "True" in instance-add hooks.
func (i *Instance) AdminUp() bool { return i.Status == "up" || i.Status == "True" }

// NIC is one network interface of an instance (INSTANCE_NIC<i>_*).
type NIC struct {
	Index  int        `json:"index"`
	Name   string     `json:"name,omitempty"` // only for named NICs
	UUID   string     `json:"uuid,omitempty"`
	MAC    mac.Addr   `json:"mac,omitempty"`
	IP     netip.Addr `json:"ip,omitzero"`
	Mode   NICMode    `json:"mode"`
	Link   string     `json:"link,omitempty"`   // bridge, OVS switch, or routing table
	Bridge string     `json:"bridge,omitempty"` // = Link, only in bridged and openvswitch mode
	VLAN   VLAN       `json:"vlan,omitzero"`
	// Network is the network the NIC is attached to, nil if none.
	Network *Network `json:"network,omitempty"`
}

// Migration holds the node variables of instance-migrate and
// instance-failover hooks (also set by a few other instance operations). In
// the post view they are recomputed from the new configuration and no longer
// describe the move: use the pre view (see the package documentation).
type Migration struct {
	OldPrimary   string `json:"old_primary"`             // OLD_PRIMARY: source node
	NewPrimary   string `json:"new_primary"`             // NEW_PRIMARY: target node
	OldSecondary string `json:"old_secondary,omitempty"` // OLD_SECONDARY
	NewSecondary string `json:"new_secondary,omitempty"` // NEW_SECONDARY
}

// Group is the node group part of a hook environment: GROUP_NAME, and in
// network-connect hooks the group's parameters for the network.
type Group struct {
	Name        string  `json:"name"`                   // GROUP_NAME
	NetworkMode NICMode `json:"network_mode,omitempty"` // GROUP_NETWORK_MODE
	NetworkLink string  `json:"network_link,omitempty"` // GROUP_NETWORK_LINK
	NetworkVLAN VLAN    `json:"network_vlan,omitzero"`  // GROUP_NETWORK_VLAN
}

// Node is the node part of node hooks.
type Node struct {
	Name        string     `json:"name"`                  // NODE_NAME
	PrimaryIP   netip.Addr `json:"primary_ip,omitzero"`   // NODE_PIP (node-add)
	SecondaryIP netip.Addr `json:"secondary_ip,omitzero"` // NODE_SIP (node-add)
}

// Latest returns the most recent view: Post in the post phase, the pre view
// otherwise.
func (e *HookEnv) Latest() *HookView {
	if e.Post != nil {
		return e.Post
	}
	return &e.HookView
}

// PrimaryAfter returns the node the instance runs on after the operation:
// in the post phase the post view's INSTANCE_PRIMARY; in the pre phase
// NEW_PRIMARY if the operation moves the instance (migrate, failover),
// INSTANCE_PRIMARY otherwise. It returns "" for hooks without an instance.
func (e *HookEnv) PrimaryAfter() string {
	if e.Post != nil && e.Post.Instance != nil {
		return e.Post.Instance.Primary
	}
	if e.Migration != nil && e.Migration.NewPrimary != "" {
		return e.Migration.NewPrimary
	}
	if e.Instance != nil {
		return e.Instance.Primary
	}
	return ""
}

// ParseHookEnv parses a hook environment given as "K=V" entries, typically
// os.Environ(). Variables not starting with GANETI_ are ignored. A GANETI_
// variable given twice is an [ErrDuplicate] error.
func ParseHookEnv(environ []string) (*HookEnv, error) {
	m, err := environToMap(environ, func(k string) bool { return strings.HasPrefix(k, HookPrefix) })
	if err != nil {
		return nil, err
	}
	return ParseHookEnvMap(m)
}

// ParseHookEnvMap is [ParseHookEnv] for an environment given as a map.
func ParseHookEnvMap(env map[string]string) (*HookEnv, error) {
	pre := make(map[string]string)
	post := make(map[string]string)
	for k, v := range env {
		if s, ok := strings.CutPrefix(k, HookPostPrefix); ok {
			post[s] = v
		} else if s, ok := strings.CutPrefix(k, HookPrefix); ok {
			pre[s] = v
		}
	}
	g := newVarSet(HookPrefix, pre)
	e := &HookEnv{}
	var err error
	if e.Path, err = g.required("HOOKS_PATH"); err != nil {
		return nil, err
	}
	phase, err := g.required("HOOKS_PHASE")
	if err != nil {
		return nil, err
	}
	switch e.Phase = Phase(phase); e.Phase {
	case PhasePre, PhasePost:
	default:
		return nil, varErr(g.name("HOOKS_PHASE"), fmt.Errorf("%w phase %q (want pre or post)", ErrInvalid, phase))
	}
	if e.Version, err = g.count("HOOKS_VERSION", "hooks version", false); err != nil {
		return nil, err
	}
	if e.OpCode, err = g.required("OP_CODE"); err != nil {
		return nil, err
	}
	e.ObjectType = g.str("OBJECT_TYPE")
	e.Cluster = g.str("CLUSTER")
	e.Master = g.str("MASTER")
	e.DataDir = g.str("DATA_DIR")

	if err := parseView(g, &e.HookView); err != nil {
		return nil, err
	}
	switch e.Phase {
	case PhasePre:
		if len(post) > 0 {
			p := newVarSet(HookPostPrefix, post)
			return nil, varErr(p.name(p.keys[0]), fmt.Errorf("%w in the pre phase", ErrUnexpected))
		}
	case PhasePost:
		e.Post = &HookView{}
		if err := parseView(newVarSet(HookPostPrefix, post), e.Post); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func parseView(v *varSet, h *HookView) error {
	var err error
	h.OpTarget = v.str("OP_TARGET")
	if h.Instance, err = parseInstance(v); err != nil {
		return err
	}
	if v.hasAny("OLD_PRIMARY", "NEW_PRIMARY", "OLD_SECONDARY", "NEW_SECONDARY") {
		h.Migration = &Migration{
			OldPrimary:   v.str("OLD_PRIMARY"),
			NewPrimary:   v.str("NEW_PRIMARY"),
			OldSecondary: v.str("OLD_SECONDARY"),
			NewSecondary: v.str("NEW_SECONDARY"),
		}
	}
	if h.Network, err = parseNetwork(v, "NETWORK_"); err != nil {
		return err
	}
	if v.hasAny("GROUP_NAME", "GROUP_NETWORK_MODE", "GROUP_NETWORK_LINK", "GROUP_NETWORK_VLAN") {
		g := &Group{Name: v.str("GROUP_NAME"), NetworkLink: v.str("GROUP_NETWORK_LINK")}
		if g.NetworkMode, err = v.mode("GROUP_NETWORK_MODE", false); err != nil {
			return err
		}
		if g.NetworkVLAN, err = parseVLANValue(v.str("GROUP_NETWORK_VLAN")); err != nil {
			return v.wrap("GROUP_NETWORK_VLAN", err)
		}
		h.Group = g
	}
	if v.hasAny("NODE_NAME", "NODE_PIP", "NODE_SIP") {
		n := &Node{Name: v.str("NODE_NAME")}
		if n.PrimaryIP, err = parseAddr(v.str("NODE_PIP"), anyFamily); err != nil {
			return v.wrap("NODE_PIP", err)
		}
		if n.SecondaryIP, err = parseAddr(v.str("NODE_SIP"), anyFamily); err != nil {
			return v.wrap("NODE_SIP", err)
		}
		h.Node = n
	}
	h.Extra = v.rest()
	return nil
}

func parseInstance(v *varSet) (*Instance, error) {
	if !v.hasPrefix("INSTANCE_") {
		return nil, nil
	}
	in := &Instance{}
	var err error
	if in.Name, err = v.required("INSTANCE_NAME"); err != nil {
		return nil, err
	}
	in.NewName = v.str("INSTANCE_NEW_NAME")
	in.Primary = v.str("INSTANCE_PRIMARY")
	if f := strings.Fields(v.str("INSTANCE_SECONDARIES")); len(f) > 0 {
		in.Secondaries = f
	}
	in.OSType = v.str("INSTANCE_OS_TYPE")
	in.Status = v.str("INSTANCE_STATUS")
	in.DiskTemplate = v.str("INSTANCE_DISK_TEMPLATE")
	in.Hypervisor = v.str("INSTANCE_HYPERVISOR")
	for _, f := range []struct {
		key, what string
		dst       *int
	}{
		{"INSTANCE_MINMEM", "memory size", &in.MinMem},
		{"INSTANCE_MAXMEM", "memory size", &in.MaxMem},
		{"INSTANCE_MEMORY", "memory size", &in.Memory},
		{"INSTANCE_VCPUS", "VCPU count", &in.VCPUs},
		{"INSTANCE_DISK_COUNT", "disk count", &in.DiskCount},
	} {
		if *f.dst, err = v.count(f.key, f.what, true); err != nil {
			return nil, err
		}
	}
	in.Tags = ParseTags(v.str("INSTANCE_TAGS"))
	in.HV = paramMap(v, "INSTANCE_HV_")
	in.BE = paramMap(v, "INSTANCE_BE_")
	if in.NICs, err = parseNICs(v); err != nil {
		return nil, err
	}
	return in, nil
}

func paramMap(v *varSet, p string) map[string]string {
	var m map[string]string
	for _, k := range v.withPrefix(p) {
		if m == nil {
			m = make(map[string]string)
		}
		m[strings.TrimPrefix(k, p)], _ = v.get(k)
	}
	return m
}

const nicPrefix = "INSTANCE_NIC"

// nicIndex extracts i from a key INSTANCE_NIC<i>_...; ok is false for keys
// of another shape (INSTANCE_NIC_COUNT among them).
func nicIndex(k string) (idx int, ok bool, err error) {
	rest, found := strings.CutPrefix(k, nicPrefix)
	if !found {
		return 0, false, nil
	}
	d := 0
	for d < len(rest) && rest[d] >= '0' && rest[d] <= '9' {
		d++
	}
	if d == 0 || d == len(rest) || rest[d] != '_' {
		return 0, false, nil
	}
	digits := rest[:d]
	if (len(digits) > 1 && digits[0] == '0') || len(digits) > 6 {
		return 0, false, fmt.Errorf("%w NIC index %q", ErrInvalid, digits)
	}
	n, _ := strconv.Atoi(digits)
	return n, true, nil
}

func parseNICs(v *varSet) ([]NIC, error) {
	first := make(map[int]string) // NIC index -> first of its keys
	for _, k := range v.withPrefix(nicPrefix) {
		i, ok, err := nicIndex(k)
		if err != nil {
			return nil, v.wrap(k, err)
		}
		if _, seen := first[i]; ok && !seen {
			first[i] = k
		}
	}
	const countKey = "INSTANCE_NIC_COUNT"
	if !v.has(countKey) {
		if len(first) > 0 {
			return nil, varErr(v.name(countKey), fmt.Errorf("%w (%s is set)", ErrMissing, v.name(first[minKey(first)])))
		}
		return nil, nil
	}
	count, err := v.count(countKey, "NIC count", false)
	if err != nil {
		return nil, err
	}
	// Some index >= count?
	over := -1
	for i := range first {
		if i >= count && (over < 0 || i < over) {
			over = i
		}
	}
	if over >= 0 {
		return nil, varErr(v.name(countKey), fmt.Errorf("%w: count is %d but %s is set", ErrNICCount, count, v.name(first[over])))
	}
	// Now every index is < count; some index < count missing?
	if len(first) < count {
		missing := 0
		for {
			if _, ok := first[missing]; !ok {
				break
			}
			missing++
		}
		return nil, varErr(v.name(countKey), fmt.Errorf("%w: count is %d but no %s%d_* variable is set", ErrNICCount, count, v.name(nicPrefix), missing))
	}
	if count == 0 {
		return nil, nil
	}
	nics := make([]NIC, count)
	for i := range nics {
		if err := parseNIC(v, i, &nics[i]); err != nil {
			return nil, err
		}
	}
	return nics, nil
}

func minKey(m map[int]string) int {
	r := -1
	for i := range m {
		if r < 0 || i < r {
			r = i
		}
	}
	return r
}

func parseNIC(v *varSet, i int, n *NIC) error {
	p := nicPrefix + strconv.Itoa(i) + "_"
	var err error
	n.Index = i
	if n.MAC, err = v.mac(p+"MAC", true); err != nil {
		return err
	}
	if n.Mode, err = v.mode(p+"MODE", true); err != nil {
		return err
	}
	if n.IP, err = parseAddr(v.str(p+"IP"), anyFamily); err != nil {
		return v.wrap(p+"IP", err)
	}
	n.Name = v.str(p + "NAME")
	n.UUID = v.str(p + "UUID")
	n.Link = v.str(p + "LINK")
	n.Bridge = v.str(p + "BRIDGE")
	if n.VLAN, err = parseVLANValue(v.str(p + "VLAN")); err != nil {
		return v.wrap(p+"VLAN", err)
	}
	if n.Network, err = parseNetwork(v, p+"NETWORK_"); err != nil {
		return err
	}
	return nil
}

// Environ renders e back into "K=V" entries, sorted, in the form Ganeti
// writes them (GANETI_* and, in the post phase, GANETI_POST_*; no PATH).
// [ParseHookEnv] of the result gives back e. Values that Ganeti always
// writes are written even when empty or zero.
func (e *HookEnv) Environ() []string { return sortedEnviron(e.EnvMap()) }

// EnvMap is [HookEnv.Environ] as a map.
func (e *HookEnv) EnvMap() map[string]string {
	m := make(map[string]string)
	renderView(m, HookPrefix, &e.HookView)
	if e.Post != nil {
		renderView(m, HookPostPrefix, e.Post)
	}
	set := func(k, v string) { m[HookPrefix+k] = v }
	set("HOOKS_PATH", e.Path)
	set("HOOKS_PHASE", string(e.Phase))
	set("HOOKS_VERSION", strconv.Itoa(e.Version))
	set("OP_CODE", e.OpCode)
	for k, v := range map[string]string{"OBJECT_TYPE": e.ObjectType, "CLUSTER": e.Cluster, "MASTER": e.Master, "DATA_DIR": e.DataDir} {
		if v != "" {
			set(k, v)
		}
	}
	return m
}

func renderView(m map[string]string, prefix string, h *HookView) {
	set := func(k, v string) { m[prefix+k] = v }
	for k, v := range h.Extra {
		set(k, v)
	}
	if h.OpTarget != "" {
		set("OP_TARGET", h.OpTarget)
	}
	if in := h.Instance; in != nil {
		renderInstance(set, in)
	}
	if mg := h.Migration; mg != nil {
		set("OLD_PRIMARY", mg.OldPrimary)
		set("NEW_PRIMARY", mg.NewPrimary)
		set("OLD_SECONDARY", mg.OldSecondary)
		set("NEW_SECONDARY", mg.NewSecondary)
	}
	renderNetwork(set, "NETWORK_", h.Network, false)
	if g := h.Group; g != nil {
		set("GROUP_NAME", g.Name)
		if g.NetworkMode != "" || g.NetworkLink != "" || !g.NetworkVLAN.IsZero() {
			set("GROUP_NETWORK_MODE", string(g.NetworkMode))
			set("GROUP_NETWORK_LINK", g.NetworkLink)
			set("GROUP_NETWORK_VLAN", g.NetworkVLAN.String())
		}
	}
	if n := h.Node; n != nil {
		set("NODE_NAME", n.Name)
		if n.PrimaryIP.IsValid() {
			set("NODE_PIP", n.PrimaryIP.String())
		}
		if n.SecondaryIP.IsValid() {
			set("NODE_SIP", n.SecondaryIP.String())
		}
	}
}

func renderInstance(set func(k, v string), in *Instance) {
	set("INSTANCE_NAME", in.Name)
	if in.NewName != "" {
		set("INSTANCE_NEW_NAME", in.NewName)
	}
	set("INSTANCE_PRIMARY", in.Primary)
	set("INSTANCE_SECONDARIES", strings.Join(in.Secondaries, " "))
	set("INSTANCE_OS_TYPE", in.OSType)
	set("INSTANCE_STATUS", in.Status)
	set("INSTANCE_DISK_TEMPLATE", in.DiskTemplate)
	set("INSTANCE_HYPERVISOR", in.Hypervisor)
	set("INSTANCE_MINMEM", strconv.Itoa(in.MinMem))
	set("INSTANCE_MAXMEM", strconv.Itoa(in.MaxMem))
	set("INSTANCE_MEMORY", strconv.Itoa(in.Memory))
	set("INSTANCE_VCPUS", strconv.Itoa(in.VCPUs))
	set("INSTANCE_DISK_COUNT", strconv.Itoa(in.DiskCount))
	set("INSTANCE_TAGS", in.Tags.String())
	for k, v := range in.HV {
		set("INSTANCE_HV_"+k, v)
	}
	for k, v := range in.BE {
		set("INSTANCE_BE_"+k, v)
	}
	set("INSTANCE_NIC_COUNT", strconv.Itoa(len(in.NICs)))
	for i := range in.NICs {
		renderNIC(set, i, &in.NICs[i])
	}
}

func renderNIC(set func(k, v string), i int, n *NIC) {
	p := nicPrefix + strconv.Itoa(i) + "_"
	if n.Name != "" {
		set(p+"NAME", n.Name)
	}
	set(p+"UUID", n.UUID)
	ip := ""
	if n.IP.IsValid() {
		ip = n.IP.String()
	}
	set(p+"IP", ip)
	set(p+"MAC", n.MAC.String())
	set(p+"MODE", string(n.Mode))
	set(p+"LINK", n.Link)
	set(p+"VLAN", n.VLAN.String())
	if n.Bridge != "" {
		set(p+"BRIDGE", n.Bridge)
	}
	renderNetwork(set, p+"NETWORK_", n.Network, true)
}
