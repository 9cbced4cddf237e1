// Package ifupconf reads /etc/default/diktyo, the KEY=VALUE configuration
// of diktyo-ifup: gnt-networking's keys and defaults where they apply
// (/etc/default/gnt-networking can be copied over unchanged) plus diktyo's
// own. It is pure apart from Load reading one file; it must never import
// netlink, nftables or the pool.
package ifupconf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/diktyo/diktyo/pkg/ifname"
	"github.com/diktyo/diktyo/pkg/osenv"
)

// DefaultPath is where the configuration lives; env DIKTYO_CONFIG
// overrides it.
const DefaultPath = "/etc/default/diktyo"

// Sentinel errors.
var (
	// ErrSyntax: a line is not KEY=VALUE or a quote is not closed.
	ErrSyntax = errors.New("syntax error")
	// ErrBadValue: a known key has a value that does not parse.
	ErrBadValue = errors.New("bad value")
)

// Config is the parsed configuration. The zero value is not useful: start
// from Default.
type Config struct {
	// StateDir holds diktyo's per-tap records (STATE_DIR, env
	// DIKTYO_STATE_DIR).
	StateDir string
	// NFDHCPDStateDir holds nfdhcpd binding files (NFDHCPD_STATE_DIR, env
	// NFDHCPD_STATE_DIR).
	NFDHCPDStateDir string
	// IfupExtraScript is exec'd after a successful up if it is executable
	// (IFUP_EXTRA_SCRIPT).
	IfupExtraScript string
	// IPAMDB is the pool used when Ganeti passes no NETWORK_* variables
	// (IPAM_DB, env DIKTYO_IPAM_DB): the bbolt file's absolute path, or
	// etcd://HOST:PORT[,HOST:PORT...]/PREFIX (etcds:// for TLS).
	IPAMDB string
	// IPAMEtcdCert, IPAMEtcdKey and IPAMEtcdCA are the client certificate,
	// its key and the CA of an etcds:// pool (IPAM_ETCD_CERT,
	// IPAM_ETCD_KEY, IPAM_ETCD_CA).
	IPAMEtcdCert, IPAMEtcdKey, IPAMEtcdCA string
	// KVMNICDir is where Ganeti's KVM hypervisor writes the tap of each
	// instance NIC, INSTANCE/INDEX (KVM_NIC_DIR): `diktyo-ifup watch`
	// reads it to set up the routed NICs of an incoming live migration.
	KVMNICDir string
	// OVSDB is ovs-vsctl's --db for openvswitch NICs (OVS_DB; "" for
	// ovs-vsctl's default socket).
	OVSDB string

	// MACMask selects the MAC prefix of private-filtered networks.
	MACMask net.HardwareAddr
	// TapConstantMAC is the MAC every routed tap gets.
	TapConstantMAC net.HardwareAddr

	// Network tags (gnt-networking names). IPLessRoutedTag is used only
	// with RoutedRequireTag.
	IPLessRoutedTag string
	MACFilteredTag  string
	NFDHCPDTag      string
	// RoutedRequireTag gives the routed setup only to NICs of networks
	// tagged IPLessRoutedTag, as GRNET's scripts did
	// (ROUTED_REQUIRE_TAG; default no: every routed NIC gets it).
	RoutedRequireTag bool
	// Uplink is the device of the uplink-side steps of routed NICs whose
	// table has no default route (UPLINK); Uplinks the same per table,
	// keyed by the table's number or rt_tables name (UPLINK_<table>).
	Uplink  string
	Uplinks map[string]string

	// AntiSpoof filters what a VM may send (source MAC and addresses).
	AntiSpoof bool
	// nfdhcpd's NFQUEUE numbers and whether packets pass while nothing is
	// bound to a queue.
	DHCPQueue, DHCPv6Queue, RSQueue, NSQueue uint16
	QueueBypass                              bool
	// PerTapRules gives each routed tap its own ip rules (iif TAP), as
	// GRNET did, instead of one mark rule per routing table
	// (PER_TAP_RULES).
	PerTapRules bool

	// HookStoreUnreachable is what diktyo-hook's pre-phase checks do when
	// the pool store cannot be reached: "refuse" the Ganeti operation
	// (the default) or "allow" it with a warning (HOOK_STORE_UNREACHABLE).
	HookStoreUnreachable string

	// Raw holds every KEY=VALUE of the file as written (after unquoting),
	// including keys this package does not interpret, for other readers
	// of the same file.
	Raw map[string]string
}

// Default returns the configuration used when the file sets nothing.
func Default() *Config {
	return &Config{
		StateDir:        "/var/lib/diktyo",
		NFDHCPDStateDir: "/var/lib/nfdhcpd",
		IfupExtraScript: "/etc/ganeti/ifup-extra",
		IPAMDB:          "/var/lib/diktyo/ipam.db",
		KVMNICDir:       "/run/ganeti/kvm-hypervisor/nic",
		MACMask:         net.HardwareAddr{0xff, 0xff, 0xf0, 0, 0, 0},
		TapConstantMAC:  net.HardwareAddr{0xcc, 0x47, 0x52, 0x4e, 0x45, 0x54},
		IPLessRoutedTag: "ip-less-routed",
		MACFilteredTag:  "private-filtered",
		NFDHCPDTag:      "nfdhcpd",
		AntiSpoof:       true,
		DHCPQueue:       42,
		RSQueue:         43,
		NSQueue:         44,
		DHCPv6Queue:     45,
		Uplinks:         map[string]string{},
		Raw:             map[string]string{},

		HookStoreUnreachable: "refuse",
	}
}

// UplinkFor returns the configured uplink of a routing table, given as
// its number and as the NIC's LINK (a number or an rt_tables name):
// UPLINK_<number>, else UPLINK_<LINK>, else UPLINK; "" for none.
func (c *Config) UplinkFor(table int, link string) string {
	if dev := c.Uplinks[strconv.Itoa(table)]; dev != "" {
		return dev
	}
	if dev := c.Uplinks[link]; dev != "" {
		return dev
	}
	return c.Uplink
}

// unusedKeys are gnt-networking keys that diktyo does not use (external
// program paths, logging, its service hooks, DNS updates, Xen): a file
// copied from gnt-networking is accepted, and one warning names the keys
// it sets that have no effect.
var unusedKeys = []string{
	"DNS_TAG", "BRIDGED_TAG", "IPSPOOF", "RUNLOCKED_OPTS", "MAC2EUI64", "SERVICENAME", "LOGFILE", "GANETI_NIC_DIR", "MASQ_TAG", "NFDHCPD_STATE_EXTRA",
	"AUTHENTICATION_METHOD", "SERVER", "FZONE", "TTL", "KEYFILE",
	"KERBEROS_PRINCIPAL", "KERBEROS_KEYTAB", "KERBEROS_KSTART_ARGS", "KERBEROS_TICKET",
	"IPTABLES", "IPTABLES_SAVE", "IP6TABLES", "IP6TABLES_SAVE", "ARPTABLES",
	"ARPTABLES_SAVE", "EBTABLES", "NSUPDATE", "ARPING", "NDSEND", "IP_CMD",
	"BRCTL", "VCONFIG", "MODPROBE",
}

// setter applies one value; it is called only for non-empty values (an
// empty value keeps the default, as bash's ${KEY:=default} does).
type setter func(c *Config, v string) error

var setters = map[string]setter{
	"STATE_DIR":          pathSetter(func(c *Config) *string { return &c.StateDir }),
	"NFDHCPD_STATE_DIR":  pathSetter(func(c *Config) *string { return &c.NFDHCPDStateDir }),
	"IFUP_EXTRA_SCRIPT":  pathSetter(func(c *Config) *string { return &c.IfupExtraScript }),
	"IPAM_DB":            storeSetter,
	"KVM_NIC_DIR":        pathSetter(func(c *Config) *string { return &c.KVMNICDir }),
	"IPAM_ETCD_CERT":     pathSetter(func(c *Config) *string { return &c.IPAMEtcdCert }),
	"IPAM_ETCD_KEY":      pathSetter(func(c *Config) *string { return &c.IPAMEtcdKey }),
	"IPAM_ETCD_CA":       pathSetter(func(c *Config) *string { return &c.IPAMEtcdCA }),
	"OVS_DB":             ovsdbSetter,
	"MAC_MASK":           macSetter(func(c *Config) *net.HardwareAddr { return &c.MACMask }),
	"TAP_CONSTANT_MAC":   macSetter(func(c *Config) *net.HardwareAddr { return &c.TapConstantMAC }),
	"IP_LESS_ROUTED_TAG": tagSetter(func(c *Config) *string { return &c.IPLessRoutedTag }),
	"MAC_FILTERED_TAG":   tagSetter(func(c *Config) *string { return &c.MACFilteredTag }),
	"NFDHCPD_TAG":        tagSetter(func(c *Config) *string { return &c.NFDHCPDTag }),
	"ROUTED_REQUIRE_TAG": boolSetter(func(c *Config) *bool { return &c.RoutedRequireTag }),
	"UPLINK":             devSetter(func(c *Config) *string { return &c.Uplink }),
	"ANTI_SPOOF":         boolSetter(func(c *Config) *bool { return &c.AntiSpoof }),
	"QUEUE_BYPASS":       boolSetter(func(c *Config) *bool { return &c.QueueBypass }),
	"PER_TAP_RULES":      boolSetter(func(c *Config) *bool { return &c.PerTapRules }),
	"DHCP_QUEUE":         queueSetter(func(c *Config) *uint16 { return &c.DHCPQueue }),
	"DHCPV6_QUEUE":       queueSetter(func(c *Config) *uint16 { return &c.DHCPv6Queue }),
	"RS_QUEUE":           queueSetter(func(c *Config) *uint16 { return &c.RSQueue }),
	"NS_QUEUE":           queueSetter(func(c *Config) *uint16 { return &c.NSQueue }),
	"HOOK_STORE_UNREACHABLE": func(c *Config, v string) error {
		if v != "refuse" && v != "allow" {
			return fmt.Errorf("%w %q: want refuse or allow", ErrBadValue, v)
		}
		c.HookStoreUnreachable = v
		return nil
	},
}

func pathSetter(f func(*Config) *string) setter {
	return func(c *Config, v string) error {
		if !strings.HasPrefix(v, "/") {
			return fmt.Errorf("%w %q: want an absolute path", ErrBadValue, v)
		}
		*f(c) = v
		return nil
	}
}

// storeSetter accepts the pool's location: an absolute path or an
// etcd:// or etcds:// URL (pkg/ipam/storeurl checks the rest).
func storeSetter(c *Config, v string) error {
	if !validStore(v) {
		return fmt.Errorf("%w %q: want an absolute path or etcd://HOST:PORT/PREFIX", ErrBadValue, v)
	}
	c.IPAMDB = v
	return nil
}

func validStore(v string) bool {
	return strings.HasPrefix(v, "/") || strings.HasPrefix(v, "etcd://") || strings.HasPrefix(v, "etcds://")
}

// ovsdbSetter accepts ovs-vsctl --db values: unix:PATH, tcp:H:P, ssl:H:P.
func ovsdbSetter(c *Config, v string) error {
	kind, rest, ok := strings.Cut(v, ":")
	if !ok || rest == "" || (kind != "unix" && kind != "tcp" && kind != "ssl") {
		return fmt.Errorf("%w %q: want unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT", ErrBadValue, v)
	}
	c.OVSDB = v
	return nil
}

// devSetter accepts a network device name (pkg/ifname's rule).
func devSetter(f func(*Config) *string) setter {
	return func(c *Config, v string) error {
		if err := ifname.Validate(v); err != nil {
			return fmt.Errorf("%w: %w", ErrBadValue, err)
		}
		*f(c) = v
		return nil
	}
}

// uplinkKeyPrefix starts the per-table uplink keys, UPLINK_<table>.
const uplinkKeyPrefix = "UPLINK_"

func macSetter(f func(*Config) *net.HardwareAddr) setter {
	return func(c *Config, v string) error {
		m, err := net.ParseMAC(v)
		if err != nil || len(m) != 6 {
			return fmt.Errorf("%w %q: want a MAC address like ff:ff:f0:00:00:00", ErrBadValue, v)
		}
		*f(c) = m
		return nil
	}
}

func tagSetter(f func(*Config) *string) setter {
	return func(c *Config, v string) error {
		if strings.ContainsAny(v, " \t\n\r") {
			return fmt.Errorf("%w %q: a tag has no white space", ErrBadValue, v)
		}
		*f(c) = v
		return nil
	}
}

func boolSetter(f func(*Config) *bool) setter {
	return func(c *Config, v string) error {
		switch strings.ToLower(v) {
		case "yes", "true", "1", "on":
			*f(c) = true
		case "no", "false", "0", "off":
			*f(c) = false
		default:
			return fmt.Errorf("%w %q: want yes or no", ErrBadValue, v)
		}
		return nil
	}
}

func queueSetter(f func(*Config) *uint16) setter {
	return func(c *Config, v string) error {
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return fmt.Errorf("%w %q: want a queue number 0-65535", ErrBadValue, v)
		}
		*f(c) = uint16(n)
		return nil
	}
}

// KeyError is a failure tied to one key (and line) of the file.
type KeyError struct {
	Line int
	Key  string
	Err  error
}

func (e *KeyError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("line %d: %s: %v", e.Line, e.Key, e.Err)
}

func (e *KeyError) Unwrap() error { return e.Err }

// Parse reads a configuration from r on top of Default. Unknown keys are
// returned as warnings; a malformed line or a bad value of a known key is
// an error naming the key. The syntax is the subset of shell assignments
// gnt-networking's files use: "KEY=VALUE", optional "export ", VALUE
// unquoted (a " #" starts a comment), "double" or 'single' quoted; blank
// lines and "#" comments.
func Parse(r io.Reader) (*Config, []string, error) {
	c := Default()
	var warnings, unused []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		key, val, ok, err := parseLine(sc.Bytes())
		if err != nil {
			return nil, nil, &KeyError{Line: line, Key: key, Err: err}
		}
		if !ok {
			continue
		}
		c.Raw[key] = val
		set, known := setters[key]
		if table, ok := strings.CutPrefix(key, uplinkKeyPrefix); ok && table != "" {
			known = true
			set = func(c *Config, v string) error {
				var dev string
				if err := devSetter(func(*Config) *string { return &dev })(c, v); err != nil {
					return err
				}
				c.Uplinks[table] = dev
				return nil
			}
		}
		switch {
		case known && val != "":
			if err := set(c, val); err != nil {
				return nil, nil, &KeyError{Line: line, Key: key, Err: err}
			}
		case known:
		case slices.Contains(unusedKeys, key):
			unused = append(unused, fmt.Sprintf("%s (line %d)", key, line))
		default:
			warnings = append(warnings, fmt.Sprintf("line %d: unknown key %s ignored", line, key))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	if len(unused) > 0 {
		warnings = append(warnings, "gnt-networking settings diktyo does not use, ignored: "+strings.Join(unused, ", "))
	}
	if _, set := c.Raw["IP_LESS_ROUTED_TAG"]; set && !c.RoutedRequireTag {
		warnings = append(warnings, "IP_LESS_ROUTED_TAG has no effect unless ROUTED_REQUIRE_TAG=yes (every routed NIC gets the routed setup)")
	}
	return c, warnings, nil
}

// parseLine splits one line; ok is false for blank and comment lines.
func parseLine(b []byte) (key, val string, ok bool, err error) {
	s := strings.TrimSpace(string(b))
	if s == "" || s[0] == '#' {
		return "", "", false, nil
	}
	s = strings.TrimPrefix(s, "export ")
	k, v, found := strings.Cut(s, "=")
	if !found || !validKey(k) {
		return "", "", false, fmt.Errorf("%w: want KEY=VALUE", ErrSyntax)
	}
	val, err = unquote(v)
	if err != nil {
		return k, "", false, err
	}
	return k, val, true, nil
}

func validKey(k string) bool {
	if k == "" || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// unquote interprets a shell value: one quoted string or one unquoted word,
// then optional white space and a comment.
func unquote(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	var val, rest string
	switch q := v[0]; q {
	case '"', '\'':
		end := strings.IndexByte(v[1:], q)
		if end < 0 {
			return "", fmt.Errorf("%w: unterminated %c quote", ErrSyntax, q)
		}
		val, rest = v[1:1+end], v[2+end:]
		if q == '"' && strings.ContainsAny(val, "$`\\") {
			return "", fmt.Errorf("%w: shell expansion is not supported", ErrSyntax)
		}
	default:
		end := strings.IndexAny(v, " \t")
		if end < 0 {
			end = len(v)
		}
		val, rest = v[:end], v[end:]
		if strings.ContainsAny(val, "\"'$`\\;&|<>(){}") {
			return "", fmt.Errorf("%w: quote values with special characters", ErrSyntax)
		}
	}
	rest = strings.TrimLeft(rest, " \t")
	if rest != "" && rest[0] != '#' {
		return "", fmt.Errorf("%w: unexpected %q after the value", ErrSyntax, rest)
	}
	if strings.ContainsAny(val, "\x00\n\r") {
		return "", fmt.Errorf("%w: control character in value", ErrSyntax)
	}
	return val, nil
}

// Load reads the configuration for a process with the given environment
// ("K=V" entries): the file at DIKTYO_CONFIG, or DefaultPath, then the
// environment overrides DIKTYO_STATE_DIR, NFDHCPD_STATE_DIR and
// DIKTYO_IPAM_DB. A missing DefaultPath means defaults; a missing file
// named by DIKTYO_CONFIG is an error.
func Load(environ []string) (*Config, []string, error) {
	env := osenv.Map(environ)
	path, explicit := env["DIKTYO_CONFIG"]
	if path == "" {
		path, explicit = DefaultPath, false
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		data = nil
	default:
		return nil, nil, fmt.Errorf("config %s: %w", path, err)
	}
	c, warnings, err := Parse(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("config %s: %w", path, err)
	}
	for i, w := range warnings {
		warnings[i] = path + ": " + w
	}
	for key, f := range map[string]*string{
		"DIKTYO_STATE_DIR":  &c.StateDir,
		"NFDHCPD_STATE_DIR": &c.NFDHCPDStateDir,
		"DIKTYO_IPAM_DB":    &c.IPAMDB,
	} {
		if v := env[key]; v != "" {
			if !strings.HasPrefix(v, "/") && (key != "DIKTYO_IPAM_DB" || !validStore(v)) {
				return nil, nil, fmt.Errorf("environment %s: %w %q: want an absolute path", key, ErrBadValue, v)
			}
			*f = v
		}
	}
	return c, warnings, nil
}

// Marshal renders c as a configuration file that Parse reads back to the
// same values (Raw aside).
func (c *Config) Marshal() []byte {
	var b bytes.Buffer
	yn := func(v bool) string {
		if v {
			return "yes"
		}
		return "no"
	}
	for _, kv := range [][2]string{
		{"STATE_DIR", c.StateDir},
		{"NFDHCPD_STATE_DIR", c.NFDHCPDStateDir},
		{"IFUP_EXTRA_SCRIPT", c.IfupExtraScript},
		{"IPAM_DB", c.IPAMDB},
		{"KVM_NIC_DIR", c.KVMNICDir},
		{"IPAM_ETCD_CERT", c.IPAMEtcdCert},
		{"IPAM_ETCD_KEY", c.IPAMEtcdKey},
		{"IPAM_ETCD_CA", c.IPAMEtcdCA},
		{"OVS_DB", c.OVSDB},
		{"MAC_MASK", c.MACMask.String()},
		{"TAP_CONSTANT_MAC", c.TapConstantMAC.String()},
		{"MAC_FILTERED_TAG", c.MACFilteredTag},
		{"NFDHCPD_TAG", c.NFDHCPDTag},
		{"ROUTED_REQUIRE_TAG", yn(c.RoutedRequireTag)},
		{"UPLINK", c.Uplink},
		{"ANTI_SPOOF", yn(c.AntiSpoof)},
		{"DHCP_QUEUE", strconv.Itoa(int(c.DHCPQueue))},
		{"RS_QUEUE", strconv.Itoa(int(c.RSQueue))},
		{"NS_QUEUE", strconv.Itoa(int(c.NSQueue))},
		{"DHCPV6_QUEUE", strconv.Itoa(int(c.DHCPv6Queue))},
		{"QUEUE_BYPASS", yn(c.QueueBypass)},
		{"PER_TAP_RULES", yn(c.PerTapRules)},
		{"HOOK_STORE_UNREACHABLE", c.HookStoreUnreachable},
	} {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], shellQuote(kv[1]))
	}
	// IP_LESS_ROUTED_TAG only where it has an effect or was changed: a
	// default left unused would make Parse warn about it.
	if c.RoutedRequireTag || c.IPLessRoutedTag != Default().IPLessRoutedTag {
		fmt.Fprintf(&b, "IP_LESS_ROUTED_TAG=%s\n", shellQuote(c.IPLessRoutedTag))
	}
	tables := make([]string, 0, len(c.Uplinks))
	for t := range c.Uplinks {
		tables = append(tables, t)
	}
	slices.Sort(tables)
	for _, t := range tables {
		fmt.Fprintf(&b, "%s%s=%s\n", uplinkKeyPrefix, t, shellQuote(c.Uplinks[t]))
	}
	return b.Bytes()
}

// shellQuote quotes v as Parse reads it back: single quotes, or double
// quotes around a value holding a single quote.
func shellQuote(v string) string {
	if strings.Contains(v, "'") {
		return `"` + v + `"`
	}
	return "'" + v + "'"
}
