// Package e2e holds the end-to-end tests of the nfdhcpd daemon: the real
// binary, built once in TestMain, runs in a throwaway host network
// namespace with NFQUEUE rules on VM taps, and the real Debian clients
// (dhclient, udhcpc, dhcpcd, rdisc6, ndisc6) run in VM namespaces behind
// veth pairs (routed and bridged) or a real TAP pair. Bindings are written
// with pkg/binding, as diktyo-ifup writes them.
//
// The package has tests only. The tests need root and skip otherwise; as
// root (CI) every tool must be installed and nothing skips. It must never
// be imported, and imports only the daemon's binary (not pkg/nfdhcpd), so
// it tests what operators run.
package e2e
