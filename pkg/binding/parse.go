package binding

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/diktyo/diktyo/pkg/ifname"
)

// MaxFileSize bounds what Parse reads, so a bad file cannot eat memory.
const MaxFileSize = 64 << 10

// MaxHostnameLen is the longest HOSTNAME accepted (a DNS name's limit).
const MaxHostnameLen = 253

// Sentinel errors, tested with errors.Is on what Parse, ReadFile and
// Validate return.
var (
	// ErrSyntax: a line that is not KEY=VALUE, or an unterminated quote.
	ErrSyntax = errors.New("syntax error")
	// ErrMissing: a required key (INDEV, MAC, HOSTNAME) is absent or empty.
	ErrMissing = errors.New("required key missing")
	// ErrInvalid: a value that does not parse or breaks a constraint.
	ErrInvalid = errors.New("invalid value")
	// ErrTooLarge: the file is larger than MaxFileSize.
	ErrTooLarge = errors.New("binding file too large")
	// ErrTapName: the tap (file) name is not a usable interface name.
	ErrTapName = errors.New("invalid tap name")
)

// Error is a binding file error naming the tap and, where known, the line
// and key.
type Error struct {
	Tap  string
	Line int    // 1-based; 0 when the error is not tied to a line
	Key  string // empty when not tied to a key
	Err  error
}

// Error renders the error on one line, naming what failed.
func (e *Error) Error() string {
	var sb strings.Builder
	sb.WriteString("binding ")
	sb.WriteString(e.Tap)
	if e.Line > 0 {
		sb.WriteString(": line ")
		sb.WriteString(strconv.Itoa(e.Line))
	}
	if e.Key != "" {
		sb.WriteString(": ")
		sb.WriteString(e.Key)
	}
	sb.WriteString(": ")
	sb.WriteString(e.Err.Error())
	return sb.String()
}

// Unwrap returns the cause, one of the sentinel errors where it applies.
func (e *Error) Unwrap() error { return e.Err }

// Keys in GRNET's order, the order Marshal writes them in.
var keyOrder = [...]string{
	"INDEV", "IP", "MAC", "HOSTNAME", "TAGS", "GATEWAY", "SUBNET",
	"GATEWAY6", "SUBNET6", "EUI64", "PRIVATE", "MTU", "MACSPOOF",
}

// Parse reads a binding file for tap. Unknown keys are ignored, empty values
// mean unset, values may be single- or double-quoted, blank lines and lines
// starting with '#' are skipped; a key given twice keeps its last value (as
// GRNET's reader does). The result is validated (see Validate).
func Parse(tap string, r io.Reader) (*Binding, error) {
	if err := checkIfName(tap); err != nil {
		return nil, &Error{Tap: tap, Err: err}
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, &Error{Tap: tap, Err: fmt.Errorf("read: %w", err)}
	}
	if len(data) > MaxFileSize {
		return nil, &Error{Tap: tap, Err: fmt.Errorf("%w (over %d bytes)", ErrTooLarge, MaxFileSize)}
	}
	return parseBytes(tap, data)
}

// field is a raw value and the line it came from.
type field struct {
	val  string
	line int
}

func parseBytes(tap string, data []byte) (*Binding, error) {
	var raw [len(keyOrder)]field
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		s := strings.TrimSpace(string(line))
		if s == "" || s[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, &Error{Tap: tap, Line: lineNo, Err: fmt.Errorf("%w: no '=' in %q", ErrSyntax, clip(s))}
		}
		k = strings.TrimSpace(k)
		i := slices.Index(keyOrder[:], k)
		if i < 0 {
			continue // unknown keys are ignored, like GRNET
		}
		v, err := unquote(strings.TrimSpace(v))
		if err != nil {
			return nil, &Error{Tap: tap, Line: lineNo, Key: k, Err: err}
		}
		raw[i] = field{val: v, line: lineNo}
	}
	b := &Binding{Tap: tap}
	for i, f := range raw {
		if f.val == "" {
			continue
		}
		if err := setField(b, keyOrder[i], f.val); err != nil {
			return nil, &Error{Tap: tap, Line: f.line, Key: keyOrder[i], Err: err}
		}
	}
	if err := b.validate(func(key string) int { return raw[slices.Index(keyOrder[:], key)].line }); err != nil {
		return nil, err
	}
	return b, nil
}

// unquote strips one pair of matching quotes. There are no escapes: the
// format is what shell scripts write with plain quoting.
func unquote(v string) (string, error) {
	if v == "" || (v[0] != '"' && v[0] != '\'') {
		return v, nil
	}
	q := v[0]
	if len(v) < 2 || v[len(v)-1] != q {
		return "", fmt.Errorf("%w: unterminated quote in %q", ErrSyntax, clip(v))
	}
	return v[1 : len(v)-1], nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func setField(b *Binding, key, v string) error {
	var err error
	switch key {
	case "INDEV":
		if err = checkIfName(v); err == nil {
			b.InDev = v
		}
	case "IP":
		b.IP, err = parseAddr(v, true)
	case "MAC":
		b.MAC, err = parseMAC(v)
	case "HOSTNAME":
		if err = checkHostname(v); err == nil {
			b.Hostname = v
		}
	case "TAGS":
		b.Tags, err = parseTags(v)
	case "GATEWAY":
		b.Gateway, err = parseAddr(v, true)
	case "SUBNET":
		b.Subnet, err = parsePrefix(v, true)
	case "GATEWAY6":
		b.Gateway6, err = parseAddr(v, false)
	case "SUBNET6":
		b.Subnet6, err = parsePrefix(v, false)
	case "EUI64":
		b.EUI64, err = parseAddr(v, false)
	case "MTU":
		b.MTU, err = parseMTU(v)
	case "PRIVATE":
		b.Private = truthy(v)
	case "MACSPOOF":
		b.MACSpoof = truthy(v)
	}
	return err
}

// truthy follows GRNET, which tests the raw string for truth (any non-empty
// value is set), except that the explicit negatives 0/no/false/off (any
// case) read as unset: a writer that spells "no" means no.
func truthy(v string) bool {
	switch strings.ToLower(v) {
	case "", "0", "no", "false", "off":
		return false
	}
	return true
}

func parseAddr(v string, four bool) (netip.Addr, error) {
	a, err := netip.ParseAddr(v)
	switch {
	case err != nil:
		return netip.Addr{}, fmt.Errorf("%w: %q is not an IP address", ErrInvalid, clip(v))
	case a.Zone() != "":
		return netip.Addr{}, fmt.Errorf("%w: %q has a zone", ErrInvalid, clip(v))
	case four && !a.Is4():
		return netip.Addr{}, fmt.Errorf("%w: %q is not an IPv4 address", ErrInvalid, clip(v))
	case !four && !a.Is6() || !four && a.Is4In6():
		return netip.Addr{}, fmt.Errorf("%w: %q is not an IPv6 address", ErrInvalid, clip(v))
	}
	return a, nil
}

func parsePrefix(v string, four bool) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(v)
	switch {
	case err != nil:
		return netip.Prefix{}, fmt.Errorf("%w: %q is not a CIDR prefix", ErrInvalid, clip(v))
	case four && !p.Addr().Is4():
		return netip.Prefix{}, fmt.Errorf("%w: %q is not an IPv4 prefix", ErrInvalid, clip(v))
	case !four && (!p.Addr().Is6() || p.Addr().Is4In6()):
		return netip.Prefix{}, fmt.Errorf("%w: %q is not an IPv6 prefix", ErrInvalid, clip(v))
	case p.Masked() != p:
		// GRNET's IPy rejects a prefix with host bits set, dropping the binding.
		return netip.Prefix{}, fmt.Errorf("%w: %q has host bits set", ErrInvalid, clip(v))
	case !four && p.Bits() != 64:
		// SLAAC and GRNET's mac2eui64 only work on a /64.
		return netip.Prefix{}, fmt.Errorf("%w: %q is not a /64", ErrInvalid, clip(v))
	}
	return p, nil
}

func parseMAC(v string) (net.HardwareAddr, error) {
	m, err := net.ParseMAC(v)
	switch {
	case err != nil || len(m) != 6:
		return nil, fmt.Errorf("%w: %q is not a 6-byte MAC address", ErrInvalid, clip(v))
	case m[0]&1 != 0:
		return nil, fmt.Errorf("%w: %s is a multicast MAC address", ErrInvalid, m)
	case m[0]|m[1]|m[2]|m[3]|m[4]|m[5] == 0:
		return nil, fmt.Errorf("%w: %s is the zero MAC address", ErrInvalid, m)
	}
	return m, nil
}

func parseMTU(v string) (int, error) {
	for _, c := range []byte(v) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: MTU %q is not a number", ErrInvalid, clip(v))
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 68 || n > 65535 {
		return 0, fmt.Errorf("%w: MTU %q is outside 68..65535", ErrInvalid, clip(v))
	}
	return n, nil
}

// checkIfName checks an interface name with pkg/ifname's rule, which also
// keeps out what would not survive a KEY=VALUE file or a shell.
func checkIfName(s string) error {
	if err := ifname.Validate(s); err != nil {
		return fmt.Errorf("%w: %w", ErrTapName, err)
	}
	return nil
}

// checkHostname rejects control characters, spaces, quotes and '=' (which
// GRNET's reader would cut the value at) and overlong names.
func checkHostname(s string) error {
	if len(s) > MaxHostnameLen {
		return fmt.Errorf("%w: hostname longer than %d bytes", ErrInvalid, MaxHostnameLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: hostname is not UTF-8", ErrInvalid)
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f || c == '"' || c == '\'' || c == '=' || (c >= 0x80 && c < 0xa0) {
			return fmt.Errorf("%w: hostname %q contains %q", ErrInvalid, clip(s), c)
		}
	}
	return nil
}

// parseTags splits on white space, sorts and removes duplicates.
func parseTags(v string) ([]string, error) {
	tags := strings.Fields(v)
	for _, t := range tags {
		if !utf8.ValidString(t) || strings.ContainsAny(t, "\"'\x7f") || strings.ContainsFunc(t, func(r rune) bool { return r < ' ' }) {
			return nil, fmt.Errorf("%w: tag %q", ErrInvalid, clip(t))
		}
	}
	if len(tags) == 0 {
		return nil, nil
	}
	slices.Sort(tags)
	return slices.Compact(tags), nil
}

// Validate checks a binding built in code (for instance before WriteFile)
// with the rules Parse applies: Tap, INDEV, MAC and HOSTNAME required, every
// value well-formed, GATEWAY inside SUBNET, EUI64 inside SUBNET6.
func (b *Binding) Validate() error {
	if err := checkIfName(b.Tap); err != nil {
		return &Error{Tap: b.Tap, Err: err}
	}
	checks := []struct {
		key string
		err error
	}{
		{"INDEV", ifSet(b.InDev != "", func() error { return checkIfName(b.InDev) })},
		{"IP", ifSet(b.IP.IsValid(), func() error { _, err := parseAddr(b.IP.String(), true); return err })},
		{"MAC", ifSet(b.MAC != nil, func() error { _, err := parseMAC(b.MAC.String()); return err })},
		{"HOSTNAME", ifSet(b.Hostname != "", func() error { return checkHostname(b.Hostname) })},
		{"TAGS", ifSet(len(b.Tags) > 0, func() error { return checkTags(b.Tags) })},
		{"GATEWAY", ifSet(b.Gateway.IsValid(), func() error { _, err := parseAddr(b.Gateway.String(), true); return err })},
		{"SUBNET", ifSet(b.Subnet.IsValid(), func() error { _, err := parsePrefix(b.Subnet.String(), true); return err })},
		{"GATEWAY6", ifSet(b.Gateway6.IsValid(), func() error { _, err := parseAddr(b.Gateway6.String(), false); return err })},
		{"SUBNET6", ifSet(b.Subnet6.IsValid(), func() error { _, err := parsePrefix(b.Subnet6.String(), false); return err })},
		{"EUI64", ifSet(b.EUI64.IsValid(), func() error { _, err := parseAddr(b.EUI64.String(), false); return err })},
		{"MTU", ifSet(b.MTU != 0, func() error { _, err := parseMTU(strconv.Itoa(b.MTU)); return err })},
	}
	for _, c := range checks {
		if c.err != nil {
			return &Error{Tap: b.Tap, Key: c.key, Err: c.err}
		}
	}
	return b.validate(func(string) int { return 0 })
}

func ifSet(set bool, f func() error) error {
	if !set {
		return nil
	}
	return f()
}

func checkTags(tags []string) error {
	if !slices.IsSorted(tags) || len(slices.Compact(slices.Clone(tags))) != len(tags) {
		return fmt.Errorf("%w: tags not sorted and unique", ErrInvalid)
	}
	for _, t := range tags {
		if t == "" || strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' }) {
			return fmt.Errorf("%w: tag %q", ErrInvalid, clip(t))
		}
	}
	got, err := parseTags(strings.Join(tags, " "))
	if err == nil && !slices.Equal(got, tags) {
		err = fmt.Errorf("%w: tags %q", ErrInvalid, tags)
	}
	return err
}

// validate checks required keys and cross-field rules; line maps a key to
// the line it was read from (0 when not from a file).
func (b *Binding) validate(line func(key string) int) error {
	fail := func(key string, err error) error {
		return &Error{Tap: b.Tap, Line: line(key), Key: key, Err: err}
	}
	switch {
	case b.MAC == nil:
		return fail("MAC", ErrMissing)
	case b.InDev == "":
		return fail("INDEV", ErrMissing)
	case b.Hostname == "":
		// GRNET's is_valid() drops a binding without MAC or HOSTNAME.
		return fail("HOSTNAME", ErrMissing)
	case b.Gateway.IsValid() && b.Subnet.IsValid() && !b.Subnet.Contains(b.Gateway):
		return fail("GATEWAY", fmt.Errorf("%w: %s is outside SUBNET %s", ErrInvalid, b.Gateway, b.Subnet))
	case b.EUI64.IsValid() && b.Subnet6.IsValid() && !b.Subnet6.Contains(b.EUI64):
		return fail("EUI64", fmt.Errorf("%w: %s is outside SUBNET6 %s", ErrInvalid, b.EUI64, b.Subnet6))
	}
	return nil
}

// Marshal renders b in GRNET's key order. Unset keys are left out entirely
// (an empty "MTU=" crashes GRNET's reader); TAGS is double-quoted; PRIVATE
// and MACSPOOF are written as 1 when set.
func (b *Binding) Marshal() []byte {
	var buf bytes.Buffer
	kv := func(k, v string) {
		if v == "" {
			return
		}
		buf.WriteString(k)
		buf.WriteByte('=')
		buf.WriteString(v)
		buf.WriteByte('\n')
	}
	addr := func(a netip.Addr) string {
		if !a.IsValid() {
			return ""
		}
		return a.String()
	}
	pfx := func(p netip.Prefix) string {
		if !p.IsValid() {
			return ""
		}
		return p.String()
	}
	flag := func(f bool) string {
		if f {
			return "1"
		}
		return ""
	}
	kv("INDEV", b.InDev)
	kv("IP", addr(b.IP))
	if len(b.MAC) > 0 {
		kv("MAC", b.MAC.String())
	}
	kv("HOSTNAME", b.Hostname)
	if len(b.Tags) > 0 {
		kv("TAGS", `"`+strings.Join(b.Tags, " ")+`"`)
	}
	kv("GATEWAY", addr(b.Gateway))
	kv("SUBNET", pfx(b.Subnet))
	kv("GATEWAY6", addr(b.Gateway6))
	kv("SUBNET6", pfx(b.Subnet6))
	kv("EUI64", addr(b.EUI64))
	kv("PRIVATE", flag(b.Private))
	if b.MTU != 0 {
		kv("MTU", strconv.Itoa(b.MTU))
	}
	kv("MACSPOOF", flag(b.MACSpoof))
	return buf.Bytes()
}
