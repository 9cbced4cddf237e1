package ifup

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"syscall"

	"github.com/diktyo/diktyo/pkg/announce"
	"github.com/diktyo/diktyo/pkg/firewall"
	"github.com/diktyo/diktyo/pkg/hostnet"
	"github.com/diktyo/diktyo/pkg/ifupconf"
	"github.com/diktyo/diktyo/pkg/netplan"
)

// RTTablesFiles are read, in order, to resolve routing table names.
var RTTablesFiles = []string{"/usr/share/iproute2/rt_tables", "/etc/iproute2/rt_tables"}

// NewSystem returns a Runner wired to the real host: pkg/hostnet,
// pkg/firewall, the pool at cfg.IPAMDB (read through pkg/ipam/storeurl),
// rt_tables and exec(2) for IFUP_EXTRA_SCRIPT. close releases the netlink
// handles.
//
// announcer is the command of the detached process that sends the
// gratuitous ARPs and unsolicited NAs (announce.Command{}: this very
// binary, which must handle announce.Subcommand); nil sends them
// from this process, which then waits for them (tests, benchmarks).
func NewSystem(cfg *ifupconf.Config, log *slog.Logger, announcer *announce.Command) (r *Runner, close func(), err error) {
	// Announcements go to a detached "diktyo-ifup announce" child (see
	// Run) so that neither their repeats nor the AF_PACKET
	// socket's close hold up Ganeti; the uplink cache (host state, next
	// to the per-tap records in StateDir/ifup) keeps Facts from dumping
	// the whole table.
	hn, err := hostnet.New(hostnet.Options{Logger: log, OVSDB: cfg.OVSDB,
		Detach: announcer, StateDir: cfg.StateDir})
	if err != nil {
		return nil, nil, err
	}
	steer := firewall.Steering{DHCP: cfg.DHCPQueue, DHCPv6: cfg.DHCPv6Queue, RS: cfg.RSQueue, NS: cfg.NSQueue, Bypass: cfg.QueueBypass}
	fw, err := firewall.New(firewall.Options{Steerings: []firewall.Steering{steer}, MACMask: cfg.MACMask})
	if err != nil {
		hn.Close()
		return nil, nil, err
	}
	r, err = New(Deps{
		Config: cfg, Host: HostnetAdapter{A: hn}, Firewall: &FirewallAdapter{F: fw},
		Networks: Pool{Path: cfg.IPAMDB}, RTTables: readRTTables, Exec: syscall.Exec, Logger: log,
		DeletedTaps: hostnet.DeletedLinks,
	})
	if err != nil {
		hn.Close()
		return nil, nil, err
	}
	return r, func() {
		if err := hn.Close(); err != nil && log != nil {
			log.Warn("host network: close", "err", err)
		}
	}, nil
}

func readRTTables() map[string]int {
	m := map[string]int{}
	for _, p := range RTTablesFiles {
		if f, err := os.Open(p); err == nil {
			maps.Copy(m, netplan.ParseRTTables(f))
			f.Close()
		}
	}
	return m
}

// HostnetAdapter makes a *hostnet.Applier a Host, storing hostnet.Applied
// as JSON.
type HostnetAdapter struct{ A *hostnet.Applier }

// Facts implements Host.
func (h HostnetAdapter) Facts(tap, link string, table int) (netplan.HostFacts, error) {
	return h.A.Facts(tap, link, table)
}

// Apply implements Host.
func (h HostnetAdapter) Apply(x netplan.Host) (json.RawMessage, error) {
	a, err := h.A.Apply(x)
	if err != nil {
		return nil, err
	}
	return encodeApplied(&a)
}

// Remove implements Host. Without a record (an up interrupted before
// hostnet returned) it removes the NIC's own objects the plan lists; the
// tap's settings went, or will go, with the tap.
func (h HostnetAdapter) Remove(planned netplan.Host, tapIndex int, applied json.RawMessage) error {
	a, err := AppliedOf(planned, tapIndex, applied)
	if err != nil {
		return err
	}
	return h.A.Remove(a)
}

// AppliedOf decodes a recorded hostnet.Applied, or derives the objects to
// remove from the plan when there is no record.
func AppliedOf(planned netplan.Host, tapIndex int, applied json.RawMessage) (hostnet.Applied, error) {
	if applied != nil {
		a, err := decodeApplied(applied)
		if err != nil {
			return a, fmt.Errorf("%w: host record: %w", ErrBadRecord, err)
		}
		return a, nil
	}
	var a hostnet.Applied
	a.Tap = hostnet.TapChange{Name: planned.Tap.Name, Index: tapIndex}
	for _, rl := range planned.Rules {
		if rl.Priority == 0 {
			rl.Priority = netplan.DefaultRulePriority
		}
		a.Rules = append(a.Rules, rl)
	}
	a.Routes = append(a.Routes, planned.Routes...)
	a.ProxyNeighs = append(a.ProxyNeighs, planned.ProxyNeighs...)
	a.OVS = planned.OVS
	return a, nil
}

// ReleaseStale removes users of tables' shared rules that keep rejects
// (see hostnet.Applier.ReleaseStale); Reconcile calls it.
func (h HostnetAdapter) ReleaseStale(keep func(tap string) bool) error { return h.A.ReleaseStale(keep) }

// Merge implements Host with hostnet.Applied.Merge.
func (h HostnetAdapter) Merge(old, new json.RawMessage) (json.RawMessage, error) {
	a, errOld := decodeApplied(old)
	b, errNew := decodeApplied(new)
	if err := errors.Join(errOld, errNew); err != nil {
		return nil, fmt.Errorf("%w: host record: %w", ErrBadRecord, err)
	}
	m := a.Merge(b)
	return encodeApplied(&m)
}

// encodeApplied returns the JSON of a hostnet.Applied, as recorded.
func encodeApplied(a *hostnet.Applied) (json.RawMessage, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode host record of %s: %w", a.Tap.Name, err)
	}
	return b, nil
}

// decodeApplied decodes a recorded hostnet.Applied.
func decodeApplied(data json.RawMessage) (hostnet.Applied, error) {
	var a hostnet.Applied
	err := json.Unmarshal(data, &a)
	return a, err
}

// Tables is what FirewallAdapter uses of a *firewall.Firewall.
type Tables interface {
	Init() error
	Apply(f netplan.Filter) error
	Remove(f netplan.Filter) error
	RemoveTap(tap string) error
	List() ([]string, error)
}

// FirewallAdapter makes a *firewall.Firewall a Firewall. diktyo's tables
// are created (firewall.Init) on the first Apply that finds them missing
// (firewall.ErrNotInitialized), so a fresh or upgraded host needs no
// separate setup step; other errors are returned as they are.
type FirewallAdapter struct{ F Tables }

// Apply implements Firewall.
func (f *FirewallAdapter) Apply(x netplan.Filter) error {
	err := f.F.Apply(x)
	if !errors.Is(err, firewall.ErrNotInitialized) {
		return err
	}
	if err := f.F.Init(); err != nil {
		return err
	}
	return f.F.Apply(x)
}

// Remove implements Firewall.
func (f *FirewallAdapter) Remove(x netplan.Filter) error { return f.F.Remove(x) }

// RemoveTap implements Firewall.
func (f *FirewallAdapter) RemoveTap(tap string) error { return f.F.RemoveTap(tap) }

// List implements Firewall.
func (f *FirewallAdapter) List() ([]string, error) { return f.F.List() }
