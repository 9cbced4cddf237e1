// Package nfdconf owns the nfdhcpd configuration file: GRNET's
// /etc/nfdhcpd/nfdhcpd.conf (configobj-style INI), read unchanged, plus
// diktyo's additions. It turns the file into a typed Config with GRNET's
// defaults and names the section and key of every bad value. It is pure: it
// must never import netlink, nftables, sockets or the daemon's packages.
package nfdconf

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// DefaultPath is where GRNET's nfdhcpd reads its configuration.
const DefaultPath = "/etc/nfdhcpd/nfdhcpd.conf"

// MaxFileSize bounds what Parse reads.
const MaxFileSize = 1 << 20

// Sentinel errors, tested with errors.Is.
var (
	// ErrSyntax: a line that is neither a section, a comment nor key = value.
	ErrSyntax = errors.New("syntax error")
	// ErrInvalid: a value that does not parse or is out of range.
	ErrInvalid = errors.New("invalid value")
	// ErrDuplicate: a key or section given twice (configobj refuses it too).
	ErrDuplicate = errors.New("duplicate")
	// ErrTooLarge: the file is larger than MaxFileSize.
	ErrTooLarge = errors.New("file too large")
)

// Mode is the IPv6 service mode, GRNET's [ipv6] mode.
type Mode string

// IPv6 modes. ModeAuto only appears in files: Parse resolves it.
const (
	ModeAuto        Mode = "auto"
	ModeSLAAC       Mode = "slaac"        // RAs (O flag clear), NS answers
	ModeSLAACDHCPv6 Mode = "slaac+dhcpv6" // as slaac, O flag set, stateless DHCPv6 Information-Request answered
	ModeDHCPv6      Mode = "dhcpv6"       // stateful DHCPv6: GRNET refuses it as unimplemented
)

// Config is a parsed nfdhcpd.conf.
type Config struct {
	General General `json:"general"`
	DHCP    DHCP    `json:"dhcp"`
	IPv6    IPv6    `json:"ipv6"`
}

// General is the [general] section.
type General struct {
	PIDFile  string `json:"pidfile"`
	DataPath string `json:"datapath"` // binding file directory
	LogDir   string `json:"logdir"`
	User     string `json:"user"` // name or numeric uid
	// MetricsListen is diktyo's: host:port for Prometheus metrics; empty = off.
	MetricsListen string `json:"metrics_listen"`
	// QueueBypass is diktyo's: open the queues fail-open, so that a full
	// queue accepts packets instead of dropping them. The queue rules'
	// bypass flag, which decides what happens while nfdhcpd is down, is
	// diktyo-ifup's QUEUE_BYPASS in /etc/default/diktyo.
	QueueBypass bool `json:"queue_bypass"`
}

// DHCP is the [dhcp] section.
type DHCP struct {
	Enable        bool   `json:"enable_dhcp"`
	LeaseLifetime uint32 `json:"lease_lifetime"` // seconds
	LeaseRenewal  uint32 `json:"lease_renewal"`  // seconds (T1)
	// ServerIP is the server identifier; unset = none configured (GRNET
	// then used a dummy address).
	ServerIP netip.Addr `json:"server_ip"`
	// ServerOnLink: use the binding's gateway (or the subnet's first
	// address) as server identifier instead of ServerIP.
	ServerOnLink bool         `json:"server_on_link"`
	Queue        uint16       `json:"dhcp_queue"`
	Nameservers  []netip.Addr `json:"nameservers"`
	// Domain overrides the domain taken from the binding's HOSTNAME.
	Domain string `json:"domain"`
}

// IPv6 is the [ipv6] section.
type IPv6 struct {
	Enable bool `json:"enable_ipv6"`
	// Mode is never ModeAuto after Parse: auto is resolved as GRNET does
	// (slaac+dhcpv6 when a DHCPv6 queue is available, else slaac).
	Mode        Mode         `json:"mode"`
	RAPeriod    uint32       `json:"ra_period"` // seconds, ≥ 1
	RSQueue     uint16       `json:"rs_queue"`
	NSQueue     uint16       `json:"ns_queue"`
	DHCPv6Queue uint16       `json:"dhcpv6_queue"`
	Nameservers []netip.Addr `json:"nameservers"`
	// Domains is the DHCPv6 domain search list.
	Domains []string `json:"domains"`
}

// Default returns GRNET's defaults (from its code and shipped config).
func Default() *Config {
	return &Config{
		General: General{
			PIDFile:  "/var/run/nfdhcpd/nfdhcpd.pid",
			DataPath: "/var/lib/nfdhcpd",
			LogDir:   "/var/log/nfdhcpd",
			User:     "nobody",
		},
		DHCP: DHCP{
			Enable:        true,
			LeaseLifetime: 604800, // 1 week
			LeaseRenewal:  600,    // 10 min
			Queue:         42,
		},
		IPv6: IPv6{
			Enable:      true,
			Mode:        ModeSLAACDHCPv6,
			RAPeriod:    300,
			RSQueue:     43,
			NSQueue:     44,
			DHCPv6Queue: 45,
		},
	}
}

// Error is a configuration error naming the file, section, key and line.
type Error struct {
	File    string
	Line    int // 0 when not tied to a line
	Section string
	Key     string
	Err     error
}

// Error renders the error on one line, naming what failed.
func (e *Error) Error() string {
	var sb strings.Builder
	sb.WriteString(e.File)
	sb.WriteString(": ")
	if e.Section != "" {
		sb.WriteString("[" + e.Section + "] ")
	}
	if e.Key != "" {
		sb.WriteString(e.Key + ": ")
	}
	sb.WriteString(e.Err.Error())
	if e.Line > 0 {
		fmt.Fprintf(&sb, " (line %d)", e.Line)
	}
	return sb.String()
}

// Unwrap returns the cause, one of the sentinel errors where it applies.
func (e *Error) Unwrap() error { return e.Err }

// Load reads and parses the file at path; errors and warnings name path.
func Load(path string) (*Config, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("nfdhcpd config: %w", err)
	}
	defer f.Close()
	return parse(path, f)
}
