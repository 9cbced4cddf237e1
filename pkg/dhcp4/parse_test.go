package dhcp4

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func TestParseRequestDrops(t *testing.T) {
	good := func() []byte { return packetOf(discover(1)) }
	mut := func(f func(p []byte) []byte) []byte { return f(good()) }
	withBOOTP := func(f func(b []byte) []byte) []byte { return wrapBOOTP(f(rawBOOTP(53, 1, 1))) }
	tests := []struct {
		name string
		pkt  []byte
		want Reason
	}{
		{"valid", good(), ReasonNone},
		{"valid raw", withBOOTP(func(b []byte) []byte { return b }), ReasonNone},
		{"valid without End", wrapBOOTP(rawBOOTP(53, 1, 1)[:optionsOff+3]), ReasonNone},
		{"valid with pads and ethernet trailer", append(wrapBOOTP(rawBOOTP(0, 0, 53, 1, 1, 0)), 0, 0, 0), ReasonNone},
		{"empty", nil, ReasonMalformedIP},
		{"short ip", good()[:19], ReasonMalformedIP},
		{"ipv6", mut(func(p []byte) []byte { p[0] = 0x65; return p }), ReasonMalformedIP},
		{"ihl 4", mut(func(p []byte) []byte { p[0] = 0x44; return p }), ReasonMalformedIP},
		{"ihl beyond total", mut(func(p []byte) []byte { binary.BigEndian.PutUint16(p[2:], 16); return p }), ReasonMalformedIP},
		{"total beyond packet", mut(func(p []byte) []byte { return p[:len(p)-1] }), ReasonMalformedIP},
		{"more fragments", mut(func(p []byte) []byte { p[6] |= 0x20; return p }), ReasonFragment},
		{"fragment offset", mut(func(p []byte) []byte { p[7] = 1; return p }), ReasonFragment},
		{"tcp", mut(func(p []byte) []byte { p[9] = 6; return p }), ReasonNotUDP},
		{"no udp header", mut(func(p []byte) []byte { binary.BigEndian.PutUint16(p[2:], 24); return p }), ReasonMalformedUDP},
		{"udp length 4", mut(func(p []byte) []byte { binary.BigEndian.PutUint16(p[24:], 4); return p }), ReasonMalformedUDP},
		{"udp length beyond ip", mut(func(p []byte) []byte { binary.BigEndian.PutUint16(p[24:], uint16(len(p))); return p }), ReasonMalformedUDP},
		{"dport 68", mut(func(p []byte) []byte { p[23] = 68; return p }), ReasonNotServerPort},
		{"short bootp", wrapBOOTP(rawBOOTP()[:optionsOff-1]), ReasonMalformed},
		{"bootreply", withBOOTP(func(b []byte) []byte { b[0] = 2; return b }), ReasonNotRequest},
		{"htype 6", withBOOTP(func(b []byte) []byte { b[1] = 6; return b }), ReasonBadHType},
		{"hlen 16", withBOOTP(func(b []byte) []byte { b[2] = 16; return b }), ReasonBadHType},
		{"hlen 0", withBOOTP(func(b []byte) []byte { b[2] = 0; return b }), ReasonBadHType},
		{"no cookie", withBOOTP(func(b []byte) []byte { b[bootpHdrLen] = 0; return b }), ReasonBadCookie},
		{"no options", wrapBOOTP(rawBOOTP()[:optionsOff]), ReasonNoMessageType},
		{"only end", wrapBOOTP(rawBOOTP()), ReasonNoMessageType},
		{"option overrun", wrapBOOTP(rawBOOTP(53, 1, 1, 12, 9, 'x')), ReasonMalformed},
		{"option length missing", wrapBOOTP(rawBOOTP(53, 1, 1, 12)[:optionsOff+4]), ReasonMalformed},
		{"53 twice", wrapBOOTP(rawBOOTP(53, 1, 1, 53, 1, 1)), ReasonMalformed},
		{"53 length 2", wrapBOOTP(rawBOOTP(53, 2, 1, 0)), ReasonMalformed},
		{"53 zero", wrapBOOTP(rawBOOTP(53, 1, 0)), ReasonMalformed},
		{"50 length 3", wrapBOOTP(rawBOOTP(53, 1, 3, 50, 3, 1, 2, 3)), ReasonMalformed},
		{"50 twice", wrapBOOTP(rawBOOTP(53, 1, 3, 50, 4, 1, 2, 3, 4, 50, 4, 1, 2, 3, 4)), ReasonMalformed},
		{"54 length 5", wrapBOOTP(rawBOOTP(53, 1, 3, 54, 5, 1, 2, 3, 4, 5)), ReasonMalformed},
		{"54 twice", wrapBOOTP(rawBOOTP(53, 1, 3, 54, 4, 1, 2, 3, 4, 54, 4, 1, 2, 3, 4)), ReasonMalformed},
		{"57 length 1", wrapBOOTP(rawBOOTP(53, 1, 1, 57, 1, 2)), ReasonMalformed},
		{"57 twice", wrapBOOTP(rawBOOTP(53, 1, 1, 57, 2, 2, 0, 57, 2, 2, 0)), ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, got := ParseRequest(tc.pkt)
			if got != tc.want {
				t.Errorf("ParseRequest = %v, want %v", got, tc.want)
			}
			// Handle reports the same reason and sends nothing.
			r := mustResponder(t, testConfig())
			frame, res := r.Handle(nil, Request{Packet: tc.pkt, SrcMAC: vmMAC[:]}, testBinding())
			if tc.want != ReasonNone && (res.Kind != KindDrop || res.Reason != tc.want || frame != nil) {
				t.Errorf("Handle = %v/%v (%d bytes)", res.Kind, res.Reason, len(frame))
			}
		})
	}
}

// TestParseRequestInsomniac checks ParseRequest on requests built by
// insomniacslk/dhcp (option order, client id, hostname, etc.).
func TestParseRequestInsomniac(t *testing.T) {
	hw := net.HardwareAddr(vmMAC[:])
	d, err := dhcpv4.NewDiscovery(hw,
		dhcpv4.WithTransactionID(dhcpv4.TransactionID{1, 2, 3, 4}),
		dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(1500)),
		dhcpv4.WithOption(dhcpv4.OptHostName("vm77")),
		dhcpv4.WithOption(dhcpv4.OptClientIdentifier(append([]byte{1}, hw...))),
		dhcpv4.WithRequestedOptions(dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionClasslessStaticRoute),
	)
	if err != nil {
		t.Fatal(err)
	}
	d.UpdateOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("198.18.100.77")))
	pkt := wrapBOOTP(d.ToBytes())
	m, reason := ParseRequest(pkt)
	if reason != ReasonNone {
		t.Fatalf("ParseRequest: %v", reason)
	}
	if m.Type != TypeDiscover || m.XID != 0x01020304 || m.CHAddr != vmMAC || m.MaxSize != 1500 ||
		m.RequestedIP != vmIP || m.ServerID.IsValid() || m.Broadcast() != d.IsBroadcast() {
		t.Errorf("parsed %+v", m)
	}
	if !m.Requested(121) || m.Requested(12) {
		t.Errorf("PRL %v", m.ParamRequest)
	}
}

func TestParseRequestAllocs(t *testing.T) {
	pkt := packetOf(request(1))
	if n := testing.AllocsPerRun(100, func() { ParseRequest(pkt) }); n != 0 {
		t.Errorf("ParseRequest allocates %v times", n)
	}
}

func TestNewResponderErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*Config)
	}{
		{"ipv6 server", func(c *Config) { c.ServerIP = netip.MustParseAddr("2001:db8::1") }},
		{"unspecified server", func(c *Config) { c.ServerIP = netip.IPv4Unspecified() }},
		{"short mac", func(c *Config) { c.ServerMAC = net.HardwareAddr{1, 2, 3} }},
		{"negative renewal", func(c *Config) { c.RenewalTime = -time.Second }},
		{"sub-second lease", func(c *Config) { c.LeaseTime = time.Millisecond }},
		{"huge lease", func(c *Config) { c.LeaseTime = 1 << 32 * time.Second }},
		{"ipv6 dns", func(c *Config) { c.DNS = []netip.Addr{netip.MustParseAddr("2001:db8::53")} }},
		{"64 dns", func(c *Config) { c.DNS = make([]netip.Addr, 64) }},
		{"bad domain", func(c *Config) { c.Domain = "a..b" }},
		{"domain with space", func(c *Config) { c.Domain = "a b" }},
		{"long label", func(c *Config) { c.Domain = strings.Repeat("a", 64) + ".org" }},
		{"bad search", func(c *Config) { c.SearchDomains = []string{"ok.org", ""} }},
		{"huge search", func(c *Config) {
			for i := range 40 {
				c.SearchDomains = append(c.SearchDomains, strings.Repeat(string(rune('a'+i%26)), 40)+strings.Repeat("x", i))
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.cfg(&cfg)
			if _, err := NewResponder(cfg); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("NewResponder = %v, want ErrInvalidConfig", err)
			}
		})
	}
	if _, err := NewResponder(Config{}); err != nil {
		t.Errorf("zero Config: %v", err)
	}
}

func TestLeaseTimes(t *testing.T) {
	tests := []struct {
		lease, renew time.Duration
		wl, wt1, wt2 uint32
	}{
		{0, 0, 604800, 600, 529200},
		{3600 * time.Second, 0, 3600, 600, 3150},
		{800 * time.Second, 3600 * time.Second, 800, 700, 700}, // T1 capped at T2
		{86400 * time.Second, 43200 * time.Second, 86400, 43200, 75600},
	}
	for _, tc := range tests {
		r := mustResponder(t, Config{LeaseTime: tc.lease, RenewalTime: tc.renew})
		l := r.lease
		got := []uint32{binary.BigEndian.Uint32(l[2:]), binary.BigEndian.Uint32(l[8:]), binary.BigEndian.Uint32(l[14:])}
		if !slices.Equal(got, []uint32{tc.wl, tc.wt1, tc.wt2}) || l[0] != 51 || l[6] != 58 || l[12] != 59 {
			t.Errorf("lease %v renew %v: got %v", tc.lease, tc.renew, got)
		}
	}
}

func TestSearchListEncoding(t *testing.T) {
	tests := []struct {
		in   []string
		want []byte
	}{
		{[]string{"example.org"}, []byte("\x07example\x03org\x00")},
		{[]string{"example.org", "sub.example.org"}, []byte("\x07example\x03org\x00\x03sub\xc0\x00")},
		{[]string{"example.org", "example.net", "Example.ORG."}, []byte("\x07example\x03org\x00\x07example\x03net\x00\xc0\x00")},
		// No pointer into a name that itself ends in a pointer.
		{[]string{"example.org", "sub.example.org", "a.sub.example.org"},
			[]byte("\x07example\x03org\x00\x03sub\xc0\x00\x01a\x03sub\xc0\x00")},
		{[]string{"a.b", "c.b"}, []byte("\x01a\x01b\x00\x01c\xc0\x02")},
	}
	for _, tc := range tests {
		got, err := encodeSearchList(tc.in)
		if err != nil || string(got) != string(tc.want) {
			t.Errorf("encodeSearchList(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestMaxMessageSize fills replies with a long search list and hostname
// and checks option 57 and the 576 floor are honoured by dropping optional
// options, never mandatory ones.
func TestMaxMessageSize(t *testing.T) {
	cfg := testConfig()
	cfg.SearchDomains = nil
	for i := range 12 {
		cfg.SearchDomains = append(cfg.SearchDomains, strings.Repeat(string(rune('a'+i)), 20)+".example"+strings.Repeat("x", i)+".org")
	}
	r := mustResponder(t, cfg)
	if len(r.search) <= 257 {
		t.Fatalf("search option only %d bytes, want a split option", len(r.search))
	}
	b := testBinding()
	b.Hostname = strings.Repeat("h", 60) + "." + strings.Repeat("d", 60)
	for _, tc := range []struct {
		max        uint16
		limit      int
		wantSearch bool
	}{
		{0, 576, false}, {300, 576, false}, {576, 576, false}, {1500, 1500, true},
	} {
		m := discover(1)
		m.MaxSize = tc.max
		frame, res := r.Handle(nil, Request{Packet: packetOf(m), SrcMAC: vmMAC[:]}, b)
		if res.Kind != KindOffer {
			t.Fatalf("max %d: %v/%v", tc.max, res.Kind, res.Reason)
		}
		d := checkFrame(t, frame)
		if ipLen := len(frame) - ethHdrLen; ipLen > tc.limit {
			t.Errorf("max %d: IP datagram %d > %d", tc.max, ipLen, tc.limit)
		}
		for _, c := range []byte{53, 54, 51, 58, 59, 1, 3, 6} {
			if !slices.Contains(d.codes, c) {
				t.Errorf("max %d: mandatory option %d missing: %v", tc.max, c, d.codes)
			}
		}
		if got := slices.Contains(d.codes, 119); got != tc.wantSearch {
			t.Errorf("max %d: search sent %v, want %v (%v)", tc.max, got, tc.wantSearch, d.codes)
		}
		if tc.wantSearch {
			if s := d.d.DomainSearch(); s == nil || !slices.Equal(s.Labels, cfg.SearchDomains) {
				t.Errorf("split search list decodes to %v", s)
			}
		}
	}
}

func TestStrings(t *testing.T) {
	seen := map[string]bool{}
	for r := ReasonNone; r < numReasons; r++ {
		s := r.String()
		if s == "" || strings.HasPrefix(s, "Reason(") || seen[s] {
			t.Errorf("Reason %d: name %q missing or duplicate", r, s)
		}
		seen[s] = true
	}
	if numReasons.String() != "Reason(21)" || Kind(99).String() != "Kind(99)" || MessageType(42).String() != "MessageType(42)" {
		t.Errorf("fallback names: %v %v %v", numReasons, Kind(99), MessageType(42))
	}
	if TypeInform.String() != "INFORM" || KindInformAck.String() != "inform-ack" {
		t.Errorf("names: %v %v", TypeInform, KindInformAck)
	}
}
