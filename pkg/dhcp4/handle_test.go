package dhcp4

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/inetsum"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/net/ipv4"
)

// decodedReply is a reply frame checked layer by layer.
type decodedReply struct {
	ethDst, ethSrc net.HardwareAddr
	ip             *ipv4.Header
	d              *dhcpv4.DHCPv4
	codes          []byte // option codes in order, End excluded
}

// checkFrame validates a reply frame (Ethernet, IPv4 header and checksum,
// UDP ports, length and checksum) and decodes its BOOTP payload with
// insomniacslk/dhcp.
func checkFrame(t testing.TB, f []byte) decodedReply {
	t.Helper()
	var r decodedReply
	if len(f) < offOpts+1 {
		t.Fatalf("frame too short: %d bytes", len(f))
	}
	if f[12] != 0x08 || f[13] != 0x00 {
		t.Fatalf("ethertype %x", f[12:14])
	}
	r.ethDst, r.ethSrc = net.HardwareAddr(f[0:6]), net.HardwareAddr(f[6:12])
	ih, err := ipv4.ParseHeader(f[offIP:])
	if err != nil {
		t.Fatalf("ipv4.ParseHeader: %v", err)
	}
	r.ip = ih
	if ih.Version != 4 || ih.Len != 20 || ih.TotalLen != len(f)-offIP || ih.Protocol != 17 || ih.TTL != 64 ||
		ih.FragOff != 0 || ih.Flags != ipv4.DontFragment {
		t.Errorf("bad IPv4 header %+v (frame %d bytes)", ih, len(f))
	}
	if inetsum.Fold(inetsum.Add(0, f[offIP:offUDP])) != 0xffff {
		t.Errorf("bad IPv4 header checksum %#04x", ih.Checksum)
	}
	u := f[offUDP:]
	if sp, dp := binary.BigEndian.Uint16(u[0:2]), binary.BigEndian.Uint16(u[2:4]); sp != 67 || dp != 68 {
		t.Errorf("UDP ports %d -> %d, want 67 -> 68", sp, dp)
	}
	if ul := int(binary.BigEndian.Uint16(u[4:6])); ul != len(u) {
		t.Errorf("UDP length %d, want %d", ul, len(u))
	}
	ps := uint64(binary.BigEndian.Uint32(f[offIP+12:])) + uint64(binary.BigEndian.Uint32(f[offIP+16:])) + 17 + uint64(len(u))
	if binary.BigEndian.Uint16(u[6:8]) == 0 || inetsum.Fold(inetsum.Add(ps, u)) != 0xffff {
		t.Errorf("bad UDP checksum %#04x", binary.BigEndian.Uint16(u[6:8]))
	}
	if len(u)-udpHdrLen < minBOOTPLen {
		t.Errorf("BOOTP length %d < %d", len(u)-udpHdrLen, minBOOTPLen)
	}
	d, err := dhcpv4.FromBytes(u[udpHdrLen:])
	if err != nil {
		t.Fatalf("dhcpv4.FromBytes: %v", err)
	}
	r.d = d
	if d.OpCode != dhcpv4.OpcodeBootReply || d.HWType != 1 || len(d.ClientHWAddr) != 6 || d.HopCount != 0 {
		t.Errorf("bad BOOTP header: %s", d.Summary())
	}
	if !bytes.Equal(r.ethDst, d.ClientHWAddr) {
		t.Errorf("Ethernet dst %v != chaddr %v", r.ethDst, d.ClientHWAddr)
	}
	// Walk options ourselves: order, End, zero padding.
	o := u[udpHdrLen+optionsOff:]
	i := 0
	for i < len(o) && o[i] != optEnd {
		if o[i] == optPad {
			t.Errorf("pad option inside options at %d", i)
			i++
			continue
		}
		r.codes = append(r.codes, o[i])
		i += 2 + int(o[i+1])
	}
	if i >= len(o) {
		t.Fatalf("no End option")
	}
	for _, c := range o[i+1:] {
		if c != 0 {
			t.Fatalf("non-zero byte after End")
		}
	}
	return r
}

func ips(s ...string) []net.IP {
	var out []net.IP
	for _, a := range s {
		out = append(out, net.ParseIP(a).To4())
	}
	return out
}

func TestHandle(t *testing.T) {
	offerCodes := []byte{53, 54, 51, 58, 59, 1, 3, 6, 121, 26, 12, 15, 28, 119}
	tests := []struct {
		name    string
		cfg     func(*Config)
		bind    func(*binding.Binding)
		msg     Message
		srcMAC  net.HardwareAddr // default: vmMAC
		req     func(*Request)
		kind    Kind
		reason  Reason
		ipDst   string
		codes   []byte // exact option codes in order (nil: not checked)
		check   func(t *testing.T, r decodedReply)
		noReply bool
	}{
		{
			name: "discover offer unicast", msg: discover(1), kind: KindOffer,
			ipDst: "198.18.100.77", codes: offerCodes,
			check: func(t *testing.T, r decodedReply) {
				d := r.d
				if d.MessageType() != dhcpv4.MessageTypeOffer || d.TransactionID != [4]byte{0, 0, 0, 1} {
					t.Errorf("type/xid: %s", d.Summary())
				}
				if !d.YourIPAddr.Equal(net.ParseIP("198.18.100.77")) || !d.ClientIPAddr.IsUnspecified() {
					t.Errorf("yiaddr %v ciaddr %v", d.YourIPAddr, d.ClientIPAddr)
				}
				if !d.ServerIdentifier().Equal(net.ParseIP("198.51.100.1")) {
					t.Errorf("server id %v", d.ServerIdentifier())
				}
				if d.IPAddressLeaseTime(0) != 604800*time.Second || d.IPAddressRenewalTime(0) != 3600*time.Second ||
					d.IPAddressRebindingTime(0) != 529200*time.Second {
					t.Errorf("lease %v T1 %v T2 %v", d.IPAddressLeaseTime(0), d.IPAddressRenewalTime(0), d.IPAddressRebindingTime(0))
				}
				if m := d.SubnetMask(); net.IP(m).String() != "255.255.255.0" {
					t.Errorf("mask %v", m)
				}
				if rt := d.Router(); len(rt) != 1 || !rt[0].Equal(net.ParseIP("198.18.100.1")) {
					t.Errorf("router %v", rt)
				}
				if dns := d.DNS(); len(dns) != 2 || !dns[0].Equal(ips("198.51.100.53")[0]) || !dns[1].Equal(ips("198.51.100.54")[0]) {
					t.Errorf("dns %v", dns)
				}
				if d.HostName() != "vm77.example.org" || d.DomainName() != "example.org" {
					t.Errorf("hostname %q domain %q", d.HostName(), d.DomainName())
				}
				if s := d.DomainSearch(); s == nil || !slices.Equal(s.Labels, []string{"example.org", "example.net", "sub.example.org"}) {
					t.Errorf("search %v", s)
				}
				if !d.BroadcastAddress().Equal(net.ParseIP("198.18.100.255")) {
					t.Errorf("broadcast %v", d.BroadcastAddress())
				}
				if mtu := d.GetOneOption(dhcpv4.OptionInterfaceMTU); !bytes.Equal(mtu, []byte{0x05, 0xaa}) {
					t.Errorf("mtu %x", mtu)
				}
				rts := d.ClasslessStaticRoute()
				if len(rts) != 1 || rts[0].Dest.String() != "0.0.0.0/0" || !rts[0].Router.Equal(net.ParseIP("198.18.100.1")) {
					t.Errorf("routes %v", rts)
				}
				if !bytes.Equal(r.ethSrc, serverMAC) || !r.ip.Src.Equal(net.ParseIP("198.51.100.1")) {
					t.Errorf("src %v %v", r.ethSrc, r.ip.Src)
				}
			},
		},
		{
			name: "discover broadcast flag", kind: KindOffer, ipDst: "255.255.255.255",
			msg: func() Message { m := discover(2); m.Flags = FlagBroadcast; return m }(),
			check: func(t *testing.T, r decodedReply) {
				if !r.d.IsBroadcast() {
					t.Errorf("broadcast flag not echoed")
				}
			},
		},
		{
			name: "discover without 55 gets everything", kind: KindOffer, ipDst: "198.18.100.77",
			msg:   Message{Type: TypeDiscover, XID: 3, CHAddr: vmMAC},
			codes: offerCodes,
		},
		{
			name: "discover minimal 55", kind: KindOffer, ipDst: "198.18.100.77",
			msg:   Message{Type: TypeDiscover, XID: 3, CHAddr: vmMAC, ParamRequest: []byte{1, 3}},
			codes: []byte{53, 54, 51, 58, 59, 1, 3, 6},
		},
		{
			name: "discover empty 55", kind: KindOffer, ipDst: "198.18.100.77",
			msg:   Message{Type: TypeDiscover, XID: 3, CHAddr: vmMAC, ParamRequest: []byte{}},
			codes: []byte{53, 54, 51, 58, 59, 1, 3, 6},
		},
		{
			name: "ms classless routes when asked", kind: KindOffer, ipDst: "198.18.100.77",
			msg:   Message{Type: TypeDiscover, XID: 3, CHAddr: vmMAC, ParamRequest: []byte{1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252}},
			codes: []byte{53, 54, 51, 58, 59, 1, 3, 6, 121, 249, 15, 119},
		},
		{
			name: "request selecting ack", msg: request(4), kind: KindAck, ipDst: "198.18.100.77",
			codes: offerCodes,
			check: func(t *testing.T, r decodedReply) {
				if r.d.MessageType() != dhcpv4.MessageTypeAck || !r.d.YourIPAddr.Equal(net.ParseIP("198.18.100.77")) {
					t.Errorf("%s", r.d.Summary())
				}
			},
		},
		{
			name: "request init-reboot ack", kind: KindAck, ipDst: "198.18.100.77",
			msg: func() Message { m := request(5); m.ServerID = netip.Addr{}; return m }(),
		},
		{
			name: "request renewing ack unicast to ciaddr", kind: KindAck, ipDst: "198.18.100.77",
			msg: Message{Type: TypeRequest, XID: 6, CHAddr: vmMAC, CIAddr: vmIP, Flags: FlagBroadcast},
			check: func(t *testing.T, r decodedReply) {
				if !r.d.ClientIPAddr.Equal(net.ParseIP("198.18.100.77")) || !r.d.YourIPAddr.Equal(net.ParseIP("198.18.100.77")) {
					t.Errorf("ciaddr %v yiaddr %v", r.d.ClientIPAddr, r.d.YourIPAddr)
				}
			},
		},
		{
			name: "request wrong address nak", kind: KindNak, reason: ReasonWrongAddress, ipDst: "255.255.255.255",
			msg:   func() Message { m := request(7); m.RequestedIP = netip.MustParseAddr("198.18.100.78"); return m }(),
			codes: []byte{53, 54},
			check: func(t *testing.T, r decodedReply) {
				if r.d.MessageType() != dhcpv4.MessageTypeNak || !r.d.YourIPAddr.IsUnspecified() || !r.d.ClientIPAddr.IsUnspecified() {
					t.Errorf("%s", r.d.Summary())
				}
			},
		},
		{
			name: "request renewing wrong ciaddr nak", kind: KindNak, reason: ReasonWrongAddress, ipDst: "255.255.255.255",
			msg: Message{Type: TypeRequest, XID: 8, CHAddr: vmMAC, CIAddr: netip.MustParseAddr("198.18.100.9")},
		},
		{
			name: "request without address nak", kind: KindNak, reason: ReasonWrongAddress, ipDst: "255.255.255.255",
			msg: Message{Type: TypeRequest, XID: 9, CHAddr: vmMAC},
		},
		{
			name: "request for other server", kind: KindDrop, reason: ReasonNotOurServer, noReply: true,
			msg: func() Message { m := request(10); m.ServerID = netip.MustParseAddr("198.51.100.2"); return m }(),
		},
		{
			name: "inform ack", kind: KindInformAck, ipDst: "198.18.100.77",
			msg:   Message{Type: TypeInform, XID: 11, CHAddr: vmMAC, CIAddr: vmIP, ParamRequest: dhclientPRL},
			codes: []byte{53, 54, 1, 3, 6, 121, 26, 12, 15, 28, 119},
			check: func(t *testing.T, r decodedReply) {
				if r.d.MessageType() != dhcpv4.MessageTypeAck || !r.d.YourIPAddr.IsUnspecified() ||
					!r.d.ClientIPAddr.Equal(net.ParseIP("198.18.100.77")) {
					t.Errorf("%s", r.d.Summary())
				}
			},
		},
		{
			name: "inform without ciaddr broadcast", kind: KindInformAck, ipDst: "255.255.255.255",
			msg: Message{Type: TypeInform, XID: 12, CHAddr: vmMAC},
		},
		{name: "release", kind: KindRelease, noReply: true, msg: Message{Type: TypeRelease, XID: 13, CHAddr: vmMAC, CIAddr: vmIP, ServerID: serverIP}},
		{name: "decline", kind: KindDecline, noReply: true, msg: Message{Type: TypeDecline, XID: 14, CHAddr: vmMAC, RequestedIP: vmIP, ServerID: serverIP}},
		{
			name: "private network no router", kind: KindOffer, ipDst: "198.18.100.77",
			bind: func(b *binding.Binding) { b.Private = true },
			msg:  discover(15), codes: []byte{53, 54, 51, 58, 59, 1, 6, 26, 12, 15, 28, 119},
		},
		{
			name: "routed /32 gets classless routes unasked", kind: KindOffer, ipDst: "198.18.100.77",
			bind: func(b *binding.Binding) { b.Subnet = netip.MustParsePrefix("198.18.100.77/32") },
			msg:  Message{Type: TypeDiscover, XID: 16, CHAddr: vmMAC, ParamRequest: []byte{1, 3, 28}},
			// no 28 on a /32
			codes: []byte{53, 54, 51, 58, 59, 1, 3, 6, 121},
			check: func(t *testing.T, r decodedReply) {
				rts := r.d.ClasslessStaticRoute()
				if len(rts) != 2 || rts[0].Dest.String() != "198.18.100.1/32" || !rts[0].Router.IsUnspecified() ||
					rts[1].Dest.String() != "0.0.0.0/0" || !rts[1].Router.Equal(net.ParseIP("198.18.100.1")) {
					t.Errorf("routes %v", rts)
				}
				if net.IP(r.d.SubnetMask()).String() != "255.255.255.255" {
					t.Errorf("mask %v", r.d.SubnetMask())
				}
			},
		},
		{
			name: "gateway outside subnet", kind: KindOffer, ipDst: "198.18.100.77",
			bind:  func(b *binding.Binding) { b.Gateway = netip.MustParseAddr("198.18.200.1") },
			msg:   Message{Type: TypeDiscover, XID: 17, CHAddr: vmMAC, ParamRequest: []byte{1, 3}},
			codes: []byte{53, 54, 51, 58, 59, 1, 3, 6, 121},
		},
		{
			name: "no subnet means /32", kind: KindOffer, ipDst: "198.18.100.77",
			bind:  func(b *binding.Binding) { b.Subnet = netip.Prefix{} },
			msg:   Message{Type: TypeDiscover, XID: 18, CHAddr: vmMAC, ParamRequest: []byte{1, 3}},
			codes: []byte{53, 54, 51, 58, 59, 1, 3, 6, 121},
		},
		{
			name: "domain from hostname, server id from gateway", kind: KindOffer, ipDst: "198.18.100.77",
			cfg: func(c *Config) { c.Domain, c.ServerIP, c.DNS, c.SearchDomains = "", netip.Addr{}, nil, nil },
			msg: discover(19), codes: []byte{53, 54, 51, 58, 59, 1, 3, 121, 26, 12, 15, 28},
			check: func(t *testing.T, r decodedReply) {
				if r.d.DomainName() != "example.org" || !r.d.ServerIdentifier().Equal(net.ParseIP("198.18.100.1")) ||
					!r.ip.Src.Equal(net.ParseIP("198.18.100.1")) {
					t.Errorf("domain %q server %v src %v", r.d.DomainName(), r.d.ServerIdentifier(), r.ip.Src)
				}
			},
		},
		{
			name: "request with server id = gateway when no server ip", kind: KindAck, ipDst: "198.18.100.77",
			cfg: func(c *Config) { c.ServerIP = netip.Addr{} },
			msg: func() Message { m := request(20); m.ServerID = vmGW; return m }(),
		},
		{
			name: "per-call server MAC", kind: KindOffer, ipDst: "198.18.100.77",
			cfg: func(c *Config) { c.ServerMAC = nil },
			req: func(r *Request) { r.ServerMAC = net.HardwareAddr{0xfe, 0, 0, 0, 0, 5} },
			msg: discover(21),
			check: func(t *testing.T, r decodedReply) {
				if r.ethSrc.String() != "fe:00:00:00:00:05" {
					t.Errorf("eth src %v", r.ethSrc)
				}
			},
		},
		{
			name: "mac spoof allowed", kind: KindOffer, ipDst: "198.18.100.77",
			bind: func(b *binding.Binding) { b.MACSpoof = true; b.MAC = net.HardwareAddr{0xaa, 0, 0, 0, 0, 1} },
			msg:  discover(22),
		},
		{
			name: "4in6 binding address", kind: KindOffer, ipDst: "198.18.100.77",
			bind: func(b *binding.Binding) { b.IP = netip.AddrFrom16(vmIP.As16()) },
			msg:  discover(23),
		},
		// Drops decided after parsing.
		{name: "relay", reason: ReasonRelay, noReply: true, msg: func() Message { m := discover(30); m.GIAddr = netip.MustParseAddr("198.18.0.1"); return m }()},
		{name: "chaddr != frame source", reason: ReasonChaddrMismatch, noReply: true, msg: discover(31), srcMAC: net.HardwareAddr{0xaa, 0, 0, 0, 0, 2}},
		{name: "no frame source", reason: ReasonChaddrMismatch, noReply: true, msg: discover(32), req: func(r *Request) { r.SrcMAC = nil }},
		{name: "chaddr != binding MAC", reason: ReasonMACMismatch, noReply: true, msg: discover(33), bind: func(b *binding.Binding) { b.MAC = net.HardwareAddr{0xaa, 0, 0, 0, 0, 1} }},
		{name: "no binding", reason: ReasonNoBinding, noReply: true, msg: discover(34), bind: func(b *binding.Binding) { *b = binding.Binding{Tap: "nil"} }},
		{name: "no address", reason: ReasonNoAddress, noReply: true, msg: discover(35), bind: func(b *binding.Binding) { b.IP = netip.Addr{} }},
		{name: "ipv6 address", reason: ReasonNotIPv4, noReply: true, msg: discover(36), bind: func(b *binding.Binding) { b.IP = netip.MustParseAddr("2001:db8::1") }},
		{name: "offer from client", reason: ReasonUnexpectedType, noReply: true, msg: Message{Type: TypeOffer, CHAddr: vmMAC}},
		{name: "unknown type", reason: ReasonUnexpectedType, noReply: true, msg: Message{Type: 42, CHAddr: vmMAC}},
		{name: "no server ip", reason: ReasonServerConfig, noReply: true, msg: discover(37),
			cfg: func(c *Config) { c.ServerIP = netip.Addr{} }, bind: func(b *binding.Binding) { b.Gateway = netip.Addr{} }},
		{name: "no server mac", reason: ReasonServerConfig, noReply: true, msg: discover(38), cfg: func(c *Config) { c.ServerMAC = nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			r := mustResponder(t, cfg)
			b := testBinding()
			if tc.bind != nil {
				tc.bind(b)
			}
			if b.Tap == "nil" {
				b = nil
			}
			req := Request{Packet: packetOf(tc.msg), SrcMAC: net.HardwareAddr(vmMAC[:])}
			if tc.srcMAC != nil {
				req.SrcMAC = tc.srcMAC
			}
			if tc.req != nil {
				tc.req(&req)
			}
			prefix := []byte("prefix")
			frame, res := r.Handle(prefix, req, b)
			if res.Kind != tc.kind || res.Reason != tc.reason {
				t.Fatalf("got %v/%v, want %v/%v", res.Kind, res.Reason, tc.kind, tc.reason)
			}
			if res.Msg.Type != tc.msg.Type || res.Msg.XID != tc.msg.XID {
				t.Errorf("Result.Msg %+v", res.Msg)
			}
			if !bytes.HasPrefix(frame, []byte("prefix")) {
				t.Fatalf("dst prefix clobbered")
			}
			frame = frame[len(prefix):]
			if tc.noReply || !res.Kind.Replied() {
				if len(frame) != 0 || !tc.noReply || res.Kind.Replied() {
					t.Fatalf("reply %d bytes, kind %v, noReply %v", len(frame), res.Kind, tc.noReply)
				}
				return
			}
			if len(frame) > r.MaxFrameLen() {
				t.Errorf("frame %d > MaxFrameLen %d", len(frame), r.MaxFrameLen())
			}
			d := checkFrame(t, frame)
			if d.ip.Dst.String() != tc.ipDst {
				t.Errorf("IP dst %v, want %v", d.ip.Dst, tc.ipDst)
			}
			if !bytes.Equal(d.ethDst, vmMAC[:]) || d.d.TransactionID != dhcpv4.TransactionID(binary.BigEndian.AppendUint32(nil, tc.msg.XID)) {
				t.Errorf("eth dst %v xid %v", d.ethDst, d.d.TransactionID)
			}
			if tc.codes != nil && !bytes.Equal(d.codes, tc.codes) {
				t.Errorf("option codes %v, want %v", d.codes, tc.codes)
			}
			if tc.check != nil {
				tc.check(t, d)
			}
		})
	}
}
