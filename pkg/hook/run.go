package hook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/ganetisync"
	"github.com/diktyo/diktyo/pkg/ifup"
	"github.com/diktyo/diktyo/pkg/ifupconf"
	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/netplan"
	"github.com/diktyo/diktyo/pkg/osenv"
)

// ErrNoPool: the pool store does not exist (and was not to be created):
// no network is diktyo's, so there is nothing to check or record.
var ErrNoPool = errors.New("no pool store")

// ErrRefused: a pre-phase check found a conflict; the Ganeti job aborts.
var ErrRefused = errors.New("refused")

// ErrUnreachable: the pool store could not be opened or locked.
var ErrUnreachable = errors.New("pool store unreachable")

// DefaultTimeout bounds a whole hook run; every wait inside has its own,
// shorter bound (store lock, tap lock, gnt-network).
const DefaultTimeout = 5 * time.Minute

// HostOps is what the host actions need of diktyo-ifup's Runner
// (pkg/ifup).
type HostOps interface {
	DownInstance(ctx context.Context, instance string, drop func(netplan.NICID) bool) ([]string, error)
	Reannounce(ctx context.Context, instance string) ([]string, error)
	Reconcile(ctx context.Context) ([]string, error)
}

// Deps are the collaborators of a hook run. System builds the real ones;
// tests pass fakes.
type Deps struct {
	// Config is /etc/default/diktyo: STATE_DIR (diktyo-ifup's records),
	// HOOK_STORE_UNREACHABLE.
	Config *ifupconf.Config
	// Node is this node's name as Ganeti knows it (NodeName).
	Node string
	// OpenPool opens the pool store; with create false a missing store is
	// ErrNoPool.
	OpenPool func(create bool) (ipam.Store, error)
	// Host builds the host side, on first need; the func it returns
	// releases it.
	Host func() (HostOps, func(), error)
	// InstanceRecords lists the instance's NIC records on this host
	// without building the host side (ifup.InstanceRecords).
	InstanceRecords func(instance string) ([]Record, error)
	// ExpectIncoming stores the routed NICs of an instance migrating to
	// this node for `diktyo-ifup watch`; ForgetIncoming removes them
	// (ifup.ExpectIncoming, ifup.ForgetIncoming).
	ExpectIncoming func(ifup.Incoming) error
	ForgetIncoming func(instance string) error
	// Ganeti reads networks from Ganeti (network hooks).
	Ganeti ganetisync.Source
	// Log receives one line per action (nil: discard).
	Log *slog.Logger
}

// Record is what the host actions need of one diktyo-ifup record.
type Record struct {
	NIC netplan.NICID
	// IPv4 is the address the NIC was wired with ("" for none).
	IPv4 string
}

// Handle runs the hook described by environ ("K=V", Ganeti's GANETI_*
// variables) and returns nil for exit status 0. A non-nil error is one
// line for the job log: in the pre phase it aborts Ganeti's job
// (ErrRefused, or the store policy), in the post phase Ganeti reports it.
func Handle(ctx context.Context, environ []string, d Deps) error {
	if d.Log == nil {
		d.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e, err := ganeti.ParseHookEnv(environ)
	if err != nil {
		return badEnvironment(environ, d, err)
	}
	plan := Decide(e, d.Node)
	d.Log.Debug("plan", "path", e.Path, "phase", string(e.Phase), "node", d.Node, "pool", string(plan.Pool), "host", string(plan.Host))
	if plan.IsZero() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	r := &run{d: d, e: e, log: d.Log}
	var errs []error
	if plan.Pool != PoolNone {
		if err := r.pool(ctx, plan.Pool); err != nil {
			errs = append(errs, err)
		}
	}
	if plan.Host != HostNone {
		if err := r.host(ctx, plan.Host); err != nil {
			errs = append(errs, fmt.Errorf("host: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s %s: %w", e.Path, e.Phase, err)
	}
	return nil
}

// badEnvironment handles an environment that does not parse: one line,
// and exit status 0, except in the pre phase of an address check on the
// master, where letting the operation pass unchecked would be unsafe.
func badEnvironment(environ []string, d Deps, err error) error {
	m := osenv.Map(environ)
	path, phase := m["GANETI_HOOKS_PATH"], m["GANETI_HOOKS_PHASE"]
	if phase == string(ganeti.PhasePre) && (path == "instance-add" || path == "instance-modify") && SameNode(m["GANETI_MASTER"], d.Node) {
		return fmt.Errorf("%s pre: %w: cannot read the environment to check NIC addresses: %w", path, ErrRefused, err)
	}
	d.Log.Warn(fmt.Sprintf("%s %s: environment not understood, nothing done: %v", orUnset(path), orUnset(phase), err))
	return nil
}

func orUnset(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

// run is one hook run in progress.
type run struct {
	d   Deps
	e   *ganeti.HookEnv
	log *slog.Logger
}

// instance is the instance the hook is about, in its latest view.
func (r *run) instance() *ganeti.Instance {
	if in := r.e.Latest().Instance; in != nil {
		return in
	}
	return r.e.Instance
}

// changeList renders applied changes for a log line.
func changeList(changes []ganetisync.Change) string {
	s := make([]string, len(changes))
	for i, c := range changes {
		s[i] = c.Kind.String() + " " + c.String()
	}
	return strings.Join(s, "; ")
}
