// Package ganeti parses, into typed values, the two environments that
// Ganeti 3.0 hands to external programs:
//
//   - the hook environment: Ganeti runs the executables in
//     /etc/ganeti/hooks/<hpath>-<pre|post>.d/ with the environment reset to
//     GANETI_* variables plus PATH. See [ParseHookEnv] and [HookEnv].
//   - the kvm-ifup environment: the environment of the
//     /etc/ganeti/kvm-vif-bridge script that Ganeti's KVM hypervisor runs
//     for each tap device it creates. See [ParseIfupEnv] and [IfupEnv].
//
// The package is pure: it only turns strings into values and values back into
// strings ([HookEnv.Environ], [IfupEnv.Environ]). It touches no network
// interface, socket or database.
//
// # Conventions
//
// Unset values are zero values: an empty [netip.Addr] or [netip.Prefix], a
// nil [net.HardwareAddr], a zero [VLAN], a nil [Tags] and so on. Ganeti writes
// an unset value either as an empty string or, when the Python value was None,
// as the string "None"; both mean "unset" for every value that is parsed into
// a type other than string. String values (names, links, UUIDs) are kept as
// Ganeti wrote them.
//
// Every error returned by the parsers is a [*VarError] naming the variable at
// fault, and wraps one of the sentinel errors [ErrMissing], [ErrInvalid]
// (or [ErrUnknownMode], which wraps ErrInvalid), [ErrNICCount],
// [ErrDuplicate] or [ErrUnexpected].
//
// # What Ganeti 3.0.2 actually writes
//
// The fixtures in testdata/ganeti (dumps from a real Ganeti 3.0.2 cluster)
// show some behaviour worth knowing when writing a hook:
//
//   - In the post phase every variable that the logical unit computes is
//     written twice: GANETI_X is the environment computed before the
//     operation (the one the pre hooks saw) and GANETI_POST_X is computed
//     again after it. The global variables (GANETI_HOOKS_*, GANETI_OP_CODE,
//     GANETI_CLUSTER, GANETI_MASTER, GANETI_OBJECT_TYPE, GANETI_DATA_DIR) are
//     not repeated. [HookEnv] embeds the first view and points to the second
//     with [HookEnv.Post].
//   - After a migration or failover GANETI_INSTANCE_PRIMARY is the old node
//     and GANETI_POST_INSTANCE_PRIMARY the new one. GANETI_OLD_PRIMARY and
//     GANETI_NEW_PRIMARY describe the move only in the first view: in the
//     post view they are recomputed from the new configuration, so
//     GANETI_POST_OLD_PRIMARY is the new node as well. Use
//     [HookEnv.PrimaryAfter] to get the node the instance runs on after the
//     operation, in either phase.
//   - For instance-modify the pre-phase environment already describes the
//     instance as it will be: when a NIC is added the pre hooks see
//     NIC_COUNT=2 and the new NIC; when one is removed they see only the
//     remaining NICs.
//   - GANETI_INSTANCE_STATUS is the admin state ("up", "down", "offline"),
//     except for instance-add where it is whether the instance is started
//     after creation ("True" or "False"). See [Instance.AdminUp].
//   - GANETI_INSTANCE_NIC<i>_NAME is present only for NICs that have a name,
//     GANETI_INSTANCE_NIC<i>_BRIDGE only for bridged and openvswitch NICs,
//     and GANETI_INSTANCE_NIC<i>_NETWORK_* only for NICs attached to a
//     network.
//   - Tags are space separated in no stable order: the same network has
//     GANETI_NETWORK_TAGS="nfdhcpd routed" in one hook and
//     NETWORK_TAGS="routed nfdhcpd" in kvm-ifup. [Tags] is a set.
//   - In kvm-ifup, IP, LINK, INTERFACE_NAME and BRIDGE are absent when the
//     NIC has no IP address, no link, no name, or is not bridged.
package ganeti
