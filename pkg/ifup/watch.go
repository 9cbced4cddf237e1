package ifup

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DeletedTaps subscribes to the deletion of network devices in the host's
// namespace: it returns a channel of the names of deleted devices, closed
// when ctx ends or when events were lost (the subscription failed or
// overflowed); the caller then subscribes again. (hostnet.DeletedLinks.)
type DeletedTaps func(ctx context.Context) (<-chan string, error)

// watchRetry is the pause before subscribing again after lost events.
const watchRetry = time.Second

// Watch is the node daemon of `diktyo-ifup watch`: it removes the state of
// a recorded tap the moment the kernel deletes the device, as a
// reconcile of that tap does (under its lock, only when the recorded
// device is gone: a tap already recreated and set up again keeps its new
// state). Ganeti runs no ifdown: when a VM stops or leaves a host by
// migration or failover, QEMU's exit deletes the tap, and the routes via
// it go with it, but the proxy NDP entries on the uplink, the firewall's
// set elements and the nfdhcpd binding would stay until a hook or the
// periodic reconcile, leaving the old host answering for the VM upstream.
// Each (re)subscription is followed by a full reconcile, so deletions
// missed meanwhile are caught too.
//
// It also sets up the routed NICs of live migrations to this node the
// moment Ganeti names their taps, from what the migrate pre hook stored
// (ExpectIncoming; needs KVM_NIC_DIR). Everything runs in one goroutine,
// one tap at a time. It returns when ctx ends (nil) or when it cannot
// subscribe.
func (r *Runner) Watch(ctx context.Context) error {
	if r.deleted == nil {
		return errors.New("watch: no device events (Deps.DeletedTaps)")
	}
	inc := r.newIncomingWatch()
	defer inc.close()
	for {
		// Subscribe before reconciling: a deletion in between is seen by
		// one or the other.
		events, err := r.deleted(ctx)
		if err != nil {
			return fmt.Errorf("watch: subscribe to device events: %w", err)
		}
		cleaned, err := r.Reconcile(ctx)
		r.logCleaned(cleaned, err)
		if !r.handleEvents(ctx, events, inc) {
			return nil
		}
		r.log.Warn("watch: device events lost; subscribing again and reconciling")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(watchRetry):
		}
	}
}

// handleEvents handles device events and incoming migrations until the
// device events end (true: events were lost) or ctx does (false).
func (r *Runner) handleEvents(ctx context.Context, events <-chan string, inc *incomingWatch) bool {
	for {
		changes, changeErrs := inc.changes()
		poll, rescan := inc.ticks()
		select {
		case <-ctx.Done():
			return false
		case name, ok := <-events:
			if !ok {
				return ctx.Err() == nil
			}
			r.tapDeleted(name)
		case <-changes:
			inc.scan()
		case err := <-changeErrs:
			r.log.Warn("watch: incoming migrations: events lost; reading the directory", "err", err)
			inc.scan()
		case <-rescan:
			inc.scan()
		case <-poll:
			inc.serve(ctx)
		}
	}
}

// tapDeleted reconciles tap after the kernel deleted a device of that
// name, if diktyo-ifup recorded state for it.
func (r *Runner) tapDeleted(tap string) {
	if !r.st.has(tap) {
		return
	}
	stale, err := r.reconcileTap(tap)
	switch {
	case err != nil:
		r.log.Error("watch: removing the state of a deleted tap failed; the next reconcile retries", "tap", tap, "err", err)
	case stale:
		r.log.Info("watch: removed the state of a deleted tap", "tap", tap)
	}
}

func (r *Runner) logCleaned(cleaned []string, err error) {
	for _, tap := range cleaned {
		r.log.Info("watch: reconcile removed stale state", "tap", tap)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		r.log.Error("watch: reconcile", "err", err)
	}
}
