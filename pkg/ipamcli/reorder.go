package ipamcli

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed moves a leaf command's flags before its positional
// arguments, so "ip release net1 10.0.0.5 --owner=vm1" works like
// gnt-network's optparse: urfave/cli stops parsing flags at the first
// argument. Everything after "--" stays an argument.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	rest := args[1:]
	tail := []string(nil)
	if n := len(rest); rest[n-1] == completionFlag {
		rest, tail = rest[:n-1], rest[n-1:]
	}
	flags, cmds := app.Flags, app.Commands
	// Walk the command path: leading flags, then a command name.
	for len(cmds) > 0 {
		i := skipFlags(flags, rest)
		out = append(out, rest[:i]...)
		rest = rest[i:]
		if len(rest) == 0 {
			return append(out, tail...)
		}
		cmd := findCommand(cmds, rest[0])
		if cmd == nil {
			return append(append(out, rest...), tail...)
		}
		out = append(out, rest[0])
		rest = rest[1:]
		flags, cmds = cmd.Flags, cmd.Subcommands
	}
	var fl, pos []string
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			pos = append(pos, rest[i:]...)
			i = len(rest)
		case len(a) > 1 && strings.HasPrefix(a, "-"):
			fl = append(fl, a)
			if takesValue(flags, a) && i+1 < len(rest) {
				i++
				fl = append(fl, rest[i])
			}
		default:
			pos = append(pos, a)
		}
	}
	out = append(append(out, fl...), pos...)
	return append(out, tail...)
}

// skipFlags returns how many leading words of args are flags (with their
// values) of flags.
func skipFlags(flags []cli.Flag, args []string) int {
	i := 0
	for i < len(args) && len(args[i]) > 1 && strings.HasPrefix(args[i], "-") && args[i] != "--" {
		if takesValue(flags, args[i]) {
			i++
		}
		i++
	}
	return min(i, len(args))
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// takesValue reports whether word is a flag of flags given without "=" and
// followed by its value.
func takesValue(flags []cli.Flag, word string) bool {
	name := strings.TrimLeft(word, "-")
	if strings.Contains(name, "=") {
		return false
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := f.(*cli.BoolFlag)
				return !isBool
			}
		}
	}
	return false
}
