package hook

import (
	"strings"

	"github.com/diktyo/diktyo/pkg/ganeti"
)

// PoolAction is what a hook does to the pool. Pool actions run on the
// master node only: with the default store the pool is the master's file.
type PoolAction string

// Pool actions.
const (
	PoolNone PoolAction = ""
	// PoolClaim (instance-add, instance-modify pre): every NIC address
	// must be free or the instance's; the free ones are reserved.
	PoolClaim PoolAction = "claim"
	// PoolInstance (instance-add, instance-modify post): the instance's
	// reservations become its NIC list.
	PoolInstance PoolAction = "instance"
	// PoolRename (instance-rename post): the old name's reservations pass
	// to the new name.
	PoolRename PoolAction = "rename"
	// PoolRelease (instance-remove post): everything the instance held is
	// released.
	PoolRelease PoolAction = "release"
	// PoolNetwork (network-add, network-modify post): the network is
	// mirrored.
	PoolNetwork PoolAction = "network"
	// PoolNetworkRemove (network-remove post): the network is removed.
	PoolNetworkRemove PoolAction = "network-remove"
	// PoolGroup (network-connect, network-disconnect post): the node
	// group's connections are mirrored.
	PoolGroup PoolAction = "group"
)

// HostAction is what a hook does to this node's host state (diktyo-ifup's
// per-tap records and what they describe).
type HostAction string

// Host actions.
const (
	HostNone HostAction = ""
	// HostDown: tear down every NIC of the instance on this node (it
	// stopped, was removed or renamed, or left this node).
	HostDown HostAction = "down"
	// HostVerify: tear down the NICs the instance no longer has, then
	// reconcile (the instance runs here).
	HostVerify HostAction = "verify"
	// HostAnnounce: announce the instance's routed addresses again (it
	// arrived on this node).
	HostAnnounce HostAction = "announce"
	// HostIncoming (instance-migrate pre, on the target): store the
	// routed NICs' ifup environments for `diktyo-ifup watch`, which sets
	// them up the moment Ganeti creates their taps (ifup.ExpectIncoming).
	// It never fails the migration.
	HostIncoming HostAction = "incoming"
)

// Plan is what one hook run does.
type Plan struct {
	Pool PoolAction
	Host HostAction
}

// IsZero reports whether the plan does nothing.
func (p Plan) IsZero() bool { return p == Plan{} }

// Dir is one hook directory, /etc/ganeti/hooks/<Path>-<Phase>.d.
type Dir struct {
	Path  string
	Phase ganeti.Phase
}

// Name is the directory's name, e.g. "instance-add-pre.d".
func (d Dir) Name() string { return d.Path + "-" + string(d.Phase) + ".d" }

// Served returns the hook directories diktyo-hook acts in: the only ones
// where Decide can return a non-empty Plan.
func Served() []Dir {
	pre, post := ganeti.PhasePre, ganeti.PhasePost
	return []Dir{
		{"instance-add", pre}, {"instance-add", post},
		{"instance-modify", pre}, {"instance-modify", post},
		{"instance-rename", post},
		{"instance-remove", post},
		{"instance-start", post},
		{"instance-reboot", post},
		{"instance-stop", post},
		{"instance-migrate", pre}, {"instance-migrate", post},
		{"instance-failover", post},
		{"instance-move", post},
		{"network-add", post},
		{"network-modify", post},
		{"network-remove", post},
		{"network-connect", post},
		{"network-disconnect", post},
	}
}

// SameNode compares Ganeti node names (FQDNs, case-insensitively).
func SameNode(a, b string) bool { return a != "" && strings.EqualFold(a, b) }

// Decide returns what the hook in e does on node. It is pure.
//
//   - Pool actions run on the master.
//   - The NICs of a stopped, removed or renamed instance are torn down on
//     every node that runs the hook (the instance runs nowhere then); after
//     a migration, failover or move, on the old primary only.
//   - The new primary of a migration, failover or move announces the
//     routed addresses again.
//   - The primary verifies its NICs after a start, a reboot, a modify
//     (a NIC hot-removed or hot-modified) and a migration cleanup.
//   - Before a live migration the target stores what its routed NICs'
//     ifup will be told (Ganeti sets them up only after the VM resumed
//     there).
func Decide(e *ganeti.HookEnv, node string) Plan {
	var p Plan
	master := SameNode(e.Master, node)
	if e.Phase == ganeti.PhasePre {
		if master && e.Instance != nil && (e.Path == "instance-add" || e.Path == "instance-modify") {
			p.Pool = PoolClaim
		}
		if e.Path == "instance-migrate" && e.Instance != nil && e.Migration != nil && !strings.EqualFold(e.Extra["MIGRATE_CLEANUP"], "True") &&
			SameNode(e.Migration.NewPrimary, node) && !strings.EqualFold(e.Migration.OldPrimary, e.Migration.NewPrimary) {
			p.Host = HostIncoming
		}
		return p
	}
	if e.Phase != ganeti.PhasePost {
		return p
	}
	if e.Instance != nil {
		before, after := e.Instance.Primary, e.PrimaryAfter()
		switch e.Path {
		case "instance-add":
			if master {
				p.Pool = PoolInstance
			}
		case "instance-modify":
			if master {
				p.Pool = PoolInstance
			}
			if SameNode(after, node) {
				p.Host = HostVerify
			}
		case "instance-rename":
			if master {
				p.Pool = PoolRename
			}
			p.Host = HostDown
		case "instance-remove":
			if master {
				p.Pool = PoolRelease
			}
			p.Host = HostDown
		case "instance-stop":
			p.Host = HostDown
		case "instance-start", "instance-reboot":
			if SameNode(after, node) {
				p.Host = HostVerify
			}
		case "instance-migrate", "instance-failover", "instance-move":
			switch {
			case !strings.EqualFold(before, after) && SameNode(before, node):
				p.Host = HostDown
			case !strings.EqualFold(before, after) && SameNode(after, node):
				p.Host = HostAnnounce
			case SameNode(after, node):
				p.Host = HostVerify // a migration cleanup: the instance stays
			}
		}
		return p
	}
	if !master {
		return p
	}
	switch e.Path {
	case "network-add", "network-modify":
		if e.Latest().Network != nil {
			p.Pool = PoolNetwork
		}
	case "network-remove":
		if e.Latest().Network != nil {
			p.Pool = PoolNetworkRemove
		}
	case "network-connect", "network-disconnect":
		if g := e.Latest().Group; g != nil && g.Name != "" {
			p.Pool = PoolGroup
		}
	}
	return p
}
