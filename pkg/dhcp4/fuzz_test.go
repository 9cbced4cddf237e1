package dhcp4

import (
	"bytes"
	"net"
	"net/netip"
	"reflect"
	"testing"

	"github.com/diktyo/diktyo/pkg/inetsum"
)

func fuzzSeeds(f *testing.F, extra func(pkt []byte)) {
	for _, m := range []Message{
		discover(1), request(2),
		{Type: TypeRequest, XID: 3, CHAddr: vmMAC, CIAddr: vmIP},
		{Type: TypeInform, XID: 4, CHAddr: vmMAC, CIAddr: vmIP, MaxSize: 1500},
		{Type: TypeRelease, XID: 5, CHAddr: vmMAC, CIAddr: vmIP, ServerID: serverIP},
		{Type: TypeDecline, XID: 6, CHAddr: vmMAC, RequestedIP: vmIP},
		{Type: TypeDiscover, XID: 7, CHAddr: vmMAC, Flags: FlagBroadcast, ParamRequest: []byte{}},
	} {
		extra(packetOf(m))
	}
	extra(wrapBOOTP(rawBOOTP(53, 1, 1, 12, 9, 'x')))
	extra(wrapBOOTP(rawBOOTP(0, 53, 1, 3, 50, 4, 198, 18, 100, 77, 55, 3, 1, 121, 249)))
}

func FuzzHandle(f *testing.F) {
	fuzzSeeds(f, func(pkt []byte) { f.Add(pkt, uint8(0)); f.Add(pkt, uint8(0xff)) })
	cfg := testConfig()
	r := mustResponder(f, cfg)
	cfg.ServerIP, cfg.ServerMAC = netip.Addr{}, nil
	bare := mustResponder(f, cfg)
	f.Fuzz(func(t *testing.T, pkt []byte, flags uint8) {
		b := testBinding()
		b.MACSpoof = flags&1 != 0
		b.Private = flags&2 != 0
		if flags&4 != 0 {
			b.Subnet = netip.MustParsePrefix("198.18.100.77/32")
		}
		if flags&8 != 0 {
			b.MTU = 0
		}
		req := Request{Packet: pkt, SrcMAC: net.HardwareAddr(vmMAC[:])}
		if m, reason := ParseRequest(pkt); reason == ReasonNone && flags&16 != 0 {
			// Let the fuzzer pass the MAC checks with any chaddr.
			req.SrcMAC = m.CHAddr[:]
			b.MAC = m.CHAddr[:]
		}
		resp := r
		if flags&32 != 0 {
			resp = bare
			req.ServerMAC = serverMAC
		}
		prefix := []byte{1, 2, 3}
		dst := make([]byte, len(prefix), len(prefix)+resp.MaxFrameLen())
		copy(dst, prefix)
		frame, res := resp.Handle(dst, req, b)
		if !bytes.Equal(frame[:len(prefix)], prefix) {
			t.Fatal("prefix clobbered")
		}
		if &frame[0] != &dst[0] {
			t.Fatal("Handle reallocated although dst had MaxFrameLen spare capacity")
		}
		body := frame[len(prefix):]
		if res.Kind.Replied() != (len(body) > 0) {
			t.Fatalf("kind %v with %d bytes", res.Kind, len(body))
		}
		if (res.Kind == KindDrop) == (res.Reason == ReasonNone) && res.Kind != KindNak {
			t.Fatalf("kind %v with reason %v", res.Kind, res.Reason)
		}
		if len(body) == 0 {
			return
		}
		checkFrame(t, body)
		if limit := max(int(res.Msg.MaxSize), MinMaxMessageSize); len(body)-ethHdrLen > limit {
			t.Fatalf("IP datagram %d > %d", len(body)-ethHdrLen, limit)
		}
	})
}

func FuzzParseRequest(f *testing.F) {
	fuzzSeeds(f, func(pkt []byte) { f.Add(pkt) })
	f.Fuzz(func(t *testing.T, pkt []byte) {
		m, reason := ParseRequest(pkt)
		if reason != ReasonNone {
			return
		}
		frame := BuildRequest(nil, &m)
		m2, reason := ParseRequest(frame[ethHdrLen:])
		if reason != ReasonNone {
			t.Fatalf("rebuilt request does not parse: %v", reason)
		}
		if (m.ParamRequest == nil) != (m2.ParamRequest == nil) || !bytes.Equal(m.ParamRequest, m2.ParamRequest) {
			t.Fatalf("PRL %v != %v", m.ParamRequest, m2.ParamRequest)
		}
		m.ParamRequest, m2.ParamRequest = nil, nil
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip:\n%+v\n%+v", m, m2)
		}
		if inetsum.Fold(inetsum.Add(0, frame[ethHdrLen:ethHdrLen+ipv4HdrLen])) != 0xffff {
			t.Fatal("bad IPv4 checksum in built request")
		}
	})
}
