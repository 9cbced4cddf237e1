package ifup

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/diktyo/diktyo/pkg/netplan"
)

// What Ganeti hooks (pkg/hook) need from the per-tap records: Ganeti 3.0
// has no kvm-ifdown, so the hooks of the operations that take NICs away
// from a node tear them down, and after a migration the new node announces
// the VM's addresses again. NICs are found by instance name and NIC
// identity, never by tap name alone: Ganeti reuses tap names.

// InstanceRecords returns the records of instance's NICs in stateDir
// (STATE_DIR), read without locks: enough to tell whether a host has
// anything of the instance before building a Runner.
func InstanceRecords(stateDir, instance string) ([]*Record, error) {
	return store{dir: filepath.Join(stateDir, "ifup")}.instance(instance)
}

// instance lists the readable records of instance's NICs.
func (s store) instance(instance string) ([]*Record, error) {
	taps, err := s.taps()
	if err != nil {
		return nil, err
	}
	var out []*Record
	for _, tap := range taps {
		rec, err := s.read(tap)
		if errors.Is(err, ErrBadRecord) {
			continue // reconcile's business
		}
		if err != nil {
			return nil, err
		}
		if rec != nil && rec.NIC.Instance == instance {
			out = append(out, rec)
		}
	}
	return out, nil
}

// DownInstance removes, exactly as Down does, the state of the NICs of
// instance on this host for which drop reports true (every NIC when drop
// is nil), binding files included. Each down re-reads the tap's record
// under the tap's lock and leaves it alone when it belongs to another
// NIC by then. It returns the taps whose state it removed.
func (r *Runner) DownInstance(ctx context.Context, instance string, drop func(netplan.NICID) bool) ([]string, error) {
	return r.eachNIC(ctx, instance, func(rec *Record) (bool, error) {
		if drop != nil && !drop(rec.NIC) {
			return false, nil
		}
		id := rec.NIC
		err := r.down(id.Tap, &id)
		if errors.Is(err, ErrNotOwner) {
			r.log.Debug("tap reused by another NIC meanwhile, left alone", "tap", id.Tap, "err", err)
			return false, nil
		}
		return err == nil, err
	})
}

// Reannounce sends the gratuitous ARPs and unsolicited NAs that the up of
// each of instance's NICs on this host sent (routed NICs), again, for the
// NICs whose tap is the recorded device and up. After a migration or
// failover the up's announcements may have left before the VM moved; these
// make upstream routers switch over. It returns the taps announced for.
func (r *Runner) Reannounce(ctx context.Context, instance string) ([]string, error) {
	return r.eachNIC(ctx, instance, func(rec *Record) (bool, error) {
		if len(rec.Plan.Host.Announce) == 0 {
			return false, nil
		}
		return r.reannounce(rec.NIC)
	})
}

// eachNIC calls fn for the record of every NIC of instance and returns
// the taps fn acted on; errors are collected per tap.
func (r *Runner) eachNIC(ctx context.Context, instance string, fn func(*Record) (bool, error)) ([]string, error) {
	recs, err := r.st.instance(instance)
	if err != nil {
		return nil, err
	}
	var done []string
	var errs []error
	for _, rec := range recs {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		acted, err := fn(rec)
		if err != nil {
			errs = append(errs, &TapError{Tap: rec.NIC.Tap, Err: err})
		} else if acted {
			done = append(done, rec.NIC.Tap)
		}
	}
	return done, errors.Join(errs...)
}

func (r *Runner) reannounce(id netplan.NICID) (bool, error) {
	l, err := r.st.lock(id.Tap, r.lockWait)
	if err != nil {
		return false, err
	}
	defer l.unlock(false)
	rec, err := r.st.read(id.Tap)
	if err != nil || rec == nil || !rec.NIC.SameNIC(id) || !rec.Complete {
		return false, err
	}
	facts, err := r.host.Facts(id.Tap, "", 0)
	if err != nil {
		return false, fmt.Errorf("read host: %w", err)
	}
	if !facts.Tap.Exists || facts.Tap.Index != rec.TapIndex || !facts.Tap.Up {
		return false, nil // not this NIC's live device: nothing to announce for
	}
	// A plan of the tap alone plus the announcements changes nothing but
	// sends them: the tap is up and nothing else is set.
	if _, err := r.host.Apply(netplan.Host{Tap: netplan.Tap{Name: id.Tap}, Announce: rec.Plan.Host.Announce}); err != nil {
		return false, fmt.Errorf("announce: %w", err)
	}
	return true, nil
}
