// Package importrules holds the repository-wide test of diktyo's import
// rules (importrules_test.go) and nothing else: pure packages never reach
// sockets, netlink, nftables, the stores or os/exec, and production code
// never imports a test helper.
package importrules
