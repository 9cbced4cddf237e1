// Package version holds the build version of every diktyo binary, stamped
// at link time by the Makefile (-ldflags -X). It imports nothing.
package version

// Version is set with -ldflags "-X github.com/diktyo/diktyo/pkg/version.Version=...".
var Version = "dev"
