package dhcpload

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/diktyo/diktyo/pkg/dhcp4"
	"github.com/diktyo/diktyo/pkg/dhcp6"
	"github.com/diktyo/diktyo/pkg/ndp"
)

func TestDHCP4RoundTrip(t *testing.T) {
	r := newResponder(t, false)
	d := buildDHCP4(nil, dhcp4.TypeDiscover, vmMAC, 0xdeadbeef, 0, dhclientPRL[:], netip.Addr{}, netip.Addr{})
	m, reason := dhcp4.ParseRequest(d[ethLen:])
	if reason != dhcp4.ReasonNone || m.Type != dhcp4.TypeDiscover || m.XID != 0xdeadbeef || m.CHAddr != vmMAC ||
		m.RequestedIP.IsValid() || m.ServerID.IsValid() || string(m.ParamRequest) != string(dhclientPRL[:]) {
		t.Fatalf("DISCOVER parses as %+v (%v)", m, reason)
	}
	if net.HardwareAddr(d[0:6]).String() != "ff:ff:ff:ff:ff:ff" || string(d[6:12]) != string(vmMAC[:]) {
		t.Errorf("Ethernet header % x", d[:14])
	}
	offer, ok := parseReply4(r.answer(d))
	if !ok || offer.Type != dhcp4.TypeOffer || offer.XID != 0xdeadbeef || offer.CHAddr != vmMAC ||
		offer.YIAddr != vmIP.As4() || !offer.HasSID || offer.ServerID != serverIP.As4() {
		t.Fatalf("OFFER %+v ok=%v", offer, ok)
	}
	q := buildDHCP4(nil, dhcp4.TypeRequest, vmMAC, offer.XID, dhcp4.FlagBroadcast, dhclientPRL[:],
		netip.AddrFrom4(offer.YIAddr), netip.AddrFrom4(offer.ServerID))
	m, reason = dhcp4.ParseRequest(q[ethLen:])
	if reason != dhcp4.ReasonNone || m.Type != dhcp4.TypeRequest || m.RequestedIP != vmIP || m.ServerID != serverIP ||
		!m.Broadcast() {
		t.Fatalf("REQUEST parses as %+v (%v)", m, reason)
	}
	ack, ok := parseReply4(r.answer(q))
	if !ok || ack.Type != dhcp4.TypeAck || ack.XID != 0xdeadbeef {
		t.Fatalf("ACK %+v ok=%v", ack, ok)
	}
}

func TestParseReply4Rejects(t *testing.T) {
	r := newResponder(t, false)
	good := append([]byte(nil), r.answer(buildDHCP4(nil, dhcp4.TypeDiscover, vmMAC, 7, 0, nil, netip.Addr{}, netip.Addr{}))...)
	if _, ok := parseReply4(good); !ok {
		t.Fatal("good OFFER rejected")
	}
	mutate := map[string]func(f []byte) []byte{
		"short":        func(f []byte) []byte { return f[:40] },
		"ipv6":         func(f []byte) []byte { f[12], f[13] = 0x86, 0xdd; return f },
		"tcp":          func(f []byte) []byte { f[ethLen+9] = 6; return f },
		"fragment":     func(f []byte) []byte { f[ethLen+6] |= 0x20; return f },
		"port 67":      func(f []byte) []byte { binary.BigEndian.PutUint16(f[ethLen+22:], 67); return f },
		"bootrequest":  func(f []byte) []byte { f[ethLen+28] = 1; return f },
		"no cookie":    func(f []byte) []byte { f[ethLen+28+236] = 0; return f },
		"ip too long":  func(f []byte) []byte { binary.BigEndian.PutUint16(f[ethLen+2:], 4000); return f },
		"no type":      func(f []byte) []byte { f[ethLen+28+240] = 0xff; return f },
		"option overr": func(f []byte) []byte { f[ethLen+28+241] = 250; return f[:ethLen+28+250] },
	}
	for name, m := range mutate {
		f := m(append([]byte(nil), good...))
		if name == "option overr" { // keep the IP and UDP lengths consistent
			binary.BigEndian.PutUint16(f[ethLen+2:], uint16(len(f)-ethLen))
			binary.BigEndian.PutUint16(f[ethLen+24:], uint16(len(f)-ethLen-20))
		}
		if _, ok := parseReply4(f); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestNDPSourceRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		slot uint16
		seq  uint32
	}{{0, 0}, {1, 1}, {65535, 0xffffffff}, {4095, 123456}} {
		a := ndpSource(tc.slot, tc.seq)
		if !a.IsLinkLocalUnicast() {
			t.Errorf("%v is not link-local", a)
		}
		slot, seq, ok := ndpSlot(a.As16())
		if !ok || slot != tc.slot || seq != tc.seq {
			t.Errorf("%v → %d %d %v, want %d %d", a, slot, seq, ok, tc.slot, tc.seq)
		}
	}
	for _, s := range []string{"fe80::a800:ff:fe5e:1007", "2001:db8::200:0:0:1", "ff02::1"} {
		if _, _, ok := ndpSlot(netip.MustParseAddr(s).As16()); ok {
			t.Errorf("%s taken for a generator address", s)
		}
	}
}

func TestNDPRoundTrip(t *testing.T) {
	r := newResponder(t, false)
	src := ndpSource(3, 9)
	mac := net.HardwareAddr(vmMAC[:])
	ra, ok := parseNDP(r.answer(buildRS(nil, mac, src)))
	if !ok || ra.Type != typeRA || ra.Dst != src.As16() {
		t.Fatalf("RA %+v ok=%v", ra, ok)
	}
	na, ok := parseNDP(r.answer(buildNS(nil, mac, src, routerLL)))
	if !ok || na.Type != typeNA || na.Dst != src.As16() || na.Target != routerLL.As16() {
		t.Fatalf("NA %+v ok=%v", na, ok)
	}
	if _, ok := parseNDP(buildRS(nil, mac, src)); ok {
		t.Error("an RS parsed as a reply")
	}
	if _, ok := parseNDP(ndp.BuildRS(nil, mac, src)[:ethLen+ip6Len+4]); ok {
		t.Error("truncated frame accepted")
	}
}

func TestDHCP6RoundTrip(t *testing.T) {
	r := newResponder(t, false)
	src := ndpSource(5, 1)
	mac := net.HardwareAddr(vmMAC[:])
	req := buildIR(nil, mac, src, 0xabcdef, dhcp6.DUIDLL(mac))
	rep, ok := parseReply6(r.answer(req))
	if !ok || rep.Type != dhcp6.MsgReply || rep.XID != 0xabcdef || rep.Dst != src.As16() {
		t.Fatalf("Reply %+v ok=%v", rep, ok)
	}
	if _, ok := parseReply6(req); ok {
		t.Error("the request parsed as a reply (port 547)")
	}
	if _, ok := parseReply6(req[:50]); ok {
		t.Error("truncated frame accepted")
	}
}

func TestXIDLayout(t *testing.T) {
	for _, tc := range []struct {
		slots int
		width uint
	}{{1, 32}, {16, 32}, {4096, 32}, {65536, 32}, {16, 24}, {65536, 24}} {
		l := newXIDLayout(tc.slots, tc.width)
		for _, slot := range []int{0, tc.slots - 1, tc.slots / 2} {
			for _, seq := range []uint32{0, 1, 0xffffffff} {
				x := l.xid(slot, seq)
				if x > l.mask || l.slot(x) != slot {
					t.Errorf("%d slots/%d bits: slot %d seq %d → xid %#x → slot %d", tc.slots, tc.width, slot, seq, x, l.slot(x))
				}
			}
		}
		if l.xid(0, 1) == l.xid(0, 2) {
			t.Errorf("%d slots/%d bits: sequence numbers collide", tc.slots, tc.width)
		}
	}
}

func TestNthMAC(t *testing.T) {
	base := [6]byte{0xaa, 0, 0, 0xff, 0xff, 0xfe}
	if got := nthMAC(base, 1); got != [6]byte{0xaa, 0, 0, 0xff, 0xff, 0xff} {
		t.Errorf("+1: % x", got)
	}
	if got := nthMAC(base, 3); got != [6]byte{0xaa, 0, 0, 0, 0, 1} {
		t.Errorf("+3 wraps in the NIC part only: % x", got)
	}
}
