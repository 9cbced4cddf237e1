package hostnet

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/announce"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrNoSysctl: a /proc/sys key does not exist.
	ErrNoSysctl = errors.New("no such sysctl")
	// ErrInvalid: the plan is malformed (bad family, table, address, key).
	ErrInvalid = errors.New("invalid plan")
	// ErrOVS: an Open vSwitch tool (ovs-vsctl, ovs-ofctl) failed.
	ErrOVS = errors.New("openvswitch command failed")
)

// DefaultTimeout bounds every netlink request, namespace hop and
// ovs-vsctl / ovs-ofctl run when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Options configure an Applier. The zero value works on the caller's
// network namespace.
type Options struct {
	// Handle is the netlink handle to use (nil: a new one in the current
	// network namespace with strict checking, so that the kernel filters
	// route dumps by table and device; closed by Close).
	Handle *netlink.Handle
	// Sysctl reads and writes /proc/sys (nil: ProcSysctl of the current
	// network namespace).
	Sysctl Sysctl
	// Sender sends announcement frames (nil: see Detach).
	Sender announce.Sender
	// Detach, when Sender is nil, makes announcements detached: an
	// announce.Spawner of this command collects them and the end of Apply
	// (or Flush, Close) starts one child process that sends them, without
	// waiting for it; the child of an Apply that sets up a tap waits for
	// the VM's first frame on it (see pkg/announce). nil: an
	// announce.Socket of the current network namespace, opened on first
	// use, sends them in-process at once.
	Detach *announce.Command
	// StateDir holds what several NICs share: the last uplink found per
	// table and family (files uplink-TABLE-vFAMILY), so that Uplink checks
	// it with a dump of that device's routes instead of dumping the whole
	// table, and the users of each table's shared rules (tables/TABLE/TAP),
	// so that the last NIC's Remove deletes them ("": no uplink cache, and
	// plans with shared rules are refused). Created when needed.
	StateDir string
	// OVSVsctl runs ovs-vsctl with args and returns its combined output
	// (nil: exec "ovs-vsctl" with OVSDB and Timeout).
	OVSVsctl func(args ...string) ([]byte, error)
	// OVSOFCtl runs ovs-ofctl with args and stdin and returns its combined
	// output (nil: exec "ovs-ofctl" with Timeout).
	OVSOFCtl func(stdin []byte, args ...string) ([]byte, error)
	// OVSDB is ovs-vsctl's --db (empty: its default socket). When it names
	// a unix socket, ovs-ofctl finds a bridge's OpenFlow socket
	// (BRIDGE.mgmt) in the same directory, Open vSwitch's run directory.
	OVSDB string
	// Timeout bounds each netlink request and ovs-vsctl run
	// (0: DefaultTimeout).
	Timeout time.Duration
	// Logger receives warnings (failed announcements); nil discards.
	Logger *slog.Logger

	// links reads devices in the namespace of Handle (set by NewAt).
	links *linkReader
}

// Applier applies and removes netplan.Host states and reads host facts.
// Its methods may be called from several goroutines.
type Applier struct {
	nl       *netlink.Handle
	links    *linkReader // nil: read devices through nl
	sysctl   Sysctl
	sender   announce.Sender
	ovs      func(args ...string) ([]byte, error)
	ofctl    func(stdin []byte, args ...string) ([]byte, error)
	ovsDB    string
	log      *slog.Logger
	timeout  time.Duration
	stateDir string
	closers  []func() error
}

// New returns an Applier working on the caller's network namespace unless
// opts binds it elsewhere (a Handle from netlink.NewHandleAt, a Sysctl and
// Sender of that namespace); NewAt builds all three for a namespace.
func New(opts Options) (*Applier, error) {
	a := &Applier{
		nl:       opts.Handle,
		links:    opts.links,
		sysctl:   opts.Sysctl,
		sender:   opts.Sender,
		ovs:      opts.OVSVsctl,
		ofctl:    opts.OVSOFCtl,
		ovsDB:    opts.OVSDB,
		log:      opts.Logger,
		timeout:  opts.Timeout,
		stateDir: opts.StateDir,
	}
	if a.timeout <= 0 {
		a.timeout = DefaultTimeout
	}
	if a.log == nil {
		a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if a.nl == nil {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return nil, fmt.Errorf("netlink handle: %w", err)
		}
		if err := h.SetSocketTimeout(a.timeout); err != nil {
			h.Close()
			return nil, fmt.Errorf("netlink handle: %w", err)
		}
		a.nl = h
		a.closers = append(a.closers, func() error { h.Close(); return nil })
		// Without it the kernel ignores a dump's table and device filters
		// (the results are then filtered here: slower, as correct).
		_ = h.SetStrictCheck(true)
		if a.links == nil {
			lr, err := openLinkReader(a.timeout)
			if err != nil {
				a.Close()
				return nil, err
			}
			a.links = lr
			a.closers = append(a.closers, lr.Close)
		}
	}
	if a.sysctl == nil {
		a.sysctl = ProcSysctl{}
	}
	if a.sender == nil {
		if opts.Detach != nil {
			s := announce.NewSpawner(*opts.Detach, nil)
			a.sender = s
			a.closers = append(a.closers, s.Close)
		} else {
			s := announce.NewSocket(nil, 0)
			a.sender = s
			a.closers = append(a.closers, s.Close)
		}
	}
	if a.ovs == nil {
		a.ovs = execOVS(opts.OVSDB, a.timeout)
	}
	if a.ofctl == nil {
		a.ofctl = execOFCtl(a.timeout)
	}
	return a, nil
}

// NewAt returns an Applier bound to network namespace ns: its own netlink
// handle, a Sysctl and a Sender that act from a thread inside ns. opts may
// still override any of them. Close releases them (not ns).
func NewAt(ns netns.NsHandle, opts Options) (*Applier, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	var closers []func() error
	cleanup := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			_ = closers[i]()
		}
	}
	if opts.Handle == nil {
		h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
		if err != nil {
			return nil, fmt.Errorf("netlink handle in netns: %w", err)
		}
		if err := h.SetSocketTimeout(timeout); err != nil {
			h.Close()
			return nil, fmt.Errorf("netlink handle in netns: %w", err)
		}
		opts.Handle = h
		closers = append(closers, func() error { h.Close(); return nil })
		_ = h.SetStrictCheck(true) // as in New
	}
	var runner *NetNS
	if opts.Sysctl == nil || opts.Sender == nil || opts.links == nil {
		r, err := StartNetNS(ns, timeout)
		if err != nil {
			cleanup()
			return nil, err
		}
		runner = r
	}
	if runner != nil {
		closers = append(closers, runner.Close)
	}
	if opts.links == nil {
		err := runner.Run(func() error {
			lr, err := openLinkReader(timeout)
			opts.links = lr
			return err
		})
		if err != nil {
			cleanup()
			return nil, err
		}
		closers = append(closers, opts.links.Close)
	}
	if opts.Sysctl == nil {
		opts.Sysctl = NetNSSysctl{NS: runner}
	}
	if opts.Sender == nil {
		// Closed before the runner: a Spawner starts its child there.
		if opts.Detach != nil {
			s := announce.NewSpawner(*opts.Detach, runner.Run)
			opts.Sender = s
			closers = append(closers, s.Close)
		} else {
			s := announce.NewSocket(runner.Run, 0)
			opts.Sender = s
			closers = append(closers, s.Close)
		}
	}
	a, err := New(opts)
	if err != nil {
		cleanup()
		return nil, err
	}
	a.closers = append(a.closers, closers...)
	return a, nil
}

// Flush starts the sending of the announcements collected so far when
// they are detached (Options.Detach, or a Sender with a SpawnAfter method
// such as announce.Spawner), without waiting for a VM; otherwise they
// were sent already and it does nothing. Close flushes too.
func (a *Applier) Flush() error { return a.flushAfter(0) }

// flushAfter is Flush, the child waiting first for the VM's first frame
// on tapIndex (when > 0).
func (a *Applier) flushAfter(tapIndex int) error {
	if s, ok := a.sender.(interface{ SpawnAfter(int) error }); ok {
		return s.SpawnAfter(tapIndex)
	}
	return nil
}

// Close releases what New or NewAt created, starting the detached
// announcer for pending announcements (see Flush).
func (a *Applier) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}

// NetNS runs functions on an OS thread that lives inside a network
// namespace, for what the kernel scopes to the calling thread's namespace
// (the /proc/sys/net view, new sockets).
type NetNS struct {
	reqs    chan nsReq
	timeout time.Duration
	once    sync.Once
	done    chan struct{}
}

type nsReq struct {
	fn  func() error
	res chan error
}

// StartNetNS starts the thread and moves it into ns; timeout bounds each
// Run's wait for the thread.
func StartNetNS(ns netns.NsHandle, timeout time.Duration) (*NetNS, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	n := &NetNS{reqs: make(chan nsReq), timeout: timeout, done: make(chan struct{})}
	started := make(chan error, 1)
	go n.loop(ns, started)
	select {
	case err := <-started:
		if err != nil {
			return nil, err
		}
	case <-time.After(timeout):
		return nil, fmt.Errorf("netns thread: no start after %v", timeout)
	}
	return n, nil
}

func (n *NetNS) loop(ns netns.NsHandle, started chan<- error) {
	// The thread is never unlocked: it leaves the namespace only by
	// exiting with this goroutine, so no other goroutine ever runs in ns.
	runtime.LockOSThread()
	if err := netns.Set(ns); err != nil {
		started <- fmt.Errorf("netns thread: setns: %w", err)
		return
	}
	started <- nil
	for {
		select {
		case r := <-n.reqs:
			r.res <- r.fn()
		case <-n.done:
			return
		}
	}
}

// Run calls fn on the namespace's thread and returns its error.
func (n *NetNS) Run(fn func() error) error {
	res := make(chan error, 1)
	t := time.NewTimer(n.timeout)
	defer t.Stop()
	select {
	case n.reqs <- nsReq{fn: fn, res: res}:
	case <-n.done:
		return errors.New("netns thread: closed")
	case <-t.C:
		return fmt.Errorf("netns thread: busy for %v", n.timeout)
	}
	select {
	case err := <-res:
		return err
	case <-t.C:
		return fmt.Errorf("netns thread: no answer after %v", n.timeout)
	}
}

// Close stops the thread.
func (n *NetNS) Close() error {
	n.once.Do(func() { close(n.done) })
	return nil
}
