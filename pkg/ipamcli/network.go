package ipamcli

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/diktyo/diktyo/pkg/ipam"
)

func (e *env) networkCommand() *cli.Command {
	return &cli.Command{
		Name:  "network",
		Usage: "define networks and connect them to node groups (like gnt-network)",
		Subcommands: []*cli.Command{
			e.networkAdd(), e.networkModify(), e.networkRemove(), e.networkRename(),
			e.networkList(), e.networkInfo(), e.networkConnect(), e.networkDisconnect(),
		},
	}
}

func (e *env) networkAdd() *cli.Command {
	const usage = "network add --network=CIDR [--gateway=IP] [--network6=CIDR6] [--gateway6=IP6] [--mac-prefix=aa:00:00] [--add-reserved-ips=IP,...] [--tags=T,...] [--ranges=A-B,...] [--allow-overlap] NAME"
	return &cli.Command{
		Name:      "add",
		Usage:     "create a network",
		ArgsUsage: "NAME",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "network", Usage: "IPv4 `CIDR` (/8 to /30); may be omitted for an IPv6-only network"},
			&cli.StringFlag{Name: "gateway", Usage: "IPv4 gateway `IP`"},
			&cli.StringFlag{Name: "network6", Usage: "IPv6 /64 `CIDR6`"},
			&cli.StringFlag{Name: "gateway6", Usage: "IPv6 gateway `IP6`"},
			&cli.StringFlag{Name: "mac-prefix", Usage: "`PREFIX` of generated MACs, like aa:00:00"},
			&cli.StringFlag{Name: "add-reserved-ips", Usage: "comma-separated `IPS` reserved externally"},
			&cli.StringFlag{Name: "tags", Usage: "comma-separated `TAGS`"},
			&cli.StringFlag{Name: "ranges", Usage: "comma-separated allocation `RANGES` FIRST-LAST (default: the whole subnet)"},
			&cli.StringFlag{Name: "uuid", Usage: "`UUID` of Ganeti's network of the same name"},
			&cli.BoolFlag{Name: "allow-overlap", Usage: "allow a subnet that overlaps another network's"},
		},
		Action: func(c *cli.Context) error {
			a, err := posArgs(c, 1, 1, usage)
			if err != nil {
				return err
			}
			n := ipam.Network{Name: a[0], UUID: c.String("uuid")}
			if s := c.String("network"); s != "" {
				if n.Subnet, err = parseSubnet4("network", s); err != nil {
					return err
				}
			} else if c.String("network6") == "" {
				return usagef("network add: --network (or --network6) is required; usage: %s", usage)
			}
			if s := c.String("gateway"); s != "" && !isNone(s) {
				if n.Gateway, err = parseAddr4("--gateway", s); err != nil {
					return err
				}
			}
			if s := c.String("network6"); s != "" && !isNone(s) {
				if n.Subnet6, err = parseSubnet6("network6", s); err != nil {
					return err
				}
			}
			if s := c.String("gateway6"); s != "" && !isNone(s) {
				if n.Gateway6, err = parseAddr6("--gateway6", s); err != nil {
					return err
				}
			}
			if s := c.String("mac-prefix"); s != "" && !isNone(s) {
				if n.MACPrefix, err = parseMACPrefix(s); err != nil {
					return err
				}
			}
			n.Tags = splitList(c.String("tags"))
			if n.Ranges, err = parseRanges("ranges", c.String("ranges")); err != nil {
				return err
			}
			reserved, err := parseAddrList("add-reserved-ips", c.String("add-reserved-ips"))
			if err != nil {
				return err
			}
			if err := n.Clone().Validate(); err != nil {
				return err
			}
			return e.update(c, func(t *ipam.Txn) error {
				return t.AddNetwork(n, ipam.AddOptions{AllowOverlap: c.Bool("allow-overlap"), Reserved: reserved})
			})
		},
	}
}

func (e *env) networkModify() *cli.Command {
	const usage = "network modify [--gateway=IP|none] [--network6=CIDR6|none] [--gateway6=IP6|none] [--mac-prefix=P|none] [--add-reserved-ips=IP,...] [--remove-reserved-ips=IP,...] [--tags=T,...|none] [--add-tags=T,...] [--remove-tags=T,...] [--ranges=A-B,...|none] [--uuid=U|none] NAME"
	changes := []string{"gateway", "network6", "gateway6", "mac-prefix", "add-reserved-ips", "remove-reserved-ips",
		"tags", "add-tags", "remove-tags", "ranges", "uuid"}
	return &cli.Command{
		Name:         "modify",
		Usage:        "change a network's parameters (\"none\" clears an optional value)",
		ArgsUsage:    "NAME",
		BashComplete: e.completeNetworks,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "gateway", Usage: "IPv4 gateway `IP`, or none"},
			&cli.StringFlag{Name: "network6", Usage: "IPv6 /64 `CIDR6`, or none (also clears the IPv6 gateway)"},
			&cli.StringFlag{Name: "gateway6", Usage: "IPv6 gateway `IP6`, or none"},
			&cli.StringFlag{Name: "mac-prefix", Usage: "MAC `PREFIX` like aa:00:00, or none"},
			&cli.StringFlag{Name: "add-reserved-ips", Usage: "comma-separated `IPS` to reserve externally"},
			&cli.StringFlag{Name: "remove-reserved-ips", Usage: "comma-separated external reservations (`IPS`) to release"},
			&cli.StringFlag{Name: "tags", Usage: "replace the tags by `TAGS` (comma-separated), or none"},
			&cli.StringFlag{Name: "add-tags", Usage: "comma-separated `TAGS` to add"},
			&cli.StringFlag{Name: "remove-tags", Usage: "comma-separated `TAGS` to remove"},
			&cli.StringFlag{Name: "ranges", Usage: "allocation `RANGES` FIRST-LAST,..., or none for the whole subnet"},
			&cli.StringFlag{Name: "uuid", Usage: "Ganeti network `UUID`, or none"},
		},
		Action: func(c *cli.Context) error {
			a, err := posArgs(c, 1, 1, usage)
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(changes, c.IsSet) {
				return usagef("network modify: give at least one of the parameters; usage: %s", usage)
			}
			var edit []func(*ipam.Network) error
			opt := func(flag string, set func(v string) error) error {
				if !c.IsSet(flag) {
					return nil
				}
				v := c.String(flag)
				if isNone(v) {
					v = ""
				}
				// Parse now, so bad input fails before the store is opened.
				return set(v)
			}
			var gw, gw6 netip.Addr
			var sub6 netip.Prefix
			var mp ipam.MACPrefix
			var ranges []ipam.Range
			err = firstErr(
				opt("gateway", func(v string) (err error) {
					if v != "" {
						gw, err = parseAddr4("--gateway", v)
					}
					edit = append(edit, func(n *ipam.Network) error { n.Gateway = gw; return nil })
					return err
				}),
				opt("network6", func(v string) (err error) {
					if v != "" {
						sub6, err = parseSubnet6("network6", v)
					}
					edit = append(edit, func(n *ipam.Network) error {
						if !sub6.IsValid() && !c.IsSet("gateway6") {
							n.Gateway6 = netip.Addr{}
						}
						n.Subnet6 = sub6
						return nil
					})
					return err
				}),
				opt("gateway6", func(v string) (err error) {
					if v != "" {
						gw6, err = parseAddr6("--gateway6", v)
					}
					edit = append(edit, func(n *ipam.Network) error { n.Gateway6 = gw6; return nil })
					return err
				}),
				opt("mac-prefix", func(v string) (err error) {
					if v != "" {
						mp, err = parseMACPrefix(v)
					}
					edit = append(edit, func(n *ipam.Network) error { n.MACPrefix = mp; return nil })
					return err
				}),
				opt("ranges", func(v string) (err error) {
					ranges, err = parseRanges("ranges", v)
					edit = append(edit, func(n *ipam.Network) error { n.Ranges = ranges; return nil })
					return err
				}),
				opt("uuid", func(v string) error {
					edit = append(edit, func(n *ipam.Network) error { n.UUID = v; return nil })
					return nil
				}),
				opt("tags", func(v string) error {
					tags := splitList(v)
					edit = append(edit, func(n *ipam.Network) error { n.Tags = tags; return nil })
					return nil
				}),
			)
			if err != nil {
				return err
			}
			if add, del := splitList(c.String("add-tags")), splitList(c.String("remove-tags")); len(add)+len(del) > 0 {
				edit = append(edit, func(n *ipam.Network) error {
					n.Tags = append(n.Tags, add...)
					n.Tags = slices.DeleteFunc(n.Tags, func(t string) bool { return slices.Contains(del, t) })
					return nil
				})
			}
			addIPs, err := parseAddrList("add-reserved-ips", c.String("add-reserved-ips"))
			if err != nil {
				return err
			}
			delIPs, err := parseAddrList("remove-reserved-ips", c.String("remove-reserved-ips"))
			if err != nil {
				return err
			}
			name := a[0]
			return e.update(c, func(t *ipam.Txn) error {
				for _, ip := range delIPs {
					if err := releaseExternal(t, name, ip); err != nil {
						return err
					}
				}
				if len(edit) > 0 {
					err := t.ModifyNetwork(name, func(n *ipam.Network) error {
						for _, f := range edit {
							if err := f(n); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						return err
					}
				}
				for _, ip := range addIPs {
					if err := t.ReserveExternal(name, ip); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// releaseExternal frees an external reservation, as gnt-network modify
// --remove-reserved-ips does. An address that is already free is fine;
// one held by an instance (or the gateway) is refused.
func releaseExternal(t *ipam.Txn, name string, ip netip.Addr) error {
	if _, err := t.Network(name); err != nil {
		return err
	}
	hs, err := t.Lookup(ip)
	if err != nil {
		return err
	}
	for _, h := range hs {
		if h.Network != name {
			continue
		}
		switch h.Kind {
		case "":
			return nil
		case ipam.KindExternal:
			return t.Release(name, ip, nil)
		default:
			return fmt.Errorf("network %s: %v is not an external reservation (%s): %w", name, ip, h.Describe(), ipam.ErrNotOwner)
		}
	}
	return fmt.Errorf("network %s: %v: %w", name, ip, ipam.ErrOutOfNetwork)
}

func (e *env) networkRemove() *cli.Command {
	const usage = "network remove [--force] NAME"
	return &cli.Command{
		Name:         "remove",
		Usage:        "delete a network and its reservations",
		ArgsUsage:    "NAME",
		BashComplete: e.completeNetworks,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Usage: "remove even while instances hold addresses in it"},
		},
		Action: func(c *cli.Context) error {
			a, err := posArgs(c, 1, 1, usage)
			if err != nil {
				return err
			}
			return e.update(c, func(t *ipam.Txn) error { return t.RemoveNetwork(a[0], c.Bool("force")) })
		},
	}
}

func (e *env) networkRename() *cli.Command {
	const usage = "network rename OLD NEW"
	return &cli.Command{
		Name:         "rename",
		Usage:        "rename a network, keeping its pool",
		ArgsUsage:    "OLD NEW",
		BashComplete: e.completeNetworks,
		Action: func(c *cli.Context) error {
			a, err := posArgs(c, 2, 2, usage)
			if err != nil {
				return err
			}
			if err := ipam.ValidName("network", a[1]); err != nil {
				return err
			}
			return e.update(c, func(t *ipam.Txn) error { return t.RenameNetwork(a[0], a[1]) })
		},
	}
}

func (e *env) networkConnect() *cli.Command {
	const usage = "network connect --nic-parameters=mode=MODE,link=LINK[,vlan=VLAN] NAME GROUP... | network connect NAME GROUP MODE LINK"
	return &cli.Command{
		Name:         "connect",
		Usage:        "record how node groups reach a network",
		ArgsUsage:    "NAME GROUP...",
		BashComplete: e.completeNetworks,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "nic-parameters", Aliases: []string{"N"}, Usage: "`mode=MODE,link=LINK[,vlan=VLAN]` (mode: routed, bridged, openvswitch)"},
		},
		Action: func(c *cli.Context) error {
			a, err := posArgs(c, 2, -1, usage)
			if err != nil {
				return err
			}
			var conn ipam.Connection
			groups := a[1:]
			if c.IsSet("nic-parameters") {
				if conn, err = parseNICParams(c.String("nic-parameters")); err != nil {
					return err
				}
			} else if len(a) == 4 {
				// Older Ganeti: connect NAME GROUP MODE LINK.
				if conn, err = parseNICParams("mode=" + a[2] + ",link=" + a[3]); err != nil {
					return err
				}
				groups = a[1:2]
			} else {
				return usagef("network connect: --nic-parameters is required; usage: %s", usage)
			}
			for _, g := range groups {
				if err := ipam.ValidName("node group", g); err != nil {
					return err
				}
			}
			return e.update(c, func(t *ipam.Txn) error {
				for _, g := range groups {
					if err := t.Connect(a[0], g, conn); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
}

func (e *env) networkDisconnect() *cli.Command {
	const usage = "network disconnect NAME GROUP..."
	return &cli.Command{
		Name:         "disconnect",
		Usage:        "forget how node groups reach a network",
		ArgsUsage:    "NAME GROUP...",
		BashComplete: e.completeNetworks,
		Action: func(c *cli.Context) error {
			a, err := posArgs(c, 2, -1, usage)
			if err != nil {
				return err
			}
			return e.update(c, func(t *ipam.Txn) error {
				for _, g := range a[1:] {
					if err := t.Disconnect(a[0], g); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
}

// netRow is one network with what list and info show about it.
type netRow struct {
	def   *ipam.Network
	stats ipam.Stats
	held  []ipam.Holding // taken addresses and MACs
	mapv  string         // usage map, only when asked for
}

func (r *netRow) groups() []string {
	gs := make([]string, 0, len(r.def.Connections))
	for g := range r.def.Connections {
		gs = append(gs, g)
	}
	slices.Sort(gs)
	return gs
}

func (r *netRow) instances() []string {
	var out []string
	for _, h := range r.held {
		if h.Kind == ipam.KindInstance {
			out = append(out, h.Owner.Instance)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (r *netRow) external() []netip.Addr {
	var out []netip.Addr
	for _, h := range r.held {
		if h.Kind == ipam.KindExternal {
			out = append(out, h.IP)
		}
	}
	return out
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func prefixString(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}

func joinStringers[T fmt.Stringer](v []T, sep string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = x.String()
	}
	return strings.Join(s, sep)
}

type groupJSON struct {
	Group string `json:"group"`
	Mode  string `json:"mode"`
	Link  string `json:"link"`
	VLAN  string `json:"vlan"`
}

func (r *netRow) groupList() []groupJSON {
	out := []groupJSON{}
	for _, g := range r.groups() {
		c := r.def.Connections[g]
		out = append(out, groupJSON{Group: g, Mode: string(c.Mode), Link: c.Link, VLAN: c.VLAN})
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// networkFields are the fields of network list; names follow gnt-network
// list where it has them.
func networkFields() *fieldSet[*netRow] {
	str := func(name, title string, f func(*netRow) string) column[*netRow] {
		return column[*netRow]{name: name, title: title, text: func(r *netRow) string { return orDash(f(r)) },
			json: func(r *netRow) any { return orNull(f(r)) }}
	}
	num := func(name, title string, f func(*netRow) uint32) column[*netRow] {
		return column[*netRow]{name: name, title: title, num: true, text: func(r *netRow) string { return fmt.Sprint(f(r)) },
			json: func(r *netRow) any { return f(r) }}
	}
	return &fieldSet[*netRow]{
		cols: []column[*netRow]{
			str("name", "Network", func(r *netRow) string { return r.def.Name }),
			str("network", "Subnet", func(r *netRow) string { return prefixString(r.def.Subnet) }),
			str("gateway", "Gateway", func(r *netRow) string { return addrString(r.def.Gateway) }),
			str("network6", "IPv6Subnet", func(r *netRow) string { return prefixString(r.def.Subnet6) }),
			str("gateway6", "IPv6Gateway", func(r *netRow) string { return addrString(r.def.Gateway6) }),
			str("mac_prefix", "MacPrefix", func(r *netRow) string { return r.def.MACPrefix.String() }),
			str("uuid", "UUID", func(r *netRow) string { return r.def.UUID }),
			num("size", "Size", func(r *netRow) uint32 { return r.stats.Size }),
			num("free_count", "FreeCount", func(r *netRow) uint32 { return r.stats.Free }),
			num("reserved_count", "ReservedCount", func(r *netRow) uint32 { return r.stats.Taken }),
			num("alloc_count", "Allocatable", func(r *netRow) uint32 { return r.stats.Eligible }),
			{name: "ranges", title: "Ranges", text: func(r *netRow) string { return joinStringers(r.def.Ranges, ",") },
				json: func(r *netRow) any { return nonNil(r.def.Ranges) }},
			num("group_cnt", "NodeGroups", func(r *netRow) uint32 { return uint32(len(r.def.Connections)) }),
			{name: "group_list", title: "GroupList", text: func(r *netRow) string {
				var s []string
				for _, g := range r.groupList() {
					s = append(s, fmt.Sprintf("%s (%s, %s, %s)", g.Group, g.Mode, g.Link, g.VLAN))
				}
				return strings.Join(s, ", ")
			}, json: func(r *netRow) any { return r.groupList() }},
			num("inst_cnt", "Instances", func(r *netRow) uint32 { return uint32(len(r.instances())) }),
			{name: "inst_list", title: "InstanceList", text: func(r *netRow) string { return strings.Join(r.instances(), ",") },
				json: func(r *netRow) any { return nonNil(r.instances()) }},
			{name: "external_reservations", title: "ExternalReservations",
				text: func(r *netRow) string { return joinStringers(r.external(), ", ") },
				json: func(r *netRow) any { return nonNil(r.external()) }},
			{name: "tags", title: "Tags", text: func(r *netRow) string { return strings.Join(r.def.Tags, ",") },
				json: func(r *netRow) any { return nonNil(r.def.Tags) }},
			{name: "map", title: "Map", text: func(r *netRow) string { return r.mapv }},
		},
		defaults: []string{"name", "network", "gateway", "network6", "mac_prefix", "free_count", "group_list", "tags"},
		aliases: map[string]string{"subnet": "network", "subnet6": "network6", "free": "free_count",
			"taken": "reserved_count", "reserved": "reserved_count", "connections": "group_list",
			"groups": "group_list", "instances": "inst_list"},
	}
}

func (e *env) networkList() *cli.Command {
	fs := networkFields()
	return &cli.Command{
		Name:         "list",
		Usage:        "list networks (fields: " + fs.names() + ")",
		ArgsUsage:    "[NAME...]",
		BashComplete: e.completeNetworks,
		Flags:        listFlags(fs.defaults),
		Action: func(c *cli.Context) error {
			names, err := posArgs(c, 0, -1, "network list [-o FIELDS|json] [--no-headers] [--separator=S] [NAME...]")
			if err != nil {
				return err
			}
			o, cols, err := parseListOpts(c, fs)
			if err != nil {
				return err
			}
			wantMap := slices.ContainsFunc(cols, func(col column[*netRow]) bool { return col.name == "map" })
			var rows []*netRow
			err = e.view(c, func(t *ipam.Txn) error {
				rows, err = loadNetworks(t, names, wantMap)
				return err
			})
			if err != nil {
				return err
			}
			return writeList(e.stdout, o, cols, rows)
		},
	}
}

// loadNetworks reads the named networks (all when names is empty).
func loadNetworks(t *ipam.Txn, names []string, withMap bool) ([]*netRow, error) {
	var defs []*ipam.Network
	if len(names) == 0 {
		all, err := t.Networks()
		if err != nil {
			return nil, err
		}
		defs = all
	}
	for _, n := range names {
		d, err := t.Network(n)
		if err != nil {
			return nil, err
		}
		defs = append(defs, d)
	}
	rows := make([]*netRow, 0, len(defs))
	for _, d := range defs {
		r := &netRow{def: d}
		var err error
		if r.stats, err = t.Stats(d.Name); err != nil {
			return nil, err
		}
		if r.held, err = t.Holdings(d.Name); err != nil {
			return nil, err
		}
		r.held = addressesFirst(r.held)
		if withMap && d.Subnet.IsValid() {
			m, err := usageMap(t, d)
			if err != nil {
				return nil, err
			}
			r.mapv = m.flat()
		}
		rows = append(rows, r)
	}
	return rows, nil
}
