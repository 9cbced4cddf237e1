// Package version holds the build version of every diktyo binary, stamped
// at link time by the Makefile (-ldflags -X), and the one way every binary
// answers --version. It imports only io.
package version

import "io"

// Version is set with -ldflags "-X github.com/diktyo/diktyo/pkg/version.Version=...".
var Version = "dev"

// Handle answers a --version request: when args (args[0] is the program)
// are exactly "--version" it writes "NAME version VERSION" to stdout and
// reports true; otherwise it writes nothing and reports false. Every
// binary's Run calls it first.
func Handle(args []string, name string, stdout io.Writer) bool {
	if len(args) != 2 || args[1] != "--version" {
		return false
	}
	_, _ = io.WriteString(stdout, name+" version "+Version+"\n")
	return true
}
