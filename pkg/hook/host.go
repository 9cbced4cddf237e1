package hook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/ifup"
	"github.com/diktyo/diktyo/pkg/netplan"
)

// host runs a host action. The host side (netlink, nftables) is built only
// when the instance has NICs recorded on this node.
func (r *run) host(ctx context.Context, action HostAction) error {
	name := r.e.Instance.Name
	switch action {
	case HostIncoming:
		r.incoming()
		return nil
	case HostAnnounce:
		// The migration is over: watch need not look for its taps.
		if err := r.d.ForgetIncoming(name); err != nil {
			r.log.Warn("host: "+err.Error(), "instance", name)
		}
	}
	recs, err := r.d.InstanceRecords(name)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		r.log.Debug("no NIC of the instance on this node", "instance", name)
		return nil
	}
	h, release, err := r.d.Host()
	if err != nil {
		return err
	}
	defer release()
	switch action {
	case HostDown:
		taps, err := h.DownInstance(ctx, name, nil)
		r.log.Info("host: removed the NICs' state", "instance", name, "taps", strings.Join(taps, ","))
		return err
	case HostAnnounce:
		taps, err := h.Reannounce(ctx, name)
		r.log.Info("host: announced the routed addresses again", "instance", name, "taps", strings.Join(taps, ","))
		return err
	case HostVerify:
		return r.verify(ctx, h, name)
	}
	return nil
}

// incoming stores the ifup environments of the instance's routed NICs
// for this node's `diktyo-ifup watch`, before a live migration to this
// node. A failure costs only the head start, never the migration: it is
// logged, and Ganeti's own ifup sets the NICs up after the migration.
func (r *run) incoming() {
	in := r.e.Instance
	inc := ifup.Incoming{Instance: in.Name, Since: time.Now()}
	for _, n := range in.NICs {
		if n.Mode == ganeti.ModeRouted {
			inc.NICs = append(inc.NICs, *n.IfupEnv(in.Name, in.Tags, ""))
		}
	}
	if len(inc.NICs) == 0 {
		r.log.Info("host: no routed NIC to prepare for the incoming migration", "instance", in.Name)
		return
	}
	if err := r.d.ExpectIncoming(inc); err != nil {
		r.log.Warn("host: the routed NICs will be set up by Ganeti after the migration: "+err.Error(), "instance", in.Name)
		return
	}
	r.log.Info("host: routed NICs of the incoming migration stored for diktyo-ifup watch", "instance", in.Name, "nics", len(inc.NICs))
}

// verify tears down the NICs the instance no longer has (hot-removed, or
// hot-modified onto another tap), reconciles the node, and warns about
// NICs wired with another address than Ganeti now gives them (a change
// without hotplug takes effect at the next start).
func (r *run) verify(ctx context.Context, h HostOps, name string) error {
	nics := r.instance().NICs
	removed, errDown := h.DownInstance(ctx, name, dropMissing(nics))
	cleaned, errRec := h.Reconcile(ctx)
	recs, errList := r.d.InstanceRecords(name)
	var differ []string
	for _, rec := range recs {
		for _, n := range nics {
			if nicIs(rec.NIC, n) && n.IP.IsValid() && rec.IPv4 != "" && rec.IPv4 != n.IP.String() {
				differ = append(differ, fmt.Sprintf("%s: NIC %d wired with %s, Ganeti has %s", rec.NIC.Tap, n.Index, rec.IPv4, n.IP))
			}
		}
	}
	attrs := []any{"instance", name, "removed", strings.Join(removed, ","), "reconciled", strings.Join(cleaned, ",")}
	if len(differ) > 0 {
		r.log.Warn("host: verified; wired until the next start or hotplug: "+strings.Join(differ, "; "), attrs...)
	} else {
		r.log.Info("host: verified", attrs...)
	}
	return errors.Join(errDown, errRec, errList)
}

// nicIs reports whether a record's NIC is n: the same UUID, or the same
// index when Ganeti gave no UUID.
func nicIs(id netplan.NICID, n ganeti.NIC) bool {
	if id.UUID != "" || n.UUID != "" {
		return id.UUID == n.UUID
	}
	return id.Index == n.Index
}

// dropMissing selects the recorded NICs that are not in nics.
func dropMissing(nics []ganeti.NIC) func(netplan.NICID) bool {
	return func(id netplan.NICID) bool {
		for _, n := range nics {
			if nicIs(id, n) {
				return false
			}
		}
		return true
	}
}
