package ganetisync

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/diktyo/diktyo/pkg/ipam"
)

// Kind classifies a Change.
type Kind int

// Change kinds.
const (
	// Add: Ganeti has something the pool lacks.
	Add Kind = iota + 1
	// Update: the pool has it, but not as Ganeti does.
	Update
	// Release: the pool holds something Ganeti does not.
	Release
	// Conflict: Ganeti gives an address to one owner, the pool to another.
	Conflict
	// Manual: a difference no change can apply (a network's subnet).
	Manual
	// Note: something only the pool has, on purpose (a network beyond
	// Ganeti's reach); never applied, not a disagreement.
	Note
)

func (k Kind) String() string {
	switch k {
	case Add:
		return "add"
	case Update:
		return "update"
	case Release:
		return "release"
	case Conflict:
		return "conflict"
	case Manual:
		return "manual"
	case Note:
		return "note"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// ErrManual is returned by Change.Apply for Manual and Note changes.
var ErrManual = errors.New("needs manual action")

// ErrAmbiguous: a NIC without a Ganeti network has an address that
// several pool networks hold.
var ErrAmbiguous = errors.New("in several pool networks")

// Change is one difference between Ganeti and the pool, and how to make
// the pool follow Ganeti.
type Change struct {
	Kind    Kind
	Subject string // "network net1", "net1 198.51.100.7", "instance vm1"
	Detail  string
	apply   func(*ipam.Txn) error
}

// String is the line `diktyo-ipam sync ganeti` prints.
func (c Change) String() string { return c.Subject + ": " + c.Detail }

// Apply makes the pool follow Ganeti for this difference.
func (c Change) Apply(tx *ipam.Txn) error {
	if c.apply == nil {
		return fmt.Errorf("%s: %w", c, ErrManual)
	}
	if err := c.apply(tx); err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	return nil
}

// Applicable reports whether Apply can apply c.
func (c Change) Applicable() bool { return c.apply != nil }

// view is the pool's networks, read once per transaction step.
type view struct {
	nets []*ipam.Network
}

func newView(tx *ipam.Txn) (*view, error) {
	nets, err := tx.Networks()
	if err != nil {
		return nil, fmt.Errorf("read pool networks: %w", err)
	}
	return &view{nets: nets}, nil
}

func (v *view) byName(name string) *ipam.Network {
	for _, n := range v.nets {
		if n.Name == name {
			return n
		}
	}
	return nil
}

func (v *view) byUUID(uuid string) *ipam.Network {
	if uuid == "" {
		return nil
	}
	for _, n := range v.nets {
		if n.UUID == uuid {
			return n
		}
	}
	return nil
}

// network is the pool network mirroring g: by UUID, else by name.
func (v *view) network(g *Network) *ipam.Network {
	if p := v.byUUID(g.UUID); p != nil {
		return p
	}
	return v.byName(g.Name)
}

// forNIC is the pool network n belongs to (see the package
// documentation); nil when none.
func (v *view) forNIC(n *NIC) (*ipam.Network, error) {
	if p := v.byUUID(n.NetworkUUID); p != nil {
		return p, nil
	}
	if n.Network != "" {
		if p := v.byName(n.Network); p != nil {
			return p, nil
		}
	}
	if !n.IP.IsValid() {
		return nil, nil
	}
	var in, onLink []*ipam.Network
	for _, p := range v.nets {
		if !p.Subnet.Contains(n.IP) {
			continue
		}
		in = append(in, p)
		for _, c := range p.Connections {
			if c.Link == n.Link && n.Link != "" {
				onLink = append(onLink, p)
				break
			}
		}
	}
	switch {
	case len(in) <= 1:
		if len(in) == 0 {
			return nil, nil
		}
		return in[0], nil
	case len(onLink) == 1:
		return onLink[0], nil
	}
	names := make([]string, len(in))
	for i, p := range in {
		names[i] = p.Name
	}
	return nil, fmt.Errorf("%v: %w (%s)", n.IP, ErrAmbiguous, strings.Join(names, ", "))
}

// holderIn says who holds ip in network name (Kind "" when free).
func holderIn(tx *ipam.Txn, name string, ip netip.Addr) (ipam.Holding, error) {
	hs, err := tx.Lookup(ip)
	if err != nil {
		return ipam.Holding{}, err
	}
	for _, h := range hs {
		if h.Network == name {
			return h, nil
		}
	}
	return ipam.Holding{Network: name, IP: ip}, nil
}

// DiffNetwork compares Ganeti's network g with the pool. With group set,
// only that node group's connection is compared (and a network the pool
// lacks is added only when Ganeti connects it to group).
func DiffNetwork(tx *ipam.Txn, g *Network, group string) ([]Change, error) {
	v, err := newView(tx)
	if err != nil {
		return nil, err
	}
	return diffNetwork(tx, v, g, group)
}

func diffNetwork(tx *ipam.Txn, v *view, g *Network, group string) ([]Change, error) {
	subject := "network " + g.Name
	p := v.network(g)
	if p == nil {
		if group != "" && !hasKey(g.Groups, group) {
			return nil, nil
		}
		// A network connected to group but missing from the pool (its
		// network-add hook failed) comes whole, connections included.
		return []Change{addNetwork(g)}, nil
	}
	var out []Change
	add := func(k Kind, detail string, apply func(*ipam.Txn) error) {
		out = append(out, Change{Kind: k, Subject: subject, Detail: detail, apply: apply})
	}
	name := p.Name
	if group == "" {
		if p.Name != g.Name {
			old, nw := p.Name, g.Name
			add(Update, fmt.Sprintf("named %s in the pool (same UUID): rename", old), func(tx *ipam.Txn) error { return tx.RenameNetwork(old, nw) })
			name = g.Name
		}
		out = append(out, diffDefinition(tx, name, subject, p, g)...)
	}
	if g.Groups != nil {
		out = append(out, diffGroups(name, subject, p, g, group)...)
	}
	if g.External != nil && group == "" && p.Subnet == g.Subnet {
		ch, err := diffExternal(tx, name, p, g)
		if err != nil {
			return nil, err
		}
		out = append(out, ch...)
	}
	return out, nil
}

func addNetwork(g *Network) Change {
	c := Change{Kind: Add, Subject: "network " + g.Name, Detail: "only in Ganeti: add " + describeNetwork(g)}
	def, err := g.definition()
	if err != nil {
		c.Kind, c.Detail = Manual, "only in Ganeti, cannot be added to the pool: "+err.Error()
		return c
	}
	var reserved []netip.Addr
	for _, ip := range g.External {
		if def.Subnet.Contains(ip) && !systemAddr(&def, ip) {
			reserved = append(reserved, ip)
		}
	}
	c.apply = func(tx *ipam.Txn) error {
		// Ganeti allows overlapping networks: mirror them, so that the
		// pre-phase check sees an address held in either.
		return tx.AddNetwork(def, ipam.AddOptions{AllowOverlap: true, Reserved: reserved})
	}
	return c
}

func describeNetwork(g *Network) string {
	parts := []string{}
	if g.Subnet.IsValid() {
		parts = append(parts, g.Subnet.String())
	}
	if g.Subnet6.IsValid() {
		parts = append(parts, g.Subnet6.String())
	}
	return strings.Join(parts, " ")
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return "none"
	}
	return a.String()
}

func prefixString(p netip.Prefix) string {
	if !p.IsValid() {
		return "none"
	}
	return p.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// diffDefinition compares subnet, gateways, MAC prefix, tags and UUID.
func diffDefinition(tx *ipam.Txn, name, subject string, p *ipam.Network, g *Network) []Change {
	var out []Change
	modify := func(detail string, fn func(*ipam.Network)) {
		out = append(out, Change{Kind: Update, Subject: subject, Detail: detail, apply: func(tx *ipam.Txn) error {
			return tx.ModifyNetwork(name, func(n *ipam.Network) error { fn(n); return nil })
		}})
	}
	if g.UUID != "" && p.UUID != g.UUID {
		uuid := g.UUID
		modify(fmt.Sprintf("UUID: Ganeti %s, pool %s", uuid, orNone(p.UUID)), func(n *ipam.Network) { n.UUID = uuid })
	}
	if p.Subnet != g.Subnet {
		out = append(out, Change{Kind: Manual, Subject: subject, Detail: fmt.Sprintf(
			"subnet: Ganeti %s, pool %s (a pool network's subnet cannot change: remove it from the pool and sync again)",
			prefixString(g.Subnet), prefixString(p.Subnet))})
		return out // the rest compares against a network that is not Ganeti's
	}
	if p.Gateway != g.Gateway {
		out = append(out, gatewayChange(tx, name, subject, p, g))
	}
	if p.Subnet6 != g.Subnet6.Masked() || p.Gateway6 != g.Gateway6 {
		s6, gw6 := g.Subnet6.Masked(), g.Gateway6
		modify(fmt.Sprintf("IPv6: Ganeti %s gateway %s, pool %s gateway %s", prefixString(s6), addrString(gw6),
			prefixString(p.Subnet6), addrString(p.Gateway6)), func(n *ipam.Network) { n.Subnet6, n.Gateway6 = s6, gw6 })
	}
	if p.MACPrefix.String() != g.MACPrefix {
		mp, err := ipam.ParseMACPrefix(g.MACPrefix)
		if g.MACPrefix == "" {
			mp, err = ipam.MACPrefix{}, nil
		}
		detail := fmt.Sprintf("MAC prefix: Ganeti %s, pool %s", orNone(g.MACPrefix), orNone(p.MACPrefix.String()))
		if err != nil {
			out = append(out, Change{Kind: Manual, Subject: subject, Detail: detail + ": " + err.Error()})
		} else {
			modify(detail, func(n *ipam.Network) { n.MACPrefix = mp })
		}
	}
	tags := slices.Sorted(slices.Values(g.Tags))
	tags = slices.Compact(tags)
	if !slices.Equal(p.Tags, tags) {
		modify(fmt.Sprintf("tags: Ganeti [%s], pool [%s]", strings.Join(tags, " "), strings.Join(p.Tags, " ")),
			func(n *ipam.Network) { n.Tags = slices.Clone(tags) })
	}
	return out
}

// gatewayChange moves the pool's gateway to Ganeti's. Ganeti lists its
// gateway among the external reservations, so a pool that mirrored them
// holds the new gateway externally: that reservation goes first.
func gatewayChange(tx *ipam.Txn, name, subject string, p *ipam.Network, g *Network) Change {
	c := Change{Kind: Update, Subject: subject, Detail: fmt.Sprintf("gateway: Ganeti %s, pool %s", addrString(g.Gateway), addrString(p.Gateway))}
	gw := g.Gateway
	if gw.IsValid() {
		h, err := holderIn(tx, p.Name, gw)
		if err == nil && h.Kind == ipam.KindInstance {
			c.Kind, c.Detail = Conflict, c.Detail+fmt.Sprintf(" (%s in the pool)", h.Describe())
		}
	}
	c.apply = func(tx *ipam.Txn) error {
		if gw.IsValid() {
			h, err := holderIn(tx, name, gw)
			if err != nil {
				return err
			}
			if h.Kind == ipam.KindExternal || h.Kind == ipam.KindInstance {
				if err := tx.Release(name, gw, nil); err != nil {
					return err
				}
			}
		}
		return tx.ModifyNetwork(name, func(n *ipam.Network) error { n.Gateway = gw; return nil })
	}
	return c
}

func connString(c ipam.Connection) string {
	s := fmt.Sprintf("mode=%s,link=%s", c.Mode, c.Link)
	if c.VLAN != "" {
		s += ",vlan=" + c.VLAN
	}
	return s
}

// diffGroups compares the node group connections (only group's when set).
func diffGroups(name, subject string, p *ipam.Network, g *Network, group string) []Change {
	var out []Change
	for _, gr := range slices.Sorted(maps.Keys(g.Groups)) {
		if group != "" && gr != group {
			continue
		}
		want := g.Groups[gr]
		have, ok := p.Connections[gr]
		if ok && have == want {
			continue
		}
		gr := gr
		detail := fmt.Sprintf("group %s: Ganeti %s, pool %s", gr, connString(want), "not connected")
		kind := Add
		if ok {
			detail, kind = fmt.Sprintf("group %s: Ganeti %s, pool %s", gr, connString(want), connString(have)), Update
		}
		if _, err := ipam.ParseMode(string(want.Mode)); err != nil || want.Link == "" || ipam.ValidName("node group", gr) != nil {
			out = append(out, Change{Kind: Manual, Subject: subject, Detail: detail + ": cannot be mirrored (no mode or link)"})
			continue
		}
		out = append(out, Change{Kind: kind, Subject: subject, Detail: detail, apply: func(tx *ipam.Txn) error {
			return tx.Connect(name, gr, want)
		}})
	}
	for _, gr := range slices.Sorted(maps.Keys(p.Connections)) {
		if (group != "" && gr != group) || hasKey(g.Groups, gr) {
			continue
		}
		gr := gr
		out = append(out, Change{Kind: Release, Subject: subject, Detail: fmt.Sprintf("group %s: connected in the pool only (%s): disconnect", gr, connString(p.Connections[gr])),
			apply: func(tx *ipam.Txn) error { return tx.Disconnect(name, gr) }})
	}
	return out
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

// diffExternal compares Ganeti's external reservations with the pool's.
func diffExternal(tx *ipam.Txn, name string, p *ipam.Network, g *Network) ([]Change, error) {
	target := p.Clone()
	target.Gateway = g.Gateway // system addresses as they will be
	want := map[netip.Addr]bool{}
	for _, ip := range g.External {
		if p.Subnet.Contains(ip) && !systemAddr(target, ip) {
			want[ip] = true
		}
	}
	hs, err := tx.Holdings(p.Name)
	if err != nil {
		return nil, err
	}
	held := map[netip.Addr]ipam.Holding{}
	for _, h := range hs {
		if h.IP.IsValid() {
			held[h.IP] = h
		}
	}
	var out []Change
	for _, ip := range slices.SortedFunc(maps.Keys(want), netip.Addr.Compare) {
		h := held[ip]
		subject := name + " " + ip.String()
		switch h.Kind {
		case ipam.KindExternal:
		case "":
			out = append(out, Change{Kind: Add, Subject: subject, Detail: "reserved externally in Ganeti: reserve",
				apply: func(tx *ipam.Txn) error { return tx.ReserveExternal(name, ip) }})
		case ipam.KindInstance:
			out = append(out, Change{Kind: Conflict, Subject: subject,
				Detail: fmt.Sprintf("reserved externally in Ganeti, %s in the pool", h.Describe()),
				apply: func(tx *ipam.Txn) error {
					if err := tx.Release(name, ip, nil); err != nil {
						return err
					}
					return tx.ReserveExternal(name, ip)
				}})
		}
	}
	for _, h := range hs {
		if h.Kind != ipam.KindExternal || want[h.IP] || systemAddr(target, h.IP) {
			continue // the new gateway's reservation goes with the gateway change
		}
		ip := h.IP
		out = append(out, Change{Kind: Release, Subject: name + " " + ip.String(), Detail: "reserved externally in the pool only: release",
			apply: func(tx *ipam.Txn) error { return tx.Release(name, ip, nil) }})
	}
	return out, nil
}

// DiffInstance compares the pool's reservations of inst with its NICs: an
// address of every NIC in a pool network, held as INSTANCE:NIC, and
// nothing else held by the instance. MACs the instance holds are left
// alone.
func DiffInstance(tx *ipam.Txn, inst *Instance) ([]Change, error) {
	v, err := newView(tx)
	if err != nil {
		return nil, err
	}
	return diffInstance(tx, v, inst)
}

type netIP struct {
	net string
	ip  netip.Addr
}

func diffInstance(tx *ipam.Txn, v *view, inst *Instance) ([]Change, error) {
	if err := (ipam.Owner{Instance: inst.Name}).Validate(); err != nil {
		return nil, err
	}
	var out []Change
	wanted := map[netIP]bool{}
	for i := range inst.NICs {
		nic := &inst.NICs[i]
		if !nic.IP.IsValid() {
			continue
		}
		subject := fmt.Sprintf("instance %s NIC %d", inst.Name, nic.Index)
		p, err := v.forNIC(nic)
		if err != nil {
			out = append(out, Change{Kind: Manual, Subject: subject, Detail: err.Error() + ": reserve it by hand"})
			continue
		}
		if p == nil {
			continue
		}
		if !p.Subnet.Contains(nic.IP) {
			out = append(out, Change{Kind: Manual, Subject: subject, Detail: fmt.Sprintf("%v is outside pool network %s (%s)", nic.IP, p.Name, prefixString(p.Subnet))})
			continue
		}
		owner := inst.Owner(nic)
		if err := owner.Validate(); err != nil {
			out = append(out, Change{Kind: Manual, Subject: subject, Detail: err.Error()})
			continue
		}
		name, ip := p.Name, nic.IP
		wanted[netIP{name, ip}] = true
		subject = name + " " + ip.String()
		h, err := holderIn(tx, name, ip)
		if err != nil {
			return nil, err
		}
		switch {
		case h.Kind == "":
			out = append(out, Change{Kind: Add, Subject: subject, Detail: fmt.Sprintf("%s in Ganeti, free in the pool: reserve", owner),
				apply: func(tx *ipam.Txn) error { return tx.Reserve(name, ip, owner) }})
		case h.Kind == ipam.KindInstance && h.Owner.Instance == inst.Name:
			if h.Owner.NIC != owner.NIC {
				from := h.Owner
				out = append(out, Change{Kind: Update, Subject: subject, Detail: fmt.Sprintf("%s in Ganeti, held as %s: rename the holder", owner, from),
					apply: func(tx *ipam.Txn) error {
						if err := tx.Release(name, ip, &from); err != nil {
							return err
						}
						return tx.Reserve(name, ip, owner)
					}})
			}
		case h.Kind == ipam.KindInstance || h.Kind == ipam.KindExternal:
			out = append(out, Change{Kind: Conflict, Subject: subject, Detail: fmt.Sprintf("%s in Ganeti, %s in the pool", owner, h.Describe()),
				apply: func(tx *ipam.Txn) error {
					if err := tx.Release(name, ip, nil); err != nil {
						return err
					}
					return tx.Reserve(name, ip, owner)
				}})
		default:
			out = append(out, Change{Kind: Manual, Subject: subject, Detail: fmt.Sprintf("%s in Ganeti, %s in the pool", owner, h.Describe())})
		}
	}
	held, err := tx.ByOwner(ipam.Owner{Instance: inst.Name})
	if err != nil {
		return nil, err
	}
	for _, h := range held {
		if !h.IP.IsValid() || wanted[netIP{h.Network, h.IP}] {
			continue
		}
		name, ip, owner := h.Network, h.IP, h.Owner
		out = append(out, Change{Kind: Release, Subject: name + " " + ip.String(),
			Detail: fmt.Sprintf("held by %s, which no NIC of %s has in Ganeti: release", owner, inst.Name),
			apply:  func(tx *ipam.Txn) error { return tx.Release(name, ip, &owner) }})
	}
	return out, nil
}

// ApplyKinds applies, in order, the changes whose kind is in kinds and
// returns them.
func ApplyKinds(tx *ipam.Txn, changes []Change, kinds ...Kind) ([]Change, error) {
	var done []Change
	for _, c := range changes {
		if !slices.Contains(kinds, c.Kind) || !c.Applicable() {
			continue
		}
		if err := c.Apply(tx); err != nil {
			return done, err
		}
		done = append(done, c)
	}
	return done, nil
}

// RenameInstance moves everything old holds to new (instance-rename).
func RenameInstance(tx *ipam.Txn, old, new string) ([]ipam.Holding, error) {
	return tx.Reassign(ipam.Owner{Instance: old}, ipam.Owner{Instance: new})
}

// ReleaseInstance releases everything name holds (instance-remove).
func ReleaseInstance(tx *ipam.Txn, name string) ([]ipam.Holding, error) {
	return tx.ReleaseOwner(ipam.Owner{Instance: name})
}

// RemoveNetwork removes the pool network of Ganeti's network name
// (network-remove). A network the pool lacks is success; one that
// instances still hold addresses in is an error wrapping ipam.ErrInUse.
func RemoveNetwork(tx *ipam.Txn, name string) (bool, error) {
	if _, err := tx.Network(name); errors.Is(err, ipam.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, tx.RemoveNetwork(name, false)
}
