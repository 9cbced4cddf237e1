package dhcp4

import (
	"net"
	"testing"
)

func benchHandle(b *testing.B, m Message, want Kind) {
	r := mustResponder(b, testConfig())
	bind := testBinding()
	req := Request{Packet: packetOf(m), SrcMAC: net.HardwareAddr(vmMAC[:])}
	buf := make([]byte, 0, r.MaxFrameLen())
	b.ReportAllocs()
	b.SetBytes(int64(len(req.Packet)))
	for b.Loop() {
		frame, res := r.Handle(buf[:0], req, bind)
		if res.Kind != want || len(frame) == 0 {
			b.Fatalf("%v/%v", res.Kind, res.Reason)
		}
	}
}

func BenchmarkHandleDiscover(b *testing.B) { benchHandle(b, discover(1), KindOffer) }
func BenchmarkHandleRequest(b *testing.B)  { benchHandle(b, request(1), KindAck) }
func BenchmarkHandleInform(b *testing.B) {
	benchHandle(b, Message{Type: TypeInform, XID: 1, CHAddr: vmMAC, CIAddr: vmIP, ParamRequest: dhclientPRL}, KindInformAck)
}

func BenchmarkParseRequest(b *testing.B) {
	pkt := packetOf(request(1))
	b.ReportAllocs()
	for b.Loop() {
		if _, r := ParseRequest(pkt); r != ReasonNone {
			b.Fatal(r)
		}
	}
}

func BenchmarkHandleDrop(b *testing.B) {
	r := mustResponder(b, testConfig())
	bind := testBinding()
	req := Request{Packet: packetOf(discover(1)), SrcMAC: net.HardwareAddr{0xaa, 0, 0, 0, 0, 9}}
	b.ReportAllocs()
	for b.Loop() {
		if _, res := r.Handle(nil, req, bind); res.Reason != ReasonChaddrMismatch {
			b.Fatal(res.Reason)
		}
	}
}

func BenchmarkBuildRequest(b *testing.B) {
	m := request(1)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		BuildRequest(buf[:0], &m)
	}
}

func TestHandleAllocs(t *testing.T) {
	r := mustResponder(t, testConfig())
	bind := testBinding()
	buf := make([]byte, 0, r.MaxFrameLen())
	for _, m := range []Message{discover(1), request(2), {Type: TypeInform, CHAddr: vmMAC, CIAddr: vmIP}} {
		req := Request{Packet: packetOf(m), SrcMAC: net.HardwareAddr(vmMAC[:])}
		if n := testing.AllocsPerRun(100, func() { r.Handle(buf[:0], req, bind) }); n != 0 {
			t.Errorf("%v: Handle allocates %v times", m.Type, n)
		}
	}
}
