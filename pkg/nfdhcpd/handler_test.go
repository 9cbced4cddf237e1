package nfdhcpd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/dhcp4"
	"github.com/diktyo/diktyo/pkg/dhcp6"
	"github.com/diktyo/diktyo/pkg/eui64"
	"github.com/diktyo/diktyo/pkg/ndp"
	"github.com/diktyo/diktyo/pkg/nfdconf"
	"github.com/diktyo/diktyo/pkg/nfqueue"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Interface indexes of the fixed test table.
const (
	idxTap1 = 5 // routed
	idxTap2 = 7 // bridged, port of br0
	idxBr0  = 9
	idxNone = 11 // a tap without binding
)

var (
	vmMAC1 = net.HardwareAddr{0xaa, 0, 0, 0, 0, 1}
	vmMAC2 = net.HardwareAddr{0xaa, 0, 0, 0, 0, 2}
	tapMAC = [6]byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff}
)

// value reads a counter.
func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// recorder is a fake sender keeping copies of the frames.
type recorder struct {
	frames [][]byte
	ifs    []int
	err    error
	panic  bool
	keep   bool
}

func (r *recorder) Send(ifindex int, frame []byte) error {
	if r.panic {
		panic("sender exploded")
	}
	if r.err != nil {
		return r.err
	}
	if r.keep {
		r.frames = append(r.frames, bytes.Clone(frame))
		r.ifs = append(r.ifs, ifindex)
	}
	return nil
}

func testBindings(t testing.TB) []*binding.Binding {
	t.Helper()
	parse := func(tap, s string) *binding.Binding {
		b, err := binding.Parse(tap, bytes.NewReader([]byte(s)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return []*binding.Binding{
		parse("tap1", "INDEV=tap1\nIP=198.51.100.10\nMAC=aa:00:00:00:00:01\nHOSTNAME=vm1.example.org\n"+
			"GATEWAY=198.51.100.1\nSUBNET=198.51.100.0/24\nGATEWAY6=2001:db8::1\nSUBNET6=2001:db8::/64\n"),
		parse("tap2", "INDEV=br0\nIP=198.51.100.20\nMAC=aa:00:00:00:00:02\nHOSTNAME=vm2\nGATEWAY=198.51.100.1\nSUBNET=198.51.100.0/24\n"),
	}
}

func testTable(t testing.TB) *binding.Table {
	t.Helper()
	links := map[string]int{"tap1": idxTap1, "tap2": idxTap2, "br0": idxBr0}
	tab, errs := binding.NewTable(testBindings(t), func(n string) (int, error) {
		if i, ok := links[n]; ok {
			return i, nil
		}
		return 0, errors.New("no such link")
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return tab
}

func testSettings() *settings {
	c := nfdconf.Default()
	c.DHCP.ServerIP = netip.MustParseAddr("198.51.100.1")
	c.DHCP.Nameservers = []netip.Addr{netip.MustParseAddr("198.51.100.53")}
	c.IPv6.Nameservers = []netip.Addr{netip.MustParseAddr("2001:db8:53::1")}
	c.IPv6.Domains = []string{"example.org"}
	return &settings{cfg: c, dir: "/nonexistent"}
}

func testEngine(t testing.TB, out sender) *engine {
	t.Helper()
	e := newEngine(out, func(string) ([6]byte, error) { return tapMAC, nil }, newMetrics(), slog.New(slog.DiscardHandler))
	r, err := buildResponders(testSettings(), dhcp6.DUIDLL(net.HardwareAddr(tapMAC[:])))
	if err != nil {
		t.Fatal(err)
	}
	e.resp.Store(r)
	e.setTable(testTable(t))
	return e
}

func discover(mac net.HardwareAddr) []byte {
	m := dhcp4.Message{Type: dhcp4.TypeDiscover, XID: 0x1234, CHAddr: [6]byte(mac), ParamRequest: []byte{1, 3, 6, 15}}
	return dhcp4.BuildRequest(nil, &m)[14:]
}

func TestHandler(t *testing.T) {
	ll1 := eui64.LinkLocal(vmMAC1)
	rs := ndp.BuildRS(nil, vmMAC1, ll1)[14:]
	ns := ndp.BuildNS(nil, vmMAC1, ll1, eui64.LinkLocal(net.HardwareAddr(tapMAC[:])))[14:]
	ir := dhcp6.BuildInformationRequest(nil, vmMAC1, ll1, 7, dhcp6.DUIDLL(vmMAC1))[14:]
	dad := ndp.BuildNS(nil, vmMAC1, netip.IPv6Unspecified(), ll1)[14:]
	other := ndp.BuildNS(nil, vmMAC1, ll1, netip.MustParseAddr("2001:db8:ffff::1"))[14:]
	tests := []struct {
		name      string
		proto     proto
		in, phys  uint32
		hw        net.HardwareAddr
		payload   []byte
		verdict   nfqueue.Verdict
		wantIf    int    // 0: no frame
		wantFirst []byte // expected bytes at wantOff of the frame
		wantOff   int
	}{
		{"unknown tap accepted", protoDHCP4, idxNone, 0, vmMAC1, discover(vmMAC1), nfqueue.Accept, 0, nil, 0},
		{"bridge port without binding accepted", protoDHCP4, idxBr0, idxNone, vmMAC1, discover(vmMAC1), nfqueue.Accept, 0, nil, 0},
		{"routed discover offered", protoDHCP4, idxTap1, 0, vmMAC1, discover(vmMAC1), nfqueue.Drop, idxTap1,
			[]byte{198, 51, 100, 10}, 14 + 20 + 8 + 16},
		{"bridged discover offered out of the tap", protoDHCP4, idxBr0, idxTap2, vmMAC2, discover(vmMAC2), nfqueue.Drop, idxTap2,
			[]byte{198, 51, 100, 20}, 14 + 20 + 8 + 16},
		{"bridged, MAC-indexed", protoDHCP4, idxBr0, 0, vmMAC2, discover(vmMAC2), nfqueue.Drop, idxTap2,
			[]byte{198, 51, 100, 20}, 14 + 20 + 8 + 16},
		{"reply from tap MAC", protoDHCP4, idxTap1, 0, vmMAC1, discover(vmMAC1), nfqueue.Drop, idxTap1, tapMAC[:], 6},
		{"spoofed chaddr dropped", protoDHCP4, idxTap1, 0, vmMAC1, discover(vmMAC2), nfqueue.Drop, 0, nil, 0},
		{"malformed dropped", protoDHCP4, idxTap1, 0, vmMAC1, []byte{0x45, 0, 0}, nfqueue.Drop, 0, nil, 0},
		{"empty payload dropped", protoDHCP4, idxTap1, 0, vmMAC1, nil, nfqueue.Drop, 0, nil, 0},
		{"no hwaddr dropped", protoDHCP4, idxTap1, 0, nil, discover(vmMAC1), nfqueue.Drop, 0, nil, 0},
		{"rs answered with ra", protoRS, idxTap1, 0, vmMAC1, rs, nfqueue.Drop, idxTap1, []byte{ndp.TypeRouterAdvertisement}, 14 + 40},
		{"rs without subnet6 dropped", protoRS, idxBr0, idxTap2, vmMAC2, rs, nfqueue.Drop, 0, nil, 0},
		{"ns for router answered", protoNS, idxTap1, 0, vmMAC1, ns, nfqueue.Drop, idxTap1, []byte{ndp.TypeNeighborAdvertisement}, 14 + 40},
		{"garbage ns dropped", protoNS, idxTap1, 0, vmMAC1, []byte{0x60, 1, 2}, nfqueue.Drop, 0, nil, 0},
		{"dad ns passed on unanswered", protoNS, idxTap1, 0, vmMAC1, dad, nfqueue.Accept, 0, nil, 0},
		{"ns for a foreign target passed on", protoNS, idxTap1, 0, vmMAC1, other, nfqueue.Accept, 0, nil, 0},
		{"information-request answered", protoDHCP6, idxTap1, 0, vmMAC1, ir, nfqueue.Drop, idxTap1, []byte{0, 1, 2, 7}, 14 + 40 + 2 - 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{keep: true}
			e := testEngine(t, rec)
			q := newQueueHandler(e, tc.proto)
			v := q.handle(&nfqueue.Packet{ID: 1, InDev: tc.in, PhysInDev: tc.phys, HWAddr: tc.hw, Payload: tc.payload})
			if v != tc.verdict {
				t.Fatalf("verdict %v, want %v", v, tc.verdict)
			}
			if tc.wantIf == 0 {
				if len(rec.frames) != 0 {
					t.Fatalf("sent %d frames, want none", len(rec.frames))
				}
				return
			}
			if len(rec.frames) != 1 || rec.ifs[0] != tc.wantIf {
				t.Fatalf("sent %d frames to %v, want 1 to %d", len(rec.frames), rec.ifs, tc.wantIf)
			}
			f := rec.frames[0]
			if !bytes.Equal(f[6:12], tapMAC[:]) {
				t.Errorf("source MAC %x, want the tap's %x", f[6:12], tapMAC)
			}
			if tc.proto == protoDHCP6 {
				// UDP source port 547 → destination 546.
				if got := f[14+40 : 14+44]; !bytes.Equal(got, []byte{2, 35, 2, 34}) {
					t.Errorf("UDP ports %x", got)
				}
				return
			}
			if got := f[tc.wantOff : tc.wantOff+len(tc.wantFirst)]; !bytes.Equal(got, tc.wantFirst) {
				t.Errorf("bytes at %d: %x, want %x", tc.wantOff, got, tc.wantFirst)
			}
		})
	}
}

func TestHandlerCounts(t *testing.T) {
	e := testEngine(t, &recorder{})
	q := newQueueHandler(e, protoDHCP4)
	q.handle(&nfqueue.Packet{InDev: idxTap1, HWAddr: vmMAC1, Payload: discover(vmMAC1)})
	q.handle(&nfqueue.Packet{InDev: idxTap1, HWAddr: vmMAC1, Payload: []byte{1}})
	q.handle(&nfqueue.Packet{InDev: idxNone, HWAddr: vmMAC1, Payload: discover(vmMAC1)})
	pm := &e.m.p[protoDHCP4]
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"offers", value(pm.replies[dhcp4.KindOffer]), 1},
		{"discovers", value(pm.requests[dhcp4.TypeDiscover]), 1},
		{"malformed", value(pm.notAnswered[dhcp4.ReasonMalformedIP]), 1},
		{"unknown", value(pm.unknownTap), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestHandlerPanicAndSendError(t *testing.T) {
	rec := &recorder{panic: true}
	e := testEngine(t, rec)
	q := newQueueHandler(e, protoDHCP4)
	if v := q.handle(&nfqueue.Packet{InDev: idxTap1, HWAddr: vmMAC1, Payload: discover(vmMAC1)}); v != nfqueue.Drop {
		t.Fatalf("verdict after panic %v, want drop", v)
	}
	if n := value(e.m.p[protoDHCP4].panics); n != 1 {
		t.Fatalf("panics = %v", n)
	}
	rec.panic, rec.err = false, errors.New("EAGAIN")
	if v := q.handle(&nfqueue.Packet{InDev: idxTap1, HWAddr: vmMAC1, Payload: discover(vmMAC1)}); v != nfqueue.Drop {
		t.Fatalf("verdict after send error %v, want drop", v)
	}
	if n := value(e.m.p[protoDHCP4].sendErrors); n != 1 {
		t.Fatalf("send errors = %v", n)
	}
}

func TestHandlerNoMAC(t *testing.T) {
	e := newEngine(&recorder{}, func(string) ([6]byte, error) { return [6]byte{}, ErrNoMAC }, newMetrics(), slog.New(slog.DiscardHandler))
	r, _ := buildResponders(testSettings(), dhcp6.DUIDLL(vmMAC1))
	e.resp.Store(r)
	e.setTable(testTable(t))
	q := newQueueHandler(e, protoDHCP4)
	if v := q.handle(&nfqueue.Packet{InDev: idxTap1, HWAddr: vmMAC1, Payload: discover(vmMAC1)}); v != nfqueue.Drop {
		t.Fatalf("verdict %v", v)
	}
	if n := value(e.m.p[protoDHCP4].noMAC); n != 1 {
		t.Fatalf("no-MAC count %v", n)
	}
}

func TestHandlerDisabled(t *testing.T) {
	e := testEngine(t, &recorder{})
	e.resp.Store(&responders{})
	for p := range numProtos {
		q := newQueueHandler(e, p)
		if v := q.handle(&nfqueue.Packet{InDev: idxTap1, HWAddr: vmMAC1, Payload: discover(vmMAC1)}); v != nfqueue.Accept {
			t.Errorf("%v disabled: verdict %v, want accept", p, v)
		}
	}
}

// FuzzHandler feeds arbitrary payloads to every function: no panic, Drop
// for a known tap and frames only out of that tap, Accept for a tap
// without a binding and no frame at all.
func FuzzHandler(f *testing.F) {
	f.Add(uint8(0), discover(vmMAC1))
	f.Add(uint8(1), ndp.BuildRS(nil, vmMAC1, eui64.LinkLocal(vmMAC1))[14:])
	f.Add(uint8(3), dhcp6.BuildInformationRequest(nil, vmMAC1, eui64.LinkLocal(vmMAC1), 1, nil)[14:])
	f.Fuzz(func(t *testing.T, p uint8, payload []byte) {
		rec := &recorder{keep: true}
		e := testEngine(t, rec)
		q := newQueueHandler(e, proto(p%uint8(numProtos)))
		if v := q.handle(&nfqueue.Packet{InDev: idxTap1, HWAddr: vmMAC1, Payload: payload}); v != nfqueue.Drop {
			t.Fatalf("known tap: verdict %v, want drop", v)
		}
		sent := len(rec.ifs)
		for _, ifindex := range rec.ifs {
			if ifindex != idxTap1 {
				t.Fatalf("frame sent out of interface %d, not the known tap %d", ifindex, idxTap1)
			}
		}
		// The same payload from a tap without a binding: let through,
		// and nothing sent anywhere.
		if v := q.handle(&nfqueue.Packet{InDev: idxNone, HWAddr: vmMAC1, Payload: payload}); v != nfqueue.Accept {
			t.Fatalf("unknown tap: verdict %v, want accept", v)
		}
		if len(rec.ifs) != sent {
			t.Fatalf("a frame was sent for a tap without a binding (to %d)", rec.ifs[len(rec.ifs)-1])
		}
		if n := value(e.m.p[q.proto].panics); n != 0 {
			t.Fatal("handler panicked")
		}
	})
}

func TestHandlerAllocs(t *testing.T) {
	e := testEngine(t, &recorder{})
	for p, payload := range map[proto][]byte{
		protoDHCP4: discover(vmMAC1),
		protoRS:    ndp.BuildRS(nil, vmMAC1, eui64.LinkLocal(vmMAC1))[14:],
		protoDHCP6: dhcp6.BuildInformationRequest(nil, vmMAC1, eui64.LinkLocal(vmMAC1), 7, dhcp6.DUIDLL(vmMAC1))[14:],
	} {
		q := newQueueHandler(e, p)
		pkt := &nfqueue.Packet{InDev: idxTap1, HWAddr: vmMAC1, Payload: payload}
		if n := testing.AllocsPerRun(100, func() { q.handle(pkt) }); n != 0 {
			t.Errorf("%v: %v allocations per packet, want 0", p, n)
		}
	}
}

// TestHandlerAllocsInfoLog: with replies logged at Info (the default), a
// tap that has used up its log burst costs no allocation per packet.
func TestHandlerAllocsInfoLog(t *testing.T) {
	e := testEngine(t, &recorder{})
	e.log = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	q := newQueueHandler(e, protoDHCP4)
	pkt := &nfqueue.Packet{InDev: idxTap1, HWAddr: vmMAC1, Payload: discover(vmMAC1)}
	for range 2 * logBurst {
		q.handle(pkt)
	}
	if n := testing.AllocsPerRun(100, func() { q.handle(pkt) }); n != 0 {
		t.Errorf("%v allocations per packet once rate-limited, want 0", n)
	}
}

func BenchmarkHandlerDHCP4(b *testing.B) {
	e := testEngine(b, &recorder{})
	q := newQueueHandler(e, protoDHCP4)
	pkt := &nfqueue.Packet{InDev: idxTap1, HWAddr: vmMAC1, Payload: discover(vmMAC1)}
	b.ReportAllocs()
	for b.Loop() {
		if q.handle(pkt) != nfqueue.Drop {
			b.Fatal("not dropped")
		}
	}
}

func BenchmarkHandlerRS(b *testing.B) {
	e := testEngine(b, &recorder{})
	q := newQueueHandler(e, protoRS)
	pkt := &nfqueue.Packet{InDev: idxTap1, HWAddr: vmMAC1, Payload: ndp.BuildRS(nil, vmMAC1, eui64.LinkLocal(vmMAC1))[14:]}
	b.ReportAllocs()
	for b.Loop() {
		q.handle(pkt)
	}
}

// chanSender delivers frames to a channel, for the RA scheduler.
type chanSender chan []byte

func (c chanSender) Send(ifindex int, frame []byte) error {
	c <- append([]byte{byte(ifindex)}, frame...)
	return nil
}

func TestRAScheduler(t *testing.T) {
	ch := make(chanSender, 64)
	e := testEngine(t, ch)
	r := *e.resp.Load()
	r.raPeriod = 400 * time.Millisecond
	e.resp.Store(&r)
	s := newRAScheduler(e)
	e.onTab = func(*binding.Table) { s.notify() }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	got := func() []byte {
		select {
		case f := <-ch:
			return f
		case <-time.After(20 * time.Second):
			t.Fatal("no RA")
		}
		return nil
	}
	// Only tap1 has SUBNET6: an RA at once, then periodic ones.
	for i := range 3 {
		f := got()
		if f[0] != idxTap1 || f[1+14+40] != ndp.TypeRouterAdvertisement {
			t.Fatalf("RA %d: frame to %d, ICMPv6 type %d", i, f[0], f[1+14+40])
		}
	}
	// A binding going away stops its RAs.
	e.setTable(nil)
	time.Sleep(100 * time.Millisecond)
	for len(ch) > 0 {
		<-ch
	}
	select {
	case f := <-ch:
		t.Fatalf("RA after the binding went away: to %d", f[0])
	case <-time.After(time.Second):
	}
	if n := value(e.m.periodicRA); n < 3 {
		t.Fatalf("periodic RA count %v", n)
	}
}

func TestLimiter(t *testing.T) {
	var l limiter
	now := time.Unix(1000, 0)
	k := limitKey(5, 1)
	n := 0
	for range 100 {
		if ok, _ := l.allow(k, now); ok {
			n++
		}
	}
	if n != logBurst {
		t.Fatalf("burst allowed %d, want %d", n, logBurst)
	}
	if ok, _ := l.allow(limitKey(6, 1), now); !ok {
		t.Fatal("another tap was limited")
	}
	ok, supp := l.allow(k, now.Add(logInterval))
	if !ok || supp != 100-logBurst {
		t.Fatalf("after one interval: %v, suppressed %d", ok, supp)
	}
}

func TestLabelize(t *testing.T) {
	for in, want := range map[string]string{
		"drop: bad ICMPv6 checksum":           "drop-bad-icmpv6-checksum",
		"ignored: solicit (stateless server)": "ignored-solicit-stateless-server",
		"reply":                               "reply",
	} {
		if got := labelize(in); got != want {
			t.Errorf("labelize(%q) = %q, want %q", in, got, want)
		}
	}
}
