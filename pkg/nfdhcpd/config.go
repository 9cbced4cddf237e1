package nfdhcpd

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/diktyo/diktyo/pkg/dhcp4"
	"github.com/diktyo/diktyo/pkg/dhcp6"
	"github.com/diktyo/diktyo/pkg/ndp"
	"github.com/diktyo/diktyo/pkg/nfdconf"
)

// ErrConfig is wrapped by errors about configuration values the daemon
// cannot use (beyond what nfdconf checks).
var ErrConfig = errors.New("unusable configuration")

// Options are the command line and environment; empty fields leave the
// configuration file's values.
type Options struct {
	// ConfigPath is the nfdhcpd.conf to read (-c); empty means
	// nfdconf.DefaultPath.
	ConfigPath string
	// Foreground (-f) keeps the process attached and logs to stderr.
	Foreground bool
	// Debug (-d) enables debug logging.
	Debug bool
	// BindingDir (--bindings, else $NFDHCPD_STATE_DIR) overrides datapath.
	BindingDir string
	// PIDFile (--pidfile) overrides [general] pidfile; "none" disables it.
	PIDFile string
	// User (--user) overrides [general] user.
	User string
	// MetricsListen (--metrics-listen) overrides [general] metrics_listen;
	// "none" disables the endpoint.
	MetricsListen string
}

// settings is a configuration with the options applied.
type settings struct {
	cfg      *nfdconf.Config
	dir      string
	pidfile  string
	user     string
	metrics  string
	failOpen bool
}

// loadSettings reads the configuration file and applies opts. Warnings
// from the file are returned for logging.
func loadSettings(opts Options) (*settings, []string, error) {
	path := opts.ConfigPath
	if path == "" {
		path = nfdconf.DefaultPath
	}
	cfg, warns, err := nfdconf.Load(path)
	if err != nil {
		return nil, warns, err
	}
	s := &settings{cfg: cfg, dir: cfg.General.DataPath, pidfile: cfg.General.PIDFile,
		user: cfg.General.User, metrics: cfg.General.MetricsListen, failOpen: cfg.General.QueueBypass}
	if opts.BindingDir != "" {
		s.dir = opts.BindingDir
	}
	if opts.PIDFile != "" {
		s.pidfile = opts.PIDFile
	}
	if strings.EqualFold(s.pidfile, "none") {
		s.pidfile = ""
	}
	if opts.User != "" {
		s.user = opts.User
	}
	if opts.MetricsListen != "" {
		s.metrics = opts.MetricsListen
	}
	if strings.EqualFold(s.metrics, "none") {
		s.metrics = ""
	}
	if cfg.IPv6.Enable && cfg.IPv6.Mode == nfdconf.ModeDHCPv6 {
		return nil, warns, fmt.Errorf("%s: [ipv6] mode: %w: stateful dhcpv6 is not implemented (use slaac or slaac+dhcpv6)", path, ErrConfig)
	}
	if s.dir == "" {
		return nil, warns, fmt.Errorf("%s: [general] datapath: %w: empty binding directory", path, ErrConfig)
	}
	return s, warns, nil
}

// queueNum returns the queue of p and whether p is enabled.
func (s *settings) queueNum(p proto) (uint16, bool) {
	c := s.cfg
	switch p {
	case protoDHCP4:
		return c.DHCP.Queue, c.DHCP.Enable
	case protoRS:
		return c.IPv6.RSQueue, c.IPv6.Enable
	case protoNS:
		return c.IPv6.NSQueue, c.IPv6.Enable
	case protoDHCP6:
		return c.IPv6.DHCPv6Queue, c.IPv6.Enable && c.IPv6.Mode == nfdconf.ModeSLAACDHCPv6
	}
	return 0, false
}

// buildResponders makes the responders of s; duid is the DHCPv6 server
// DUID.
func buildResponders(s *settings, duid []byte) (*responders, error) {
	c := s.cfg
	r := &responders{}
	if c.DHCP.Enable {
		dc := dhcp4.Config{
			LeaseTime:   time.Duration(c.DHCP.LeaseLifetime) * time.Second,
			RenewalTime: time.Duration(c.DHCP.LeaseRenewal) * time.Second,
			DNS:         c.DHCP.Nameservers,
			Domain:      c.DHCP.Domain,
		}
		if !c.DHCP.ServerOnLink {
			dc.ServerIP = c.DHCP.ServerIP
		}
		d, err := dhcp4.NewResponder(dc)
		if err != nil {
			return nil, fmt.Errorf("[dhcp]: %w", err)
		}
		r.dhcp4 = d
	}
	if c.IPv6.Enable {
		mode, err := ndp.ParseMode(string(c.IPv6.Mode))
		if err != nil {
			return nil, fmt.Errorf("[ipv6] mode: %w", err)
		}
		period := time.Duration(c.IPv6.RAPeriod) * time.Second
		n, err := ndp.NewResponder(ndp.Config{
			Mode:           mode,
			RouterLifetime: min(max(ndp.DefaultRouterLifetime, 3*period), ndp.MaxRouterLifetime),
			Nameservers:    c.IPv6.Nameservers,
			Domains:        c.IPv6.Domains,
			DNSLifetime:    3 * period,
		})
		if err != nil {
			return nil, fmt.Errorf("[ipv6]: %w", err)
		}
		r.ndp, r.raPeriod = n, period
		if c.IPv6.Mode == nfdconf.ModeSLAACDHCPv6 {
			d6, err := dhcp6.NewResponder(dhcp6.Config{
				ServerDUID:  duid,
				Nameservers: c.IPv6.Nameservers,
				Domains:     c.IPv6.Domains,
			})
			if err != nil {
				return nil, fmt.Errorf("[ipv6] dhcpv6: %w", err)
			}
			r.dhcp6 = d6
		}
	}
	return r, nil
}

// serverDUID returns the DHCPv6 server DUID: DUID-UUID (type 4, RFC 6355)
// of the machine id, else the DUID-LL of a locally administered MAC derived
// from the host name. See the package documentation.
func serverDUID() []byte {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		id, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(id) != 16 {
			continue
		}
		return append([]byte{0, 4}, id...)
	}
	host, _ := os.Hostname()
	sum := sha256.Sum256([]byte("diktyo nfdhcpd " + host))
	mac := sum[:6]
	mac[0] = mac[0]&^0x01 | 0x02 // unicast, locally administered
	return dhcp6.DUIDLL(mac)
}
