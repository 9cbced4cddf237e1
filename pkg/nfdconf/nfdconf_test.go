package nfdconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/diktyo/diktyo/pkg/golden"
)

// TestSamples parses the GRNET-format samples (copied from shared/formats)
// and compares config and warnings, as JSON, with golden files.
func TestSamples(t *testing.T) {
	for _, name := range []string{"nfdhcpd.conf", "nfdhcpd-old.conf"} {
		t.Run(name, func(t *testing.T) {
			c, warns, err := Load(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(struct {
				Config   *Config  `json:"config"`
				Warnings []string `json:"warnings"`
			}{c, warns}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", "golden", strings.TrimSuffix(name, ".conf")+".json"), append(got, '\n'))
			roundTrip(t, c)
		})
	}
}

func roundTrip(t *testing.T, c *Config) {
	t.Helper()
	out := c.Marshal()
	c2, warns, err := Parse(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("reparse: %v\n%s", err, out)
	}
	if len(warns) > 0 {
		t.Errorf("reparse warnings: %q", warns)
	}
	if !reflect.DeepEqual(c, c2) {
		t.Fatalf("round trip differs:\n%+v\n%+v\n%s", c, c2, out)
	}
}

func TestDefault(t *testing.T) {
	c, warns, err := Parse(strings.NewReader(""))
	if err != nil || len(warns) > 0 {
		t.Fatalf("empty file: %v %q", err, warns)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("empty file != Default():\n%+v", c)
	}
	d := Default()
	if d.DHCP.Queue != 42 || d.IPv6.RSQueue != 43 || d.IPv6.NSQueue != 44 || d.IPv6.DHCPv6Queue != 45 ||
		d.DHCP.LeaseLifetime != 604800 || d.DHCP.LeaseRenewal != 600 || d.IPv6.RAPeriod != 300 ||
		d.General.User != "nobody" || d.General.DataPath != "/var/lib/nfdhcpd" || d.IPv6.Mode != ModeSLAACDHCPv6 {
		t.Errorf("Default() = %+v", d)
	}
	roundTrip(t, d)
}

func mkAddrs(s ...string) []netip.Addr {
	var as []netip.Addr
	for _, a := range s {
		as = append(as, netip.MustParseAddr(a))
	}
	return as
}

func TestKeys(t *testing.T) {
	tests := []struct {
		name, in string
		mutate   func(c *Config) // applied to Default() to get the expected config
	}{
		{"pidfile", "[general]\npidfile = /run/x.pid", func(c *Config) { c.General.PIDFile = "/run/x.pid" }},
		{"datapath colon", "[general]\ndatapath: /srv/b # comment", func(c *Config) { c.General.DataPath = "/srv/b" }},
		{"logdir quoted", "[general]\nlogdir = \"/var/log/a #b\"", func(c *Config) { c.General.LogDir = "/var/log/a #b" }},
		{"user", "[General]\nUSER = nfd", func(c *Config) { c.General.User = "nfd" }},
		{"user uid", "[general]\nuser = 65534", func(c *Config) { c.General.User = "65534" }},
		{"metrics_listen", "[general]\nmetrics_listen = [::1]:9100", func(c *Config) { c.General.MetricsListen = "[::1]:9100" }},
		{"metrics_listen colon sep", "[general]\nmetrics_listen: 127.0.0.1:9100", func(c *Config) { c.General.MetricsListen = "127.0.0.1:9100" }},
		{"metrics_listen port only", "[general]\nmetrics_listen = :9100", func(c *Config) { c.General.MetricsListen = ":9100" }},
		{"metrics_listen empty", "[general]\nmetrics_listen =", func(c *Config) {}},
		{"queue_bypass", "[general]\nqueue_bypass = on", func(c *Config) { c.General.QueueBypass = true }},
		{"enable_dhcp", "[dhcp]\nenable_dhcp = False", func(c *Config) { c.DHCP.Enable = false }},
		{"enable_dhcp 0", "[dhcp]\nenable_dhcp = 0", func(c *Config) { c.DHCP.Enable = false }},
		{"lease_lifetime", "[dhcp]\nlease_lifetime = 4294967295", func(c *Config) { c.DHCP.LeaseLifetime = 4294967295 }},
		{"lease_renewal", "[dhcp]\nlease_renewal = 0", func(c *Config) { c.DHCP.LeaseRenewal = 0 }},
		{"server_ip", "[dhcp]\nserver_ip = 198.51.100.1", func(c *Config) { c.DHCP.ServerIP = netip.MustParseAddr("198.51.100.1") }},
		{"server_on_link", "[dhcp]\nserver_on_link = yes", func(c *Config) { c.DHCP.ServerOnLink = true }},
		{"dhcp_queue", "[dhcp]\ndhcp_queue = 0", func(c *Config) { c.DHCP.Queue = 0 }},
		{"dhcp nameservers comma", "[dhcp]\nnameservers = 198.51.100.53,198.51.100.54", func(c *Config) { c.DHCP.Nameservers = mkAddrs("198.51.100.53", "198.51.100.54") }},
		{"dhcp nameservers space", "[dhcp]\nnameservers = 198.51.100.53  198.51.100.54", func(c *Config) { c.DHCP.Nameservers = mkAddrs("198.51.100.53", "198.51.100.54") }},
		{"dhcp nameservers quoted", "[dhcp]\nnameservers = \"198.51.100.53\", '198.51.100.54',", func(c *Config) { c.DHCP.Nameservers = mkAddrs("198.51.100.53", "198.51.100.54") }},
		{"dhcp nameserver one", "[dhcp]\nnameservers = 198.51.100.53", func(c *Config) { c.DHCP.Nameservers = mkAddrs("198.51.100.53") }},
		{"domain", "[dhcp]\ndomain = example.org", func(c *Config) { c.DHCP.Domain = "example.org" }},
		{"enable_ipv6", "[ipv6]\nenable_ipv6 = off", func(c *Config) { c.IPv6.Enable = false }},
		{"mode slaac", "[ipv6]\nmode = slaac", func(c *Config) { c.IPv6.Mode = ModeSLAAC }},
		{"mode dhcpv6", "[ipv6]\nmode = dhcpv6", func(c *Config) { c.IPv6.Mode = ModeDHCPv6 }},
		{"mode quoted", "[ipv6]\nmode = 'slaac+dhcpv6'", func(c *Config) {}},
		{"auto, no queues", "[ipv6]\nmode = auto", func(c *Config) { c.IPv6.Mode = ModeSLAACDHCPv6 }},
		{"auto, rs+ns only", "[ipv6]\nmode = auto\nrs_queue = 43\nns_queue = 44", func(c *Config) { c.IPv6.Mode = ModeSLAAC }},
		{"auto, all queues", "[ipv6]\nrs_queue = 53\nns_queue = 54\ndhcpv6_queue = 55", func(c *Config) {
			c.IPv6.RSQueue, c.IPv6.NSQueue, c.IPv6.DHCPv6Queue = 53, 54, 55
		}},
		{"ra_period", "[ipv6]\nra_period = 1", func(c *Config) { c.IPv6.RAPeriod = 1 }},
		{"ipv6 nameservers", "[ipv6]\nnameservers = 2001:db8::1 2001:db8::2", func(c *Config) { c.IPv6.Nameservers = mkAddrs("2001:db8::1", "2001:db8::2") }},
		{"domains", "[ipv6]\ndomains = example.org, example.net", func(c *Config) { c.IPv6.Domains = []string{"example.org", "example.net"} }},
		{"domains single", "[ipv6]\ndomains = example.org", func(c *Config) { c.IPv6.Domains = []string{"example.org"} }},
		{"empty keeps default", "[general]\nuser =\n[dhcp]\ndhcp_queue =\nnameservers =", func(c *Config) {}},
		{"empty quoted keeps default", "[general]\nuser = \"\"", func(c *Config) {}},
		{"comments", "; semicolon\n# hash\n   # indented\n[dhcp] # trailing\ndhcp_queue = 7 # inline\n", func(c *Config) { c.DHCP.Queue = 7 }},
		{"indented keys", "[dhcp]\n   dhcp_queue = 7\t# tab comment", func(c *Config) { c.DHCP.Queue = 7 }},
		{"CRLF", "[dhcp]\r\ndhcp_queue = 7\r\n", func(c *Config) { c.DHCP.Queue = 7 }},
		{"comment glued", "[dhcp]\ndomain = example.org#c", func(c *Config) { c.DHCP.Domain = "example.org" }},
		{"user words", "[general]\nuser = a  b", func(c *Config) { c.General.User = "a b" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, warns, err := Parse(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(warns) > 0 {
				t.Errorf("warnings: %q", warns)
			}
			want := Default()
			tt.mutate(want)
			if !reflect.DeepEqual(c, want) {
				t.Errorf("got  %+v\nwant %+v", c, want)
			}
			roundTrip(t, c)
		})
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		check    func(*Config) bool
	}{
		{"unknown key", "[dhcp]\nfoo = 1", []string{"nfdhcpd.conf: [dhcp] foo: unknown key, ignored (line 2)"}, nil},
		{"unknown section", "[x]\nfoo = bar", []string{"nfdhcpd.conf: [x] unknown section, ignored (line 1)"}, nil},
		{"outside section", "foo = 1", []string{"nfdhcpd.conf: foo: key outside any section, ignored (line 1)"}, nil},
		{"old dhcp_queue", "[ipv6]\nrs_queue = 43\nns_queue = 44\ndhcp_queue = 46",
			[]string{"nfdhcpd.conf: [ipv6] dhcp_queue: deprecated, use dhcpv6_queue (line 4)"},
			func(c *Config) bool { return c.IPv6.DHCPv6Queue == 46 && c.IPv6.Mode == ModeSLAACDHCPv6 }},
		{"old dhcp_queue loses to new", "[ipv6]\ndhcpv6_queue = 47\ndhcp_queue = 46",
			[]string{"nfdhcpd.conf: [ipv6] dhcp_queue: deprecated, use dhcpv6_queue (line 3)"},
			func(c *Config) bool { return c.IPv6.DHCPv6Queue == 47 }},
		{"enable_dhcpv6 no", "[ipv6]\nenable_dhcpv6 = no",
			[]string{"nfdhcpd.conf: [ipv6] enable_dhcpv6: deprecated, use mode (line 2)"},
			func(c *Config) bool { return c.IPv6.Mode == ModeSLAAC }},
		{"enable_dhcpv6 yes", "[ipv6]\nenable_dhcpv6 = yes\nrs_queue = 43\nns_queue = 44",
			[]string{"nfdhcpd.conf: [ipv6] enable_dhcpv6: deprecated, use mode (line 2)"},
			func(c *Config) bool { return c.IPv6.Mode == ModeSLAACDHCPv6 }},
		{"enable_dhcpv6 with mode", "[ipv6]\nmode = slaac\nenable_dhcpv6 = yes",
			[]string{"nfdhcpd.conf: [ipv6] enable_dhcpv6: deprecated, use mode (line 3)",
				"nfdhcpd.conf: [ipv6] enable_dhcpv6: ignored: mode is set (line 3)"},
			func(c *Config) bool { return c.IPv6.Mode == ModeSLAAC }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, warns, err := Parse(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(warns, tt.want) {
				t.Errorf("warnings %q, want %q", warns, tt.want)
			}
			if tt.check != nil && !tt.check(c) {
				t.Errorf("unexpected config %+v", c.IPv6)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     error
		msg      string
	}{
		{"queue text", "[dhcp]\ndhcp_queue = x", ErrInvalid, `nfdhcpd.conf: [dhcp] dhcp_queue: invalid value: invalid queue number "x" (line 2)`},
		{"queue big", "[dhcp]\ndhcp_queue = 65536", ErrInvalid, "[dhcp] dhcp_queue"},
		{"queue negative", "[ipv6]\nrs_queue = -1", ErrInvalid, "[ipv6] rs_queue"},
		{"ns_queue", "[ipv6]\nns_queue = 1.5", ErrInvalid, "[ipv6] ns_queue"},
		{"dhcpv6_queue", "[ipv6]\ndhcpv6_queue = 4x", ErrInvalid, "[ipv6] dhcpv6_queue"},
		{"old dhcp_queue bad", "[ipv6]\ndhcp_queue = x", ErrInvalid, "[ipv6] dhcp_queue"},
		{"bool", "[dhcp]\nenable_dhcp = maybe", ErrInvalid, "[dhcp] enable_dhcp"},
		{"enable_ipv6", "[ipv6]\nenable_ipv6 = 2", ErrInvalid, "[ipv6] enable_ipv6"},
		{"server_on_link", "[dhcp]\nserver_on_link = y", ErrInvalid, "[dhcp] server_on_link"},
		{"queue_bypass", "[general]\nqueue_bypass = nope", ErrInvalid, "[general] queue_bypass"},
		{"enable_dhcpv6 bad", "[ipv6]\nenable_dhcpv6 = x", ErrInvalid, "[ipv6] enable_dhcpv6"},
		{"lease big", "[dhcp]\nlease_lifetime = 4294967296", ErrInvalid, "[dhcp] lease_lifetime"},
		{"lease_renewal", "[dhcp]\nlease_renewal = 1h", ErrInvalid, "[dhcp] lease_renewal"},
		{"ra_period 0", "[ipv6]\nra_period = 0", ErrInvalid, "[ipv6] ra_period"},
		{"server_ip v6", "[dhcp]\nserver_ip = 2001:db8::1", ErrInvalid, "[dhcp] server_ip"},
		{"server_ip bad", "[dhcp]\nserver_ip = host", ErrInvalid, "[dhcp] server_ip"},
		{"dhcp ns v6", "[dhcp]\nnameservers = 198.51.100.53, 2001:db8::1", ErrInvalid, "[dhcp] nameservers"},
		{"ipv6 ns v4", "[ipv6]\nnameservers = 198.51.100.53", ErrInvalid, "[ipv6] nameservers"},
		{"ipv6 ns mapped", "[ipv6]\nnameservers = ::ffff:198.51.100.53", ErrInvalid, "[ipv6] nameservers"},
		{"domain bad", "[dhcp]\ndomain = a..b", ErrInvalid, "[dhcp] domain"},
		{"domain list", "[dhcp]\ndomain = a.org, b.org", ErrInvalid, "[dhcp] domain"},
		{"domains bad", "[ipv6]\ndomains = ok.org, bad!", ErrInvalid, "[ipv6] domains"},
		{"mode", "[ipv6]\nmode = stateful", ErrInvalid, "[ipv6] mode"},
		{"metrics_listen", "[general]\nmetrics_listen = 9100", ErrInvalid, "[general] metrics_listen"},
		{"metrics_listen port", "[general]\nmetrics_listen = :http", ErrInvalid, "[general] metrics_listen"},
		{"control char", "[general]\nuser = \"a\tb\"", ErrInvalid, "[general] user"},
		{"pidfile list", "[general]\npidfile = \"a\", \"b\"", ErrInvalid, "[general] pidfile"},
		{"no separator", "[dhcp]\ndhcp_queue 42", ErrSyntax, "(line 2)"},
		{"continuation", "[dhcp]\nnameservers = 198.51.100.1,\n  198.51.100.2", ErrSyntax, "(line 3)"},
		{"triple quote", "[dhcp]\ndomain = \"\"\"x\"\"\"", ErrSyntax, "multi-line"},
		{"open quote", "[dhcp]\ndomain = \"x", ErrSyntax, "unterminated"},
		{"stray quote", "[dhcp]\ndomain = x\"y", ErrSyntax, "stray"},
		{"after quote", "[dhcp]\ndomain = \"x\" y", ErrSyntax, "expected ','"},
		{"nested section", "[[x]]", ErrSyntax, "nested"},
		{"open section", "[dhcp", ErrSyntax, "unterminated"},
		{"empty section", "[ ]", ErrSyntax, "bad section"},
		{"text after section", "[dhcp] x", ErrSyntax, "after section"},
		{"dup key", "[dhcp]\ndhcp_queue = 1\ndhcp_queue = 2", ErrDuplicate, "[dhcp] dhcp_queue: duplicate key (line 3)"},
		{"dup section", "[dhcp]\n[ipv6]\n[dhcp]", ErrDuplicate, "[dhcp] duplicate section (line 3)"},
		{"empty key", "[dhcp]\n= 1", ErrSyntax, "line 2"},
		{"bad key", "[dhcp]\nmy key = 1", ErrSyntax, "bad key"},
		{"not utf8", "[dhcp]\ndomain = \xff", ErrSyntax, "UTF-8"},
		{"too large", strings.Repeat("#\n", MaxFileSize), ErrTooLarge, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Parse(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("no error: %+v", c)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("%q is not %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("%q does not contain %q", err, tt.msg)
			}
		})
	}
}

func TestLoadMissing(t *testing.T) {
	if _, _, err := Load(filepath.Join(t.TempDir(), "nope.conf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"nfdhcpd.conf", "nfdhcpd-old.conf"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("[general]\nmetrics_listen = [::1]:9100\nqueue_bypass = on\nuser = 'a \"b'\n"))
	f.Add([]byte("[ipv6]\nmode: auto\nrs_queue = 1\nns_queue = 2\ndomains = \"a.b\" c.d, e"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := Parse(bytes.NewReader(data))
		if err != nil {
			return
		}
		if c.IPv6.Mode == ModeAuto {
			t.Fatal("mode auto not resolved")
		}
		out := c.Marshal()
		c2, warns, err := Parse(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("reparse: %v\n%s", err, out)
		}
		if len(warns) > 0 {
			t.Fatalf("reparse warnings %q\n%s", warns, out)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip differs:\n%+v\n%+v\n%s", c, c2, out)
		}
	})
}
