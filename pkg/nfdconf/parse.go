package nfdconf

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// key describes one known key. Adding a key to diktyo's dialect is one
// entry in keys.
type key struct {
	section, name string
	// set stores the value items (after quote removal and list splitting)
	// into c; scalars get exactly one item.
	set func(c *Config, items []string) error
	// list keys accept any number of items; scalars exactly one.
	list bool
	// deprecated, when set, is the warning given when the key is used.
	deprecated string
}

var keys = []key{
	{section: "general", name: "pidfile", set: str(func(c *Config) *string { return &c.General.PIDFile })},
	{section: "general", name: "datapath", set: str(func(c *Config) *string { return &c.General.DataPath })},
	{section: "general", name: "logdir", set: str(func(c *Config) *string { return &c.General.LogDir })},
	{section: "general", name: "user", set: str(func(c *Config) *string { return &c.General.User })},
	{section: "general", name: "metrics_listen", set: listenAddr(func(c *Config) *string { return &c.General.MetricsListen })},
	{section: "general", name: "queue_bypass", set: boolean(func(c *Config) *bool { return &c.General.QueueBypass })},

	{section: "dhcp", name: "enable_dhcp", set: boolean(func(c *Config) *bool { return &c.DHCP.Enable })},
	{section: "dhcp", name: "lease_lifetime", set: seconds(0, func(c *Config) *uint32 { return &c.DHCP.LeaseLifetime })},
	{section: "dhcp", name: "lease_renewal", set: seconds(0, func(c *Config) *uint32 { return &c.DHCP.LeaseRenewal })},
	{section: "dhcp", name: "server_ip", set: addr4(func(c *Config) *netip.Addr { return &c.DHCP.ServerIP })},
	{section: "dhcp", name: "server_on_link", set: boolean(func(c *Config) *bool { return &c.DHCP.ServerOnLink })},
	{section: "dhcp", name: "dhcp_queue", set: queue(func(c *Config) *uint16 { return &c.DHCP.Queue })},
	{section: "dhcp", name: "nameservers", list: true, set: addrList(true, func(c *Config) *[]netip.Addr { return &c.DHCP.Nameservers })},
	{section: "dhcp", name: "domain", set: domain(func(c *Config) *string { return &c.DHCP.Domain })},

	{section: "ipv6", name: "enable_ipv6", set: boolean(func(c *Config) *bool { return &c.IPv6.Enable })},
	{section: "ipv6", name: "mode", set: mode},
	{section: "ipv6", name: "ra_period", set: seconds(1, func(c *Config) *uint32 { return &c.IPv6.RAPeriod })},
	{section: "ipv6", name: "rs_queue", set: queue(func(c *Config) *uint16 { return &c.IPv6.RSQueue })},
	{section: "ipv6", name: "ns_queue", set: queue(func(c *Config) *uint16 { return &c.IPv6.NSQueue })},
	{section: "ipv6", name: "dhcpv6_queue", set: queue(func(c *Config) *uint16 { return &c.IPv6.DHCPv6Queue })},
	{section: "ipv6", name: "nameservers", list: true, set: addrList(false, func(c *Config) *[]netip.Addr { return &c.IPv6.Nameservers })},
	{section: "ipv6", name: "domains", list: true, set: domainList},
	// Deprecated spellings; their values are applied after the file is read
	// (see resolveIPv6), so that the current keys win.
	{section: "ipv6", name: "dhcp_queue", set: checkOnly(queue), deprecated: "deprecated, use dhcpv6_queue"},
	{section: "ipv6", name: "enable_dhcpv6", set: checkOnly(boolean), deprecated: "deprecated, use mode"},
}

func findKey(section, name string) *key {
	for i := range keys {
		if keys[i].section == section && keys[i].name == name {
			return &keys[i]
		}
	}
	return nil
}

func sectionKnown(s string) bool {
	return slices.ContainsFunc(keys, func(k key) bool { return k.section == s })
}

// Parse reads an nfdhcpd.conf. Errors and warnings name "nfdhcpd.conf";
// Load names the real path.
//
// The dialect is configobj's, as GRNET reads it: "[section]" lines, "key =
// value" (or "key: value"), full-line comments starting with '#' or ';',
// inline comments starting at an unquoted '#', values optionally quoted
// with ' or ", lists separated by commas and/or white space, section and
// key names case-insensitive. An empty value keeps the default. Multi-line
// values (continuation lines, triple quotes) are not supported and fail.
// Unknown sections and keys, keys outside a section and deprecated keys
// give warnings; a duplicate key or section, a bad value or an unparsable
// line is an error.
func Parse(r io.Reader) (*Config, []string, error) { return parse("nfdhcpd.conf", r) }

type seen struct {
	line  int
	items []string
}

func parse(file string, r io.Reader) (*Config, []string, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, nil, &Error{File: file, Err: fmt.Errorf("read: %w", err)}
	}
	if len(data) > MaxFileSize {
		return nil, nil, &Error{File: file, Err: fmt.Errorf("%w (over %d bytes)", ErrTooLarge, MaxFileSize)}
	}
	c := Default()
	var warns []string
	warn := func(line int, section, key, msg string) {
		warns = append(warns, (&Error{File: file, Line: line, Section: section, Key: key, Err: plain(msg)}).Error())
	}
	fail := func(line int, section, key string, err error) (*Config, []string, error) {
		return nil, warns, &Error{File: file, Line: line, Section: section, Key: key, Err: err}
	}
	section := ""
	sections := map[string]bool{}
	got := map[string]seen{} // "section.key" → where and what
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		var raw []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			raw, data = data[:i], data[i+1:]
		} else {
			raw, data = data, nil
		}
		if !utf8.Valid(raw) {
			return fail(lineNo, section, "", fmt.Errorf("%w: not UTF-8", ErrSyntax))
		}
		s := strings.TrimSpace(string(raw))
		if s == "" || s[0] == '#' || s[0] == ';' {
			continue
		}
		if s[0] == '[' {
			name, err := sectionName(s)
			if err != nil {
				return fail(lineNo, "", "", err)
			}
			if sections[name] {
				return fail(lineNo, name, "", fmt.Errorf("%w section", ErrDuplicate))
			}
			sections[name] = true
			section = name
			if !sectionKnown(name) {
				warn(lineNo, name, "", "unknown section, ignored")
			}
			continue
		}
		i := strings.IndexAny(s, "=:")
		if i <= 0 {
			return fail(lineNo, section, "", fmt.Errorf("%w: expected \"key = value\", got %q", ErrSyntax, clip(s)))
		}
		name := strings.ToLower(strings.TrimSpace(s[:i]))
		if strings.ContainsAny(name, " \t\"'#[]") {
			return fail(lineNo, section, "", fmt.Errorf("%w: bad key %q", ErrSyntax, clip(name)))
		}
		items, err := splitValue(s[i+1:])
		if err != nil {
			return fail(lineNo, section, name, err)
		}
		if section == "" {
			warn(lineNo, "", name, "key outside any section, ignored")
			continue
		}
		if !sectionKnown(section) {
			continue
		}
		id := section + "." + name
		if _, dup := got[id]; dup {
			return fail(lineNo, section, name, fmt.Errorf("%w key", ErrDuplicate))
		}
		got[id] = seen{line: lineNo}
		k := findKey(section, name)
		if k == nil {
			warn(lineNo, section, name, "unknown key, ignored")
			continue
		}
		if k.deprecated != "" {
			warn(lineNo, section, name, k.deprecated)
		}
		if !k.list {
			items, err = scalar(items)
			if err != nil {
				return fail(lineNo, section, name, err)
			}
		}
		got[id] = seen{line: lineNo, items: items}
		if len(items) == 0 || len(items) == 1 && items[0] == "" {
			continue // empty: keep the default
		}
		if err := k.set(c, items); err != nil {
			return fail(lineNo, section, name, err)
		}
	}
	resolveIPv6(c, got, warn)
	return c, warns, nil
}

// resolveIPv6 applies the deprecated keys and resolves mode "auto" as
// GRNET does: the DHCPv6 queue is dhcpv6_queue, else [ipv6] dhcp_queue;
// auto means slaac+dhcpv6 if a DHCPv6 queue is available, else slaac. A
// queue is available when set, or when the file sets none of the IPv6
// queues (then the defaults, which include one, apply). Without mode,
// enable_dhcpv6 = yes/no means slaac+dhcpv6/slaac.
func resolveIPv6(c *Config, got map[string]seen, warn func(int, string, string, string)) {
	old, hasOld := got["ipv6.dhcp_queue"]
	_, hasNew := got["ipv6.dhcpv6_queue"]
	if hasOld && len(old.items) == 1 && !hasNew {
		n, _ := strconv.ParseUint(old.items[0], 10, 16) // checked while parsing
		c.IPv6.DHCPv6Queue = uint16(n)
		hasNew = true
	}
	m := ModeAuto
	if v, ok := got["ipv6.mode"]; ok && len(v.items) == 1 {
		m = Mode(strings.ToLower(v.items[0]))
	} else if v, ok := got["ipv6.enable_dhcpv6"]; ok && len(v.items) == 1 {
		on, _ := parseBool(v.items[0]) // checked while parsing
		m = ModeSLAAC
		if on {
			m = ModeSLAACDHCPv6
		}
	}
	if v, ok := got["ipv6.enable_dhcpv6"]; ok {
		if _, hasMode := got["ipv6.mode"]; hasMode {
			warn(v.line, "ipv6", "enable_dhcpv6", "ignored: mode is set")
		}
	}
	if m == ModeAuto {
		_, rs := got["ipv6.rs_queue"]
		_, ns := got["ipv6.ns_queue"]
		m = ModeSLAAC
		if hasNew || (!rs && !ns) {
			m = ModeSLAACDHCPv6
		}
	}
	c.IPv6.Mode = m
}

type plain string

func (p plain) Error() string { return string(p) }

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func sectionName(s string) (string, error) {
	if strings.HasPrefix(s, "[[") {
		return "", fmt.Errorf("%w: nested sections are not supported: %q", ErrSyntax, clip(s))
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return "", fmt.Errorf("%w: unterminated section header %q", ErrSyntax, clip(s))
	}
	if rest := strings.TrimSpace(s[end+1:]); rest != "" && rest[0] != '#' {
		return "", fmt.Errorf("%w: text after section header %q", ErrSyntax, clip(s))
	}
	name := strings.ToLower(strings.TrimSpace(s[1:end]))
	if name == "" || strings.ContainsAny(name, "[\"'#") {
		return "", fmt.Errorf("%w: bad section name %q", ErrSyntax, clip(s))
	}
	return name, nil
}

// splitValue splits a raw value into items, configobj style: items are
// separated by commas, may be quoted, and an unquoted '#' starts a comment.
// Unquoted items are further split on white space (lists may be space
// separated); scalar keys rejoin them (see scalar).
func splitValue(v string) ([]string, error) {
	var items []string
	for {
		v = strings.TrimLeft(v, " \t")
		if v == "" || v[0] == '#' {
			return items, nil
		}
		if v[0] == '"' || v[0] == '\'' {
			if strings.HasPrefix(v, `"""`) || strings.HasPrefix(v, `'''`) {
				return nil, fmt.Errorf("%w: multi-line values are not supported", ErrSyntax)
			}
			end := strings.IndexByte(v[1:], v[0])
			if end < 0 {
				return nil, fmt.Errorf("%w: unterminated quote", ErrSyntax)
			}
			items = append(items, quoted(v[1:1+end]))
			v = strings.TrimLeft(v[end+2:], " \t")
		} else {
			end := strings.IndexAny(v, ",#")
			if end < 0 {
				end = len(v)
			}
			for _, f := range strings.Fields(v[:end]) {
				if strings.ContainsAny(f, `"'`) {
					return nil, fmt.Errorf("%w: stray quote in %q", ErrSyntax, clip(f))
				}
				items = append(items, f)
			}
			v = v[end:]
		}
		switch {
		case v == "" || v[0] == '#':
			return items, nil
		case v[0] == ',':
			v = v[1:]
		default:
			return nil, fmt.Errorf("%w: expected ',' before %q", ErrSyntax, clip(v))
		}
	}
}

// quoted marks a quoted item so that scalar keeps its spaces; the marker
// is a byte that cannot occur in valid UTF-8.
func quoted(s string) string { return "\xff" + s }

func unmark(s string) string { return strings.TrimPrefix(s, "\xff") }

// scalar turns the items of a scalar key into zero or one item: unquoted
// words are rejoined with single spaces; a comma-separated list is refused.
func scalar(items []string) ([]string, error) {
	switch {
	case len(items) == 0:
		return nil, nil
	case len(items) == 1:
		return []string{unmark(items[0])}, nil
	}
	for _, it := range items {
		if strings.HasPrefix(it, "\xff") {
			return nil, fmt.Errorf("%w: a list where one value is expected", ErrInvalid)
		}
	}
	return []string{strings.Join(items, " ")}, nil
}

func str(field func(*Config) *string) func(*Config, []string) error {
	return func(c *Config, items []string) error {
		v := items[0]
		if strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return fmt.Errorf("%w: control character in %q", ErrInvalid, clip(v))
		}
		*field(c) = v
		return nil
	}
}

// parseBool accepts configobj's (and ConfigParser's) spellings.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "yes", "true", "on":
		return true, nil
	case "0", "no", "false", "off":
		return false, nil
	}
	return false, fmt.Errorf("%w: %q is not a boolean (yes/no, true/false, on/off, 1/0)", ErrInvalid, clip(v))
}

func boolean(field func(*Config) *bool) func(*Config, []string) error {
	return func(c *Config, items []string) error {
		b, err := parseBool(items[0])
		if err == nil {
			*field(c) = b
		}
		return err
	}
}

func parseUint(v string, max uint64) (uint64, bool) {
	if v == "" || strings.TrimLeft(v, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 64)
	return n, err == nil && n <= max
}

func queue(field func(*Config) *uint16) func(*Config, []string) error {
	return func(c *Config, items []string) error {
		n, ok := parseUint(items[0], 65535)
		if !ok {
			return fmt.Errorf("%w: invalid queue number %q", ErrInvalid, clip(items[0]))
		}
		*field(c) = uint16(n)
		return nil
	}
}

func seconds(min uint64, field func(*Config) *uint32) func(*Config, []string) error {
	return func(c *Config, items []string) error {
		n, ok := parseUint(items[0], 1<<32-1)
		if !ok || n < min {
			return fmt.Errorf("%w: %q is not a number of seconds in %d..4294967295", ErrInvalid, clip(items[0]), min)
		}
		*field(c) = uint32(n)
		return nil
	}
}

func parseAddr(v string, four bool) (netip.Addr, error) {
	a, err := netip.ParseAddr(v)
	switch {
	case err != nil || a.Zone() != "":
		return a, fmt.Errorf("%w: %q is not an IP address", ErrInvalid, clip(v))
	case four && !a.Is4():
		return a, fmt.Errorf("%w: %q is not an IPv4 address", ErrInvalid, clip(v))
	case !four && (!a.Is6() || a.Is4In6()):
		return a, fmt.Errorf("%w: %q is not an IPv6 address", ErrInvalid, clip(v))
	}
	return a, nil
}

func addr4(field func(*Config) *netip.Addr) func(*Config, []string) error {
	return func(c *Config, items []string) error {
		a, err := parseAddr(items[0], true)
		if err == nil {
			*field(c) = a
		}
		return err
	}
}

func addrList(four bool, field func(*Config) *[]netip.Addr) func(*Config, []string) error {
	return func(c *Config, items []string) error {
		var as []netip.Addr
		for _, it := range items {
			a, err := parseAddr(unmark(it), four)
			if err != nil {
				return err
			}
			as = append(as, a)
		}
		*field(c) = as
		return nil
	}
}

// checkDomain accepts a DNS name: 1..253 bytes of letters, digits, '-',
// '_' and dots, labels of at most 63 bytes.
func checkDomain(v string) error {
	bad := len(v) == 0 || len(v) > 253
	for _, l := range strings.Split(strings.TrimSuffix(v, "."), ".") {
		if l == "" || len(l) > 63 || strings.TrimLeft(strings.ToLower(l), "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("%w: %q is not a domain name", ErrInvalid, clip(v))
	}
	return nil
}

func domain(field func(*Config) *string) func(*Config, []string) error {
	return func(c *Config, items []string) error {
		if err := checkDomain(items[0]); err != nil {
			return err
		}
		*field(c) = items[0]
		return nil
	}
}

func domainList(c *Config, items []string) error {
	var ds []string
	for _, it := range items {
		it = unmark(it)
		if err := checkDomain(it); err != nil {
			return err
		}
		ds = append(ds, it)
	}
	c.IPv6.Domains = ds
	return nil
}

func mode(c *Config, items []string) error {
	switch m := Mode(strings.ToLower(items[0])); m {
	case ModeAuto, ModeSLAAC, ModeSLAACDHCPv6, ModeDHCPv6:
		c.IPv6.Mode = m
		return nil
	}
	return fmt.Errorf("%w: %q is not one of auto, slaac, slaac+dhcpv6, dhcpv6", ErrInvalid, clip(items[0]))
}

func listenAddr(field func(*Config) *string) func(*Config, []string) error {
	return func(c *Config, items []string) error {
		v := items[0]
		host, port, err := net.SplitHostPort(v)
		if err == nil {
			if _, ok := parseUint(port, 65535); !ok {
				err = fmt.Errorf("bad port %q", port)
			} else if host != "" && strings.ContainsAny(host, " \t/%") {
				err = fmt.Errorf("bad host %q", host)
			}
		}
		if err != nil {
			return fmt.Errorf("%w: %q is not host:port: %w", ErrInvalid, clip(v), err)
		}
		*field(c) = v
		return nil
	}
}

// checkOnly validates a value without storing it.
func checkOnly[T any](mk func(func(*Config) *T) func(*Config, []string) error) func(*Config, []string) error {
	return func(c *Config, items []string) error {
		var v T
		return mk(func(*Config) *T { return &v })(c, items)
	}
}
