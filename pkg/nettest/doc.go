// Package nettest owns the helpers that root tests use to build throwaway
// network topologies: named network namespaces (ip netns compatible), veth
// pairs whose host end is named like a Ganeti tap, empty bridges, real TAP
// pairs, NFQUEUE steering rules, ICMP echo (ping without a ping binary),
// and runners for the real DHCP and NDP clients of Debian (udhcpc,
// dhclient, dhcpcd, rdisc6, ndisc6) that return parsed results.
//
// Every helper takes a testing.TB, skips the test when not root (see
// RequireRoot) and registers a t.Cleanup that removes what it created, even
// when the test fails. Names are unique per call, so tests may run in
// parallel and beside other engineers' tests on the same machine. Helpers
// never touch the caller's namespace: addresses, rules and clients only
// live inside namespaces made by NewNS, and clients never rewrite the
// machine's /etc/resolv.conf (they run with no-op scripts and with
// /etc/netns/<name>/resolv.conf in place).
//
// The parsers of client output (ParseRdisc6, ParseNdisc6, ParseEnvRecords
// and the lease parsers) are pure and tested without root.
//
// This package is for tests only; production code must never import it.
// It must not import the daemon or any package under test: of this
// module it uses only pure leaf packages (pkg/importrules checks it).
// Queue statistics are in pkg/nfqueue/nfqueuetest.
package nettest
