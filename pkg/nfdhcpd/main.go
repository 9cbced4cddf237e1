package nfdhcpd

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/diktyo/diktyo/pkg/nfdconf"
	"github.com/diktyo/diktyo/pkg/osenv"
	"github.com/diktyo/diktyo/pkg/version"
)

// Environment variables read by Run.
const (
	// EnvStateDir overrides the binding directory ([general] datapath);
	// --bindings overrides it in turn.
	EnvStateDir = "NFDHCPD_STATE_DIR"
	// envReadyFD marks the re-executed daemon child; its value is the fd
	// of the pipe to report readiness on.
	envReadyFD = "NFDHCPD_DAEMON_READY_FD"
)

// daemonStartTimeout bounds how long the parent waits for the daemon child.
const daemonStartTimeout = 60 * time.Second

// Exit statuses of Run.
const (
	ExitOK    = 0
	ExitError = 1 // configuration or runtime failure
	ExitUsage = 2 // bad command line
)

// ErrDaemon is wrapped when the daemon child failed to start.
var ErrDaemon = errors.New("daemon did not start")

// Name is the program's name in --version.
const Name = "nfdhcpd (diktyo)"

// Run is the whole nfdhcpd command: it parses args (args[0] is the program
// name) and env (the process environment, "K=V"), then runs the daemon, in
// the foreground with -f or else detached, until ctx is done (main cancels
// it on SIGTERM and SIGINT), and returns the exit status. stdin and stdout
// are not read or written but for --version; errors before logging starts
// are one line on stderr.
func Run(ctx context.Context, args, env []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if version.Handle(args, Name, stdout) {
		return ExitOK
	}
	getenv := osenv.Getenv(env)
	opts, code := parseFlags(args, getenv, stderr)
	if code >= 0 {
		return code
	}
	s, warns, err := loadSettings(opts)
	if err != nil {
		fmt.Fprintf(stderr, "nfdhcpd: %v\n", err)
		return ExitError
	}
	readyFD := getenv(envReadyFD)
	if !opts.Foreground && readyFD == "" {
		if err := daemonize(ctx, args, env); err != nil {
			fmt.Fprintf(stderr, "nfdhcpd: %v\n", err)
			return ExitError
		}
		return ExitOK
	}

	var report *os.File
	if readyFD != "" {
		report = os.NewFile(3, "nfdhcpd-ready")
		_ = os.Unsetenv(envReadyFD)
	}
	log := newStderrLogger(stderr, opts.Debug)
	if !opts.Foreground {
		_ = os.Chdir("/")
		l, closer, err := newDaemonLogger(s.cfg.General.LogDir, opts.Debug)
		if err != nil {
			reportDaemon(report, "ERR "+err.Error())
			return ExitError
		}
		defer closer.Close()
		log = l
	}
	for _, w := range warns {
		log.Warn("config", "warning", w)
	}
	ready := func() { reportDaemon(report, "OK"); report = nil }
	if err := run(ctx, opts, s, log, ready); err != nil {
		if report != nil {
			reportDaemon(report, "ERR "+err.Error())
		}
		if opts.Foreground {
			fmt.Fprintf(stderr, "nfdhcpd: %v\n", err)
		} else {
			log.Error("nfdhcpd failed", "err", err)
		}
		return ExitError
	}
	return ExitOK
}

func reportDaemon(f *os.File, line string) {
	if f == nil {
		return
	}
	_, _ = f.WriteString(strings.ReplaceAll(line, "\n", " ") + "\n")
	_ = f.Close()
}

// parseFlags returns the options, or an exit status ≥ 0 when Run must stop
// (usage error, -h).
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (Options, int) {
	var o Options
	fs := flag.NewFlagSet("nfdhcpd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.ConfigPath, "c", nfdconf.DefaultPath, "configuration `file`")
	fs.BoolVar(&o.Foreground, "f", false, "stay in the foreground, log to stderr")
	fs.BoolVar(&o.Debug, "d", false, "log debug messages")
	fs.StringVar(&o.BindingDir, "bindings", "", "binding file `dir`ectory (overrides $"+EnvStateDir+" and datapath)")
	fs.StringVar(&o.PIDFile, "pidfile", "", "pidfile `path` (overrides pidfile; none: no pidfile)")
	fs.StringVar(&o.User, "user", "", "`user` to run as (overrides user; root: keep root)")
	fs.StringVar(&o.MetricsListen, "metrics-listen", "", "Prometheus metrics `host:port` (overrides metrics_listen; none: off)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: nfdhcpd [-c CONF] [-f] [-d] [--bindings DIR] [--pidfile PATH] [--user USER] [--metrics-listen HOST:PORT]")
		fs.PrintDefaults()
	}
	rest := args
	if len(rest) > 0 {
		rest = rest[1:]
	}
	if err := fs.Parse(splitShortFlags(rest)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, ExitOK
		}
		return o, ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "nfdhcpd: unexpected argument %q\n", fs.Arg(0))
		return o, ExitUsage
	}
	if o.BindingDir == "" {
		o.BindingDir = getenv(EnvStateDir)
	}
	return o, -1
}

// splitShortFlags turns GRNET-style grouped switches ("-fd") into "-f -d".
func splitShortFlags(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' && strings.Trim(a[1:], "fd") == "" {
			for _, c := range a[1:] {
				out = append(out, "-"+string(c))
			}
			continue
		}
		out = append(out, a)
	}
	return out
}

// daemonize re-executes the program with env in a new session with stdio
// on /dev/null and waits until the child reports that it serves, or ctx
// is done (the child is then stopped).
func daemonize(ctx context.Context, args, env []string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("%w: find own executable: %w", ErrDaemon, err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDaemon, err)
	}
	defer r.Close()
	cmd := exec.Command(exe, args[1:]...)
	cmd.Args[0] = args[0]
	cmd.Env = append(slices.Clip(env), envReadyFD+"=3")
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("%w: %w", ErrDaemon, err)
	}
	w.Close()
	_ = r.SetReadDeadline(time.Now().Add(daemonStartTimeout))
	// A signal to this parent while it waits ends the wait at once.
	stop := context.AfterFunc(ctx, func() { _ = r.SetReadDeadline(time.Now()) })
	defer stop()
	line, rerr := bufio.NewReader(r).ReadString('\n')
	line = strings.TrimSpace(line)
	switch {
	case ctx.Err() != nil && line != "OK":
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("%w: %w", ErrDaemon, context.Cause(ctx))
	case line == "OK":
		_ = cmd.Process.Release()
		return nil
	case strings.HasPrefix(line, "ERR "):
		_ = cmd.Wait()
		return errors.New(strings.TrimPrefix(line, "ERR "))
	case rerr != nil && errors.Is(rerr, os.ErrDeadlineExceeded):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("%w within %v", ErrDaemon, daemonStartTimeout)
	default:
		werr := cmd.Wait()
		return fmt.Errorf("%w: child exited: %v", ErrDaemon, werr)
	}
}
