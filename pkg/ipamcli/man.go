//go:build !urfave_cli_no_docs

package ipamcli

// ManPage returns diktyo-ipam's manual page (roff, section 8), generated
// from the command definitions. It exists only in builds without the
// urfave_cli_no_docs tag (the Debian packaging's man page generator):
// the installed binary carries no documentation code.
func ManPage() (string, error) {
	e := &env{getenv: func(string) string { return "" }}
	return e.app().ToManWithSection(8)
}
