package ipamcli

import (
	"fmt"
	"net/netip"

	"github.com/urfave/cli/v2"

	"github.com/diktyo/diktyo/pkg/eui64"
	"github.com/diktyo/diktyo/pkg/ipam"
)

func (e *env) macCommand() *cli.Command {
	return &cli.Command{
		Name:        "mac",
		Usage:       "generate and reserve MAC addresses inside a network's MAC prefix",
		Subcommands: []*cli.Command{e.macGenerate(), e.macReserve(), e.macRelease()},
	}
}

func (e *env) macGenerate() *cli.Command {
	return e.drawCommand("generate", "mac generate", "draw a free random MAC in the network's prefix, reserve it for the owner and print it (only it)",
		func(t *ipam.Txn, network string, o ipam.Owner) (fmt.Stringer, error) {
			return t.GenerateMAC(network, o)
		})
}

func (e *env) macReserve() *cli.Command {
	const usage = "mac reserve --owner=INSTANCE[:NIC] NETWORK MAC"
	return &cli.Command{
		Name:         "reserve",
		Usage:        "record that an instance NIC uses a MAC",
		ArgsUsage:    "NETWORK MAC",
		BashComplete: e.completeNetworks,
		Flags:        []cli.Flag{ownerFlag("the holder")},
		Action: func(c *cli.Context) error {
			a, err := posArgs(c, 2, 2, usage)
			if err != nil {
				return err
			}
			if !c.IsSet("owner") {
				return usagef("mac reserve: --owner is required; usage: %s", usage)
			}
			owner, err := parseOwner("owner", c.String("owner"))
			if err != nil {
				return err
			}
			mac, err := parseMAC(a[1])
			if err != nil {
				return err
			}
			return e.update(c, func(t *ipam.Txn) error { return t.ReserveMAC(a[0], mac, owner) })
		},
	}
}

func (e *env) macRelease() *cli.Command {
	const usage = "mac release [--owner=INSTANCE[:NIC]] MAC"
	return &cli.Command{
		Name:      "release",
		Usage:     "free a MAC; with --owner only that owner's (already free is fine)",
		ArgsUsage: "MAC",
		Flags:     []cli.Flag{ownerFlag("release only a MAC held by")},
		Action: func(c *cli.Context) error {
			a, err := posArgs(c, 1, 1, usage)
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
			mac, err := parseMAC(a[0])
			if err != nil {
				return err
			}
			return e.update(c, func(t *ipam.Txn) error { return t.ReleaseMAC(mac, owner) })
		},
	}
}

func (e *env) eui64Command() *cli.Command {
	const usage = "eui64 --network6=PREFIX/64 MAC | eui64 NETWORK MAC"
	return &cli.Command{
		Name:         "eui64",
		Usage:        "print the SLAAC (modified EUI-64) address of a MAC in a /64 or a network's IPv6 subnet",
		ArgsUsage:    "[NETWORK] MAC",
		BashComplete: e.completeNetworks,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "network6", Usage: "the IPv6 `PREFIX` (a /64)"},
		},
		Action: func(c *cli.Context) error {
			n := 2
			if c.IsSet("network6") {
				n = 1
			}
			a, err := posArgs(c, n, n, usage)
			if err != nil {
				return err
			}
			mac, err := parseMAC(a[n-1])
			if err != nil {
				return err
			}
			var prefix netip.Prefix
			if c.IsSet("network6") {
				if prefix, err = parseSubnet6("network6", c.String("network6")); err != nil {
					return err
				}
			} else {
				err := e.view(c, func(t *ipam.Txn) error {
					d, err := t.Network(a[0])
					if err != nil {
						return err
					}
					if !d.Subnet6.IsValid() {
						return fmt.Errorf("network %s: %w: no IPv6 subnet", d.Name, ipam.ErrInvalid)
					}
					prefix = d.Subnet6
					return nil
				})
				if err != nil {
					return err
				}
			}
			ip, err := eui64.Addr(prefix, mac)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(e.stdout, ip)
			return err
		},
	}
}
