package announce

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/syslog"
)

// Subcommand is the hidden subcommand of the binary that a Spawner runs
// by default; its main hands the arguments after it to Run.
const Subcommand = "announce"

// Limits and defaults of a detached announcement.
const (
	// MaxFrames bounds the frames one Spawner collects (the child's argv
	// grows with them).
	MaxFrames = 1024
	// DefaultCount is how often the child sends every frame.
	DefaultCount = 3
	// DefaultInterval is the child's pause between two rounds.
	DefaultInterval = time.Second
	// DefaultWait bounds the child's wait for the VM's first frame (-wait):
	// a live migration rarely takes longer; after it the child sends
	// anyway.
	DefaultWait = 10 * time.Minute
	// MaxWait is the largest -wait accepted.
	MaxWait = time.Hour
	// sendTimeout bounds each send of the child.
	sendTimeout = time.Second
)

// Command is the command line of the detached announcer.
type Command struct {
	// Path is the executable ("": /proc/self/exe, this very binary, which
	// must then handle Subcommand).
	Path string
	// Args is the argv before the options and frame arguments, program
	// name first (nil: "diktyo-ifup announce").
	Args []string
	// Env is the child's environment (nil: empty).
	Env []string
}

// Spawner is a Sender that only collects the frames: SpawnAfter (or
// Close) starts one detached child process that sends them and returns
// without waiting for it.
//
// The child is Command with the options and one IFINDEX:HEXFRAME argument
// per frame appended; it runs with stdin, stdout and stderr on /dev/null,
// in a new session, in "/", and is never waited for (init reaps it once
// the parent has exited). It inherits the network namespace of the thread
// that starts it: the one run runs on.
type Spawner struct {
	cmd Command
	run func(func() error) error

	mu     sync.Mutex
	args   []string
	closed bool
}

// NewSpawner returns a Spawner whose child is cmd, started from within run
// (nil: the calling goroutine; e.g. hostnet.NetNS.Run: inside that
// namespace).
func NewSpawner(cmd Command, run func(func() error) error) *Spawner {
	if run == nil {
		run = func(f func() error) error { return f() }
	}
	return &Spawner{cmd: cmd, run: run}
}

// SendFrame records frame for ifindex; nothing is sent before SpawnAfter.
func (s *Spawner) SendFrame(ifindex int, frame []byte) error {
	if err := checkFrame(ifindex, frame); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return fmt.Errorf("%w: sender closed", ErrAnnounce)
	case len(s.args) >= MaxFrames:
		return fmt.Errorf("%w: more than %d frames", ErrAnnounce, MaxFrames)
	}
	s.args = append(s.args, strconv.Itoa(ifindex)+":"+hex.EncodeToString(frame))
	return nil
}

// Pending returns the number of frames collected since the last spawn.
func (s *Spawner) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.args)
}

// SpawnAfter starts the child for the frames collected so far, if any, and
// returns once it runs (execve done), without waiting for it to send. With
// tapIndex > 0 the child first waits for the VM's first frame on that
// device (-after-rx). The frames are handed over (or dropped, on error)
// either way.
func (s *Spawner) SpawnAfter(tapIndex int) error {
	s.mu.Lock()
	frames := s.args
	s.args = nil
	s.mu.Unlock()
	if len(frames) == 0 {
		return nil
	}
	path := s.cmd.Path
	if path == "" {
		path = "/proc/self/exe"
	}
	argv := s.cmd.Args
	if argv == nil {
		argv = []string{"diktyo-ifup", Subcommand}
	}
	argv = argv[:len(argv):len(argv)]
	if tapIndex > 0 {
		argv = append(argv, "-after-rx", strconv.Itoa(tapIndex))
	}
	argv = append(argv, frames...)
	env := s.cmd.Env
	if env == nil {
		env = []string{}
	}
	err := s.run(func() error {
		null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer null.Close()
		// syscall.ForkExec, not os.StartProcess: the latter first probes
		// pidfd support with an extra clone, and a pidfd is of no use for
		// a child nobody waits for.
		fd := null.Fd()
		_, err = syscall.ForkExec(path, argv, &syscall.ProcAttr{
			Dir:   "/",
			Env:   env,
			Files: []uintptr{fd, fd, fd},
			Sys:   &syscall.SysProcAttr{Setsid: true},
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("start announcer %s: %w", path, err)
	}
	return nil
}

// Close spawns what is pending (without a wait); later SendFrames fail.
func (s *Spawner) Close() error {
	err := s.SpawnAfter(0)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return err
}

// Run is the detached announcer, the Subcommand: args are [-after-rx
// TAPINDEX] [-wait D] [-count N] [-interval D] IFINDEX:HEXFRAME... It
// closes the descriptors it inherited beyond stdin, stdout and stderr,
// waits for the VM as the package doc says, then sends every frame from an
// AF_PACKET socket of the calling thread's network namespace. Failures go
// to syslog (stderr when there is none); it returns the first one.
func Run(args []string) error {
	closeInheritedFDs()
	lg := newSyslog()
	defer lg.close()
	err := run(args, lg)
	if err != nil {
		lg.printf("announce: %v", err)
	}
	return err
}

type frame struct {
	ifindex int
	data    []byte
}

// options are Run's parsed arguments.
type options struct {
	afterRx  int
	wait     time.Duration
	count    int
	interval time.Duration
	frames   []frame
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet(Subcommand, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&o.afterRx, "after-rx", 0, "wait for a frame received on this ifindex first")
	fs.DurationVar(&o.wait, "wait", DefaultWait, "longest wait for that frame")
	fs.IntVar(&o.count, "count", DefaultCount, "rounds")
	fs.DurationVar(&o.interval, "interval", DefaultInterval, "pause between rounds")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("%w: %w", ErrAnnounce, err)
	}
	if o.count < 1 || o.count > 10 || o.interval < 0 || o.interval > 10*time.Second {
		return o, fmt.Errorf("%w: -count %d -interval %v (1..10, 0..10s)", ErrAnnounce, o.count, o.interval)
	}
	if o.afterRx < 0 || o.afterRx > 1<<31-1 || o.wait < 0 || o.wait > MaxWait {
		return o, fmt.Errorf("%w: -after-rx %d -wait %v (an ifindex, 0..%v)", ErrAnnounce, o.afterRx, o.wait, MaxWait)
	}
	for _, a := range fs.Args() {
		idx, hx, ok := strings.Cut(a, ":")
		i, err := strconv.Atoi(idx)
		if !ok || err != nil {
			return o, fmt.Errorf("%w: %q is not IFINDEX:HEXFRAME", ErrAnnounce, a)
		}
		data, err := hex.DecodeString(hx)
		if err != nil {
			return o, fmt.Errorf("%w: %q: %w", ErrAnnounce, a, err)
		}
		if err := checkFrame(i, data); err != nil {
			return o, err
		}
		o.frames = append(o.frames, frame{i, data})
	}
	return o, nil
}

func run(args []string, lg *syslogger) error {
	o, err := parse(args)
	if err != nil || len(o.frames) == 0 {
		return err
	}
	if o.afterRx > 0 {
		switch err := WaitForVM(o.afterRx, o.wait); {
		case err == nil:
		case errors.Is(err, ErrNoFrame):
			lg.printf("announce: no frame from the VM on ifindex %d within %v: announcing anyway", o.afterRx, o.wait)
		default:
			return err // the tap is gone: the VM does not run here
		}
	}
	s := NewSocket(nil, sendTimeout)
	defer s.Close()
	var first error
	for round := range o.count {
		if round > 0 {
			time.Sleep(o.interval)
		}
		for _, f := range o.frames {
			if err := s.SendFrame(f.ifindex, f.data); err != nil {
				err = fmt.Errorf("send on ifindex %d (round %d): %w", f.ifindex, round+1, err)
				lg.printf("announce: %v", err)
				if first == nil {
					first = err
				}
			}
		}
	}
	return first
}

// closeInheritedFDs closes every descriptor above stderr that is not
// close-on-exec: those the parent leaked to us (Go opens its own with
// O_CLOEXEC), which the long-lived child must not keep open.
func closeInheritedFDs() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 {
			continue
		}
		if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && fl&unix.FD_CLOEXEC == 0 {
			unix.Close(fd)
		}
	}
}

// syslogger reports the detached announcer's failures to syslog (daemon,
// warning; pkg/syslog bounds every write), or to stderr when there is
// none.
type syslogger struct {
	w *syslog.Writer
}

func newSyslog() *syslogger {
	w, err := syslog.Dial(syslog.DefaultPath, "diktyo-ifup", 0)
	if err != nil {
		return &syslogger{}
	}
	return &syslogger{w: w}
}

func (l *syslogger) printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if l.w == nil || l.w.Write(syslog.Warning, msg) != nil {
		fmt.Fprintf(os.Stderr, "diktyo-ifup: %s\n", msg)
	}
}

func (l *syslogger) close() {
	if l.w != nil {
		l.w.Close()
	}
}
