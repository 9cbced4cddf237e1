package dhcp6

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"

	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/eui64"
	"github.com/diktyo/diktyo/pkg/golden"
	"github.com/diktyo/diktyo/pkg/ip6frame"
	"github.com/diktyo/diktyo/pkg/nettest"
)

var (
	vmMAC      = net.HardwareAddr{0xaa, 0x00, 0x01, 0x12, 0x34, 0x56}
	otherMAC   = net.HardwareAddr{0xaa, 0x00, 0x01, 0x00, 0x00, 0x99}
	devMAC     = net.HardwareAddr{0xfe, 0x54, 0x00, 0x00, 0x00, 0x05}
	serverMAC  = net.HardwareAddr{0x02, 0x00, 0x5e, 0x00, 0x53, 0x01}
	vmLL       = netip.MustParseAddr("fe80::a800:1ff:fe12:3456")
	vmEUI64    = netip.MustParseAddr("2001:db8:100:0:a800:1ff:fe12:3456")
	routerLL   = netip.MustParseAddr("fe80::fc54:ff:fe00:5")
	outside    = netip.MustParseAddr("2001:db8:999::1")
	ns1        = netip.MustParseAddr("2001:db8:53::1")
	ns2        = netip.MustParseAddr("2001:db8:53::2")
	clientDUID = DUIDLLT(vmMAC, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	xid        = uint32(0xabcdef)
)

func routedBinding() *binding.Binding {
	return &binding.Binding{
		Tap: "tap5", InDev: "tap5",
		MAC:      vmMAC,
		Gateway6: netip.MustParseAddr("2001:db8:100::1"),
		Subnet6:  netip.MustParsePrefix("2001:db8:100::/64"),
		EUI64:    vmEUI64,
	}
}

func testConfig() Config {
	return Config{
		ServerDUID:      DUIDLL(serverMAC),
		Nameservers:     []netip.Addr{ns1, ns2},
		Domains:         []string{"example.org", "example.net"},
		InfoRefreshTime: 3600 * time.Second,
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

func ir(src netip.Addr, duid []byte) []byte {
	return slices.Clone(BuildInformationRequest(nil, vmMAC, src, xid, duid)[ip6frame.EthernetHeaderLen:])
}

// fix recomputes lengths and the UDP checksum after a mutation (no
// extension headers).
func fix(p []byte) []byte {
	binary.BigEndian.PutUint16(p[4:], uint16(len(p)-40))
	binary.BigEndian.PutUint16(p[44:], uint16(len(p)-40))
	p[46], p[47] = 0, 0
	c := nettest.RefChecksum6(p)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(p[46:], c)
	return p
}

func mut(p []byte, f func([]byte) []byte) []byte { return fix(f(p)) }

func withOption(code uint16, v []byte) func([]byte) []byte {
	return func(p []byte) []byte { return appendOption(p, code, v) }
}

func setType(t byte) func([]byte) []byte { return func(p []byte) []byte { p[48] = t; return p } }

func setAddr(off int, a netip.Addr) func([]byte) []byte {
	return func(p []byte) []byte { b := a.As16(); copy(p[off:off+16], b[:]); return p }
}

// hopByHop inserts an 8-byte hop-by-hop header (PadN) before UDP.
func hopByHop(p []byte) []byte {
	out := slices.Clone(p[:40])
	out[6] = 0
	out = append(out, 17, 0, 1, 4, 0, 0, 0, 0)
	out = append(out, p[40:]...)
	binary.BigEndian.PutUint16(out[4:], uint16(len(out)-40))
	// Checksum over the UDP segment only; the pseudo-header's next
	// header is UDP.
	seg := out[48:]
	seg[6], seg[7] = 0, 0
	src, dst := netip.AddrFrom16([16]byte(out[8:24])), netip.AddrFrom16([16]byte(out[24:40]))
	binary.BigEndian.PutUint16(seg[6:], ip6frame.Checksum(src, dst, 17, seg))
	return out
}

func checkReply(t testing.TB, frame []byte, dstMAC net.HardwareAddr, dst netip.Addr, dport uint16, wantClientID []byte) {
	t.Helper()
	if !bytes.Equal(frame[0:6], dstMAC) || !bytes.Equal(frame[6:12], devMAC) || binary.BigEndian.Uint16(frame[12:]) != 0x86dd {
		t.Fatalf("ethernet % x", frame[:14])
	}
	pkt := frame[14:]
	h, err := ip6frame.Parse(pkt)
	if err != nil || len(h.Payload) != len(pkt)-40 {
		t.Fatalf("ipv6: %v", err)
	}
	if h.NextHeader != 17 || h.Src != routerLL || h.Dst != dst {
		t.Errorf("ipv6 nh %d %v → %v", h.NextHeader, h.Src, h.Dst)
	}
	u := h.Payload
	if binary.BigEndian.Uint16(u[0:]) != 547 || binary.BigEndian.Uint16(u[2:]) != dport || int(binary.BigEndian.Uint16(u[4:])) != len(u) {
		t.Errorf("udp header % x", u[:8])
	}
	if nettest.RefChecksum6(pkt) != 0 || u[6]|u[7] == 0 {
		t.Error("UDP checksum does not verify")
	}
	m, err := dhcpv6.MessageFromBytes(u[8:])
	if err != nil {
		t.Fatalf("insomniacslk/dhcp cannot parse reply: %v", err)
	}
	if m.MessageType != dhcpv6.MessageTypeReply || m.TransactionID != (dhcpv6.TransactionID{0xab, 0xcd, 0xef}) {
		t.Errorf("type %v xid %v", m.MessageType, m.TransactionID)
	}
	if sid := m.Options.ServerID(); sid == nil || !bytes.Equal(sid.ToBytes(), DUIDLL(serverMAC)) {
		t.Errorf("server ID %v", sid)
	}
	if cid := m.Options.ClientID(); wantClientID == nil && cid != nil || wantClientID != nil && (cid == nil || !bytes.Equal(cid.ToBytes(), wantClientID)) {
		t.Errorf("client ID %v, want % x", cid, wantClientID)
	}
	var dns []netip.Addr
	for _, ip := range m.Options.DNS() {
		a, _ := netip.AddrFromSlice(ip)
		dns = append(dns, a)
	}
	if !slices.Equal(dns, []netip.Addr{ns1, ns2}) {
		t.Errorf("DNS %v", dns)
	}
	if l := m.Options.DomainSearchList(); l == nil || !slices.Equal(l.Labels, []string{"example.org", "example.net"}) {
		t.Errorf("domain list %v", l)
	}
	if irt := m.Options.InformationRefreshTime(0); irt != time.Hour {
		t.Errorf("IRT %v", irt)
	}
	// Option order: Server ID first, Client ID next.
	if m.Options.Options[0].Code() != dhcpv6.OptionServerID {
		t.Errorf("first option %v", m.Options.Options[0].Code())
	}
}

func TestHandle(t *testing.T) {
	r := newTestResponder(t, testConfig())
	noV6 := routedBinding()
	noV6.Subnet6 = netip.Prefix{}
	spoof := routedBinding()
	spoof.MACSpoof = true
	longDUID := append([]byte{0, 2}, bytes.Repeat([]byte{7}, 128)...) // DUID-EN

	type tc struct {
		name   string
		pkt    []byte
		srcMAC net.HardwareAddr
		b      *binding.Binding
		nob    bool
		want   Result
		dst    netip.Addr
		dport  uint16
		cid    []byte
	}
	cases := []tc{
		{name: "link-local with client ID", pkt: ir(vmLL, clientDUID), want: Reply, dst: vmLL, cid: clientDUID},
		{name: "without client ID", pkt: ir(vmLL, nil), want: Reply, dst: vmLL},
		{name: "DUID-LL client", pkt: ir(vmLL, DUIDLL(vmMAC)), want: Reply, dst: vmLL, cid: DUIDLL(vmMAC)},
		{name: "130-byte DUID", pkt: ir(vmLL, longDUID), want: Reply, dst: vmLL, cid: longDUID},
		{name: "global source in subnet6", pkt: ir(vmEUI64, clientDUID), want: Reply, dst: vmEUI64, cid: clientDUID},
		{name: "unicast to router link-local", pkt: mut(ir(vmLL, clientDUID), setAddr(24, routerLL)), want: Reply, dst: vmLL, cid: clientDUID},
		{name: "our server ID", pkt: mut(ir(vmLL, clientDUID), withOption(OptServerID, DUIDLL(serverMAC))), want: Reply, dst: vmLL, cid: clientDUID},
		{name: "ephemeral source port", pkt: mut(ir(vmLL, clientDUID), func(p []byte) []byte { p[40], p[41] = 0xc0, 0x01; return p }), want: Reply, dst: vmLL, dport: 0xc001, cid: clientDUID},
		{name: "hop-by-hop header skipped", pkt: hopByHop(ir(vmLL, clientDUID)), want: Reply, dst: vmLL, cid: clientDUID},
		{name: "ethernet padding", pkt: append(ir(vmLL, clientDUID), 0, 0, 0), want: Reply, dst: vmLL, cid: clientDUID},
		{name: "macspoof", pkt: ir(vmLL, clientDUID), srcMAC: otherMAC, b: spoof, want: Reply, dst: vmLL, cid: clientDUID},

		{name: "solicit", pkt: mut(ir(vmLL, clientDUID), setType(MsgSolicit)), want: IgnoredSolicit},
		{name: "request", pkt: mut(ir(vmLL, clientDUID), setType(MsgRequest)), want: IgnoredStateful},
		{name: "renew", pkt: mut(ir(vmLL, clientDUID), setType(MsgRenew)), want: IgnoredStateful},
		{name: "rebind", pkt: mut(ir(vmLL, clientDUID), setType(MsgRebind)), want: IgnoredStateful},
		{name: "release", pkt: mut(ir(vmLL, clientDUID), setType(MsgRelease)), want: IgnoredStateful},
		{name: "confirm", pkt: mut(ir(vmLL, clientDUID), setType(MsgConfirm)), want: IgnoredStateful},
		{name: "decline", pkt: mut(ir(vmLL, clientDUID), setType(MsgDecline)), want: IgnoredStateful},
		{name: "reply from VM", pkt: mut(ir(vmLL, clientDUID), setType(MsgReply)), want: DropServerMessage},
		{name: "relay-forw", pkt: mut(ir(vmLL, clientDUID), setType(MsgRelayForw)), want: DropServerMessage},
		{name: "type 200", pkt: mut(ir(vmLL, clientDUID), setType(200)), want: DropUnknownType},
		{name: "no subnet6", pkt: ir(vmLL, clientDUID), b: noV6, want: IgnoredNoIPv6},
		{name: "no binding", pkt: ir(vmLL, clientDUID), nob: true, want: DropNoBinding},
		{name: "other server ID", pkt: mut(ir(vmLL, clientDUID), withOption(OptServerID, DUIDLL(otherMAC))), want: DropServerID},
		{name: "IA_NA", pkt: mut(ir(vmLL, clientDUID), withOption(OptIANA, make([]byte, 12))), want: DropIA},
		{name: "IA_PD", pkt: mut(ir(vmLL, clientDUID), withOption(OptIAPD, make([]byte, 12))), want: DropIA},
		{name: "two client IDs", pkt: mut(ir(vmLL, clientDUID), withOption(OptClientID, clientDUID)), want: DropOption},
		{name: "empty client ID", pkt: ir(vmLL, []byte{0}), want: DropOption},
		{name: "131-byte client ID", pkt: ir(vmLL, append(longDUID, 1)), want: DropOption},
		{name: "option past end", pkt: mut(ir(vmLL, clientDUID), func(p []byte) []byte { p[55]++; return p }), want: DropOption},
		{name: "truncated option header", pkt: mut(ir(vmLL, clientDUID), func(p []byte) []byte { return append(p, 0, 1) }), want: DropOption},
		{name: "3-byte message", pkt: mut(ir(vmLL, clientDUID), func(p []byte) []byte { return p[:51] }), want: DropShort},
		{name: "frame MAC mismatch", pkt: ir(vmLL, clientDUID), srcMAC: otherMAC, want: DropMACMismatch},
		{name: "source outside subnet6", pkt: mut(ir(vmLL, clientDUID), setAddr(8, outside)), want: DropSource},
		{name: "unspecified source", pkt: mut(ir(vmLL, clientDUID), setAddr(8, netip.IPv6Unspecified())), want: DropSource},
		{name: "to all nodes", pkt: mut(ir(vmLL, clientDUID), setAddr(24, netip.MustParseAddr("ff02::1"))), want: DropDestination},
		{name: "dst port 546", pkt: mut(ir(vmLL, clientDUID), func(p []byte) []byte { p[43] = 34; return p }), want: DropPort},
		{name: "src port 0", pkt: mut(ir(vmLL, clientDUID), func(p []byte) []byte { p[40], p[41] = 0, 0; return p }), want: DropPort},
		{name: "bad checksum", pkt: func() []byte { p := ir(vmLL, clientDUID); p[47] ^= 1; return p }(), want: DropChecksum},
		{name: "zero checksum", pkt: func() []byte { p := ir(vmLL, clientDUID); p[46], p[47] = 0, 0; return p }(), want: DropChecksum},
		{name: "UDP length short", pkt: func() []byte { p := ir(vmLL, clientDUID); p[45] -= 2; return p }(), want: DropUDPLength},
		{name: "UDP header cut", pkt: func() []byte { p := ir(vmLL, clientDUID)[:46]; p[4], p[5] = 0, 6; return p }(), want: DropUDPLength},
		{name: "ICMPv6", pkt: func() []byte { p := ir(vmLL, clientDUID); p[6] = 58; return p }(), want: DropNotUDP},
		{name: "routing header", pkt: func() []byte { p := ir(vmLL, clientDUID); p[6] = 43; return p }(), want: DropNotUDP},
		{name: "hop-by-hop past end", pkt: func() []byte { p := hopByHop(ir(vmLL, clientDUID)); p[41] = 200; return p }(), want: DropTruncated},
		{name: "payload length past end", pkt: func() []byte { p := ir(vmLL, clientDUID); p[5]++; return p }(), want: DropTruncated},
		{name: "IPv4", pkt: func() []byte { p := ir(vmLL, clientDUID); p[0] = 0x45; return p }(), want: DropNotIPv6},
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
			if c.nob {
				p.Binding = nil
			}
			prefix := []byte("xx")
			out, res := r.Handle(slices.Clone(prefix), p)
			if res != c.want {
				t.Fatalf("result %q, want %q", res, c.want)
			}
			if !bytes.HasPrefix(out, prefix) {
				t.Fatal("prefix clobbered")
			}
			if res != Reply {
				if len(out) != len(prefix) {
					t.Errorf("drop appended %d bytes", len(out)-len(prefix))
				}
				return
			}
			dport := c.dport
			if dport == 0 {
				dport = ClientPort
			}
			checkReply(t, out[len(prefix):], p.SrcMAC, c.dst, dport, c.cid)
		})
	}
}

func TestRouterMACOverride(t *testing.T) {
	c := testConfig()
	c.RouterMAC = serverMAC
	r := newTestResponder(t, c)
	out, res := r.Handle(nil, Packet{IPv6: ir(vmLL, clientDUID), SrcMAC: vmMAC, Binding: routedBinding()})
	if res != Reply || !bytes.Equal(out[6:12], serverMAC) || netip.AddrFrom16([16]byte(out[22:38])) != eui64.LinkLocal(serverMAC) {
		t.Fatalf("%v % x", res, out[:38])
	}
	if _, res := newTestResponder(t, testConfig()).Handle(nil, Packet{IPv6: ir(vmLL, clientDUID), SrcMAC: vmMAC, Binding: routedBinding()}); res != DropRouterMAC {
		t.Errorf("no dev MAC: %v", res)
	}
}

func TestDUID(t *testing.T) {
	ll := DUIDLL(serverMAC)
	d, err := dhcpv6.DUIDFromBytes(ll)
	if err != nil {
		t.Fatal(err)
	}
	if dl, ok := d.(*dhcpv6.DUIDLL); !ok || !bytes.Equal(dl.LinkLayerAddr, serverMAC) || dl.HWType != 1 {
		t.Errorf("DUID-LL %v", d)
	}
	at := time.Date(2000, 1, 2, 0, 0, 0, 0, time.UTC)
	d, err = dhcpv6.DUIDFromBytes(DUIDLLT(serverMAC, at))
	if err != nil {
		t.Fatal(err)
	}
	if dl, ok := d.(*dhcpv6.DUIDLLT); !ok || dl.Time != 86400 || !bytes.Equal(dl.LinkLayerAddr, serverMAC) {
		t.Errorf("DUID-LLT %v", d)
	}
	// The DUID the daemon really uses, across two starts: nfdhcpd/e2e
	// TestServerDUID.
}

func TestNewResponderErrors(t *testing.T) {
	many := make([]netip.Addr, 70)
	for i := range many {
		many[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)})
	}
	duid := DUIDLL(serverMAC)
	for name, c := range map[string]Config{
		"no DUID":          {},
		"long DUID":        {ServerDUID: make([]byte, 131)},
		"router MAC":       {ServerDUID: duid, RouterMAC: net.HardwareAddr{1}},
		"IPv4 nameserver":  {ServerDUID: duid, Nameservers: []netip.Addr{netip.MustParseAddr("198.51.100.53")}},
		"bad domain":       {ServerDUID: duid, Domains: []string{"a..b"}},
		"too many servers": {ServerDUID: duid, Nameservers: many},
	} {
		if _, err := NewResponder(c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// IRT below the minimum is raised to IRT_MINIMUM.
	c := testConfig()
	c.InfoRefreshTime = time.Second
	r := newTestResponder(t, c)
	if !bytes.HasSuffix(r.tail, []byte{0, 32, 0, 4, 0, 0, 0x02, 0x58}) {
		t.Errorf("IRT option % x", r.tail)
	}
}

func TestResultString(t *testing.T) {
	seen := map[string]bool{}
	for r := range NumResults {
		if s := r.String(); s == "" || seen[s] {
			t.Errorf("Result %d: %q", r, s)
		} else {
			seen[s] = true
		}
	}
	if NumResults.String() != "Result(21)" {
		t.Error(NumResults.String())
	}
}

// TestBuildInformationRequest cross-checks the request builder with
// insomniacslk/dhcp.
func TestBuildInformationRequest(t *testing.T) {
	f := BuildInformationRequest(nil, vmMAC, vmLL, xid, clientDUID)
	if nettest.RefChecksum6(f[14:]) != 0 {
		t.Error("checksum")
	}
	m, err := dhcpv6.MessageFromBytes(f[14+48:])
	if err != nil {
		t.Fatal(err)
	}
	if m.MessageType != dhcpv6.MessageTypeInformationRequest || !bytes.Equal(m.Options.ClientID().ToBytes(), clientDUID) ||
		!m.IsOptionRequested(dhcpv6.OptionDNSRecursiveNameServer) || !m.IsOptionRequested(dhcpv6.OptionDomainSearchList) {
		t.Errorf("%v", m.Summary())
	}
}

func TestGolden(t *testing.T) {
	r := newTestResponder(t, testConfig())
	frames := map[string]func() []byte{
		"information-request.hex": func() []byte { return BuildInformationRequest(nil, vmMAC, vmLL, xid, clientDUID) },
		"reply.hex": func() []byte {
			out, _ := r.Handle(nil, Packet{IPv6: ir(vmLL, clientDUID), SrcMAC: vmMAC, DevMAC: devMAC, Binding: routedBinding()})
			return out
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

func FuzzHandleDHCPv6(f *testing.F) {
	f.Add(ir(vmLL, clientDUID), false)
	f.Add(ir(vmLL, nil), false)
	f.Add(ir(vmEUI64, DUIDLL(vmMAC)), false)
	f.Add(hopByHop(ir(vmLL, clientDUID)), false)
	f.Add(mut(ir(vmLL, clientDUID), withOption(OptServerID, DUIDLL(serverMAC))), true)
	f.Add(mut(ir(vmLL, clientDUID), setType(MsgSolicit)), false)
	r := newTestResponder(f, testConfig())
	f.Fuzz(func(t *testing.T, pkt []byte, spoof bool) {
		b := routedBinding()
		b.MACSpoof = spoof
		p := Packet{IPv6: pkt, SrcMAC: vmMAC, DevMAC: devMAC, Binding: b}
		out, res := r.Handle(nil, p)
		if res >= NumResults {
			t.Fatalf("result %d", res)
		}
		if res != Reply {
			if len(out) != 0 {
				t.Fatal("drop wrote bytes")
			}
			return
		}
		h, err := ip6frame.Parse(out[14:])
		if err != nil || nettest.RefChecksum6(out[14:]) != 0 {
			t.Fatalf("reply header/checksum: %v", err)
		}
		msg := h.Payload[8:]
		m, err := dhcpv6.MessageFromBytes(msg)
		if err != nil {
			// DUIDs are opaque to a server (RFC 8415 11); insomniacslk
			// rejects some echoed client IDs (e.g. short DUID-UUIDs).
			// The rest of the reply must parse.
			sidEnd := 4 + len(r.serverID)
			cidLen := 4 + int(binary.BigEndian.Uint16(msg[sidEnd+2:]))
			if binary.BigEndian.Uint16(msg[sidEnd:]) != OptClientID {
				t.Fatalf("reply does not parse: %v", err)
			}
			stripped := append(slices.Clone(msg[:sidEnd]), msg[sidEnd+cidLen:]...)
			if m, err = dhcpv6.MessageFromBytes(stripped); err != nil {
				t.Fatalf("reply without client ID does not parse: %v", err)
			}
			m.Options.Add(dhcpv6.OptClientID(&dhcpv6.DUIDOpaque{Type: dhcpv6.DUIDType(binary.BigEndian.Uint16(msg[sidEnd+4:])), Data: msg[sidEnd+6 : sidEnd+cidLen]}))
		}
		if m.MessageType != dhcpv6.MessageTypeReply {
			t.Fatalf("reply type %v", m.MessageType)
		}
		// Round trip: a request rebuilt from the parsed client ID and
		// transaction id gets the same reply (up to the UDP port).
		req, _ := ip6frame.Parse(pkt)
		var cid []byte
		if c := m.Options.ClientID(); c != nil {
			cid = c.ToBytes()
		}
		x := uint32(m.TransactionID[0])<<16 | uint32(m.TransactionID[1])<<8 | uint32(m.TransactionID[2])
		p.IPv6 = BuildInformationRequest(nil, vmMAC, req.Src, x, cid)[14:]
		again, res := r.Handle(nil, p)
		if res != Reply {
			t.Fatalf("rebuilt request: %v", res)
		}
		if !bytes.Equal(again[:54], out[:54]) || !bytes.Equal(again[54+8:], out[54+8:]) {
			t.Fatal("rebuilt request gets a different reply")
		}
	})
}

func BenchmarkInformationRequest(b *testing.B) {
	r := newTestResponder(b, testConfig())
	p := Packet{IPv6: ir(vmLL, clientDUID), SrcMAC: vmMAC, DevMAC: devMAC, Binding: routedBinding()}
	buf := make([]byte, 0, 1514)
	b.ReportAllocs()
	for b.Loop() {
		if _, res := r.Handle(buf[:0], p); res != Reply {
			b.Fatal(res)
		}
	}
}
