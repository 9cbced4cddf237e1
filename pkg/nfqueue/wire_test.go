package nfqueue

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diktyo/diktyo/pkg/golden"
)

// recordedUDP is NFQNL_MSG_PACKET as this kernel (6.18, little-endian) sent
// it for a UDP datagram "hello" from a VM (veth peer 96:7e:18:0e:bd:40,
// 198.51.100.2:40000) to the host end tapq0 (ifindex 2, 198.51.100.1:6767),
// queued by iptables INPUT -j NFQUEUE --queue-num 42.
var recordedUDP = []byte{
	0x5d, 0x00, 0x00, 0x00, // nlmsg_len 93
	0x00, 0x03, // nlmsg_type NFNL_SUBSYS_QUEUE<<8 | NFQNL_MSG_PACKET
	0x00, 0x00, // nlmsg_flags
	0x00, 0x00, 0x00, 0x00, // nlmsg_seq
	0x00, 0x00, 0x00, 0x00, // nlmsg_pid 0: the kernel
	0x02,       // nfgen_family AF_INET
	0x00,       // version NFNETLINK_V0
	0x00, 0x2a, // res_id: queue 42, big-endian
	0x0b, 0x00, 0x01, 0x00, // nla_len 11, NFQA_PACKET_HDR
	0x00, 0x00, 0x00, 0x01, //   packet_id 1
	0x08, 0x00, //   hw_protocol 0x0800
	0x01,                   //   hook NF_INET_LOCAL_IN
	0x00,                   //   padding
	0x08, 0x00, 0x05, 0x00, // nla_len 8, NFQA_IFINDEX_INDEV
	0x00, 0x00, 0x00, 0x02, //   ifindex 2
	0x10, 0x00, 0x09, 0x00, // nla_len 16, NFQA_HWADDR
	0x00, 0x06, //   hw_addrlen 6
	0x00, 0x00, //   _pad
	0x96, 0x7e, 0x18, 0x0e, 0xbd, 0x40, 0x00, 0x00, //   hw_addr[8]
	0x25, 0x00, 0x0a, 0x00, // nla_len 37, NFQA_PAYLOAD
	0x45, 0x00, 0x00, 0x21, //   IPv4, IHL 5, total length 33
	0x1e, 0xbd, 0x40, 0x00, //   id, DF
	0x40, 0x11, 0xc7, 0xa4, //   TTL 64, UDP, header checksum
	0xc6, 0x33, 0x64, 0x02, //   198.51.100.2
	0xc6, 0x33, 0x64, 0x01, //   198.51.100.1
	0x9c, 0x40, 0x1a, 0x6f, //   UDP 40000 → 6767
	0x00, 0x0d, 0xb0, 0xe7, //   UDP length 13, checksum
	'h', 'e', 'l', 'l', 'o', //   data (last attribute: no padding)
}

func skipBigEndian(t testing.TB) {
	t.Helper()
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("recorded bytes are little-endian")
	}
}

func TestParsePacketRecorded(t *testing.T) {
	skipBigEndian(t)
	var p Packet
	if err := ParsePacket(recordedUDP, &p); err != nil {
		t.Fatal(err)
	}
	want := Packet{
		Queue: 42, ID: 1, HWProtocol: 0x0800, Hook: 1, InDev: 2,
		HWAddr:  net.HardwareAddr{0x96, 0x7e, 0x18, 0x0e, 0xbd, 0x40},
		Payload: recordedUDP[len(recordedUDP)-33:],
		hasID:   true,
	}
	if d := diffPacket(p, want); d != "" {
		t.Fatal(d)
	}
	if !bytes.HasSuffix(p.Payload, []byte("hello")) {
		t.Errorf("payload %x", p.Payload)
	}
}

func diffPacket(got, want Packet) string {
	g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want)
	if g != w {
		return "packet:\n got  " + g + "\n want " + w
	}
	return ""
}

func TestParsePacketErrors(t *testing.T) {
	skipBigEndian(t)
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(recordedUDP)) }
	tests := []struct {
		name   string
		msg    []byte
		hasID  bool
		wantOK bool
	}{
		{"empty", nil, false, false},
		{"short header", recordedUDP[:19], false, false},
		{"length below header", mutate(func(b []byte) []byte { b[0] = 10; return b }), false, false},
		{"not a packet", mutate(func(b []byte) []byte { b[4] = nfqnlMsgVerdict; return b }), false, false},
		{"cut by receive buffer", recordedUDP[:60], true, false},
		{"attribute overruns", mutate(func(b []byte) []byte { b[56] = 0xff; return b }), true, false},
		{"attribute length below header", mutate(func(b []byte) []byte { b[56] = 2; return b }), true, false},
		{"short packet header", mutate(func(b []byte) []byte { b[20] = 6; return b }), false, false},
		{"hwaddr length 9", mutate(func(b []byte) []byte { b[45] = 9; return b }), true, false},
		{"hwaddr length 0", mutate(func(b []byte) []byte { b[45] = 0; return b }), true, true},
		{"no packet header", mutate(func(b []byte) []byte { b[22] = 0x0e; return b }), false, false},
		{"nested flag on type", mutate(func(b []byte) []byte { b[23] |= 0x80; return b }), true, true},
		{"trailing garbage", append(mutate(func(b []byte) []byte { b[0] = 97; return b }), 1, 2, 3, 4), true, false},
		{"padding after last attribute", append(mutate(func(b []byte) []byte { b[0] = 96; return b }), 0, 0, 0), true, true},
		{"unknown attribute", mutate(func(b []byte) []byte { b[34] = 0x7f; return b }), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Packet
			err := ParsePacket(tt.msg, &p)
			if tt.wantOK != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.wantOK)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Errorf("err = %v, not ErrMalformed", err)
			}
			if p.HasID() != tt.hasID {
				t.Errorf("HasID = %v, want %v", p.HasID(), tt.hasID)
			}
			if tt.hasID && p.ID != 1 {
				t.Errorf("ID = %d", p.ID)
			}
		})
	}
}

// TestWireGolden checks the messages diktyo sends against testdata/wire.golden.
func TestWireGolden(t *testing.T) {
	skipBigEndian(t)
	cases := []struct {
		name string
		b    []byte
	}{
		{"verdict accept id 7 queue 42", appendVerdict(nil, 42, 7, Accept, false, false, 0)},
		{"verdict drop id 0xdeadbeef queue 45", appendVerdict(nil, 45, 0xdeadbeef, Drop, false, false, 0)},
		{"verdict repeat mark 0x1 id 3 queue 43", appendVerdict(nil, 43, 3, Repeat, false, true, 1)},
		{"batch accept id <= 9 queue 44", appendVerdict(nil, 44, 9, Accept, true, false, 0)},
		{"config bind queue 42 seq 1", appendConfig(nil, 42, 1, cmdAttr(cfgCmdBind, 0))},
		{"config copy packet range 65535 seq 2", appendConfig(nil, 42, 2, paramsAttr(0xffff))},
		{"config maxlen 1 fail-open seq 3", appendConfig(nil, 42, 3, be32Attr(nfqaCfgMaxLen, 1), be32Attr(nfqaCfgFlags, 1), be32Attr(nfqaCfgMask, 1))},
		{"config unbind seq 4", appendConfig(nil, 42, 4, cmdAttr(cfgCmdUnbind, 0))},
	}
	var sb strings.Builder
	for _, c := range cases {
		fmt.Fprintf(&sb, "# %s\n%s\n", c.name, hex.Dump(c.b))
	}
	golden.Check(t, filepath.Join("testdata", "wire.golden"), []byte(sb.String()))
}

func TestAppendVerdictLayout(t *testing.T) {
	b := appendVerdict(nil, 42, 7, Accept, false, true, 0x1234)
	if len(b) != verdictMarkMsgLen || int(binary.NativeEndian.Uint32(b)) != len(b) {
		t.Fatalf("length %d, header says %d", len(b), binary.NativeEndian.Uint32(b))
	}
	if got := binary.BigEndian.Uint32(b[24:]); got != uint32(Accept) {
		t.Errorf("verdict %d", got)
	}
	if got := binary.BigEndian.Uint32(b[28:]); got != 7 {
		t.Errorf("id %d", got)
	}
	if got := binary.BigEndian.Uint32(b[36:]); got != 0x1234 {
		t.Errorf("mark %#x", got)
	}
}

func TestNlmsgErrno(t *testing.T) {
	b := make([]byte, 36)
	binary.NativeEndian.PutUint32(b[0:], 36)
	binary.NativeEndian.PutUint16(b[4:], 2)
	binary.NativeEndian.PutUint32(b[8:], 77)
	binary.NativeEndian.PutUint32(b[16:], uint32(0xffffffff)) // -EPERM
	errno, seq, ok := nlmsgErrno(b)
	if !ok || seq != 77 || errno != 1 {
		t.Errorf("errno %v seq %d ok %v", errno, seq, ok)
	}
	if _, _, ok := nlmsgErrno(b[:19]); ok {
		t.Error("short error message accepted")
	}
}

func TestNextMsg(t *testing.T) {
	one := appendVerdict(nil, 1, 1, Accept, false, false, 0)
	two := append(bytes.Clone(one), appendVerdict(nil, 1, 2, Drop, false, false, 0)...)
	m, rest, typ, ok := nextMsg(two)
	if !ok || typ != msgVerdict || len(m) != len(one) || len(rest) != len(one) {
		t.Fatalf("first: ok %v typ %#x len %d rest %d", ok, typ, len(m), len(rest))
	}
	if m, rest, _, ok = nextMsg(rest); !ok || len(m) != len(one) || rest != nil {
		t.Fatalf("second: ok %v len %d rest %d", ok, len(m), len(rest))
	}
	if _, _, _, ok := nextMsg([]byte{3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}); ok {
		t.Error("length 3 accepted")
	}
	if m, _, _, ok := nextMsg(one[:20]); !ok || len(m) != 20 {
		t.Error("cut message not returned whole")
	}
}

func TestVerdictString(t *testing.T) {
	for v, s := range map[Verdict]string{Drop: "drop", Accept: "accept", Repeat: "repeat", Pending: "pending", 9: "verdict(9)"} {
		if v.String() != s {
			t.Errorf("%d: %q", uint32(v), v.String())
		}
	}
}

// buildPacket encodes p the way the kernel does, for round trips.
func buildPacket(p *Packet) []byte {
	b := make([]byte, nlmsgHdrLen, 256)
	binary.NativeEndian.PutUint16(b[4:], msgPacket)
	b = append(b, afInet, 0)
	b = binary.BigEndian.AppendUint16(b, p.Queue)
	attr := func(typ uint16, v []byte) {
		b = binary.NativeEndian.AppendUint16(b, uint16(nlaHdrLen+len(v)))
		b = binary.NativeEndian.AppendUint16(b, typ)
		b = append(b, v...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	be32 := func(u uint32) []byte { return binary.BigEndian.AppendUint32(nil, u) }
	if p.hasID {
		h := binary.BigEndian.AppendUint32(nil, p.ID)
		h = binary.BigEndian.AppendUint16(h, p.HWProtocol)
		attr(nfqaPacketHdr, append(h, p.Hook))
	}
	for _, a := range []struct {
		typ uint16
		v   uint32
	}{{nfqaMark, p.Mark}, {nfqaIfIndexIn, p.InDev}, {nfqaIfIndexOut, p.OutDev}, {nfqaIfPhysIn, p.PhysInDev}, {nfqaIfPhysOut, p.PhysOutDev}, {nfqaCapLen, p.CapLen}, {nfqaSkbInfo, uint32(p.SkbInfo)}} {
		if a.v != 0 {
			attr(a.typ, be32(a.v))
		}
	}
	if p.HWAddr != nil {
		h := binary.BigEndian.AppendUint16(nil, uint16(len(p.HWAddr)))
		h = append(h, 0, 0)
		h = append(h, p.HWAddr...)
		for len(h) < 12 {
			h = append(h, 0)
		}
		attr(nfqaHWAddr, h)
	}
	if p.Payload != nil {
		attr(nfqaPayload, p.Payload)
	}
	binary.NativeEndian.PutUint32(b, uint32(len(b)))
	return b
}

const afInet = 2 // AF_INET

func TestBuildPacketRoundTrip(t *testing.T) {
	skipBigEndian(t)
	var p, q Packet
	if err := ParsePacket(recordedUDP, &p); err != nil {
		t.Fatal(err)
	}
	p.PhysInDev, p.Mark, p.SkbInfo, p.CapLen = 9, 0x10, SkbCsumNotVerified, 1500
	if err := ParsePacket(buildPacket(&p), &q); err != nil {
		t.Fatal(err)
	}
	if d := diffPacket(q, p); d != "" {
		t.Fatal(d)
	}
}

// FuzzParsePacket feeds arbitrary messages to the parser: it must not panic,
// must keep slices inside the message, and what it accepts must survive a
// build → parse round trip.
func FuzzParsePacket(f *testing.F) {
	f.Add(recordedUDP)
	f.Add(recordedUDP[:60])
	f.Add(appendVerdict(nil, 1, 1, Accept, false, true, 1))
	var p Packet
	_ = ParsePacket(recordedUDP, &p)
	p.PhysInDev, p.OutDev, p.Mark, p.SkbInfo = 3, 4, 5, SkbGSO
	f.Add(buildPacket(&p))
	f.Fuzz(func(t *testing.T, msg []byte) {
		var p, q Packet
		if err := ParsePacket(msg, &p); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if len(p.HWAddr) > 8 || len(p.Payload) > len(msg) {
			t.Fatalf("slices out of range: hw %d payload %d msg %d", len(p.HWAddr), len(p.Payload), len(msg))
		}
		if err := ParsePacket(buildPacket(&p), &q); err != nil {
			t.Fatalf("round trip: %v", err)
		}
		// A zero-length hwaddr or payload is rebuilt as present but empty.
		if len(p.HWAddr) == 0 {
			p.HWAddr, q.HWAddr = nil, nil
		}
		if len(p.Payload) == 0 {
			p.Payload, q.Payload = nil, nil
		}
		if d := diffPacket(q, p); d != "" {
			t.Fatal(d)
		}
	})
}

// BenchmarkParseVerdict is the per-packet CPU work of Serve without the
// system calls: parse a packet message and encode its verdict.
func BenchmarkParseVerdict(b *testing.B) {
	skipBigEndian(b)
	var p Packet
	var out [verdictMarkMsgLen]byte
	b.ReportAllocs()
	b.SetBytes(int64(len(recordedUDP)))
	for b.Loop() {
		if err := ParsePacket(recordedUDP, &p); err != nil {
			b.Fatal(err)
		}
		_ = appendVerdict(out[:0], p.Queue, p.ID, Accept, false, p.setMark, p.verdictMark)
	}
}
