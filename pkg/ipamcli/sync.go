package ipamcli

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/diktyo/diktyo/pkg/ganetisync"
	"github.com/diktyo/diktyo/pkg/ipam"
)

// syncCommand is `sync ganeti`; the logic is pkg/ganetisync's.
func (e *env) syncCommand() *cli.Command {
	return &cli.Command{
		Name:  "sync",
		Usage: "compare the pool with another source of truth",
		Subcommands: []*cli.Command{{
			Name: "ganeti",
			Usage: "compare the pool with Ganeti's networks and instance NICs (gnt-network and gnt-instance list, on the master); " +
				"prints one line per difference and exits 8 if there are any; --apply takes Ganeti's side",
			Flags: []cli.Flag{&cli.BoolFlag{Name: "apply", Usage: "change the pool to what Ganeti has"}},
			Action: func(c *cli.Context) error {
				if _, err := posArgs(c, 0, 0, "sync ganeti [--apply]"); err != nil {
					return err
				}
				update := func(fn func(*ipam.Txn) error) error { return e.update(c, fn) }
				err := ganetisync.RunSync(c.Context, ganetisync.CLI{}, update, c.Bool("apply"), e.stdout)
				if errors.Is(err, ganetisync.ErrDisagree) {
					return fmt.Errorf("%w: %w", errInconsistent, err)
				}
				return err
			},
		}},
	}
}
