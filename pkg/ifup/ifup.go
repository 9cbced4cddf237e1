package ifup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/ifname"
	"github.com/diktyo/diktyo/pkg/ifupconf"
	"github.com/diktyo/diktyo/pkg/netplan"
)

// Host applies the link and routing part of a plan (pkg/hostnet behind an
// adapter in the main). Its methods must be idempotent.
type Host interface {
	// Facts reads what the planner needs: the tap, the link (bridge or
	// OVS bridge; "" for routed) and the uplinks of table (0 for none).
	Facts(tap, link string, table int) (netplan.HostFacts, error)
	// Apply applies h and returns an opaque record of what it changed.
	Apply(h netplan.Host) (json.RawMessage, error)
	// Remove undoes an Apply. applied is what Apply returned, or nil when
	// an up was interrupted before Apply returned: Remove then removes
	// what planned lists for a tap of index tapIndex.
	Remove(planned netplan.Host, tapIndex int, applied json.RawMessage) error
	// Merge combines the record of an earlier Apply with that of a repeated
	// one, keeping the earlier record of values to restore.
	Merge(old, new json.RawMessage) (json.RawMessage, error)
	// ReleaseStale removes the users of tables' shared rules whose tap
	// keep rejects (no record left), and with the last user the rules.
	ReleaseStale(keep func(tap string) bool) error
}

// Firewall applies the nftables part of a plan (pkg/firewall).
type Firewall interface {
	// Apply installs f; applying it again changes nothing.
	Apply(f netplan.Filter) error
	// Remove removes what Apply(f) installed; already gone is success.
	Remove(f netplan.Filter) error
	// RemoveTap removes every filter element of tap, whatever Filter put
	// it there (reconcile); already gone is success.
	RemoveTap(tap string) error
	// List returns the taps that have filter state.
	List() ([]string, error)
}

// Networks finds a NIC's network when Ganeti passed no NETWORK_*
// variables (Ganeti < 2.7, or a NIC outside a Ganeti network).
type Networks interface {
	// Lookup returns the network on link whose subnet holds ip (any
	// network on link when ip is zero, narrowed by mac's prefix), or nil
	// when there is none.
	Lookup(ctx context.Context, link string, ip netip.Addr, mac net.HardwareAddr) (*ganeti.Network, error)
}

// Sentinel errors.
var (
	// ErrUsage: wrong command line.
	ErrUsage = errors.New("usage")
	// ErrNotOwner: down of a tap whose state belongs to another NIC.
	ErrNotOwner = errors.New("state belongs to another NIC")
)

// TapError is a failure of one tap; it prints as "tap3: cause", the line
// Ganeti shows in the job log after "diktyo-ifup: ".
type TapError struct {
	Tap string
	Err error
}

func (e *TapError) Error() string { return e.Tap + ": " + e.Err.Error() }
func (e *TapError) Unwrap() error { return e.Err }

// DefaultLockTimeout bounds the wait for a tap's lock.
const DefaultLockTimeout = 10 * time.Second

// Runner runs ups, downs and reconciles. Build it with New.
type Runner struct {
	cfg      *ifupconf.Config
	host     Host
	fw       Firewall
	networks Networks
	rtTables func() map[string]int
	exec     func(path string, argv, env []string) error
	log      *slog.Logger
	out      io.Writer
	lockWait time.Duration
	now      func() time.Time
	deleted  DeletedTaps
	st       store
}

// Deps are a Runner's collaborators; Config, Host and Firewall are
// required.
type Deps struct {
	Config   *ifupconf.Config
	Host     Host
	Firewall Firewall
	// Networks is the pool (nil: NICs without NETWORK_* have no network).
	Networks Networks
	// RTTables returns /etc/iproute2/rt_tables' names (nil: numbers only).
	RTTables func() map[string]int
	// Exec replaces the process with IFUP_EXTRA_SCRIPT after an up (nil:
	// the script is not run).
	Exec func(path string, argv, env []string) error
	// Logger (nil: discard); Stdout for show (nil: os.Stdout).
	Logger *slog.Logger
	Stdout io.Writer
	// LockTimeout (0: DefaultLockTimeout).
	LockTimeout time.Duration
	// Now (nil: time.Now).
	Now func() time.Time
	// DeletedTaps feeds Watch (nil: no watch).
	DeletedTaps DeletedTaps
}

// New returns a Runner.
func New(d Deps) (*Runner, error) {
	if d.Config == nil || d.Host == nil || d.Firewall == nil {
		return nil, errors.New("ifup: Config, Host and Firewall are required")
	}
	r := &Runner{
		cfg: d.Config, host: d.Host, fw: d.Firewall, networks: d.Networks,
		rtTables: d.RTTables, exec: d.Exec, log: d.Logger, out: d.Stdout,
		lockWait: d.LockTimeout, now: d.Now, deleted: d.DeletedTaps,
		st: store{dir: filepath.Join(d.Config.StateDir, "ifup")},
	}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if r.out == nil {
		r.out = os.Stdout
	}
	if r.lockWait <= 0 {
		r.lockWait = DefaultLockTimeout
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.rtTables == nil {
		r.rtTables = func() map[string]int { return nil }
	}
	return r, nil
}

// Options returns the planner options of a configuration.
func Options(c *ifupconf.Config) netplan.Options {
	return netplan.Options{
		MACFilteredTag:   c.MACFilteredTag,
		NFDHCPDTag:       c.NFDHCPDTag,
		IPLessRoutedTag:  c.IPLessRoutedTag,
		RoutedRequireTag: c.RoutedRequireTag,
		TapMAC:           c.TapConstantMAC,
		MACMask:          c.MACMask,
		AntiSpoof:        c.AntiSpoof,
		Queues: netplan.Queues{DHCP: c.DHCPQueue, DHCPv6: c.DHCPv6Queue, RS: c.RSQueue,
			NS: c.NSQueue, Bypass: c.QueueBypass},
		PerTapRules: c.PerTapRules,
	}
}

// Plan computes the plan of a NIC without changing anything: network
// (from the environment or the pool), host facts, then netplan.Build.
func (r *Runner) Plan(ctx context.Context, e *ganeti.IfupEnv) (*netplan.Plan, error) {
	if err := ifname.Validate(e.Interface); err != nil {
		return nil, fmt.Errorf("INTERFACE: %w", err)
	}
	netw := e.Network
	if netw.IsZero() {
		netw = nil
		if r.networks != nil {
			n, err := r.networks.Lookup(ctx, e.Link, e.IP, net.HardwareAddr(e.MAC))
			if err != nil {
				return nil, fmt.Errorf("find network of %s in the pool: %w", e.Link, err)
			}
			netw = n
		}
	}
	opts := Options(r.cfg)
	link, table := e.Link, 0
	if e.Mode == ganeti.ModeBridged && link == "" {
		link = e.Bridge
	}
	if e.Mode == ganeti.ModeRouted {
		t, err := r.table(e.Link)
		if err != nil {
			return nil, err
		}
		// The configured uplink is read as the NIC's link: it serves
		// only while it exists.
		opts.Uplink = r.uplinkOf(t, e.Link)
		link, table = opts.Uplink, t
	}
	facts, err := r.host.Facts(e.Interface, link, table)
	if err != nil {
		return nil, fmt.Errorf("read host: %w", err)
	}
	return netplan.Build(netplan.Input{Env: e, Network: netw, Options: opts, Facts: facts})
}

// table resolves a routed NIC's LINK: a number, else an rt_tables name.
func (r *Runner) table(link string) (int, error) {
	t, err := netplan.ParseTable(link, nil)
	if err != nil {
		t, err = netplan.ParseTable(link, r.rtTables())
	}
	return t, err
}

// uplinkOf is the configured uplink of table, whose LINK is link (""
// when unknown: the rt_tables names of table are tried).
func (r *Runner) uplinkOf(table int, link string) string {
	if link == "" && len(r.cfg.Uplinks) > 0 {
		for name, n := range r.rtTables() {
			if n == table && r.cfg.Uplinks[name] != "" {
				link = name
				break
			}
		}
	}
	return r.cfg.UplinkFor(table, link)
}

// warnPending logs, in one line, the uplink-side steps an up or a
// reconcile left out, and how to get them done.
func (r *Runner) warnPending(p *netplan.Plan) {
	pending := p.Host.UplinkPending
	if len(pending) == 0 {
		return
	}
	table := pending[0].Table
	var what []string
	for _, u := range pending {
		what = append(what, fmt.Sprintf("no IPv%d default route: %s of %s skipped", u.Family(), u.Steps(), u.Addr))
	}
	how := fmt.Sprintf("add a default route to table %d or set UPLINK_%d (or UPLINK) in %s, then run diktyo-ifup reconcile",
		table, table, ifupconf.DefaultPath)
	if dev := r.uplinkOf(table, ""); dev != "" {
		how = fmt.Sprintf("the configured uplink %s does not exist; create it or add a default route to table %d, then run diktyo-ifup reconcile", dev, table)
	}
	r.log.Warn(fmt.Sprintf("%s: table %d: %s; %s", p.NIC.Tap, table, strings.Join(what, "; "), how))
}

// Up sets a NIC up. It is idempotent, completes an up interrupted by a
// crash, first removes the state of another NIC that used the same tap
// name, and on failure leaves no state of this NIC behind. With argv
// non-nil it then execs IFUP_EXTRA_SCRIPT (if executable) with argv and
// environ, as gnt-networking does.
func (r *Runner) Up(ctx context.Context, e *ganeti.IfupEnv, argv, environ []string) error {
	tap := e.Interface
	if err := r.up(ctx, e); err != nil {
		return &TapError{Tap: tap, Err: err}
	}
	if argv != nil && r.exec != nil && r.cfg.IfupExtraScript != "" {
		if st, err := os.Stat(r.cfg.IfupExtraScript); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			args := append([]string{r.cfg.IfupExtraScript}, argv[1:]...)
			if err := r.exec(r.cfg.IfupExtraScript, args, environ); err != nil {
				return &TapError{Tap: tap, Err: fmt.Errorf("exec %s: %w", r.cfg.IfupExtraScript, err)}
			}
		}
	}
	return nil
}

func (r *Runner) up(ctx context.Context, e *ganeti.IfupEnv) error {
	plan, err := r.Plan(ctx, e)
	if err != nil {
		return err
	}
	tap := plan.NIC.Tap
	if err := r.st.ensure(); err != nil {
		return err
	}
	l, err := r.st.lock(tap, r.lockWait)
	if err != nil {
		return err
	}
	noState := false // the tap has no state left: drop its lock file too
	defer func() { l.unlock(noState) }()
	// Facts were read before the lock: read the tap again now, so a tap
	// recreated meanwhile is not mistaken for the one planned.
	facts, err := r.host.Facts(tap, "", 0)
	if err != nil {
		return fmt.Errorf("read host: %w", err)
	}
	if !facts.Tap.Exists {
		return fmt.Errorf("tap %s: %w", tap, netplan.ErrNoSuchLink)
	}
	old, err := r.readForUp(tap)
	if err != nil {
		return err
	}
	rec := &Record{Version: RecordVersion, NIC: plan.NIC, TapIndex: facts.Tap.Index, Plan: plan}
	if old != nil {
		same := old.NIC.SameNIC(plan.NIC) && old.TapIndex == facts.Tap.Index && old.Plan.Equal(plan)
		if same {
			rec.HostApplied = old.HostApplied
		} else {
			r.log.Info("removing stale state", "tap", tap, "instance", old.NIC.Instance, "uuid", old.NIC.UUID)
			if err := r.teardown(old); err != nil {
				return fmt.Errorf("remove stale state of %s: %w", old.NIC.Instance, err)
			}
		}
	}
	// Record the intent before touching the host, so that a crash leaves
	// a record naming this NIC (unless an equal complete record already
	// covers everything this up can add).
	if old == nil || !old.Complete || rec.HostApplied == nil {
		rec.Updated = r.now().UTC()
		if err := r.st.write(rec); err != nil {
			return err
		}
	}
	ok := false
	defer func() {
		if !ok {
			if err := r.teardown(rec); err != nil {
				r.log.Error("rollback failed; state kept for reconcile", "tap", tap, "err", err)
			} else {
				noState = true
			}
		}
	}()
	if err := r.fw.Apply(plan.Filter); err != nil {
		return fmt.Errorf("firewall: %w", err)
	}
	applied, err := r.applyHost(rec, plan.Host)
	if err != nil {
		return err
	}
	rec.HostApplied = applied
	if plan.Binding != nil {
		if err := os.MkdirAll(r.cfg.NFDHCPDStateDir, 0o755); err != nil {
			return fmt.Errorf("binding: %w", err)
		}
		if err := binding.WriteFile(r.cfg.NFDHCPDStateDir, plan.Binding); err != nil {
			return err
		}
	}
	rec.Complete = true
	rec.Updated = r.now().UTC()
	if err := r.st.write(rec); err != nil {
		return err
	}
	ok = true
	r.warnPending(plan)
	r.log.Debug("up", "tap", tap, "instance", plan.NIC.Instance, "mode", plan.Mode)
	return nil
}

// readForUp reads the tap's record; an unreadable one is dropped (what it
// described cannot be known; reconcile and the new apply cover the rest).
func (r *Runner) readForUp(tap string) (*Record, error) {
	old, err := r.st.read(tap)
	if errors.Is(err, ErrBadRecord) {
		r.log.Warn("dropping unreadable state", "tap", tap, "err", err)
		return nil, r.st.remove(tap)
	}
	return old, err
}

// teardown removes everything rec describes, then rec itself. The record
// stays when something could not be removed, so a later down or reconcile
// retries.
func (r *Runner) teardown(rec *Record) error {
	tap := rec.NIC.Tap
	var errs []error
	if err := r.fw.Remove(rec.Plan.Filter); err != nil {
		errs = append(errs, fmt.Errorf("firewall: %w", err))
	}
	if err := r.host.Remove(rec.Plan.Host, rec.TapIndex, rec.HostApplied); err != nil {
		errs = append(errs, err)
	}
	if rec.Plan.Binding != nil {
		if err := binding.Remove(r.cfg.NFDHCPDStateDir, tap); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return r.st.remove(tap)
}

// Down removes the state recorded for tap. With id non-nil (the caller
// knows which NIC it means, e.g. from Ganeti's environment), state of
// another NIC is left alone and ErrNotOwner returned. No state is success.
func (r *Runner) Down(ctx context.Context, tap string, id *netplan.NICID) error {
	if err := ifname.Validate(tap); err != nil {
		return &TapError{Tap: tap, Err: err}
	}
	if err := r.down(tap, id); err != nil {
		return &TapError{Tap: tap, Err: err}
	}
	return nil
}

func (r *Runner) down(tap string, id *netplan.NICID) error {
	if _, err := os.Stat(r.st.dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	l, err := r.st.lock(tap, r.lockWait)
	if err != nil {
		return err
	}
	gone := false
	defer func() { l.unlock(gone) }()
	rec, err := r.st.read(tap)
	if errors.Is(err, ErrBadRecord) {
		r.log.Warn("dropping unreadable state", "tap", tap, "err", err)
		gone = true
		return r.st.remove(tap)
	}
	if err != nil {
		return err
	}
	if rec == nil {
		gone = true
		return nil
	}
	if id != nil && id.Instance != "" && !rec.NIC.SameNIC(*id) {
		return fmt.Errorf("%w (%s NIC %d), not %s NIC %d", ErrNotOwner, rec.NIC.Instance, rec.NIC.Index, id.Instance, id.Index)
	}
	if err := r.teardown(rec); err != nil {
		return err
	}
	gone = true
	r.log.Debug("down", "tap", tap, "instance", rec.NIC.Instance)
	return nil
}

// Reconcile removes the state of taps that no longer exist, or that were
// recreated since (another ifindex), and the filter state and binding
// files (those diktyo-ifup wrote) of taps that have neither a record nor
// a device. For live taps it completes the uplink-side steps an up had
// to leave out (netplan.Host.UplinkPending) once there is an uplink. It
// returns the taps it cleaned.
func (r *Runner) Reconcile(ctx context.Context) ([]string, error) {
	taps, err := r.st.taps()
	if err != nil {
		return nil, err
	}
	var cleaned []string
	var errs []error
	recorded := map[string]bool{}
	for _, tap := range taps {
		if err := ctx.Err(); err != nil {
			return cleaned, err
		}
		stale, err := r.reconcileTap(tap)
		if err != nil {
			errs = append(errs, &TapError{Tap: tap, Err: err})
			recorded[tap] = true
			continue
		}
		if stale {
			cleaned = append(cleaned, tap)
		} else {
			recorded[tap] = true
		}
	}
	if err := r.st.removeStaleTemps(r.now(), staleTempAge); err != nil {
		errs = append(errs, err)
	}
	// Users of a table's shared rules without a record (a crash, an
	// unreadable record): checked under the table's lock, so an up in
	// progress, which writes its record first, keeps its own.
	if err := r.host.ReleaseStale(r.st.has); err != nil {
		errs = append(errs, fmt.Errorf("shared rules: %w", err))
	}
	filtered, err := r.fw.List()
	if err != nil {
		errs = append(errs, fmt.Errorf("list firewall: %w", err))
	}
	for _, tap := range filtered {
		if recorded[tap] || ifname.Validate(tap) != nil {
			continue
		}
		removed, err := r.reconcileOrphanFilter(tap)
		if err != nil {
			errs = append(errs, &TapError{Tap: tap, Err: err})
		} else if removed {
			cleaned = append(cleaned, tap)
		}
	}
	// Binding files of taps without a record or a device, that
	// diktyo-ifup wrote (an operator's or another tool's stay).
	des, err := os.ReadDir(r.cfg.NFDHCPDStateDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("bindings: %w", err))
	}
	for _, de := range des {
		tap := de.Name()
		if recorded[tap] || !de.Type().IsRegular() || strings.HasPrefix(tap, ".") || ifname.Validate(tap) != nil {
			continue
		}
		removed, err := r.reconcileOrphanBinding(tap)
		if err != nil {
			errs = append(errs, &TapError{Tap: tap, Err: err})
		} else if removed && !slices.Contains(cleaned, tap) {
			cleaned = append(cleaned, tap)
		}
	}
	return cleaned, errors.Join(errs...)
}

// reconcileOrphanBinding removes the binding file of tap when diktyo-ifup
// wrote it (binding.Written), the tap has no record and no device.
func (r *Runner) reconcileOrphanBinding(tap string) (bool, error) {
	if ours, err := binding.Written(filepath.Join(r.cfg.NFDHCPDStateDir, tap)); err != nil || !ours {
		return false, ignoreNotExist(err)
	}
	return r.removeOrphan(tap, func() error {
		r.log.Info("reconcile: removing the binding of a vanished tap", "tap", tap)
		return binding.Remove(r.cfg.NFDHCPDStateDir, tap)
	})
}

func ignoreNotExist(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (r *Runner) reconcileTap(tap string) (stale bool, err error) {
	l, err := r.st.lock(tap, r.lockWait)
	if err != nil {
		return false, err
	}
	gone := false
	defer func() { l.unlock(gone) }()
	rec, err := r.st.read(tap)
	if errors.Is(err, ErrBadRecord) {
		gone = true
		return true, r.st.remove(tap)
	}
	if err != nil || rec == nil {
		gone = rec == nil && err == nil
		return false, err
	}
	facts, err := r.host.Facts(tap, "", 0)
	if err != nil {
		return false, err
	}
	if facts.Tap.Exists && facts.Tap.Index == rec.TapIndex {
		if rec.Complete && rec.Plan.Host.OVS != nil {
			if err := r.reassertOVS(rec); err != nil {
				return false, err
			}
		}
		if rec.Complete && len(rec.Plan.Host.UplinkPending) > 0 {
			return false, r.completeUplink(rec)
		}
		return false, nil
	}
	r.log.Info("reconcile: removing state of a vanished tap", "tap", tap, "instance", rec.NIC.Instance)
	if err := r.teardown(rec); err != nil {
		return false, err
	}
	gone = true
	return true, nil
}

// applyHost applies h and returns rec's host record merged with what
// this Apply changed (the earliest values to restore are kept).
func (r *Runner) applyHost(rec *Record, h netplan.Host) (json.RawMessage, error) {
	applied, err := r.host.Apply(h)
	if err != nil || rec.HostApplied == nil {
		return applied, err
	}
	return r.host.Merge(rec.HostApplied, applied)
}

// reassertOVS applies a live Open vSwitch NIC's host plan again: the
// port and its OpenFlow flows live in ovs-vswitchd, which loses the flows
// when it restarts without ovs-ctl's save and restore, and the NIC would
// then be switched without anti-spoofing or steering until its next up.
// Apply is idempotent; the record is rewritten only if it changed. The
// caller holds the tap's lock.
func (r *Runner) reassertOVS(rec *Record) error {
	applied, err := r.applyHost(rec, rec.Plan.Host)
	if err != nil {
		return fmt.Errorf("reassert Open vSwitch port: %w", err)
	}
	if string(applied) == string(rec.HostApplied) {
		return nil
	}
	rec.HostApplied, rec.Updated = applied, r.now().UTC()
	return r.st.write(rec)
}

// completeUplink does the uplink-side steps an up left out for want of
// an uplink (netplan.Host.UplinkPending) once the table has a default
// route or the configured uplink exists, and records them. The caller
// holds the tap's lock.
func (r *Runner) completeUplink(rec *Record) error {
	h := rec.Plan.Host
	table := h.UplinkPending[0].Table
	configured := r.uplinkOf(table, "")
	facts, err := r.host.Facts(rec.NIC.Tap, configured, table)
	if err != nil {
		return err
	}
	done, added := netplan.CompleteUplink(h, facts.UplinkOr(4, configured), facts.UplinkOr(6, configured))
	if len(added.ProxyNeighs) == 0 && len(added.Announce) == 0 {
		return nil
	}
	applied, err := r.applyHost(rec, added)
	if err != nil {
		return fmt.Errorf("complete uplink steps: %w", err)
	}
	rec.Plan.Host, rec.HostApplied, rec.Updated = done, applied, r.now().UTC()
	if err := r.st.write(rec); err != nil {
		return err
	}
	r.log.Info("reconcile: uplink steps done", "tap", rec.NIC.Tap, "table", table,
		"proxy_neighs", len(added.ProxyNeighs), "announcements", len(added.Announce))
	r.warnPending(rec.Plan)
	return nil
}

// reconcileOrphanFilter removes the filter elements of tap when it has no
// record and no device.
func (r *Runner) reconcileOrphanFilter(tap string) (bool, error) {
	return r.removeOrphan(tap, func() error { return r.fw.RemoveTap(tap) })
}

// removeOrphan runs remove, under tap's lock, when tap has neither a
// record nor a device: state that outlived its NIC (a crash, a lost
// record). A live tap without a record is not diktyo-ifup's: left alone.
func (r *Runner) removeOrphan(tap string, remove func() error) (bool, error) {
	if err := r.st.ensure(); err != nil {
		return false, err
	}
	l, err := r.st.lock(tap, r.lockWait)
	if err != nil {
		return false, err
	}
	noRecord := false
	defer func() { l.unlock(noRecord) }()
	if rec, err := r.st.read(tap); err != nil || rec != nil {
		return false, err // someone set it up meanwhile
	}
	noRecord = true
	facts, err := r.host.Facts(tap, "", 0)
	if err != nil || facts.Tap.Exists {
		return false, err
	}
	return true, remove()
}

// Records returns the records of every tap (or of the taps named).
func (r *Runner) Records(taps ...string) ([]*Record, error) {
	if len(taps) == 0 {
		var err error
		if taps, err = r.st.taps(); err != nil {
			return nil, err
		}
	}
	var out []*Record
	for _, tap := range taps {
		if err := ifname.Validate(tap); err != nil {
			return nil, &TapError{Tap: tap, Err: err}
		}
		rec, err := r.st.read(tap)
		if err != nil {
			return nil, &TapError{Tap: tap, Err: err}
		}
		if rec != nil {
			out = append(out, rec)
		}
	}
	return out, nil
}
