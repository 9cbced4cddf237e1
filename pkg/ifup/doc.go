// Package ifup is diktyo-ifup's orchestration: for one VM NIC it plans
// (pkg/netplan, pure) and applies the plan through a host applier
// (pkg/hostnet: links, rules, routes, sysctls, proxies, OVS) and a filter
// applier (pkg/firewall: nftables), writes the nfdhcpd binding file
// (pkg/binding) and records what it applied per tap under
// STATE_DIR/ifup/<tap>.json, so that down removes exactly that, even
// after the configuration changed, and reconcile removes the state of
// taps that no longer exist (Ganeti 3.0 never calls an ifdown); Watch, the
// node daemon, does that for each tap the moment the kernel deletes it,
// and sets up the routed NICs of incoming live migrations (Incoming) as
// soon as Ganeti names their taps.
//
// A record (Record, encoding/json with the struct tags of netplan and
// hostnet) holds the NIC, the tap's ifindex, the plan (compared with
// netplan.Plan.Equal on the next up, applied again by reconcile, removed
// by down) and the host applier's account of what it changed. MACs are
// text (pkg/mac). Records of version 1, written by diktyo-ifup before
// version 2 (MACs in base64, the NIC inside the plan again), are read as
// well, so a host upgrades with its VMs running.
//
// Ganeti reuses tap names: a record belongs to a NIC (netplan.NICID) and
// to one tap device (its ifindex). An up on a tap whose record belongs to
// another NIC removes that stale state first; nothing keyed by the tap
// name alone removes a newer owner's state, because every change of a
// tap's state happens under the tap's lock and starts by reading the
// tap's record. Locks are flock(2) on STATE_DIR/ifup/<tap>.lock with a
// timeout.
//
// Ganeti's hooks (pkg/hook) use the same records: DownInstance removes an
// instance's NICs from a node (found by instance name and NIC identity,
// each through Down's path), Reannounce sends a moved VM's announcements
// again.
//
// The host and filter appliers are interfaces (Host, Firewall) so the
// logic is tested with recording fakes; the main wires the real ones. This
// package never talks to netlink or nftables itself.
package ifup
