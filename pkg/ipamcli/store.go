package ipamcli

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/diktyo/diktyo/pkg/ipam/storeurl"
)

func (e *env) storeCommand() *cli.Command {
	return &cli.Command{
		Name:  "store",
		Usage: "move the pool between stores (bbolt file, etcd)",
		Subcommands: []*cli.Command{
			e.storeMigrate(),
			e.storeView(),
		},
	}
}

func (e *env) storeMigrate() *cli.Command {
	const usage = "store migrate --from STORE --to STORE"
	return &cli.Command{
		Name: "migrate",
		Usage: "copy the pool into a new store and verify the copy (check on both sides, identical export); " +
			"STORE is bolt:PATH, a path, etcd://HOST:PORT[,...]/PREFIX, etcds://..., or etcd:PREFIX (the endpoints of --db)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "the pool to copy `STORE`"},
			&cli.StringFlag{Name: "to", Usage: "the new `STORE` (must not exist)"},
		},
		Action: func(c *cli.Context) error {
			if _, err := posArgs(c, 0, 0, usage); err != nil {
				return err
			}
			if !c.IsSet("from") || !c.IsSet("to") {
				return usagef("store migrate: --from and --to are required; usage: %s", usage)
			}
			from, err := e.migrateLocation(c, "from")
			if err != nil {
				return err
			}
			to, err := e.migrateLocation(c, "to")
			if err != nil {
				return err
			}
			m, err := migrate(c.Context, from, to, e.storeOptions(c, false))
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "migrated %d networks (%d keys) from %s to %s: check clean on both sides, identical exports (%d bytes)\n",
				m.Networks, m.Keys, from, to, m.ExportBytes)
			return err
		},
	}
}

// migrateLocation parses --from or --to; etcd:PREFIX takes the endpoints
// of the store diktyo-ipam would use (--db, $DIKTYO_IPAM_DB, IPAM_DB).
func (e *env) migrateLocation(c *cli.Context, flag string) (storeurl.Location, error) {
	l, err := storeurl.Parse(c.String(flag))
	if err != nil {
		return l, usagef("store migrate: --%s: %v", flag, err)
	}
	if l.Kind != storeurl.Etcd || len(l.Endpoints) > 0 {
		return l, nil
	}
	db, err := e.dbPath(c)
	if err != nil {
		return l, err
	}
	if d, err := storeurl.Parse(db); err == nil && d.Kind == storeurl.Etcd && len(d.Endpoints) > 0 {
		l.Endpoints = d.Endpoints
		return l, nil
	}
	return l, usagef("store migrate: --%s %s: the configured store %s is not in etcd: give etcd://HOST:PORT[,HOST:PORT...]/%s", flag, l, db, l.Prefix)
}

// storeView is the child diktyo-ifup starts to read an etcd pool without
// linking the etcd client (see pkg/ipam/storeurl).
func (e *env) storeView() *cli.Command {
	return &cli.Command{
		Name:   "view",
		Usage:  "serve one read-only snapshot of the pool on stdin/stdout (for diktyo-ifup)",
		Hidden: true,
		Action: func(c *cli.Context) error {
			if _, err := posArgs(c, 0, 0, "store view"); err != nil {
				return err
			}
			loc, err := e.dbPath(c)
			if err != nil {
				return err
			}
			st, err := storeurl.Open(c.Context, loc, e.storeOptions(c, true))
			if err == nil {
				defer st.Close()
			}
			return storeurl.ServeView(c.Context, st, err, e.stdin, e.stdout)
		},
	}
}
