package ip6frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

func TestAddressHelpers(t *testing.T) {
	for a, want := range map[string]bool{
		"fe80::1": true, "fe80::a800:1ff:fe12:3456": true, "fe80:0:0:1::1": false,
		"febf::1": false, "2001:db8::1": false, "::": false, "::ffff:198.51.100.1": false,
	} {
		if IsLinkLocal64(netip.MustParseAddr(a)) != want {
			t.Errorf("IsLinkLocal64(%s) != %v", a, want)
		}
	}
	sn := SolicitedNode(netip.MustParseAddr("2001:db8:100::12:3456"))
	if sn != netip.MustParseAddr("ff02::1:ff12:3456") {
		t.Errorf("SolicitedNode %v", sn)
	}
	if m := MulticastMAC(sn); m != [6]byte{0x33, 0x33, 0xff, 0x12, 0x34, 0x56} {
		t.Errorf("MulticastMAC % x", m)
	}
}

func TestParse(t *testing.T) {
	pkt := make([]byte, 48)
	pkt[0] = 0x60
	pkt[5] = 4
	pkt[6], pkt[7] = 58, 255
	h, err := Parse(pkt)
	if err != nil || len(h.Payload) != 4 || h.NextHeader != 58 || h.HopLimit != 255 {
		t.Fatalf("%+v %v", h, err)
	}
	if _, err := Parse(pkt[:39]); !errors.Is(err, ErrTruncated) {
		t.Error(err)
	}
	pkt[5] = 9
	if _, err := Parse(pkt); !errors.Is(err, ErrTruncated) {
		t.Error(err)
	}
	pkt[0] = 0x45
	if _, err := Parse(pkt); !errors.Is(err, ErrVersion) {
		t.Error(err)
	}
}

// refSum is the RFC 1071 sum, 16 bits at a time.
func refSum(src, dst netip.Addr, proto uint8, payload []byte) uint16 {
	var b []byte
	s, d := src.As16(), dst.As16()
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	b = append(b, 0, 0, 0, proto)
	b = append(b, payload...)
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	var x uint32
	for i := 0; i < len(b); i += 2 {
		x += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for x > 0xffff {
		x = x>>16 + x&0xffff
	}
	return ^uint16(x)
}

func TestChecksum(t *testing.T) {
	src, dst := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::1:2")
	for n := 0; n < 80; n++ {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i*37 + n)
		}
		want := refSum(src, dst, ProtoICMPv6, p)
		if want == 0 {
			want = 0xffff
		}
		if got := Checksum(src, dst, ProtoICMPv6, p); got != want {
			t.Errorf("len %d: %#04x, want %#04x", n, got, want)
		}
	}
}

func TestFinishUDP(t *testing.T) {
	mac := []byte{2, 0, 0, 0, 0, 1}
	f := AppendHeaders(nil, mac, mac, netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fe80::2"), ProtoUDP, 64)
	f = append(f, 2, 35, 2, 34, 0, 0, 0, 0, 7, 1, 2, 3)
	Finish(f)
	p := f[EthernetHeaderLen:]
	h, err := Parse(p)
	if err != nil || len(h.Payload) != 12 || binary.BigEndian.Uint16(h.Payload[4:]) != 12 {
		t.Fatalf("%v %v", h, err)
	}
	if !VerifyChecksum(h.Src, h.Dst, ProtoUDP, h.Payload) {
		t.Error("checksum does not verify")
	}
	h.Payload[6], h.Payload[7] = 0, 0
	if VerifyChecksum(h.Src, h.Dst, ProtoUDP, h.Payload) {
		t.Error("zero UDP checksum accepted")
	}
}

func TestDomains(t *testing.T) {
	for _, c := range []struct {
		name string
		wire []byte
	}{
		{"example.org", []byte("\x07example\x03org\x00")},
		{"example.org.", []byte("\x07example\x03org\x00")},
		{"a", []byte("\x01a\x00")},
		{".", []byte{0}},
		{"", nil},
		{"a..b", nil},
		{".a", nil},
		{string(bytes.Repeat([]byte{'x'}, 64)), nil},
		{string(bytes.Repeat([]byte("abcdefg."), 32)), nil},
	} {
		n, err := DomainLen(c.name)
		got := AppendDomain(nil, c.name)
		if c.wire == nil {
			if err == nil || len(got) != 0 {
				t.Errorf("%q: accepted", c.name)
			}
			continue
		}
		if err != nil || n != len(c.wire) || !bytes.Equal(got, c.wire) {
			t.Errorf("%q: %d %v % x, want % x", c.name, n, err, got, c.wire)
		}
	}
}

func TestAnnotateRoundTrip(t *testing.T) {
	mac := []byte{2, 0, 0, 0, 0, 1}
	f := AppendHeaders(nil, mac, mac, netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fe80::2"), ProtoICMPv6, 255)
	f = append(f, 136, 0, 0, 0, 0xe0, 0, 0, 0)
	f = append(f, make([]byte, 16)...)
	f = append(f, 2, 1, 2, 0, 0, 0, 0, 1, 9, 9) // option then junk
	Finish(f)
	b, err := ParseAnnotated(Annotate(f))
	if err != nil || !bytes.Equal(b, f) {
		t.Errorf("round trip: %v\n%s", err, Annotate(f))
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{0x60, 0, 0, 0, 0, 0, 58, 255})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		h, err := Parse(pkt)
		if err != nil {
			return
		}
		// Round trip: rebuilding the header gives back the parsed prefix.
		mac := make([]byte, 6)
		out := AppendHeaders(nil, mac, mac, h.Src, h.Dst, h.NextHeader, h.HopLimit)
		out = append(out, h.Payload...)
		binaryLen := binary.BigEndian.Uint16(pkt[4:6])
		binary.BigEndian.PutUint16(out[EthernetHeaderLen+4:], binaryLen)
		h2, err := Parse(out[EthernetHeaderLen:])
		if err != nil || h2.Src != h.Src || h2.Dst != h.Dst || !bytes.Equal(h2.Payload, h.Payload) {
			t.Fatalf("round trip: %v", err)
		}
		_ = Annotate(append(make([]byte, EthernetHeaderLen), pkt...))
	})
}
