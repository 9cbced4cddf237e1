package hook

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/diktyo/diktyo/pkg/announce"
	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/ifupconf"
	"github.com/diktyo/diktyo/pkg/osenv"
	"github.com/diktyo/diktyo/pkg/version"
)

// Usage is the command line help.
const Usage = `usage:
  diktyo-hook                        run as a Ganeti hook (from /etc/ganeti/hooks/<hpath>-<phase>.d/)
  diktyo-hook run --env FILE [--db PATH] [--node NAME]
                                     run the hook of a saved hook environment
  diktyo-hook install [--hooks-dir DIR] [--binary PATH]
                                     link diktyo-hook into every hook directory it serves
  diktyo-hook uninstall [--hooks-dir DIR]
                                     remove exactly those links
  diktyo-hook list [--hooks-dir DIR] show what is installed
Config: /etc/default/diktyo or $DIKTYO_CONFIG (IPAM_DB, STATE_DIR,
HOOK_STORE_UNREACHABLE=refuse|allow). This node's name: $DIKTYO_NODE_NAME,
else the host name as Ganeti's ssconf_node_list has it.`

// Exit statuses.
const (
	ExitOK    = 0
	ExitError = 1 // the hook failed; in the pre phase Ganeti aborts the job
	ExitUsage = 2
)

// Run is the whole diktyo-hook command: argv (argv[0] is the program),
// the process environment and the standard streams (stdin is not read).
// It returns the exit status.
func Run(ctx context.Context, argv, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if version.Handle(argv, Name, stdout) {
		return ExitOK
	}
	if len(argv) > 1 && argv[1] == announce.Subcommand {
		// The detached announcer that re-announcing NICs spawns (this very
		// binary, see hook below).
		if err := announce.Run(argv[2:]); err != nil {
			return ExitError
		}
		return ExitOK
	}
	env := osenv.Map(environ)
	if len(argv) < 2 {
		if env["GANETI_HOOKS_PATH"] == "" {
			fmt.Fprintf(stderr, "%s: not run by Ganeti (no GANETI_HOOKS_PATH)\n%s\n", Name, Usage)
			return ExitUsage
		}
		return hook(ctx, environ, env, "", "", stderr)
	}
	fs := flag.NewFlagSet(Name+" "+argv[1], flag.ContinueOnError)
	fs.SetOutput(stderr)
	hooksDir := fs.String("hooks-dir", DefaultHooksDir, "Ganeti's hook directory")
	usage := func(err error) int {
		fmt.Fprintf(stderr, "%s: %v\n%s\n", Name, err, Usage)
		return ExitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "%s: %s\n", Name, oneLine(err.Error()))
		return ExitError
	}
	switch argv[1] {
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, Usage)
		return ExitOK
	case "run":
		file := fs.String("env", "", "hook environment dump (NAME=value lines)")
		db := fs.String("db", "", "the pool store (default: IPAM_DB)")
		node := fs.String("node", "", "this node's name (default: detected)")
		if err := fs.Parse(argv[2:]); err != nil || *file == "" || fs.NArg() > 0 {
			return usage(errors.New("run --env FILE [--db PATH] [--node NAME]"))
		}
		dump, err := ganeti.ReadEnvFile(*file)
		if err != nil {
			return fail(err)
		}
		// The dump's GANETI_* variables, this process's for the rest.
		var merged []string
		for _, kv := range environ {
			if !strings.HasPrefix(kv, ganeti.HookPrefix) {
				merged = append(merged, kv)
			}
		}
		for _, kv := range dump {
			if strings.HasPrefix(kv, ganeti.HookPrefix) {
				merged = append(merged, kv)
			}
		}
		return hook(ctx, merged, env, *db, *node, stderr)
	case "install":
		bin := fs.String("binary", "", "the diktyo-hook the entries point to (default: this one)")
		if err := fs.Parse(argv[2:]); err != nil || fs.NArg() > 0 {
			return usage(errors.New("install [--hooks-dir DIR] [--binary PATH]"))
		}
		if *bin == "" {
			exe, err := os.Executable()
			if err != nil {
				return fail(err)
			}
			*bin = exe
		}
		done, err := Install(*hooksDir, *bin)
		for _, p := range done {
			fmt.Fprintf(stdout, "installed %s\n", p)
		}
		if err != nil {
			return fail(err)
		}
		return ExitOK
	case "uninstall":
		if err := fs.Parse(argv[2:]); err != nil || fs.NArg() > 0 {
			return usage(errors.New("uninstall [--hooks-dir DIR]"))
		}
		done, err := Uninstall(*hooksDir)
		for _, p := range done {
			fmt.Fprintf(stdout, "removed %s\n", p)
		}
		if err != nil {
			return fail(err)
		}
		return ExitOK
	case "list":
		if err := fs.Parse(argv[2:]); err != nil || fs.NArg() > 0 {
			return usage(errors.New("list [--hooks-dir DIR]"))
		}
		for _, e := range List(*hooksDir) {
			line := fmt.Sprintf("%-9s %s", e.State, e.Path)
			if e.Target != "" {
				line += " -> " + e.Target
			}
			fmt.Fprintln(stdout, line)
		}
		return ExitOK
	}
	return usage(fmt.Errorf("unknown command %q", argv[1]))
}

// hook runs a hook: config, logger, node name, then Handle. db and node
// override IPAM_DB and the detected name when set.
func hook(ctx context.Context, environ []string, env map[string]string, db, node string, stderr io.Writer) int {
	log, closeLog := NewLogger(stderr, DefaultSyslog, env["DIKTYO_DEBUG"] != "")
	defer closeLog()
	cfg, warnings, err := ifupconf.Load(environ)
	if err != nil {
		log.Error(err.Error())
		return ExitError
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	if db == "" {
		db = cfg.IPAMDB
	}
	if node == "" {
		node = NodeName(func(k string) string { return env[k] }, osenv.Map(environ)["GANETI_DATA_DIR"])
	}
	// This binary sends re-announcements as its own detached child
	// (Run handles announce.Subcommand).
	announcer := &announce.Command{Args: []string{"diktyo-hook", announce.Subcommand}}
	if err := Handle(ctx, environ, System(cfg, log, node, db, announcer)); err != nil {
		log.Error(err.Error())
		return ExitError
	}
	return ExitOK
}
