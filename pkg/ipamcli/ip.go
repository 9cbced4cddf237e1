package ipamcli

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/diktyo/diktyo/pkg/ipam"
)

func (e *env) ipCommand() *cli.Command {
	return &cli.Command{
		Name:  "ip",
		Usage: "reserve, allocate, release and look up addresses",
		Subcommands: []*cli.Command{
			e.ipReserve(), e.ipRelease(), e.ipAllocate(), e.ipList(), e.ipLookup(),
			e.ipReleaseOwner(), e.ipReassign(),
		},
	}
}

func ownerFlag(usage string) cli.Flag {
	return &cli.StringFlag{Name: "owner", Usage: usage + " (`INSTANCE[:NIC]`)"}
}

// addrArgs parses the addresses of a network.
func addrArgs(ss []string) ([]netip.Addr, error) {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		a, err := parseAddr4("address", s)
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

func (e *env) ipReserve() *cli.Command {
	const usage = "ip reserve --owner=INSTANCE[:NIC] NETWORK IP... | ip reserve --external NETWORK IP..."
	return &cli.Command{
		Name:         "reserve",
		Usage:        "reserve given addresses for an instance NIC, or externally",
		ArgsUsage:    "NETWORK IP...",
		BashComplete: e.completeNetworks,
		Flags: []cli.Flag{
			ownerFlag("the holder"),
			&cli.BoolFlag{Name: "external", Usage: "reserve for use outside diktyo (routers, appliances)"},
		},
		Action: func(c *cli.Context) error {
			a, err := posArgs(c, 2, -1, usage)
			if err != nil {
				return err
			}
			if c.IsSet("owner") == c.Bool("external") {
				return usagef("ip reserve: give exactly one of --owner and --external; usage: %s", usage)
			}
			var owner ipam.Owner
			if c.IsSet("owner") {
				if owner, err = parseOwner("owner", c.String("owner")); err != nil {
					return err
				}
			}
			ips, err := addrArgs(a[1:])
			if err != nil {
				return err
			}
			return e.update(c, func(t *ipam.Txn) error {
				for _, ip := range ips {
					var err error
					if c.Bool("external") {
						err = t.ReserveExternal(a[0], ip)
					} else {
						err = t.Reserve(a[0], ip, owner)
					}
					if err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
}

func (e *env) ipRelease() *cli.Command {
	const usage = "ip release [--owner=INSTANCE[:NIC]] NETWORK IP..."
	return &cli.Command{
		Name: "release",
		Usage: "free addresses; with --owner only that owner's (already free is fine), " +
			"without it any instance or external reservation",
		ArgsUsage:    "NETWORK IP...",
		BashComplete: e.completeNetworks,
		Flags:        []cli.Flag{ownerFlag("release only addresses held by")},
		Action: func(c *cli.Context) error {
			a, err := posArgs(c, 2, -1, usage)
			if err != nil {
				return err
			}
			var owner *ipam.Owner
			if c.IsSet("owner") {
				o, err := parseOwner("owner", c.String("owner"))
				if err != nil {
					return err
				}
				owner = &o
			}
			ips, err := addrArgs(a[1:])
			if err != nil {
				return err
			}
			return e.update(c, func(t *ipam.Txn) error {
				for _, ip := range ips {
					if err := t.Release(a[0], ip, owner); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
}

func (e *env) ipAllocate() *cli.Command {
	return e.drawCommand("allocate", "ip allocate", "reserve the next free address for an instance NIC and print it (only it)",
		func(t *ipam.Txn, network string, o ipam.Owner) (fmt.Stringer, error) { return t.Allocate(network, o) })
}

// drawCommand builds a command that reserves the next thing (an address, a
// MAC) of NETWORK for --owner and prints only it, so scripts can capture
// it.
func (e *env) drawCommand(name, path, help string, draw func(*ipam.Txn, string, ipam.Owner) (fmt.Stringer, error)) *cli.Command {
	usage := path + " --owner=INSTANCE[:NIC] NETWORK"
	return &cli.Command{
		Name:         name,
		Usage:        help,
		ArgsUsage:    "NETWORK",
		BashComplete: e.completeNetworks,
		Flags:        []cli.Flag{ownerFlag("the holder")},
		Action: func(c *cli.Context) error {
			a, err := posArgs(c, 1, 1, usage)
			if err != nil {
				return err
			}
			if !c.IsSet("owner") {
				return usagef("%s: --owner is required; usage: %s", path, usage)
			}
			owner, err := parseOwner("owner", c.String("owner"))
			if err != nil {
				return err
			}
			var got fmt.Stringer
			err = e.update(c, func(t *ipam.Txn) error {
				got, err = draw(t, a[0], owner)
				return err
			})
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(e.stdout, got)
			return err
		},
	}
}

// addressesFirst orders holdings as pkg/ipam does (network, address) but
// puts MAC reservations after the addresses of their network.
func addressesFirst(hs []ipam.Holding) []ipam.Holding {
	slices.SortStableFunc(hs, func(a, b ipam.Holding) int {
		if c := strings.Compare(a.Network, b.Network); c != 0 {
			return c
		}
		switch am, bm := a.MAC != "", b.MAC != ""; {
		case am && !bm:
			return 1
		case !am && bm:
			return -1
		}
		return 0
	})
	return hs
}

// holdingJSON is one held address or MAC in JSON output.
type holdingJSON struct {
	Network  string  `json:"network"`
	IP       *string `json:"ip"`
	MAC      *string `json:"mac"`
	Kind     string  `json:"kind"`
	Instance *string `json:"instance"`
	NIC      *string `json:"nic"`
}

func kindString(k ipam.Kind) string {
	if k == "" {
		return "free"
	}
	return string(k)
}

func toHoldingJSON(h ipam.Holding) holdingJSON {
	return holdingJSON{Network: h.Network, IP: strPtr(addrString(h.IP)), MAC: strPtr(h.MAC), Kind: kindString(h.Kind),
		Instance: strPtr(h.Owner.Instance), NIC: strPtr(h.Owner.NIC)}
}

// holdingFields are the fields of ip list, ip lookup, ip release-owner and
// ip reassign.
func holdingFields(defaults ...string) *fieldSet[ipam.Holding] {
	str := func(name, title string, f func(ipam.Holding) string) column[ipam.Holding] {
		return column[ipam.Holding]{name: name, title: title, text: func(h ipam.Holding) string { return orDash(f(h)) },
			json: func(h ipam.Holding) any { return orNull(f(h)) }}
	}
	return &fieldSet[ipam.Holding]{
		cols: []column[ipam.Holding]{
			str("network", "Network", func(h ipam.Holding) string { return h.Network }),
			str("ip", "IP", func(h ipam.Holding) string { return addrString(h.IP) }),
			str("mac", "MAC", func(h ipam.Holding) string { return h.MAC }),
			str("kind", "Kind", func(h ipam.Holding) string { return kindString(h.Kind) }),
			str("owner", "Owner", func(h ipam.Holding) string { return h.Owner.String() }),
			str("instance", "Instance", func(h ipam.Holding) string { return h.Owner.Instance }),
			str("nic", "NIC", func(h ipam.Holding) string { return h.Owner.NIC }),
		},
		defaults: defaults,
		aliases:  map[string]string{"address": "ip", "inst": "instance"},
	}
}

func (e *env) ipList() *cli.Command {
	fs := holdingFields("ip", "mac", "kind", "owner")
	return &cli.Command{
		Name:         "list",
		Usage:        "list the taken addresses and reserved MACs of a network (fields: " + fs.names() + ")",
		ArgsUsage:    "NETWORK",
		BashComplete: e.completeNetworks,
		Flags:        listFlags(fs.defaults),
		Action: func(c *cli.Context) error {
			a, err := posArgs(c, 1, 1, "ip list [-o FIELDS|json] [--no-headers] [--separator=S] NETWORK")
			if err != nil {
				return err
			}
			o, cols, err := parseListOpts(c, fs)
			if err != nil {
				return err
			}
			var hs []ipam.Holding
			err = e.view(c, func(t *ipam.Txn) error {
				hs, err = t.Holdings(a[0])
				return err
			})
			if err != nil {
				return err
			}
			return writeList(e.stdout, o, cols, addressesFirst(hs))
		},
	}
}

func (e *env) ipLookup() *cli.Command {
	fs := holdingFields("network", "ip", "mac", "kind", "owner")
	const usage = "ip lookup [-o FIELDS|json] [--no-headers] [--separator=S] IP | --owner=INSTANCE[:NIC]"
	return &cli.Command{
		Name: "lookup",
		Usage: "show who holds an address in every network containing it, or what an owner holds " +
			"(fields: " + fs.names() + ")",
		ArgsUsage: "IP | --owner=INSTANCE[:NIC]",
		Flags:     append([]cli.Flag{ownerFlag("list what is held by")}, listFlags(fs.defaults)...),
		Action: func(c *cli.Context) error {
			byOwner := c.IsSet("owner")
			n := 1
			if byOwner {
				n = 0
			}
			a, err := posArgs(c, n, n, usage)
			if err != nil {
				return err
			}
			o, cols, err := parseListOpts(c, fs)
			if err != nil {
				return err
			}
			var owner ipam.Owner
			var ip netip.Addr
			if byOwner {
				owner, err = parseOwner("owner", c.String("owner"))
			} else {
				ip, err = parseAddr4("address", a[0])
			}
			if err != nil {
				return err
			}
			var hs []ipam.Holding
			err = e.view(c, func(t *ipam.Txn) error {
				if byOwner {
					hs, err = t.ByOwner(owner)
				} else {
					hs, err = t.Lookup(ip)
				}
				return err
			})
			if err != nil {
				return err
			}
			if len(hs) == 0 {
				if byOwner {
					return fmt.Errorf("owner %s holds nothing: %w", owner, ipam.ErrNotFound)
				}
				return fmt.Errorf("%v is in no network: %w", ip, ipam.ErrNotFound)
			}
			return writeList(e.stdout, o, cols, addressesFirst(hs))
		},
	}
}

func (e *env) ipReleaseOwner() *cli.Command {
	fs := holdingFields("network", "ip", "mac", "owner")
	return &cli.Command{
		Name:      "release-owner",
		Usage:     "release every address and MAC an instance (or one NIC of it) holds, and list them",
		ArgsUsage: " ",
		Flags:     append([]cli.Flag{ownerFlag("whose holdings to release")}, listFlags(fs.defaults)...),
		Action: func(c *cli.Context) error {
			const usage = "ip release-owner --owner=INSTANCE[:NIC]"
			if _, err := posArgs(c, 0, 0, usage); err != nil {
				return err
			}
			if !c.IsSet("owner") {
				return usagef("ip release-owner: --owner is required; usage: %s", usage)
			}
			owner, err := parseOwner("owner", c.String("owner"))
			if err != nil {
				return err
			}
			return e.updateHoldings(c, fs, func(t *ipam.Txn) ([]ipam.Holding, error) { return t.ReleaseOwner(owner) })
		},
	}
}

func (e *env) ipReassign() *cli.Command {
	fs := holdingFields("network", "ip", "mac", "owner")
	return &cli.Command{
		Name:      "reassign",
		Usage:     "move everything an instance (or NIC) holds to another (instance rename, NIC moved) and list it",
		ArgsUsage: " ",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "current holder `INSTANCE[:NIC]`"},
			&cli.StringFlag{Name: "to", Usage: "new holder `INSTANCE[:NIC]` (without :NIC the NIC names stay)"},
		}, listFlags(fs.defaults)...),
		Action: func(c *cli.Context) error {
			const usage = "ip reassign --from=INSTANCE[:NIC] --to=INSTANCE[:NIC]"
			if _, err := posArgs(c, 0, 0, usage); err != nil {
				return err
			}
			if !c.IsSet("from") || !c.IsSet("to") {
				return usagef("ip reassign: --from and --to are required; usage: %s", usage)
			}
			from, err := parseOwner("from", c.String("from"))
			if err != nil {
				return err
			}
			to, err := parseOwner("to", c.String("to"))
			if err != nil {
				return err
			}
			return e.updateHoldings(c, fs, func(t *ipam.Txn) ([]ipam.Holding, error) {
				hs, err := t.Reassign(from, to)
				if err == nil && len(hs) == 0 {
					err = fmt.Errorf("owner %s holds nothing: %w", from, ipam.ErrNotFound)
				}
				return hs, err
			})
		},
	}
}

// updateHoldings runs fn in one update and lists the holdings it returns
// (addresses first) with the list options of fs.
func (e *env) updateHoldings(c *cli.Context, fs *fieldSet[ipam.Holding], fn func(*ipam.Txn) ([]ipam.Holding, error)) error {
	o, cols, err := parseListOpts(c, fs)
	if err != nil {
		return err
	}
	var hs []ipam.Holding
	if err := e.update(c, func(t *ipam.Txn) (err error) {
		hs, err = fn(t)
		return err
	}); err != nil {
		return err
	}
	return writeList(e.stdout, o, cols, addressesFirst(hs))
}
