package hook

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/ganetisync"
	"github.com/diktyo/diktyo/pkg/ipam"
)

// pool runs a pool action.
func (r *run) pool(ctx context.Context, action PoolAction) error {
	// Ganeti is read before the store is opened: the store's lock is never
	// held while a gnt-* command runs.
	var nets []ganetisync.Network
	var fetchErr error
	switch action {
	case PoolNetwork:
		nets, fetchErr = r.networkFromGaneti(ctx)
	case PoolGroup:
		if nets, fetchErr = r.d.Ganeti.Networks(ctx); fetchErr != nil {
			return fmt.Errorf("cannot tell which network group %s gained or lost: %w; run diktyo-ipam sync ganeti",
				r.e.Latest().Group.Name, fetchErr)
		}
	}
	st, err := r.d.OpenPool(action == PoolNetwork || action == PoolGroup)
	if errors.Is(err, ErrNoPool) {
		r.log.Debug("no pool store: no network is diktyo's, nothing to do")
		return nil
	}
	if err != nil {
		return r.unreachable(fmt.Errorf("%w: %w", ErrUnreachable, err))
	}
	defer st.Close()
	p := ipam.New(st)
	switch action {
	case PoolClaim:
		err = r.claim(ctx, p)
	case PoolInstance:
		err = r.syncInstance(ctx, p, r.instance().Name)
	case PoolRename:
		err = r.rename(ctx, p)
	case PoolRelease:
		err = r.release(ctx, p)
	case PoolNetwork:
		err = r.mirrorNetwork(ctx, p, nets, fetchErr)
	case PoolNetworkRemove:
		err = r.removeNetwork(ctx, p)
	case PoolGroup:
		err = r.mirrorGroup(ctx, p, nets)
	}
	if errors.Is(err, ipam.ErrBusy) || errors.Is(err, context.DeadlineExceeded) {
		err = r.unreachable(fmt.Errorf("%w: %w", ErrUnreachable, err))
	}
	return err
}

// unreachable applies the store policy: in the pre phase refuse (the
// default) or allow with a warning; in the post phase fail loudly.
func (r *run) unreachable(err error) error {
	if r.e.Phase == ganeti.PhasePre {
		if r.d.Config.HookStoreUnreachable == "allow" {
			r.log.Warn(fmt.Sprintf("pool: NIC addresses not checked, operation allowed (HOOK_STORE_UNREACHABLE=allow): %v", err))
			return nil
		}
		return fmt.Errorf("%w: NIC addresses cannot be checked (HOOK_STORE_UNREACHABLE=refuse): %w", ErrRefused, err)
	}
	return fmt.Errorf("the pool misses this change, run diktyo-ipam sync ganeti once the store is back: %w", err)
}

func (r *run) claim(ctx context.Context, p *ipam.Pool) error {
	inst := ganetisync.InstanceOf(r.e.Instance)
	var held []ipam.Holding
	err := p.Update(ctx, func(tx *ipam.Txn) error {
		var err error
		held, err = ganetisync.Claim(tx, &inst)
		return err
	})
	var conflict *ganetisync.ConflictError
	if errors.As(err, &conflict) {
		return fmt.Errorf("%w: %s", ErrRefused, oneLine(err.Error()))
	}
	if err != nil {
		return err
	}
	if len(held) == 0 {
		r.log.Info("pool: NIC addresses free or already the instance's", "instance", inst.Name)
		return nil
	}
	what := make([]string, len(held))
	for i, h := range held {
		what[i] = h.IP.String() + " in " + h.Network + " for " + h.Owner.String()
	}
	r.log.Info("pool: claimed "+strings.Join(what, ", "), "instance", inst.Name)
	return nil
}

// applyInstance makes the pool's reservations of inst its NIC list in tx
// and returns what it applied and what it could not.
func applyInstance(tx *ipam.Txn, inst *ganetisync.Instance) (done, left []ganetisync.Change, err error) {
	ch, err := ganetisync.DiffInstance(tx, inst)
	if err != nil {
		return nil, nil, err
	}
	if done, err = ganetisync.ApplyKinds(tx, ch, ganetisync.Add, ganetisync.Update, ganetisync.Release); err != nil {
		return nil, nil, err
	}
	for _, c := range ch {
		if c.Kind == ganetisync.Conflict || c.Kind == ganetisync.Manual {
			left = append(left, c)
		}
	}
	return done, left, nil
}

// syncInstance makes the reservations of the instance (named name in the
// pool) its NIC list.
func (r *run) syncInstance(ctx context.Context, p *ipam.Pool, name string) error {
	inst := ganetisync.InstanceOf(r.instance())
	inst.Name = name
	var done, left []ganetisync.Change
	err := p.Update(ctx, func(tx *ipam.Txn) error {
		var err error
		done, left, err = applyInstance(tx, &inst)
		return err
	})
	if err != nil {
		return err
	}
	r.logApplied("pool: reservations follow the NIC list", inst.Name, done)
	return leftError(left)
}

func (r *run) logApplied(msg, instance string, done []ganetisync.Change) {
	if len(done) == 0 {
		r.log.Info(msg+": nothing to change", "instance", instance)
		return
	}
	r.log.Info(msg, "instance", instance, "changes", changeList(done))
}

// leftError reports the differences a hook does not settle.
func leftError(left []ganetisync.Change) error {
	if len(left) == 0 {
		return nil
	}
	return fmt.Errorf("not applied, settle by hand or with diktyo-ipam sync ganeti --apply: %s", changeList(left))
}

func (r *run) rename(ctx context.Context, p *ipam.Pool) error {
	old := r.e.Instance.Name
	newName := r.e.Instance.NewName
	if in := r.e.Latest().Instance; in != nil && in.NewName != "" {
		newName = in.NewName
	}
	if newName == "" {
		return fmt.Errorf("no GANETI_INSTANCE_NEW_NAME: cannot rename %s's reservations", old)
	}
	inst := ganetisync.InstanceOf(r.instance())
	inst.Name = newName
	var moved []ipam.Holding
	var done, left []ganetisync.Change
	err := p.Update(ctx, func(tx *ipam.Txn) error {
		var err error
		if moved, err = ganetisync.RenameInstance(tx, old, newName); err != nil {
			return err
		}
		done, left, err = applyInstance(tx, &inst)
		return err
	})
	if err != nil {
		return err
	}
	r.log.Info("pool: the reservations passed to the new name", "instance", newName, "old", old,
		"moved", strconv.Itoa(len(moved)), "changes", changeList(done))
	return leftError(left)
}

func (r *run) release(ctx context.Context, p *ipam.Pool) error {
	name := r.e.Instance.Name
	var released []ipam.Holding
	err := p.Update(ctx, func(tx *ipam.Txn) error {
		var err error
		released, err = ganetisync.ReleaseInstance(tx, name)
		return err
	})
	if err != nil {
		return err
	}
	what := make([]string, len(released))
	for i, h := range released {
		what[i] = h.IP.String()
		if h.MAC != "" {
			what[i] = "MAC " + h.MAC
		}
		what[i] += " in " + h.Network
	}
	r.log.Info("pool: released what the instance held", "instance", name, "released", strings.Join(what, ", "))
	return nil
}

// networkFromGaneti reads the network of a network-add or -modify hook
// from Ganeti (reservations and connections included); when Ganeti cannot
// say, the environment's view serves (fetchErr says why).
func (r *run) networkFromGaneti(ctx context.Context) ([]ganetisync.Network, error) {
	env := r.e.Latest().Network
	nets, err := r.d.Ganeti.Networks(ctx, env.Name)
	for _, n := range nets {
		if n.Name == env.Name && err == nil {
			return []ganetisync.Network{n}, nil
		}
	}
	if err == nil {
		err = fmt.Errorf("%w: gnt-network list %s: no such network", ganetisync.ErrGaneti, env.Name)
	}
	return []ganetisync.Network{ganetisync.NetworkOf(env)}, err
}

func (r *run) mirrorNetwork(ctx context.Context, p *ipam.Pool, nets []ganetisync.Network, fetchErr error) error {
	g := &nets[0]
	var done, kept, left []ganetisync.Change
	err := p.Update(ctx, func(tx *ipam.Txn) error {
		ch, err := ganetisync.DiffNetwork(tx, g, "")
		if err != nil {
			return err
		}
		if done, err = ganetisync.ApplyKinds(tx, ch, ganetisync.Add, ganetisync.Update); err != nil {
			return err
		}
		for _, c := range ch {
			switch c.Kind {
			case ganetisync.Release:
				kept = append(kept, c)
			case ganetisync.Conflict, ganetisync.Manual:
				left = append(left, c)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	attrs := []any{"network", g.Name, "changes", changeList(done)}
	switch {
	case fetchErr != nil:
		r.log.Warn("pool: network mirrored from the hook environment only; its reservations and connections are not (run diktyo-ipam sync ganeti): "+fetchErr.Error(), attrs...)
	case len(kept) > 0:
		r.log.Warn("pool: network mirrored; kept what only the pool has (diktyo-ipam sync ganeti --apply drops it): "+changeList(kept), attrs...)
	default:
		r.log.Info("pool: network mirrored", attrs...)
	}
	return leftError(left)
}

func (r *run) removeNetwork(ctx context.Context, p *ipam.Pool) error {
	name := r.e.Latest().Network.Name
	var removed bool
	err := p.Update(ctx, func(tx *ipam.Txn) error {
		var err error
		removed, err = ganetisync.RemoveNetwork(tx, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("network %s stays in the pool: %w", name, err)
	}
	if removed {
		r.log.Info("pool: network removed", "network", name)
	} else {
		r.log.Info("pool: network not in the pool, nothing to remove", "network", name)
	}
	return nil
}

func (r *run) mirrorGroup(ctx context.Context, p *ipam.Pool, nets []ganetisync.Network) error {
	group := r.e.Latest().Group.Name
	var done, left []ganetisync.Change
	err := p.Update(ctx, func(tx *ipam.Txn) error {
		for i := range nets {
			ch, err := ganetisync.DiffNetwork(tx, &nets[i], group)
			if err != nil {
				return err
			}
			d, err := ganetisync.ApplyKinds(tx, ch, ganetisync.Add, ganetisync.Update, ganetisync.Release)
			if err != nil {
				return err
			}
			done = append(done, d...)
			for _, c := range ch {
				if !c.Applicable() {
					left = append(left, c)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(done) == 0 {
		r.log.Info("pool: connections of the group already mirrored", "group", group)
	} else {
		r.log.Info("pool: connections of the group mirrored", "group", group, "changes", changeList(done))
	}
	return leftError(left)
}
