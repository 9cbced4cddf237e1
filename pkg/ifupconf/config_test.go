package ifupconf

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDefaults(t *testing.T) {
	c, w, err := Parse(strings.NewReader(""))
	if err != nil || len(w) != 0 {
		t.Fatalf("Parse(empty) = %v, %v", w, err)
	}
	if c.MACMask.String() != "ff:ff:f0:00:00:00" || c.TapConstantMAC.String() != "cc:47:52:4e:45:54" ||
		c.NFDHCPDStateDir != "/var/lib/nfdhcpd" || c.StateDir != "/var/lib/diktyo" ||
		c.IPLessRoutedTag != "ip-less-routed" || c.MACFilteredTag != "private-filtered" ||
		c.NFDHCPDTag != "nfdhcpd" || c.RoutedRequireTag || c.Uplink != "" || len(c.Uplinks) != 0 || !c.AntiSpoof || c.QueueBypass ||
		c.DHCPQueue != 42 || c.RSQueue != 43 || c.NSQueue != 44 || c.DHCPv6Queue != 45 ||
		c.IfupExtraScript != "/etc/ganeti/ifup-extra" {
		t.Fatalf("defaults: %+v", c)
	}
}

// gnt-networking's own defaults file, uncommented, must parse; one
// warning lists the keys diktyo does not use, one says that
// IP_LESS_ROUTED_TAG needs ROUTED_REQUIRE_TAG.
const gntNetworking = `# gnt-networking defaults file
SERVICENAME=
STATE_DIR=/var/lib/gnt-networking
LOGFILE=/var/log/gnt-networking.log
IFUP_EXTRA_SCRIPT=/etc/ganeti/ifup-extra
MAC_MASK=ff:ff:f0:00:00:00
TAP_CONSTANT_MAC=cc:47:52:4e:45:54 # GRNET in hex :-)
NFDHCPD_STATE_DIR=/var/lib/nfdhcpd
GANETI_NIC_DIR=/var/run/ganeti/xen-hypervisor/nic
BRIDGED_TAG=bridged
IP_LESS_ROUTED_TAG=ip-less-routed
MAC_FILTERED_TAG=private-filtered
MASQ_TAG=masq
NFDHCPD_TAG=nfdhcpd
DNS_TAG=dns
SERVER=
FZONE=vm.ganeti.xyz
TTL=300
AUTHENTICATION_METHOD=bind9
KERBEROS_KSTART_ARGS="-H 1 -l 1h"
EBTABLES="/usr/lib/gnt-networking/runlocked /sbin/ebtables"
`

func TestGntNetworkingFile(t *testing.T) {
	c, w, err := Parse(strings.NewReader(gntNetworking))
	if err != nil || len(w) != 2 {
		t.Fatalf("Parse = %q, %v", w, err)
	}
	want := "gnt-networking settings diktyo does not use, ignored: SERVICENAME (line 2), LOGFILE (line 4), " +
		"GANETI_NIC_DIR (line 9), BRIDGED_TAG (line 10), MASQ_TAG (line 13), DNS_TAG (line 15), SERVER (line 16), " +
		"FZONE (line 17), TTL (line 18), AUTHENTICATION_METHOD (line 19), KERBEROS_KSTART_ARGS (line 20), EBTABLES (line 21)"
	if w[0] != want || !strings.HasPrefix(w[1], "IP_LESS_ROUTED_TAG has no effect unless ROUTED_REQUIRE_TAG=yes") {
		t.Fatalf("warnings:\n%s\n%s\nwant\n%s", w[0], w[1], want)
	}
	if c, w, err := Parse(strings.NewReader(gntNetworking + "ROUTED_REQUIRE_TAG=yes\n")); err != nil || len(w) != 1 || !c.RoutedRequireTag {
		t.Fatalf("with ROUTED_REQUIRE_TAG: %q, %v", w, err)
	}
	if c.StateDir != "/var/lib/gnt-networking" || c.Raw["KERBEROS_KSTART_ARGS"] != "-H 1 -l 1h" || c.Raw["TTL"] != "300" {
		t.Fatalf("parsed: %+v", c)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		check    func(*Config) bool
		warn     int
		err      error
		key      string
	}{
		{name: "diktyo keys", in: "ANTI_SPOOF=no\nQUEUE_BYPASS=yes\nDHCP_QUEUE=7\nRS_QUEUE=8\nNS_QUEUE=9\nDHCPV6_QUEUE=10\nPER_TAP_RULES=yes\n",
			check: func(c *Config) bool {
				return !c.AntiSpoof && c.QueueBypass && c.PerTapRules && c.DHCPQueue == 7 && c.RSQueue == 8 && c.NSQueue == 9 && c.DHCPv6Queue == 10
			}},
		{name: "export and quotes", in: "export NFDHCPD_TAG='dhcp'\n  MAC_FILTERED_TAG=\"priv\"  # x\n",
			check: func(c *Config) bool { return c.NFDHCPDTag == "dhcp" && c.MACFilteredTag == "priv" }},
		{name: "empty keeps default", in: "NFDHCPD_TAG=\nSTATE_DIR=''\n",
			check: func(c *Config) bool { return c.NFDHCPDTag == "nfdhcpd" && c.StateDir == "/var/lib/diktyo" }},
		{name: "unknown key warns", in: "FOO=bar\nBAZ=1\n", warn: 2},
		{name: "ovs db", in: "OVS_DB=unix:/run/x/db.sock\n", check: func(c *Config) bool { return c.OVSDB == "unix:/run/x/db.sock" }},
		{name: "bad ovs db", in: "OVS_DB=/run/x\n", err: ErrBadValue, key: "OVS_DB"},
		{name: "bad queue", in: "DHCP_QUEUE=70000\n", err: ErrBadValue, key: "DHCP_QUEUE"},
		{name: "bad bool", in: "ANTI_SPOOF=maybe\n", err: ErrBadValue, key: "ANTI_SPOOF"},
		{name: "bad mac", in: "MAC_MASK=ff:ff\n", err: ErrBadValue, key: "MAC_MASK"},
		{name: "relative path", in: "STATE_DIR=var/lib\n", err: ErrBadValue, key: "STATE_DIR"},
		{name: "tag with space", in: "NFDHCPD_TAG='a b'\n", err: ErrBadValue, key: "NFDHCPD_TAG"},
		{name: "routed require tag", in: "ROUTED_REQUIRE_TAG=yes\nIP_LESS_ROUTED_TAG=routed\n",
			check: func(c *Config) bool { return c.RoutedRequireTag && c.IPLessRoutedTag == "routed" }},
		{name: "unused tag warns", in: "IP_LESS_ROUTED_TAG=routed\n", warn: 1},
		{name: "unused gnt-networking keys warn once", in: "DNS_TAG=dns\nBRIDGED_TAG=b\nLOGFILE=/x\n", warn: 1},
		{name: "uplinks", in: "UPLINK=eth1\nUPLINK_100=eth2\nUPLINK_public=eth3\n",
			check: func(c *Config) bool {
				return c.UplinkFor(100, "100") == "eth2" && c.UplinkFor(7, "public") == "eth3" && c.UplinkFor(8, "8") == "eth1"
			}},
		{name: "hook store policy", in: "HOOK_STORE_UNREACHABLE=allow\n", check: func(c *Config) bool { return c.HookStoreUnreachable == "allow" }},
		{name: "bad hook store policy", in: "HOOK_STORE_UNREACHABLE=maybe\n", err: ErrBadValue, key: "HOOK_STORE_UNREACHABLE"},
		{name: "bad uplink", in: "UPLINK=a/b\n", err: ErrBadValue, key: "UPLINK"},
		{name: "bad table uplink", in: "UPLINK_100=eth0123456789abcdef\n", err: ErrBadValue, key: "UPLINK_100"},
		{name: "no equals", in: "JUNK\n", err: ErrSyntax},
		{name: "bad key", in: "1X=2\n", err: ErrSyntax},
		{name: "unterminated", in: "NFDHCPD_TAG=\"abc\n", err: ErrSyntax, key: "NFDHCPD_TAG"},
		{name: "expansion", in: "STATE_DIR=\"$HOME/x\"\n", err: ErrSyntax, key: "STATE_DIR"},
		{name: "two words", in: "NFDHCPD_TAG=a b\n", err: ErrSyntax, key: "NFDHCPD_TAG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, w, err := Parse(strings.NewReader(tc.in))
			if tc.err != nil {
				var ke *KeyError
				if !errors.Is(err, tc.err) || !errors.As(err, &ke) || ke.Key != tc.key {
					t.Fatalf("err = %v, want %v naming %q", err, tc.err, tc.key)
				}
				if tc.key != "" && !strings.Contains(err.Error(), tc.key) {
					t.Fatalf("error %q does not name %s", err, tc.key)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(w) != tc.warn {
				t.Fatalf("warnings %q, want %d", w, tc.warn)
			}
			if tc.check != nil && !tc.check(c) {
				t.Fatalf("parsed %+v", c)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "diktyo")
	if err := os.WriteFile(path, []byte("STATE_DIR=/srv/a\nNFDHCPD_STATE_DIR=/srv/b\nWHAT=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, w, err := Load([]string{"DIKTYO_CONFIG=" + path, "NFDHCPD_STATE_DIR=/srv/c"})
	if err != nil || len(w) != 1 || !strings.HasPrefix(w[0], path) {
		t.Fatalf("Load = %v, %v", w, err)
	}
	if c.StateDir != "/srv/a" || c.NFDHCPDStateDir != "/srv/c" {
		t.Fatalf("loaded %+v", c)
	}
	c, _, err = Load([]string{"DIKTYO_CONFIG=" + path, "DIKTYO_STATE_DIR=/srv/d", "DIKTYO_IPAM_DB=/srv/e.db"})
	if err != nil || c.StateDir != "/srv/d" || c.IPAMDB != "/srv/e.db" {
		t.Fatalf("env override: %+v %v", c, err)
	}
	if _, _, err := Load([]string{"DIKTYO_CONFIG=" + filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("explicit missing config accepted")
	}
	if _, _, err := Load([]string{"DIKTYO_CONFIG=" + path, "DIKTYO_STATE_DIR=rel"}); !errors.Is(err, ErrBadValue) {
		t.Fatalf("relative env path: %v", err)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	c, _, err := Parse(strings.NewReader("ANTI_SPOOF=no\nNFDHCPD_TAG=\"it's\"\nSTATE_DIR='/a \"b\"'\n" +
		"ROUTED_REQUIRE_TAG=yes\nIP_LESS_ROUTED_TAG=r\nUPLINK=eth0\nUPLINK_100=eth1\nUPLINK_x=eth2\n"))
	if err != nil {
		t.Fatal(err)
	}
	back, w, err := Parse(bytes.NewReader(c.Marshal()))
	if err != nil || len(w) != 0 {
		t.Fatalf("reparse: %v %v\n%s", w, err, c.Marshal())
	}
	c.Raw, back.Raw = nil, nil
	if !reflect.DeepEqual(c, back) {
		t.Fatalf("round trip:\n%+v\n%+v", c, back)
	}
}

// FuzzParseConfig: /etc/default/diktyo is written by operators and config
// management; the parser must never panic, and what it accepts must come
// back unchanged through Marshal.
func FuzzParseConfig(f *testing.F) {
	f.Add(gntNetworking)
	f.Add("ANTI_SPOOF=no\nDHCP_QUEUE=1\n")
	f.Add("export X='a b' # c\n")
	f.Add("NFDHCPD_TAG=\"a'b\"\n")
	f.Add("UPLINK_100=eth1\nIP_LESS_ROUTED_TAG=x\n")
	f.Fuzz(func(t *testing.T, in string) {
		c, _, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		back, w, err := Parse(bytes.NewReader(c.Marshal()))
		if err != nil || !onlyTagNote(w) {
			t.Fatalf("reparse of %q: %v %v\n%s", in, w, err, c.Marshal())
		}
		c.Raw, back.Raw = nil, nil
		if !reflect.DeepEqual(c, back) {
			t.Fatalf("round trip of %q:\n%+v\n%+v", in, c, back)
		}
	})
}

// onlyTagNote reports whether the warnings of a reparsed Marshal are at
// most the note about a changed IP_LESS_ROUTED_TAG without
// ROUTED_REQUIRE_TAG (Marshal keeps the value, so the note stays).
func onlyTagNote(w []string) bool {
	for _, s := range w {
		if !strings.HasPrefix(s, "IP_LESS_ROUTED_TAG has no effect") {
			return false
		}
	}
	return true
}
