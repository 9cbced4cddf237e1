package ovsflow

import (
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diktyo/diktyo/pkg/golden"
	"github.com/diktyo/diktyo/pkg/netplan"
)

// mac parses s; a []byte is assignable to net.HardwareAddr and mac.Addr.
func mac(s string) []byte {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// guarded is the reference port: anti-spoofing, one IPv4 and one EUI-64
// IPv6 address, any link-local source, nfdhcpd steering.
func guarded() netplan.OVSPort {
	return netplan.OVSPort{Bridge: "br-ovs", Tag: 10, Guard: &netplan.Filter{
		Tap: "tap0", Mode: netplan.ModeOpenvSwitch, MAC: mac("aa:00:00:12:34:56"), AntiSpoof: true,
		IPv4:       []netip.Addr{netip.MustParseAddr("198.51.100.10")},
		IPv6:       []netip.Addr{netip.MustParseAddr("2001:db8:1::a800:ff:fe12:3456")},
		LinkLocal6: true,
		Queues:     &netplan.Queues{DHCP: 42, RS: 43, NS: 44, DHCPv6: 45},
		RouterLL6:  netip.MustParseAddr("fe80::ff:fe00:e01"),
	}}
}

func TestBuildGolden(t *testing.T) {
	for name, edit := range map[string]func(g *netplan.Filter){
		"antispoof-steer": func(*netplan.Filter) {},
		"antispoof-eui64-only": func(g *netplan.Filter) {
			g.LinkLocal6, g.Queues = false, nil
			g.IPv6 = append(g.IPv6, netip.MustParseAddr("fe80::1"), netip.MustParseAddr("2001:db8:1::a800:ff:fe12:3456"))
		},
		"ipv6-only": func(g *netplan.Filter) { g.IPv4 = nil; g.Queues.Bypass = true },
		"macfilter-steer": func(g *netplan.Filter) {
			g.AntiSpoof = false
			g.MACFilter = &netplan.MACFilter{Prefix: mac("aa:00:00:00:00:00")}
		},
		"steer-only": func(g *netplan.Filter) { g.AntiSpoof = false },
	} {
		t.Run(name, func(t *testing.T) {
			p := guarded()
			edit(p.Guard)
			f, err := Build("tap0", p)
			if err != nil {
				t.Fatal(err)
			}
			if f.Bridge != "br-ovs" || f.Cookie != Cookie("tap0") {
				t.Errorf("Flows = %s %#x", f.Bridge, f.Cookie)
			}
			goldenFile(t, name+".flows", f.String())
			again, _ := Build("tap0", p)
			if again.String() != f.String() {
				t.Error("Build is not deterministic")
			}
		})
	}
}

// goldenFile checks got against testdata (pkg/golden).
func goldenFile(t *testing.T, name, got string) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", name), []byte(got))
}

func TestBuildInvalid(t *testing.T) {
	for name, edit := range map[string]func(p *netplan.OVSPort){
		"no guard":   func(p *netplan.OVSPort) { p.Guard = nil },
		"no bridge":  func(p *netplan.OVSPort) { p.Bridge = "" },
		"other tap":  func(p *netplan.OVSPort) { p.Guard.Tap = "tap1" },
		"quote":      func(p *netplan.OVSPort) { p.Guard.Tap = `ta"p` },
		"mac":        func(p *netplan.OVSPort) { p.Guard.MAC = nil },
		"ipv4 is v6": func(p *netplan.OVSPort) { p.Guard.IPv4 = []netip.Addr{netip.MustParseAddr("2001:db8::1")} },
		"ipv6 is v4": func(p *netplan.OVSPort) { p.Guard.IPv6 = []netip.Addr{netip.MustParseAddr("198.51.100.1")} },
	} {
		t.Run(name, func(t *testing.T) {
			p := guarded()
			edit(&p)
			tap := "tap0"
			if p.Guard != nil && strings.Contains(p.Guard.Tap, `"`) {
				tap = p.Guard.Tap
			}
			if _, err := Build(tap, p); !errors.Is(err, ErrInvalid) {
				t.Errorf("Build = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestCookie(t *testing.T) {
	a, b := Cookie("tap0"), Cookie("tap1")
	if a == b || a>>48 != 0xd1d1 || b>>48 != 0xd1d1 || Cookie("tap0") != a {
		t.Errorf("Cookie(tap0) = %#x, Cookie(tap1) = %#x", a, b)
	}
	if got := DeleteMatch(a); !strings.HasPrefix(got, "cookie=0xd1d1") || !strings.HasSuffix(got, "/-1") {
		t.Errorf("DeleteMatch = %q", got)
	}
	f, _ := Build("tap0", guarded())
	if first, _, _ := strings.Cut(f.String(), "\n"); first != "delete "+DeleteMatch(a) {
		t.Errorf("Input starts with %q, want the delete of the cookie", first)
	}
}

// Every steering MAC is a locally administered group address that the
// prefix and mask select, and carries the queue mark.
func TestSteerMAC(t *testing.T) {
	for _, q := range []uint16{0, 42, 45, 0xffff} {
		for _, bypass := range []bool{false, true} {
			m := SteerMAC(QueueMark(q, bypass))
			if m[0]&0x03 != 0x03 {
				t.Errorf("%s: not a locally administered group address", m)
			}
			for i := range m {
				if m[i]&SteerMask[i] != SteerPrefix[i] {
					t.Errorf("%s & %s != %s", m, SteerMask, SteerPrefix)
				}
			}
			mark := uint32(m[2])<<24 | uint32(m[3])<<16 | uint32(m[4])<<8 | uint32(m[5])
			if mark != QueueMark(q, bypass) {
				t.Errorf("%s carries %#x, want %#x", m, mark, QueueMark(q, bypass))
			}
		}
	}
}
