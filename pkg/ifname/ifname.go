// Package ifname holds diktyo's one rule for network interface names (taps,
// bridges, uplinks). Every package that accepts a name from Ganeti, a
// binding file, a configuration file or the state directory checks it here,
// so a name one part of diktyo accepts is accepted by all the others.
//
// The rule is Linux's dev_valid_name (1 to 15 bytes, no '/', ':' or white
// space, not "." or "..") made stricter where a name travels further than
// the kernel: no control characters and only ASCII (names become file names,
// /proc/sys paths and nftables chain names), and none of " ' = # \ $ `
// (names are written into KEY=VALUE binding files, which must also survive
// a shell).
package ifname

import (
	"errors"
	"fmt"
	"strings"
)

// MaxLen is the longest interface name Linux accepts (IFNAMSIZ - 1).
const MaxLen = 15

// ErrInvalid is returned for a name outside the rule.
var ErrInvalid = errors.New("invalid interface name")

// forbidden are the printable ASCII bytes a name may not contain.
const forbidden = "/:\"'=#\\$`"

// Validate returns nil if name is a valid interface name, or an error
// wrapping ErrInvalid that quotes (the start of) the name and says why.
func Validate(name string) error {
	bad := func(why string) error {
		q := name
		if len(q) > 2*MaxLen {
			q = q[:2*MaxLen] + "..."
		}
		return fmt.Errorf("%w %q: %s", ErrInvalid, q, why)
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > MaxLen:
		return bad(fmt.Sprintf("longer than %d bytes", MaxLen))
	case name == "." || name == "..":
		return bad("a directory name")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(forbidden, c) >= 0 {
			return bad(fmt.Sprintf("byte %#02x is not allowed", c))
		}
	}
	return nil
}
