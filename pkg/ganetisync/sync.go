package ganetisync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/diktyo/diktyo/pkg/ipam"
)

// Report is what Sync found, in order: networks, instances, holdings of
// instances Ganeti does not know.
type Report struct {
	Changes []Change
}

// Disagreements counts the changes that are not Notes.
func (r *Report) Disagreements() int {
	n := 0
	for _, c := range r.Changes {
		if c.Kind != Note {
			n++
		}
	}
	return n
}

// Unapplied counts the disagreements no change can apply (Manual).
func (r *Report) Unapplied() int {
	n := 0
	for _, c := range r.Changes {
		if c.Kind != Note && !c.Applicable() {
			n++
		}
	}
	return n
}

// Write prints one line per change: as is when only reporting, prefixed
// "applied: " or "not applied: " when the changes were committed, "note: "
// for Notes.
func (r *Report) Write(w io.Writer, committed bool) error {
	for _, c := range r.Changes {
		prefix := ""
		switch {
		case c.Kind == Note:
			prefix = "note: "
		case committed && c.Applicable():
			prefix = "applied: "
		case committed || !c.Applicable():
			prefix = "not applied: "
		}
		if _, err := fmt.Fprintf(w, "%s%s\n", prefix, c); err != nil {
			return err
		}
	}
	return nil
}

// Read fetches every network and instance from src.
func Read(ctx context.Context, src Source) ([]Network, []Instance, error) {
	nets, err := src.Networks(ctx)
	if err != nil {
		return nil, nil, err
	}
	insts, err := src.Instances(ctx)
	if err != nil {
		return nil, nil, err
	}
	return nets, insts, nil
}

// Sync compares every Ganeti network and instance with the pool and
// applies, inside tx, every change that can be applied: networks first,
// then instances (against the networks as they are then), then it
// releases what instances Ganeti does not know hold. The caller commits
// tx to take Ganeti's side, or rolls it back to only report; the report
// is the same either way.
func Sync(tx *ipam.Txn, nets []Network, insts []Instance) (*Report, error) {
	r := &Report{}
	v, err := newView(tx)
	if err != nil {
		return nil, err
	}
	byUUID := map[string]string{}
	known := map[string]bool{}
	for i := range nets {
		g := &nets[i]
		if g.UUID != "" {
			byUUID[g.UUID] = g.Name
		}
		ch, err := diffNetwork(tx, v, g, "")
		if err != nil {
			return nil, err
		}
		if err := r.apply(tx, ch); err != nil {
			return nil, err
		}
		if p := v.network(g); p != nil {
			known[p.Name] = true
		}
	}
	for _, p := range v.nets {
		if !known[p.Name] {
			r.Changes = append(r.Changes, Change{Kind: Note, Subject: "network " + p.Name, Detail: "only in the pool: kept"})
		}
	}
	if v, err = newView(tx); err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for i := range insts {
		inst := &insts[i]
		names[inst.Name] = true
		for j := range inst.NICs {
			if n := &inst.NICs[j]; n.Network == "" {
				n.Network = byUUID[n.NetworkUUID]
			}
		}
		ch, err := diffInstance(tx, v, inst)
		if err != nil {
			return nil, err
		}
		if err := r.apply(tx, ch); err != nil {
			return nil, err
		}
	}
	for _, p := range v.nets {
		hs, err := tx.Holdings(p.Name)
		if err != nil {
			return nil, err
		}
		var ch []Change
		for _, h := range hs {
			if h.Kind != ipam.KindInstance || names[h.Owner.Instance] {
				continue
			}
			ch = append(ch, releaseUnknown(h))
		}
		if err := r.apply(tx, ch); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func releaseUnknown(h ipam.Holding) Change {
	owner, name := h.Owner, h.Network
	if h.MAC != "" {
		mac, _ := net.ParseMAC(h.MAC)
		return Change{Kind: Release, Subject: name + " MAC " + h.MAC,
			Detail: fmt.Sprintf("held by %s, an instance Ganeti does not know: release", owner),
			apply:  func(tx *ipam.Txn) error { return tx.ReleaseMAC(mac, &owner) }}
	}
	ip := h.IP
	return Change{Kind: Release, Subject: name + " " + ip.String(),
		Detail: fmt.Sprintf("held by %s, an instance Ganeti does not know: release", owner),
		apply:  func(tx *ipam.Txn) error { return tx.Release(name, ip, &owner) }}
}

// apply records changes and applies those that can be.
func (r *Report) apply(tx *ipam.Txn, changes []Change) error {
	r.Changes = append(r.Changes, changes...)
	_, err := ApplyKinds(tx, changes, Add, Update, Release, Conflict)
	return err
}

// ErrDisagree: Sync found disagreements it did not settle (a report
// without --apply, or differences no change can apply).
var ErrDisagree = errors.New("the pool disagrees with Ganeti")

// errRollback undoes a report-only run's transaction.
var errRollback = errors.New("report only")

// RunSync is `diktyo-ipam sync ganeti`: it reads every network and
// instance from src, then compares and applies them (Sync) in one pool
// transaction run by update, which it commits only with apply. It writes
// one line per difference to w and a summary line, and returns an error
// wrapping ErrDisagree when disagreements are left.
func RunSync(ctx context.Context, src Source, update func(func(*ipam.Txn) error) error, apply bool, w io.Writer) error {
	nets, insts, err := Read(ctx, src)
	if err != nil {
		return err
	}
	var r *Report
	err = update(func(tx *ipam.Txn) error {
		var err error
		if r, err = Sync(tx, nets, insts); err != nil {
			return err
		}
		if !apply {
			return errRollback
		}
		return nil
	})
	if err != nil && !errors.Is(err, errRollback) {
		return err
	}
	if err := r.Write(w, apply); err != nil {
		return err
	}
	n, left := r.Disagreements(), r.Unapplied()
	switch {
	case n == 0:
		_, err = fmt.Fprintf(w, "in step with Ganeti: %d networks, %d instances\n", len(nets), len(insts))
		return err
	case !apply:
		fmt.Fprintf(w, "%d disagreements; run with --apply to take Ganeti's side\n", n)
		return fmt.Errorf("%w: %d differences", ErrDisagree, n)
	case left > 0:
		fmt.Fprintf(w, "applied %d changes; %d need manual action\n", n-left, left)
		return fmt.Errorf("%w: %d differences need manual action", ErrDisagree, left)
	}
	_, err = fmt.Fprintf(w, "applied %d changes\n", n)
	return err
}
