// Package hook is diktyo-hook: one binary that Ganeti runs from every
// hook directory it is linked into (/etc/ganeti/hooks/<hpath>-<phase>.d/
// diktyo, see Install) and that keeps diktyo's pool and every node's host
// state in step with Ganeti's operations.
//
// What a run does follows from GANETI_HOOKS_PATH, GANETI_HOOKS_PHASE and
// which node it runs on (this node's name against GANETI_MASTER and the
// instance's primary before and after the operation): Decide computes it
// as a Plan, purely, and Handle carries it out.
//
//   - Pool actions, on the master only (pkg/ganetisync): network hooks
//     mirror the network (read back with gnt-network list, so Ganeti's
//     external reservations and node group connections come too);
//     instance-add and -modify pre check, and reserve, every NIC address
//     (a conflict aborts the Ganeti job); their post phase makes the
//     reservations the NIC list; rename passes them on; remove releases
//     them. Every post action is idempotent.
//   - Host actions (pkg/ifup's records and Runner): on every node running
//     the hook of a stop, remove or rename, and on the old primary after
//     a migration, failover or move, the instance's NICs are torn down
//     exactly as diktyo-ifup down does, found by instance name and NIC
//     UUID; the new primary announces routed addresses again; after a
//     start, reboot or modify the primary tears down NICs the instance no
//     longer has and reconciles. Before a live migration the target
//     stores its routed NICs' ifup environments for `diktyo-ifup watch`
//     (ifup.ExpectIncoming), never failing the migration.
//
// Failures: in the pre phase only a real conflict, an unreadable
// environment of an address check or an unreachable store (by default,
// HOOK_STORE_UNREACHABLE) make the run fail, which aborts the job; in the
// post phase a failure is reported by Ganeti and `diktyo-ipam sync ganeti`
// repairs the pool afterwards. Every action logs one line to stderr (the
// job log) and syslog.
//
// The package owns no state of its own and no package-level mutable
// state; it must never talk to netlink or nftables itself (pkg/ifup does)
// nor to a store other than through OpenStore.
package hook
