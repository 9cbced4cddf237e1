package hostnet

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

// AnnounceSubcommand is the hidden subcommand of the binary that a
// SpawnSender runs by default; its main hands the arguments after it to
// RunAnnounce.
const AnnounceSubcommand = "announce"

// Limits of a detached announcement.
const (
	// MaxSpawnFrames bounds the frames one SpawnSender collects (the
	// child's argv grows with them).
	MaxSpawnFrames = 1024
	// DefaultAnnounceCount is how often the child sends every frame.
	DefaultAnnounceCount = 3
	// DefaultAnnounceInterval is the child's pause between two rounds.
	DefaultAnnounceInterval = time.Second
	// announceSendTimeout bounds each send of the child.
	announceSendTimeout = time.Second
)

// ErrAnnounce: a detached announcement could not be collected or parsed.
var ErrAnnounce = errors.New("bad announcement")

// SpawnCommand is the command line of the detached announcer.
type SpawnCommand struct {
	// Path is the executable ("": /proc/self/exe, this very binary, which
	// must then handle AnnounceSubcommand; see Options.Detach).
	Path string
	// Args is the argv before the frame arguments, program name first
	// (nil: "diktyo-ifup announce").
	Args []string
	// Env is the child's environment (nil: empty).
	Env []string
}

// SpawnSender is a FrameSender that only collects the frames: Spawn (or
// Close) starts one detached child process that sends them and returns
// without waiting for it. The caller thus neither waits for the repeated
// announcements nor pays the RCU grace period that closing an AF_PACKET
// socket costs (also at process exit).
//
// The child is SpawnCommand with one IFINDEX:HEXFRAME argument per frame
// appended; it runs with stdin, stdout and stderr on /dev/null, in a new
// session, in "/", and is never waited for (init reaps it once the parent
// has exited). It inherits the network namespace of the thread that
// starts it: the one run runs on.
type SpawnSender struct {
	cmd SpawnCommand
	run func(func() error) error

	mu     sync.Mutex
	args   []string
	closed bool
}

// NewSpawnSender returns a SpawnSender whose child is cmd, started from
// within run (nil: the calling goroutine; NetNS.Run: inside that
// namespace).
func NewSpawnSender(cmd SpawnCommand, run func(func() error) error) *SpawnSender {
	if run == nil {
		run = func(f func() error) error { return f() }
	}
	return &SpawnSender{cmd: cmd, run: run}
}

// SendFrame records frame for ifindex; nothing is sent before Spawn.
func (s *SpawnSender) SendFrame(ifindex int, frame []byte) error {
	if err := checkFrame(ifindex, frame); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return fmt.Errorf("%w: sender closed", ErrAnnounce)
	case len(s.args) >= MaxSpawnFrames:
		return fmt.Errorf("%w: more than %d frames", ErrAnnounce, MaxSpawnFrames)
	}
	s.args = append(s.args, strconv.Itoa(ifindex)+":"+hex.EncodeToString(frame))
	return nil
}

// Pending returns the number of frames collected since the last Spawn.
func (s *SpawnSender) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.args)
}

// Spawn starts the child for the frames collected so far, if any, and
// returns once it runs (execve done), without waiting for it to send.
// The frames are handed over (or dropped, on error) either way.
func (s *SpawnSender) Spawn() error {
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
		argv = []string{"diktyo-ifup", AnnounceSubcommand}
	}
	argv = append(argv[:len(argv):len(argv)], frames...)
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

// Close spawns what is pending; later SendFrames fail.
func (s *SpawnSender) Close() error {
	err := s.Spawn()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return err
}

// checkFrame accepts what RunAnnounce accepts: an ifindex and an Ethernet
// frame without FCS.
func checkFrame(ifindex int, frame []byte) error {
	if ifindex <= 0 || ifindex > 1<<31-1 {
		return fmt.Errorf("%w: ifindex %d", ErrAnnounce, ifindex)
	}
	if len(frame) < 14 || len(frame) > 1514 {
		return fmt.Errorf("%w: frame of %d bytes (Ethernet: 14 to 1514)", ErrAnnounce, len(frame))
	}
	return nil
}

// RunAnnounce is the detached announcer, the AnnounceSubcommand: args are
// [-count N] [-interval D] IFINDEX:HEXFRAME... It closes the descriptors
// it inherited beyond stdin, stdout and stderr, then sends every frame
// count times (DefaultAnnounceCount), interval apart
// (DefaultAnnounceInterval), from an AF_PACKET socket of the calling
// thread's network namespace. Failures go to syslog (stderr when there is
// none); it returns the first one.
func RunAnnounce(args []string) error {
	closeInheritedFDs()
	lg := newSyslog()
	defer lg.close()
	err := runAnnounce(args, lg)
	if err != nil {
		lg.printf("announce: %v", err)
	}
	return err
}

func runAnnounce(args []string, lg *syslogger) error {
	fs := flag.NewFlagSet(AnnounceSubcommand, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	count := fs.Int("count", DefaultAnnounceCount, "rounds")
	interval := fs.Duration("interval", DefaultAnnounceInterval, "pause between rounds")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", ErrAnnounce, err)
	}
	if *count < 1 || *count > 10 || *interval < 0 || *interval > 10*time.Second {
		return fmt.Errorf("%w: -count %d -interval %v (1..10, 0..10s)", ErrAnnounce, *count, *interval)
	}
	type frame struct {
		ifindex int
		data    []byte
	}
	var frames []frame
	for _, a := range fs.Args() {
		idx, hx, ok := strings.Cut(a, ":")
		i, err := strconv.Atoi(idx)
		if !ok || err != nil {
			return fmt.Errorf("%w: %q is not IFINDEX:HEXFRAME", ErrAnnounce, a)
		}
		data, err := hex.DecodeString(hx)
		if err != nil {
			return fmt.Errorf("%w: %q: %w", ErrAnnounce, a, err)
		}
		if err := checkFrame(i, data); err != nil {
			return err
		}
		frames = append(frames, frame{i, data})
	}
	if len(frames) == 0 {
		return nil
	}
	ps := &packetSender{open: func(f func() error) error { return f() }, timeout: announceSendTimeout}
	defer ps.Close()
	var first error
	for round := range *count {
		if round > 0 {
			time.Sleep(*interval)
		}
		for _, f := range frames {
			if err := ps.SendFrame(f.ifindex, f.data); err != nil {
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
