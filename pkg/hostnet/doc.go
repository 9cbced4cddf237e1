// Package hostnet applies the link and routing part of a NIC plan
// (netplan.Host) to the host with netlink, and removes exactly what it
// applied: tap MAC, MTU, master bridge and link state, /proc/sys settings,
// policy rules, routes, proxy NDP entries, gratuitous ARP / unsolicited NA
// announcements, the Open vSwitch port (through ovs-vsctl) and its
// OpenFlow flows (pkg/ovsflow, through one ovs-ofctl bundle). It also
// reads the facts the planner needs (Facts): the tap, the bridge and the
// uplinks of a routing table (see Uplink for its cache).
//
// Apply returns an Applied record of what it changed (with previous
// sysctl values and link settings); Remove takes only that record, so it
// restores the host even after the configuration changed. Apply is
// idempotent and completes a half-done earlier Apply; a failed Apply rolls
// back what it did. Every operation is a per-object netlink request: no
// dump of rules, routes or neighbours is made on the Apply/Remove path, so
// the cost does not grow with the number of NICs on the host.
//
// Choices:
//   - Global forwarding (net/ipv{4,6}/conf/all/forwarding) is never
//     touched: it is host policy, set once by the operator; flipping IPv6's
//     would also turn off router advertisements on every interface. A
//     routed tap's own forwarding comes in the plan's Host.Sysctls
//     (pkg/netplan), recorded and restored like every sysctl. Linux
//     forwards IPv6 only with all.forwarding=1, so an Apply that turns on
//     a tap's IPv6 forwarding warns (once, through the logger) when the
//     host's is 0.
//   - Rules always carry an explicit priority (netplan.DefaultRulePriority
//     when the plan gives 0): the kernel detects an existing identical rule
//     (EEXIST) only when the priorities match.
//   - An existing route to the same destination in the same table is
//     replaced (GRNET used "ip route replace"): a stale route of an earlier
//     tap must not shadow the new NIC.
//   - Objects that only this NIC can own (rules for iif TAP, routes via
//     TAP, proxy entries for the VM's address, the OVS port named TAP) are
//     recorded whether or not they already existed, so that an Apply that
//     completes a crashed one still records them for Remove. Sysctls and
//     link settings are recorded only when Apply changed them.
//   - An Open vSwitch port's flows are written after the port exists
//     (ovs-ofctl names it in in_port), in one `--bundle add-flows` that
//     first deletes the tap's earlier flows, and removed with `del-flows
//     cookie=C/-1`: the cookie is a hash of the tap name, so the record
//     only keeps the bridge (Applied.OVSFlows).
//   - Announcements are best effort: a failed send is logged, not fatal
//     (the VM is still reachable once neighbour caches expire); a missing
//     announce device is an error. With Options.Detach they are sent by a
//     detached child (pkg/announce), once the VM has sent a frame on its
//     tap, three times a second apart, while the caller returns at once.
//
// It must never import the planner's inputs (pkg/ganeti, config), stores
// or nftables: it applies values, it does not decide them (pkg/ovsflow,
// which it imports, is pure).
package hostnet
