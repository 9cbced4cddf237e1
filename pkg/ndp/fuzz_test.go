package ndp

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	mdndp "github.com/mdlayher/ndp"

	"github.com/diktyo/diktyo/pkg/ip6frame"
	"github.com/diktyo/diktyo/pkg/nettest"
)

// fuzzReply checks that a reply is a valid frame and that the request
// round-trips: rebuilding the request from what was parsed yields the same
// reply.
func fuzzReply(t *testing.T, r *Responder, p Packet, out []byte, rebuild func(h ip6frame.Header) []byte) {
	h, err := ip6frame.Parse(out[ip6frame.EthernetHeaderLen:])
	if err != nil || len(h.Payload) != len(out)-ip6frame.HeaderLen {
		t.Fatalf("reply IPv6 header: %v", err)
	}
	if nettest.RefChecksum6(out[ip6frame.EthernetHeaderLen:]) != 0 {
		t.Fatal("reply checksum does not verify")
	}
	if _, err := mdndp.ParseMessage(h.Payload); err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	req, _ := ip6frame.Parse(p.IPv6)
	p.IPv6 = rebuild(req)[ip6frame.EthernetHeaderLen:]
	again, res := r.Handle(nil, p)
	if res != Reply || !bytes.Equal(again, out) {
		t.Fatalf("rebuilt request: %v, reply differs", res)
	}
}

func seedsRS(f *testing.F) {
	for _, src := range []netip.Addr{vmLL, privLL, vmEUI64, netip.IPv6Unspecified(), outside} {
		f.Add(ipOf(BuildRS(nil, vmMAC, src)), false)
	}
	f.Add(ipOf(BuildRS(nil, otherMAC, vmLL)), true)
}

func seedsNS(f *testing.F) {
	for _, tg := range []netip.Addr{routerLL, gw6, neighbor, vmEUI64, vmLL, outside} {
		f.Add(ipOf(BuildNS(nil, vmMAC, vmLL, tg)), false)
		f.Add(ipOf(BuildNS(nil, vmMAC, netip.IPv6Unspecified(), tg)), false)
	}
	f.Add(ipOf(BuildNS(nil, otherMAC, vmEUI64, gw6)), true)
}

func FuzzHandleRS(f *testing.F) {
	seedsRS(f)
	fuzzHandler(f, (*Responder).HandleRS, func(src net.HardwareAddr, h ip6frame.Header) []byte {
		return BuildRS(nil, src, h.Src)
	})
}

func FuzzHandleNS(f *testing.F) {
	seedsNS(f)
	fuzzHandler(f, (*Responder).HandleNS, func(src net.HardwareAddr, h ip6frame.Header) []byte {
		return BuildNS(nil, src, h.Src, netip.AddrFrom16([16]byte(h.Payload[8:24])))
	})
}

// fuzzHandler fuzzes one handler of the test responder with packets from
// the VM (or, spoofing, from another MAC): every result is a known one, a
// drop writes nothing and a reply passes fuzzReply, request rebuilding
// the solicitation that reply answers.
func fuzzHandler(f *testing.F, handle func(*Responder, []byte, Packet) ([]byte, Result), request func(src net.HardwareAddr, h ip6frame.Header) []byte) {
	r := newTestResponder(f, testConfig())
	f.Fuzz(func(t *testing.T, pkt []byte, spoof bool) {
		b := routedBinding()
		b.MACSpoof = spoof
		src := vmMAC
		if spoof {
			src = otherMAC
		}
		p := Packet{IPv6: pkt, SrcMAC: src, DevMAC: devMAC, Binding: b}
		out, res := handle(r, nil, p)
		if res >= NumResults {
			t.Fatalf("result %d", res)
		}
		if res != Reply {
			if len(out) != 0 {
				t.Fatal("drop wrote bytes")
			}
			return
		}
		fuzzReply(t, r, p, out, func(h ip6frame.Header) []byte { return request(src, h) })
	})
}

func BenchmarkRSRA(b *testing.B) {
	r := newTestResponder(b, testConfig())
	p := Packet{IPv6: rs(vmLL, vmMAC), SrcMAC: vmMAC, DevMAC: devMAC, Binding: routedBinding()}
	buf := make([]byte, 0, 1514)
	b.ReportAllocs()
	for b.Loop() {
		if _, res := r.HandleRS(buf[:0], p); res != Reply {
			b.Fatal(res)
		}
	}
}

func BenchmarkNSNA(b *testing.B) {
	r := newTestResponder(b, testConfig())
	p := Packet{IPv6: ns(vmEUI64, gw6, vmMAC), SrcMAC: vmMAC, DevMAC: devMAC, Binding: routedBinding()}
	buf := make([]byte, 0, 1514)
	b.ReportAllocs()
	for b.Loop() {
		if _, res := r.HandleNS(buf[:0], p); res != Reply {
			b.Fatal(res)
		}
	}
}

func BenchmarkPeriodicRA(b *testing.B) {
	r := newTestResponder(b, testConfig())
	bd := routedBinding()
	buf := make([]byte, 0, 1514)
	b.ReportAllocs()
	for b.Loop() {
		if _, res := r.PeriodicRA(buf[:0], devMAC, bd); res != Reply {
			b.Fatal(res)
		}
	}
}

func BenchmarkDropChecksum(b *testing.B) {
	r := newTestResponder(b, testConfig())
	pkt := rs(vmLL, vmMAC)
	pkt[42] ^= 1
	p := Packet{IPv6: pkt, SrcMAC: vmMAC, DevMAC: devMAC, Binding: routedBinding()}
	b.ReportAllocs()
	for b.Loop() {
		if _, res := r.HandleRS(nil, p); res != DropChecksum {
			b.Fatal(res)
		}
	}
}
