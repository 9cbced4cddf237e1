package ifup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/diktyo/diktyo/pkg/announce"
	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/ifupconf"
	"github.com/diktyo/diktyo/pkg/netplan"
	"github.com/diktyo/diktyo/pkg/osenv"
	"github.com/diktyo/diktyo/pkg/syslog"
	"github.com/diktyo/diktyo/pkg/version"
)

// Name is the command's name in messages.
const Name = "diktyo-ifup"

// Run is the whole diktyo-ifup command: args (args[0] is the program,
// whose name selects up or down when Ganeti runs it as kvm-vif-bridge,
// kvm-ifup-custom or kvm-ifdown-custom), the process environment and the
// standard streams (stdin is not read). It wires a Runner to the real
// host (NewSystem) and returns the exit status: 0 done, 1 failed (one
// line on stderr, as Ganeti shows it in the job log), 2 usage.
func Run(ctx context.Context, args, env []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if version.Handle(args, Name, stdout) {
		return 0
	}
	if len(args) > 1 && args[1] == announce.Subcommand {
		// The detached announcer spawned by an up: no config, no Runner.
		if err := announce.Run(args[2:]); err != nil {
			return 1
		}
		return 0
	}
	daemon := Daemon(args)
	level := slog.LevelWarn
	if daemon {
		level = slog.LevelInfo
	}
	if osenv.Getenv(env)("DIKTYO_DEBUG") != "" {
		level = slog.LevelDebug
	}
	var handler slog.Handler = slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})
	if daemon {
		if w, err := syslog.Dial(syslog.DefaultPath, Name, 0); err == nil {
			defer w.Close()
			handler = slog.NewMultiHandler(handler, syslog.NewHandler(w, level))
		}
	}
	log := slog.New(handler)
	cfg, warnings, err := ifupconf.Load(env)
	if err != nil {
		return fail(stderr, err)
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	r, closeSys, err := NewSystem(cfg, log, &announce.Command{})
	if err != nil {
		return fail(stderr, err)
	}
	defer closeSys()
	r.out = stdout
	err = Main(ctx, args, env, r)
	switch {
	case errors.Is(err, ErrUsage):
		fail(stderr, err)
		fmt.Fprintln(stderr, Usage)
		return 2
	case err != nil:
		return fail(stderr, err)
	}
	return 0
}

// fail prints err as the one line Ganeti shows in the job log.
func fail(stderr io.Writer, err error) int {
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	fmt.Fprintf(stderr, "%s: %s\n", Name, msg)
	return 1
}

// Usage is the command line help.
const Usage = `usage:
  diktyo-ifup up [--env FILE] [TAP]     set a NIC up from Ganeti's kvm-ifup environment
  diktyo-ifup down [TAP]                remove what up applied to TAP (default $INTERFACE)
  diktyo-ifup reconcile                 remove the state of taps that no longer exist
  diktyo-ifup watch                     node daemon: remove a tap's state when the tap disappears
  diktyo-ifup show [--json] [TAP...]    print what is recorded per tap
Invoked as kvm-vif-bridge or kvm-ifup-custom it runs up, as kvm-ifdown-custom
(args: TAP [local]) it runs down. Config: /etc/default/diktyo or $DIKTYO_CONFIG.`

// Interruptible reports whether argv runs a command that watches its
// context (reconcile, watch), the only ones worth catching SIGINT and
// SIGTERM for: an up or down is short and crash-safe, and its process
// keeps the default signal actions (and saves the signal goroutine and
// thread).
func Interruptible(argv []string) bool {
	return len(argv) > 1 && (argv[1] == "reconcile" || argv[1] == "watch")
}

// Daemon reports whether argv runs the long-lived watch, which logs at
// info level and to syslog too.
func Daemon(argv []string) bool {
	return len(argv) > 1 && argv[1] == "watch"
}

// Main runs one diktyo-ifup invocation: argv[0] (kvm-vif-bridge,
// kvm-ifup-custom, kvm-ifdown-custom or anything else for subcommands),
// arguments and the process environment.
func Main(ctx context.Context, argv, environ []string, r *Runner) error {
	if len(argv) == 0 {
		return fmt.Errorf("%w: no argv[0]", ErrUsage)
	}
	switch filepath.Base(argv[0]) {
	case "kvm-vif-bridge", "kvm-ifup-custom", "kvm-ifup":
		return r.cmdUp(ctx, argv, argv[1:], environ)
	case "kvm-ifdown-custom", "kvm-ifdown":
		err := r.cmdDown(ctx, argv[1:], environ)
		if errors.Is(err, ErrNotOwner) {
			// A late ifdown of a NIC whose tap name was reused: nothing of
			// that NIC is left to remove, and Ganeti must not fail for it.
			r.log.Warn("ifdown: tap belongs to another NIC, left alone", "err", err)
			return nil
		}
		return err
	}
	if len(argv) < 2 {
		return fmt.Errorf("%w: no command", ErrUsage)
	}
	args := argv[2:]
	switch argv[1] {
	case "up":
		// IFUP_EXTRA_SCRIPT gets Ganeti's arguments only, not ours.
		return r.cmdUp(ctx, argv[:1], args, environ)
	case "down":
		return r.cmdDown(ctx, args, environ)
	case "reconcile":
		if len(args) != 0 {
			return fmt.Errorf("%w: reconcile takes no arguments", ErrUsage)
		}
		cleaned, err := r.Reconcile(ctx)
		for _, tap := range cleaned {
			fmt.Fprintf(r.out, "removed stale state of %s\n", tap)
		}
		return err
	case "watch":
		if len(args) != 0 {
			return fmt.Errorf("%w: watch takes no arguments", ErrUsage)
		}
		return r.Watch(ctx)
	case "show":
		return r.cmdShow(args)
	case announce.Subcommand:
		// Hidden: the detached announcer (Run runs it before building a
		// Runner; this is for callers of Main).
		return announce.Run(args)
	case "help", "-h", "--help":
		fmt.Fprintln(r.out, Usage)
		return nil
	}
	return fmt.Errorf("%w: unknown command %q", ErrUsage, argv[1])
}

func (r *Runner) cmdUp(ctx context.Context, argv, args, environ []string) error {
	if len(args) >= 2 && args[0] == "--env" {
		file, err := ganeti.ReadEnvFile(args[1])
		if err != nil {
			return err
		}
		environ, args = file, args[2:]
	}
	m := osenv.Map(environ)
	if len(args) > 1 || (len(args) == 1 && strings.HasPrefix(args[0], "-")) {
		return fmt.Errorf("%w: up [--env FILE] [TAP]", ErrUsage)
	}
	if len(args) == 1 {
		if m["INTERFACE"] != "" && m["INTERFACE"] != args[0] {
			return fmt.Errorf("%w: tap %s given but INTERFACE=%s", ErrUsage, args[0], m["INTERFACE"])
		}
		m["INTERFACE"] = args[0]
	}
	e, err := ganeti.ParseIfupEnvMap(m)
	if err != nil {
		if tap := m["INTERFACE"]; tap != "" {
			return &TapError{Tap: tap, Err: err}
		}
		return err
	}
	return r.Up(ctx, e, argv, environ)
}

func (r *Runner) cmdDown(ctx context.Context, args, environ []string) error {
	m := osenv.Map(environ)
	tap := m["INTERFACE"]
	switch {
	case len(args) >= 1 && !strings.HasPrefix(args[0], "-"):
		tap = args[0] // args[1], GRNET's "local cleanup only", changes nothing here
	case len(args) > 0:
		return fmt.Errorf("%w: down [TAP]", ErrUsage)
	}
	if len(args) > 2 {
		return fmt.Errorf("%w: down [TAP] [local]", ErrUsage)
	}
	if tap == "" {
		return fmt.Errorf("%w: down needs a tap (argument or $INTERFACE)", ErrUsage)
	}
	var id *netplan.NICID
	if inst := m["INSTANCE"]; inst != "" && (m["INTERFACE"] == "" || m["INTERFACE"] == tap) {
		idx, err := strconv.Atoi(m["INTERFACE_INDEX"])
		if m["INTERFACE_INDEX"] == "" {
			idx, err = -1, nil
		}
		if err != nil {
			return &TapError{Tap: tap, Err: fmt.Errorf("INTERFACE_INDEX %q: %w", m["INTERFACE_INDEX"], ganeti.ErrInvalid)}
		}
		id = &netplan.NICID{Tap: tap, Instance: inst, UUID: m["INTERFACE_UUID"], Index: idx, Name: m["INTERFACE_NAME"]}
		if id.UUID == "" && idx < 0 {
			id = nil // not enough to tell NICs apart: trust the record
		}
	}
	return r.Down(ctx, tap, id)
}

func (r *Runner) cmdShow(args []string) error {
	asJSON := false
	if len(args) > 0 && args[0] == "--json" {
		asJSON, args = true, args[1:]
	}
	recs, err := r.Records(args...)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(r.out)
		enc.SetIndent("", "  ")
		return enc.Encode(recs)
	}
	tw := tabwriter.NewWriter(r.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TAP\tINSTANCE\tNIC\tMODE\tIPV4\tIPV6\tSTATE")
	for _, rec := range recs {
		p := rec.Plan
		nic := strconv.Itoa(rec.NIC.Index)
		if rec.NIC.Name != "" {
			nic += "/" + rec.NIC.Name
		}
		state := "complete"
		if !rec.Complete {
			state = "incomplete"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", rec.NIC.Tap, rec.NIC.Instance, nic, p.Mode,
			addrs4(p), addrs6(p), state)
	}
	return tw.Flush()
}

func addrs4(p *netplan.Plan) string {
	switch {
	case p.Binding != nil && p.Binding.IP.IsValid():
		return p.Binding.IP.String()
	case len(p.Filter.IPv4) > 0:
		return p.Filter.IPv4[0].String()
	}
	for _, rt := range p.Host.Routes {
		if rt.Dst.Addr().Is4() {
			return rt.Dst.Addr().String()
		}
	}
	return "-"
}

func addrs6(p *netplan.Plan) string {
	switch {
	case p.Binding != nil && p.Binding.EUI64.IsValid():
		return p.Binding.EUI64.String()
	case len(p.Filter.IPv6) > 0:
		return p.Filter.IPv6[0].String()
	}
	for _, rt := range p.Host.Routes {
		if rt.Dst.Addr().Is6() {
			return rt.Dst.Addr().String()
		}
	}
	return "-"
}
