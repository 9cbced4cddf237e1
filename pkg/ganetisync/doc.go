// Package ganetisync keeps diktyo's IP pool in step with Ganeti: it holds
// Ganeti's view of networks and instance NICs (read from the hook
// environment, or from a live cluster through `gnt-network list` and
// `gnt-instance list`, see CLI), compares it with the pool and returns the
// differences as Changes that apply inside one pool transaction.
//
// Both `diktyo-ipam sync ganeti` (Sync: every network and instance, listed
// line by line, applied only on request) and diktyo-hook (pkg/hook: one
// network, one group's connections or one instance, right after Ganeti
// changed it) use it, so a hook and a later sync agree on what "in step"
// means:
//
//   - A network is matched by its Ganeti UUID, else by name. Its subnet,
//     gateways, MAC prefix, tags, node group connections (mode, link,
//     VLAN) and Ganeti's external reservations are mirrored; a subnet
//     cannot change in the pool (Manual). Networks only in the pool (for
//     example beyond Ganeti's /16 limit) are kept.
//   - An instance NIC belongs to the pool network of its Ganeti network
//     (UUID, then name); a NIC without one, to the pool network whose
//     subnet holds its address. NICs outside every pool network are none
//     of diktyo's business.
//   - A NIC's addresses are held as INSTANCE:NIC, NIC being the NIC's
//     UUID (else its name, else its index). A holding of the same instance
//     under the NIC's name or index (`diktyo-ipam ip allocate
//     --owner=vm1:0` before `gnt-instance add`) is the NIC's own and is
//     renamed to the UUID.
//
// Claim is the pre-phase check of instance-add and instance-modify: every
// NIC address must be free, or held by the instance, in every pool network
// that contains it (overlapping definitions included); when it is, the
// free addresses are reserved at once, so that two jobs running at the
// same time can never both pass.
//
// The package is pure apart from CLI, which runs the gnt-* commands: it
// must never import netlink, nftables or a concrete store.
package ganetisync
