package ipamcli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/boltstore"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore"
	"github.com/diktyo/diktyo/pkg/ipam/storeurl"
	"github.com/diktyo/diktyo/pkg/osenv"
	"github.com/diktyo/diktyo/pkg/version"
)

// Name is the command's name in messages and completion scripts.
const Name = "diktyo-ipam"

// EnvDB names the environment variable that overrides the store path.
const EnvDB = "DIKTYO_IPAM_DB"

// Run is the whole diktyo-ipam command: args (args[0] is the program
// name), the process environment ("K=V", os.Environ() in main), stdin for
// import, results on stdout and the one-line error on stderr. It returns
// the exit status documented in the package comment.
func Run(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if version.Handle(args, Name, stdout) {
		return ExitOK
	}
	e := &env{args: args, stdin: stdin, stdout: stdout, stderr: stderr, getenv: osenv.Getenv(environ)}
	app := e.app()
	err := app.RunContext(ctx, interspersed(app, args))
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", Name, oneLine(err))
	}
	return ExitCode(err)
}

// oneLine keeps an error message on one line, as Ganeti's job log wants.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
}

// env is what one Run works with.
type env struct {
	args           []string
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

func storeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "db", Usage: "the pool `STORE`: a bbolt file's path or etcd://HOST:PORT[,HOST:PORT...]/PREFIX " +
			"(etcds:// for TLS) (default $" + EnvDB + ", else IPAM_DB in /etc/default/diktyo, else " + boltstore.DefaultPath + ")"},
		&cli.DurationFlag{Name: "timeout", Value: boltstore.DefaultTimeout, Usage: "how long to wait for the store lock, or for an etcd quorum"},
	}
}

func (e *env) app() *cli.App {
	app := &cli.App{
		Name:                 Name,
		HelpName:             Name,
		Usage:                "manage diktyo's cluster-wide IP pool (networks, addresses, MACs)",
		Description:          "Networks and reservations of the pool shared by diktyo's hooks and ifup scripts.\nFlags follow gnt-network's where it has them; \"none\" clears an optional value.",
		Flags:                storeFlags(),
		Writer:               e.stdout,
		ErrWriter:            e.stderr,
		Reader:               e.stdin,
		EnableBashCompletion: true,
		Version:              version.Version,
		ExitErrHandler:       func(*cli.Context, error) {},
		OnUsageError:         onUsageError,
		Action:               groupAction,
		Commands: []*cli.Command{
			e.networkCommand(),
			e.ipCommand(),
			e.macCommand(),
			e.eui64Command(),
			e.exportCommand(),
			e.importCommand(),
			e.checkCommand(),
			e.syncCommand(),
			e.storeCommand(),
			e.completionCommand(),
		},
	}
	app.BashComplete = e.completeCommands
	e.prepare(app.Commands)
	return app
}

// prepare gives every command the usage-error handler, a group action for
// commands with subcommands, the store flags on leaves so --db may also
// follow the subcommand, and completion that does not depend on os.Args.
func (e *env) prepare(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = onUsageError
		if len(c.Subcommands) > 0 {
			c.Action = groupAction
			c.BashComplete = e.completeCommands
			e.prepare(c.Subcommands)
			continue
		}
		c.Flags = append(c.Flags, storeFlags()...)
		if c.BashComplete == nil {
			c.BashComplete = e.completeCommands
		}
	}
}

func onUsageError(c *cli.Context, err error, _ bool) error {
	if p := commandPath(c); p != Name {
		return usagef("%s: %v (see --help)", p, err)
	}
	return usagef("%v (see --help)", err) // Run prefixes the name
}

// groupAction runs for "diktyo-ipam" or "diktyo-ipam network" without a
// (known) subcommand.
func groupAction(c *cli.Context) error {
	if c.Args().Present() {
		if p := commandPath(c); p != Name {
			return usagef("%s: unknown command %q (see --help)", p, c.Args().First())
		}
		return usagef("unknown command %q (see --help)", c.Args().First())
	}
	if c.Command == nil || c.Command.Name == "" || c.Command.Name == Name {
		_ = cli.ShowAppHelp(c)
	} else {
		_ = cli.ShowSubcommandHelp(c)
	}
	if p := commandPath(c); p != Name {
		return usagef("%s: missing command (see --help)", p)
	}
	return usagef("missing command (see --help)")
}

// commandPath is "network add" for messages.
func commandPath(c *cli.Context) string {
	var names []string
	for _, cc := range c.Lineage() {
		if cc.Command != nil && cc.Command.Name != "" && cc.Command.Name != Name {
			names = append(names, cc.Command.Name)
		}
	}
	slices.Reverse(names)
	if len(names) == 0 {
		return Name
	}
	return strings.Join(names, " ")
}

// setFlag finds the innermost context where flag name was given.
func setFlag(c *cli.Context, name string) (*cli.Context, bool) {
	for _, cc := range c.Lineage() {
		if cc.Command == nil {
			continue
		}
		if slices.Contains(cc.LocalFlagNames(), name) {
			return cc, true
		}
	}
	return c, false
}

// dbPath is --db, else $DIKTYO_IPAM_DB, else IPAM_DB of the configuration
// file, else the default path.
func (e *env) dbPath(c *cli.Context) (string, error) {
	if cc, ok := setFlag(c, "db"); ok && cc.String("db") != "" {
		return cc.String("db"), nil
	}
	loc, err := storeurl.Configured(e.getenv)
	if err != nil {
		return "", err
	}
	return loc, nil
}

// storeOptions are the options of every store diktyo-ipam opens: etcd in
// this process.
func (e *env) storeOptions(c *cli.Context, readOnly bool) storeurl.Options {
	return storeurl.Options{ReadOnly: readOnly, Timeout: e.timeout(c), Getenv: e.getenv, Etcd: etcdstore.OpenConf}
}

func (e *env) timeout(c *cli.Context) time.Duration {
	cc, _ := setFlag(c, "timeout")
	return cc.Duration("timeout")
}

// open opens the store; the caller closes it.
func (e *env) open(c *cli.Context, readOnly bool) (ipam.Store, error) {
	loc, err := e.dbPath(c)
	if err != nil {
		return nil, err
	}
	l, err := storeurl.Parse(loc)
	if err != nil {
		return nil, usagef("--db: %v", err)
	}
	st, err := l.Open(c.Context, e.storeOptions(c, readOnly))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", loc, err)
	}
	return st, nil
}

// view runs fn in one read-only transaction of the store.
func (e *env) view(c *cli.Context, fn func(*ipam.Txn) error) error {
	st, err := e.open(c, true)
	if err != nil {
		return err
	}
	err = ipam.New(st).View(c.Context, fn)
	return errors.Join(err, st.Close())
}

// update runs fn in one read-write transaction of the store: all of it is
// committed, or nothing.
func (e *env) update(c *cli.Context, fn func(*ipam.Txn) error) error {
	st, err := e.open(c, false)
	if err != nil {
		return err
	}
	err = ipam.New(st).Update(c.Context, fn)
	return errors.Join(err, st.Close())
}

// posArgs checks the number of positional arguments and that no flag
// follows them (urfave/cli stops parsing flags at the first argument).
func posArgs(c *cli.Context, lo, hi int, usage string) ([]string, error) {
	a := c.Args().Slice()
	for _, s := range a {
		if len(s) > 1 && strings.HasPrefix(s, "-") {
			return nil, usagef("%s: flag %s must come before the arguments; usage: %s", commandPath(c), s, usage)
		}
	}
	if len(a) < lo || (hi >= 0 && len(a) > hi) {
		return nil, usagef("%s: wrong number of arguments; usage: %s", commandPath(c), usage)
	}
	return a, nil
}
