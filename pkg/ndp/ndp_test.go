package ndp

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	mdndp "github.com/mdlayher/ndp"

	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/eui64"
	"github.com/diktyo/diktyo/pkg/golden"
	"github.com/diktyo/diktyo/pkg/ip6frame"
	"github.com/diktyo/diktyo/pkg/nettest"
)

var (
	vmMAC    = net.HardwareAddr{0xaa, 0x00, 0x01, 0x12, 0x34, 0x56}
	otherMAC = net.HardwareAddr{0xaa, 0x00, 0x01, 0x00, 0x00, 0x99}
	devMAC   = net.HardwareAddr{0xfe, 0x54, 0x00, 0x00, 0x00, 0x05}
	vmLL     = netip.MustParseAddr("fe80::a800:1ff:fe12:3456")
	vmEUI64  = netip.MustParseAddr("2001:db8:100:0:a800:1ff:fe12:3456")
	routerLL = netip.MustParseAddr("fe80::fc54:ff:fe00:5")
	gw6      = netip.MustParseAddr("2001:db8:100::1")
	privLL   = netip.MustParseAddr("fe80::1234:5678:9abc:def0")
	neighbor = netip.MustParseAddr("2001:db8:100::77")
	outside  = netip.MustParseAddr("2001:db8:999::1")
	ns1      = netip.MustParseAddr("2001:db8:53::1")
	ns2      = netip.MustParseAddr("2001:db8:53::2")
)

// routedBinding is binding-routed.tap5 from shared/formats.
func routedBinding() *binding.Binding {
	return &binding.Binding{
		Tap: "tap5", InDev: "tap5",
		IP:       netip.MustParseAddr("198.18.100.77"),
		MAC:      vmMAC,
		Hostname: "vm77.example.org",
		Gateway:  netip.MustParseAddr("198.18.100.1"),
		Subnet:   netip.MustParsePrefix("198.18.100.0/24"),
		Gateway6: gw6,
		Subnet6:  netip.MustParsePrefix("2001:db8:100::/64"),
		EUI64:    vmEUI64,
	}
}

func testConfig() Config {
	return Config{
		Mode:        ModeAuto,
		Nameservers: []netip.Addr{ns1, ns2},
		Domains:     []string{"example.org", "example.net."},
		DNSLifetime: 900 * time.Second,
	}
}

func newTestResponder(t testing.TB, c Config) *Responder {
	t.Helper()
	r, err := NewResponder(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fix recomputes the ICMPv6 checksum of an IPv6 packet after a mutation.
func fix(pkt []byte) []byte {
	pkt[42], pkt[43] = 0, 0
	c := nettest.RefChecksum6(pkt)
	pkt[42], pkt[43] = byte(c>>8), byte(c)
	return pkt
}

func ipOf(frame []byte) []byte { return slices.Clone(frame[ip6frame.EthernetHeaderLen:]) }

func rs(src netip.Addr, mac net.HardwareAddr) []byte { return ipOf(BuildRS(nil, mac, src)) }

func ns(src, target netip.Addr, mac net.HardwareAddr) []byte {
	return ipOf(BuildNS(nil, mac, src, target))
}

// mut applies f to pkt and fixes the checksum.
func mut(pkt []byte, f func(p []byte)) []byte {
	f(pkt)
	return fix(pkt)
}

func setSrc(a netip.Addr) func([]byte) {
	return func(p []byte) { b := a.As16(); copy(p[8:24], b[:]) }
}

func setDst(a netip.Addr) func([]byte) {
	return func(p []byte) { b := a.As16(); copy(p[24:40], b[:]) }
}

// checkFrame verifies the Ethernet and IPv6 headers and the checksum of a
// reply and returns the decoded NDP message.
func checkFrame(t testing.TB, frame []byte, dstMAC, srcMAC net.HardwareAddr, src, dst netip.Addr) mdndp.Message {
	t.Helper()
	if len(frame) < ip6frame.HeaderLen+4 {
		t.Fatalf("frame too short: %d", len(frame))
	}
	if !bytes.Equal(frame[0:6], dstMAC) || !bytes.Equal(frame[6:12], srcMAC) || binary.BigEndian.Uint16(frame[12:14]) != 0x86dd {
		t.Fatalf("ethernet header % x, want dst %v src %v", frame[:14], dstMAC, srcMAC)
	}
	pkt := frame[14:]
	h, err := ip6frame.Parse(pkt)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Payload) != len(pkt)-40 {
		t.Errorf("payload length %d, frame carries %d", len(h.Payload), len(pkt)-40)
	}
	if h.NextHeader != 58 || h.HopLimit != 255 || h.Src != src || h.Dst != dst {
		t.Errorf("ipv6 header: nh %d hop %d %v → %v, want 58 255 %v → %v", h.NextHeader, h.HopLimit, h.Src, h.Dst, src, dst)
	}
	if c := nettest.RefChecksum6(pkt); c != 0 {
		t.Errorf("ICMPv6 checksum does not verify (residue %#04x)", c)
	}
	m, err := mdndp.ParseMessage(h.Payload)
	if err != nil {
		t.Fatalf("mdlayher/ndp cannot parse reply: %v", err)
	}
	return m
}

// checkRA checks an RA for routedBinding under testConfig.
func checkRA(t testing.TB, m mdndp.Message, mtu uint32) {
	t.Helper()
	ra, ok := m.(*mdndp.RouterAdvertisement)
	if !ok {
		t.Fatalf("reply is %T, want RA", m)
	}
	if ra.CurrentHopLimit != 64 || ra.ManagedConfiguration || !ra.OtherConfiguration || ra.RouterLifetime != DefaultRouterLifetime || ra.ReachableTime != 0 || ra.RetransmitTimer != 0 {
		t.Errorf("RA header %+v", ra)
	}
	var seen []string
	for _, o := range ra.Options {
		switch o := o.(type) {
		case *mdndp.LinkLayerAddress:
			seen = append(seen, "sllao")
			if o.Direction != mdndp.Source || !bytes.Equal(o.Addr, devMAC) {
				t.Errorf("SLLAO %+v", o)
			}
		case *mdndp.MTU:
			seen = append(seen, "mtu")
			if o.MTU != mtu {
				t.Errorf("MTU %d, want %d", o.MTU, mtu)
			}
		case *mdndp.PrefixInformation:
			seen = append(seen, "prefix")
			want := mdndp.PrefixInformation{PrefixLength: 64, OnLink: true, AutonomousAddressConfiguration: true,
				ValidLifetime: DefaultValidLifetime, PreferredLifetime: DefaultPreferredLifetime, Prefix: netip.MustParseAddr("2001:db8:100::")}
			if *o != want {
				t.Errorf("prefix %+v, want %+v", *o, want)
			}
		case *mdndp.RecursiveDNSServer:
			seen = append(seen, "rdnss")
			if o.Lifetime != 900*time.Second || !slices.Equal(o.Servers, []netip.Addr{ns1, ns2}) {
				t.Errorf("RDNSS %+v", o)
			}
		case *mdndp.DNSSearchList:
			seen = append(seen, "dnssl")
			if o.Lifetime != 900*time.Second || !slices.Equal(o.DomainNames, []string{"example.org", "example.net"}) {
				t.Errorf("DNSSL %+v", o)
			}
		default:
			t.Errorf("unexpected option %T", o)
		}
	}
	want := []string{"sllao", "prefix", "rdnss", "dnssl"}
	if mtu != 0 {
		want = []string{"sllao", "mtu", "prefix", "rdnss", "dnssl"}
	}
	if !slices.Equal(seen, want) {
		t.Errorf("options %v, want %v", seen, want)
	}
}

func TestHandleRS(t *testing.T) {
	r := newTestResponder(t, testConfig())
	allNodesMAC := net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
	noV6 := routedBinding()
	noV6.Subnet6, noV6.Gateway6, noV6.EUI64 = netip.Prefix{}, netip.Addr{}, netip.Addr{}
	spoof := routedBinding()
	spoof.MACSpoof = true
	withMTU := routedBinding()
	withMTU.MTU = 1450
	tinyMTU := routedBinding()
	tinyMTU.MTU = 576

	type tc struct {
		name    string
		pkt     []byte
		srcMAC  net.HardwareAddr
		devMAC  net.HardwareAddr
		b       *binding.Binding
		want    Result
		dstMAC  net.HardwareAddr // reply checks when want == Reply
		dst     netip.Addr
		wantMTU uint32
	}
	cases := []tc{
		{name: "eui64 link-local", pkt: rs(vmLL, vmMAC), want: Reply, dstMAC: vmMAC, dst: vmLL},
		{name: "unspecified source multicasts", pkt: rs(netip.IPv6Unspecified(), vmMAC), want: Reply, dstMAC: allNodesMAC, dst: allNodes},
		{name: "stable-privacy link-local", pkt: rs(privLL, vmMAC), want: Reply, dstMAC: vmMAC, dst: privLL},
		{name: "global source in subnet6", pkt: rs(vmEUI64, vmMAC), want: Reply, dstMAC: vmMAC, dst: vmEUI64},
		{name: "unicast to router link-local", pkt: mut(rs(vmLL, vmMAC), setDst(routerLL)), want: Reply, dstMAC: vmMAC, dst: vmLL},
		{name: "binding MTU advertised", pkt: rs(vmLL, vmMAC), b: withMTU, want: Reply, dstMAC: vmMAC, dst: vmLL, wantMTU: 1450},
		{name: "MTU below 1280 not advertised", pkt: rs(vmLL, vmMAC), b: tinyMTU, want: Reply, dstMAC: vmMAC, dst: vmLL},
		{name: "ethernet padding ignored", pkt: append(rs(vmLL, vmMAC), 0, 0, 0, 0), want: Reply, dstMAC: vmMAC, dst: vmLL},
		{name: "macspoof accepts other MAC", pkt: rs(vmLL, otherMAC), srcMAC: otherMAC, b: spoof, want: Reply, dstMAC: otherMAC, dst: vmLL},
		{name: "unknown option skipped", pkt: fix(append(rs(vmLL, vmMAC), 200, 1, 0, 0, 0, 0, 0, 0)), want: Reply, dstMAC: vmMAC, dst: vmLL},

		{name: "no binding", pkt: rs(vmLL, vmMAC), b: (*binding.Binding)(nil), want: DropNoBinding},
		{name: "no router MAC", pkt: rs(vmLL, vmMAC), devMAC: net.HardwareAddr{1, 2, 3}, want: DropRouterMAC},
		{name: "no subnet6", pkt: rs(vmLL, vmMAC), b: noV6, want: IgnoredNoIPv6},
		{name: "global source outside subnet6", pkt: rs(outside, vmMAC), want: DropSource},
		{name: "multicast source", pkt: mut(rs(vmLL, vmMAC), setSrc(allNodes)), want: DropSource},
		{name: "fe80 outside /64", pkt: rs(netip.MustParseAddr("fe80:1::1"), vmMAC), want: DropSource},
		{name: "unspecified with SLLAO", pkt: mut(rs(vmLL, vmMAC), setSrc(netip.IPv6Unspecified())), want: DropUnspecifiedSLLAO},
		{name: "SLLAO not frame MAC", pkt: rs(vmLL, otherMAC), want: DropSLLAOMismatch},
		{name: "SLLAO not binding MAC", pkt: rs(vmLL, otherMAC), srcMAC: otherMAC, want: DropSLLAOMismatch},
		{name: "frame MAC not binding MAC", pkt: rs(netip.IPv6Unspecified(), vmMAC), srcMAC: otherMAC, want: DropMACMismatch},
		{name: "macspoof still needs SLLAO == frame MAC", pkt: rs(vmLL, otherMAC), b: spoof, want: DropSLLAOMismatch},
		{name: "hop limit 64", pkt: mut(rs(vmLL, vmMAC), func(p []byte) { p[7] = 64 }), want: DropHopLimit},
		{name: "code 1", pkt: mut(rs(vmLL, vmMAC), func(p []byte) { p[41] = 1 }), want: DropCode},
		{name: "bad checksum", pkt: func() []byte { p := rs(vmLL, vmMAC); p[42] ^= 0xff; return p }(), want: DropChecksum},
		{name: "zero checksum", pkt: func() []byte { p := rs(vmLL, vmMAC); p[42], p[43] = 0, 0; return p }(), want: DropChecksum},
		{name: "zero-length option", pkt: mut(rs(vmLL, vmMAC), func(p []byte) { p[49] = 0 }), want: DropOption},
		{name: "option past end", pkt: mut(rs(vmLL, vmMAC), func(p []byte) { p[49] = 2 }), want: DropOption},
		{name: "option shorter than 8", pkt: fix(func() []byte {
			p := append(rs(vmLL, vmMAC), 1, 1)
			binary.BigEndian.PutUint16(p[4:], uint16(len(p)-40))
			return p
		}()), want: DropOption},
		{name: "two SLLAOs", pkt: fix(func() []byte {
			p := append(rs(vmLL, vmMAC), 1, 1, 0xaa, 0, 1, 0x12, 0x34, 0x56)
			binary.BigEndian.PutUint16(p[4:], uint16(len(p)-40))
			return p
		}()), want: DropOption},
		{name: "16-byte SLLAO", pkt: fix(func() []byte {
			p := append(rs(vmLL, vmMAC), 0, 0, 0, 0, 0, 0, 0, 0)
			p[49] = 2
			binary.BigEndian.PutUint16(p[4:], uint16(len(p)-40))
			return p
		}()), want: DropOption},
		{name: "payload length past end", pkt: func() []byte { p := rs(vmLL, vmMAC); p[5] += 8; return p }(), want: DropTruncated},
		{name: "shorter than IPv6 header", pkt: rs(vmLL, vmMAC)[:39], want: DropTruncated},
		{name: "IPv4", pkt: func() []byte { p := rs(vmLL, vmMAC); p[0] = 0x45; return p }(), want: DropNotIPv6},
		{name: "next header UDP", pkt: mut(rs(vmLL, vmMAC), func(p []byte) { p[6] = 17 }), want: DropNotICMPv6},
		{name: "hop-by-hop header", pkt: mut(rs(vmLL, vmMAC), func(p []byte) { p[6] = 0 }), want: DropNotICMPv6},
		{name: "neighbour solicitation", pkt: ns(vmLL, routerLL, vmMAC), want: DropType},
		{name: "echo request", pkt: mut(rs(vmLL, vmMAC), func(p []byte) { p[40] = 128 }), want: DropType},
		{name: "4-byte RS", pkt: fix(func() []byte { p := rs(vmLL, vmMAC)[:44]; p[4], p[5] = 0, 4; return p }()), want: DropShort},
		{name: "to all nodes", pkt: mut(rs(vmLL, vmMAC), setDst(allNodes)), want: DropDestination},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Packet{IPv6: c.pkt, SrcMAC: vmMAC, DevMAC: devMAC, Binding: routedBinding()}
			if c.srcMAC != nil {
				p.SrcMAC = c.srcMAC
			}
			if c.devMAC != nil {
				p.DevMAC = c.devMAC
			}
			if c.b != nil || c.name == "no binding" {
				p.Binding = c.b
			}
			prefix := []byte("prefix")
			out, res := r.HandleRS(slices.Clone(prefix), p)
			if res != c.want {
				t.Fatalf("result %q, want %q", res, c.want)
			}
			if !bytes.HasPrefix(out, prefix) {
				t.Fatalf("dst prefix clobbered")
			}
			if res != Reply {
				if len(out) != len(prefix) {
					t.Errorf("drop appended %d bytes", len(out)-len(prefix))
				}
				return
			}
			m := checkFrame(t, out[len(prefix):], c.dstMAC, devMAC, routerLL, c.dst)
			checkRA(t, m, c.wantMTU)
			// Handle dispatches to the same answer.
			out2, res2 := r.Handle(nil, p)
			if res2 != Reply || !bytes.Equal(out2, out[len(prefix):]) {
				t.Errorf("Handle: %v, different reply", res2)
			}
		})
	}
}

func TestHandleNS(t *testing.T) {
	r := newTestResponder(t, testConfig())
	bridged := routedBinding()
	bridged.InDev = "gntbr0"
	noV6 := routedBinding()
	noV6.Subnet6, noV6.Gateway6, noV6.EUI64 = netip.Prefix{}, netip.Addr{}, netip.Addr{}
	unspec := netip.IPv6Unspecified()

	type tc struct {
		name     string
		pkt      []byte
		srcMAC   net.HardwareAddr
		b        *binding.Binding
		want     Result
		dst      netip.Addr
		target   netip.Addr
		override bool
	}
	cases := []tc{
		{name: "router link-local", pkt: ns(vmLL, routerLL, vmMAC), want: Reply, dst: vmLL, target: routerLL, override: true},
		{name: "router link-local from privacy LL", pkt: ns(privLL, routerLL, vmMAC), want: Reply, dst: privLL, target: routerLL, override: true},
		{name: "gateway6 from global", pkt: ns(vmEUI64, gw6, vmMAC), want: Reply, dst: vmEUI64, target: gw6, override: true},
		{name: "other VM in subnet6 (proxy)", pkt: ns(vmEUI64, neighbor, vmMAC), want: Reply, dst: vmEUI64, target: neighbor},
		{name: "unicast NUD to target", pkt: mut(ns(vmLL, routerLL, vmMAC), setDst(routerLL)), want: Reply, dst: vmLL, target: routerLL, override: true},
		{name: "bridged: router link-local", pkt: ns(vmLL, routerLL, vmMAC), b: bridged, want: Reply, dst: vmLL, target: routerLL, override: true},
		{name: "no subnet6: router link-local", pkt: ns(vmLL, routerLL, vmMAC), b: noV6, want: Reply, dst: vmLL, target: routerLL, override: true},

		{name: "bridged: gateway6 not answered", pkt: ns(vmLL, gw6, vmMAC), b: bridged, want: IgnoredTarget},
		{name: "bridged: other VM not answered", pkt: ns(vmLL, neighbor, vmMAC), b: bridged, want: IgnoredTarget},
		{name: "no subnet6: gateway", pkt: ns(vmLL, gw6, vmMAC), b: noV6, want: IgnoredNoIPv6},
		{name: "own EUI64", pkt: ns(vmLL, vmEUI64, vmMAC), want: IgnoredTarget},
		{name: "own link-local", pkt: ns(privLL, vmLL, vmMAC), want: IgnoredTarget},
		{name: "other link-local", pkt: ns(vmLL, privLL, vmMAC), want: IgnoredTarget},
		{name: "outside subnet6", pkt: ns(vmLL, outside, vmMAC), want: IgnoredTarget},
		{name: "DAD of own address", pkt: ns(unspec, vmEUI64, vmMAC), want: IgnoredDAD},
		{name: "DAD of gateway6", pkt: ns(unspec, gw6, vmMAC), want: IgnoredDAD},
		{name: "DAD of router link-local", pkt: ns(unspec, routerLL, vmMAC), want: IgnoredDAD},
		{name: "DAD with SLLAO", pkt: mut(ns(vmLL, gw6, vmMAC), setSrc(unspec)), want: DropUnspecifiedSLLAO},
		{name: "multicast target", pkt: ns(vmLL, allNodes, vmMAC), want: DropTarget},
		{name: "unspecified target", pkt: mut(ns(vmLL, gw6, vmMAC), func(p []byte) { clear(p[48:64]) }), want: DropTarget},
		{name: "wrong destination", pkt: mut(ns(vmLL, gw6, vmMAC), setDst(allNodes)), want: DropDestination},
		{name: "solicited-node of another target", pkt: mut(ns(vmLL, gw6, vmMAC), setDst(ip6frame.SolicitedNode(neighbor))), want: DropDestination},
		{name: "source outside", pkt: ns(outside, gw6, vmMAC), want: DropSource},
		{name: "SLLAO mismatch", pkt: ns(vmLL, gw6, otherMAC), want: DropSLLAOMismatch},
		{name: "frame MAC mismatch", pkt: ns(vmLL, gw6, vmMAC), srcMAC: otherMAC, want: DropSLLAOMismatch},
		{name: "frame MAC mismatch without SLLAO", pkt: fix(func() []byte {
			p := ns(vmLL, gw6, vmMAC)[:64]
			p[4], p[5] = 0, 24
			return p
		}()), srcMAC: otherMAC, want: DropMACMismatch},
		{name: "hop limit 254", pkt: mut(ns(vmLL, gw6, vmMAC), func(p []byte) { p[7] = 254 }), want: DropHopLimit},
		{name: "code 3", pkt: mut(ns(vmLL, gw6, vmMAC), func(p []byte) { p[41] = 3 }), want: DropCode},
		{name: "bad checksum", pkt: func() []byte { p := ns(vmLL, gw6, vmMAC); p[43] ^= 1; return p }(), want: DropChecksum},
		{name: "20-byte NS", pkt: fix(func() []byte { p := ns(vmLL, gw6, vmMAC)[:60]; p[4], p[5] = 0, 20; return p }()), want: DropShort},
		{name: "zero-length option", pkt: mut(ns(vmLL, gw6, vmMAC), func(p []byte) { p[65] = 0 }), want: DropOption},
		{name: "router solicitation", pkt: rs(vmLL, vmMAC), want: DropType},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Packet{IPv6: c.pkt, SrcMAC: vmMAC, DevMAC: devMAC, Binding: routedBinding()}
			if c.srcMAC != nil {
				p.SrcMAC = c.srcMAC
			}
			if c.b != nil {
				p.Binding = c.b
			}
			out, res := r.HandleNS(nil, p)
			if res != c.want {
				t.Fatalf("result %q, want %q", res, c.want)
			}
			if res != Reply {
				if len(out) != 0 {
					t.Errorf("drop appended %d bytes", len(out))
				}
				return
			}
			m := checkFrame(t, out, vmMAC, devMAC, routerLL, c.dst)
			na, ok := m.(*mdndp.NeighborAdvertisement)
			if !ok {
				t.Fatalf("reply is %T", m)
			}
			if !na.Router || !na.Solicited || na.Override != c.override || na.TargetAddress != c.target {
				t.Errorf("NA %+v, want target %v override %v", na, c.target, c.override)
			}
			if len(na.Options) != 1 {
				t.Fatalf("options %v", na.Options)
			}
			if o, ok := na.Options[0].(*mdndp.LinkLayerAddress); !ok || o.Direction != mdndp.Target || !bytes.Equal(o.Addr, devMAC) {
				t.Errorf("TLLAO %+v", na.Options[0])
			}
			out2, res2 := r.Handle(nil, p)
			if res2 != Reply || !bytes.Equal(out2, out) {
				t.Errorf("Handle: %v, different reply", res2)
			}
		})
	}
}

func TestRouterMACOverride(t *testing.T) {
	c := testConfig()
	c.RouterMAC = net.HardwareAddr{0x02, 0, 0x5e, 0, 0, 1}
	r := newTestResponder(t, c)
	ll := netip.MustParseAddr("fe80::0:5eff:fe00:1")
	out, res := r.HandleNS(nil, Packet{IPv6: ns(vmLL, ll, vmMAC), SrcMAC: vmMAC, DevMAC: devMAC, Binding: routedBinding()})
	if res != Reply {
		t.Fatal(res)
	}
	checkFrame(t, out, vmMAC, c.RouterMAC, ll, vmLL)
	// The tap's own link-local is no longer the router's.
	if _, res := r.HandleNS(nil, Packet{IPv6: ns(vmLL, routerLL, vmMAC), SrcMAC: vmMAC, DevMAC: devMAC, Binding: routedBinding()}); res != IgnoredTarget {
		t.Errorf("tap link-local: %v", res)
	}
	// No device MAC is needed when RouterMAC is configured.
	if _, res := r.HandleRS(nil, Packet{IPv6: rs(vmLL, vmMAC), SrcMAC: vmMAC, Binding: routedBinding()}); res != Reply {
		t.Errorf("RS: %v", res)
	}
}

func TestModes(t *testing.T) {
	for _, c := range []struct {
		s    string
		m    Mode
		M, O bool
	}{
		{"auto", ModeAuto, false, true},
		{"slaac", ModeSLAAC, false, false},
		{"slaac+dhcpv6", ModeSLAACDHCPv6, false, true},
		{"dhcpv6", ModeDHCPv6, true, true},
	} {
		m, err := ParseMode(c.s)
		if err != nil || m != c.m || m.String() != c.s {
			t.Errorf("ParseMode(%q) = %v, %v", c.s, m, err)
		}
		cfg := testConfig()
		cfg.Mode = m
		r := newTestResponder(t, cfg)
		out, res := r.PeriodicRA(nil, devMAC, routedBinding())
		if res != Reply {
			t.Fatal(res)
		}
		ra := checkFrame(t, out, net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, devMAC, routerLL, allNodes).(*mdndp.RouterAdvertisement)
		if ra.ManagedConfiguration != c.M || ra.OtherConfiguration != c.O {
			t.Errorf("%s: M=%v O=%v", c.s, ra.ManagedConfiguration, ra.OtherConfiguration)
		}
	}
	if _, err := ParseMode("stateful"); err == nil {
		t.Error("ParseMode accepted an unknown mode")
	}
}

func TestLifetimes(t *testing.T) {
	c := testConfig()
	c.RouterLifetime = 14400 * time.Second // GRNET's value: clamped
	c.ValidLifetime = time.Hour
	c.PreferredLifetime = 2 * time.Hour // clamped to valid
	r := newTestResponder(t, c)
	out, _ := r.PeriodicRA(nil, devMAC, routedBinding())
	ra := checkFrame(t, out, net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, devMAC, routerLL, allNodes).(*mdndp.RouterAdvertisement)
	if ra.RouterLifetime != MaxRouterLifetime {
		t.Errorf("router lifetime %v", ra.RouterLifetime)
	}
	for _, o := range ra.Options {
		if pi, ok := o.(*mdndp.PrefixInformation); ok && (pi.ValidLifetime != time.Hour || pi.PreferredLifetime != time.Hour) {
			t.Errorf("prefix lifetimes %v/%v", pi.ValidLifetime, pi.PreferredLifetime)
		}
	}
	// A non-/64 subnet is on-link but not autonomous.
	b := routedBinding()
	b.Subnet6 = netip.MustParsePrefix("2001:db8:100::/56")
	p, res := r.RAParams(devMAC, b)
	if res != Reply || p.Autonomous || p.Prefix.Bits() != 56 {
		t.Errorf("RAParams /56: %v %+v", res, p)
	}
}

func TestNewResponderErrors(t *testing.T) {
	many := make([]netip.Addr, 80)
	for i := range many {
		many[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)})
	}
	for name, c := range map[string]Config{
		"mode":               {Mode: 9},
		"router MAC":         {RouterMAC: net.HardwareAddr{1, 2}},
		"IPv4 nameserver":    {Nameservers: []netip.Addr{netip.MustParseAddr("198.51.100.53")}},
		"multicast ns":       {Nameservers: []netip.Addr{allNodes}},
		"empty label":        {Domains: []string{"example..org"}},
		"long label":         {Domains: []string{string(bytes.Repeat([]byte{'a'}, 64)) + ".org"}},
		"too many servers":   {Nameservers: many},
		"empty domain":       {Domains: []string{""}},
		"long domain in sum": {Domains: slices.Repeat([]string{string(bytes.Repeat([]byte{'a'}, 60)) + ".example.org"}, 20)},
	} {
		if _, err := NewResponder(c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestPeriodicRANoIPv6(t *testing.T) {
	r := newTestResponder(t, testConfig())
	b := routedBinding()
	b.Subnet6 = netip.Prefix{}
	if out, res := r.PeriodicRA(nil, devMAC, b); res != IgnoredNoIPv6 || len(out) != 0 {
		t.Errorf("%v %d", res, len(out))
	}
	if _, res := r.PeriodicRA(nil, nil, routedBinding()); res != DropRouterMAC {
		t.Errorf("%v", res)
	}
	if _, res := r.PeriodicRA(nil, devMAC, nil); res != DropNoBinding {
		t.Errorf("%v", res)
	}
}

func TestAppendUnsolicitedNA(t *testing.T) {
	uplink := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	out := ip6frame.AppendUnsolicitedNA(nil, uplink, vmEUI64)
	m := checkFrame(t, out, net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, uplink, eui64.LinkLocal(uplink), allNodes)
	na := m.(*mdndp.NeighborAdvertisement)
	if na.Router || na.Solicited || !na.Override || na.TargetAddress != vmEUI64 {
		t.Errorf("NA %+v", na)
	}
}

func TestResultString(t *testing.T) {
	seen := map[string]bool{}
	for r := range NumResults {
		s := r.String()
		if s == "" || seen[s] {
			t.Errorf("Result %d: %q empty or duplicate", r, s)
		}
		seen[s] = true
	}
	if NumResults.String() != "Result(21)" {
		t.Errorf("%q", NumResults.String())
	}
}

func TestRAInterval(t *testing.T) {
	p := 300 * time.Second
	if g := RAInterval(p, 0); g != 225*time.Second {
		t.Errorf("min %v", g)
	}
	if g := RAInterval(p, ^uint32(0)); g > p || g < 299*time.Second {
		t.Errorf("max %v", g)
	}
}

// TestGolden compares frames with annotated hex in testdata/ (-update
// rewrites them).
func TestGolden(t *testing.T) {
	r := newTestResponder(t, testConfig())
	pkt := func(b *binding.Binding, ipv6 []byte) Packet {
		return Packet{IPv6: ipv6, SrcMAC: vmMAC, DevMAC: devMAC, Binding: b}
	}
	mtu := routedBinding()
	mtu.MTU = 1450
	frames := map[string]func() []byte{
		"rs.hex": func() []byte { return BuildRS(nil, vmMAC, vmLL) },
		"ns.hex": func() []byte { return BuildNS(nil, vmMAC, vmEUI64, gw6) },
		"ra-solicited.hex": func() []byte {
			out, _ := r.HandleRS(nil, pkt(routedBinding(), rs(vmLL, vmMAC)))
			return out
		},
		"ra-unspecified.hex": func() []byte {
			out, _ := r.HandleRS(nil, pkt(routedBinding(), rs(netip.IPv6Unspecified(), vmMAC)))
			return out
		},
		"ra-periodic-mtu.hex": func() []byte { out, _ := r.PeriodicRA(nil, devMAC, mtu); return out },
		"na-router.hex": func() []byte {
			out, _ := r.HandleNS(nil, pkt(routedBinding(), ns(vmLL, routerLL, vmMAC)))
			return out
		},
		"na-proxy.hex": func() []byte {
			out, _ := r.HandleNS(nil, pkt(routedBinding(), ns(vmEUI64, neighbor, vmMAC)))
			return out
		},
		"na-unsolicited.hex": func() []byte {
			return ip6frame.AppendUnsolicitedNA(nil, net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}, vmEUI64)
		},
	}
	for name, build := range frames {
		t.Run(name, func(t *testing.T) {
			frame := build()
			if len(frame) == 0 {
				t.Fatal("no frame")
			}
			golden.CheckAnnotated(t, filepath.Join("testdata", name), frame, ip6frame.Annotate, ip6frame.ParseAnnotated)
		})
	}
}
