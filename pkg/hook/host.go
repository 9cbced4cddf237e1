package hook

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/netplan"
)

// host runs a host action. The host side (netlink, nftables) is built only
// when the instance has NICs recorded on this node.
func (r *run) host(ctx context.Context, action HostAction) error {
	name := r.e.Instance.Name
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
