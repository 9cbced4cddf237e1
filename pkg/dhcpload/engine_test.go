package dhcpload

import (
	"net/netip"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/dhcp4"
)

// newTestEngine returns an engine on a loopSink, measuring from the start.
func newTestEngine(t testing.TB, cfg Config) (*engine, *loopSink) {
	t.Helper()
	cfg.Interface = "test0"
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	sink := newLoopSink()
	e := newEngine(cfg, sink, vmMAC)
	e.base = time.Now()
	e.run, e.rec = true, true
	return e, sink
}

// pump answers everything flushed so far with r and feeds the replies to
// e at time now; it returns how many frames were answered.
func pump(e *engine, sink *loopSink, r *responder, now int64) int {
	n := 0
	for _, f := range sink.take() {
		if reply := r.answer(f); reply != nil {
			e.handle(reply, now)
			n++
		}
	}
	e.flush()
	return n
}

func TestClosedLoopExchanges(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		legs int
	}{
		{Config{Mode: ModeDORA, InFlight: 16}, 2},
		{Config{Mode: ModeDORA, InFlight: 3, MACs: 5}, 2},
		{Config{Mode: ModeDORA, InFlight: 4, Broadcast: true}, 2},
		{Config{Mode: ModeRS, InFlight: 16}, 1},
		{Config{Mode: ModeNS, InFlight: 16, Target: routerLL}, 1},
		{Config{Mode: ModeDHCP6, InFlight: 16}, 1},
	} {
		t.Run(string(tc.cfg.Mode), func(t *testing.T) {
			e, sink := newTestEngine(t, tc.cfg)
			r := newResponder(t, tc.cfg.MACs > 1)
			for i := range e.slots {
				e.start(i, 0)
			}
			e.flush()
			const rounds = 10
			for k := 1; k <= rounds*tc.legs; k++ {
				if n := pump(e, sink, r, int64(k)*1000); n != tc.cfg.InFlight {
					t.Fatalf("round %d: %d answers, want %d", k, n, tc.cfg.InFlight)
				}
			}
			want := uint64(rounds * tc.cfg.InFlight)
			if e.c.completed != want || e.full.Count() != want {
				t.Errorf("completed %d (recorded %d), want %d", e.c.completed, e.full.Count(), want)
			}
			if e.c.late+e.c.unmatched+e.c.timeouts+e.c.naks != 0 {
				t.Errorf("counters %+v", e.c)
			}
			if got := e.full.Quantile(0.5); got != time.Duration(tc.legs)*time.Microsecond {
				t.Errorf("full p50 %v, want %d µs", got, tc.legs)
			}
			if e.inFlight() != tc.cfg.InFlight {
				t.Errorf("in flight %d", e.inFlight())
			}
		})
	}
}

func TestManyMACsRotate(t *testing.T) {
	e, sink := newTestEngine(t, Config{Mode: ModeDORA, InFlight: 4, MACs: 3})
	for i := range e.slots {
		e.start(i, 0)
	}
	e.flush()
	seen := map[[6]byte]int{}
	for _, f := range sink.take() {
		m, reason := dhcp4.ParseRequest(f[ethLen:])
		if reason != dhcp4.ReasonNone {
			t.Fatal(reason)
		}
		if [6]byte(f[6:12]) != m.CHAddr {
			t.Errorf("frame source %x, chaddr %x", f[6:12], m.CHAddr)
		}
		seen[m.CHAddr]++
	}
	want := map[[6]byte]int{vmMAC: 2, nthMAC(vmMAC, 1): 1, nthMAC(vmMAC, 2): 1}
	if len(seen) != len(want) {
		t.Fatalf("MACs %v, want %v", seen, want)
	}
	for k, v := range want {
		if seen[k] != v {
			t.Errorf("MAC %x used %d times, want %d", k, seen[k], v)
		}
	}
}

func TestTimeoutRestarts(t *testing.T) {
	e, sink := newTestEngine(t, Config{Mode: ModeDORA, InFlight: 2, Timeout: time.Millisecond})
	r := newResponder(t, false)
	for i := range e.slots {
		e.start(i, 0)
	}
	e.flush()
	stale := append([]byte(nil), r.answer(sink.take()[0])...)
	e.scan(int64(2 * time.Millisecond))
	e.flush()
	if e.c.timeouts != 2 || e.inFlight() != 2 {
		t.Fatalf("timeouts %d, in flight %d", e.c.timeouts, e.inFlight())
	}
	e.handle(stale, int64(3*time.Millisecond))
	if e.c.late != 1 || e.first.Count() != 0 {
		t.Errorf("stale OFFER: late %d, first-leg samples %d", e.c.late, e.first.Count())
	}
	if n := pump(e, sink, r, int64(4*time.Millisecond)); n != 2 {
		t.Errorf("%d answers after restart", n)
	}
}

func TestNakAndUnmatched(t *testing.T) {
	e, sink := newTestEngine(t, Config{Mode: ModeDORA, InFlight: 1})
	r := newResponder(t, false)
	e.start(0, 0)
	e.flush()
	pump(e, sink, r, 1000) // OFFER → REQUEST queued and flushed
	r.bind.IP = vmIP.Next()
	pump(e, sink, r, 2000) // NAK (the binding changed under the client)
	if e.c.naks != 1 || e.c.completed != 0 {
		t.Errorf("naks %d, completed %d", e.c.naks, e.c.completed)
	}
	if e.inFlight() != 1 || e.slots[0].state != stateFirst {
		t.Errorf("after a NAK the slot should restart with a DISCOVER")
	}
	e.handle([]byte("short"), 3000)
	if e.c.other != 1 {
		t.Errorf("other %d", e.c.other)
	}
	stray := append([]byte(nil), r.answer(buildDHCP4(nil, dhcp4.TypeDiscover, vmMAC, 0xffff0000, 0, nil, netip.Addr{}, netip.Addr{}))...)
	e.handle(stray, 3000)
	if e.c.late != 1 {
		t.Errorf("a reply to an xid of ours never sent: late %d", e.c.late)
	}
	other := nthMAC(vmMAC, 9)
	stray = buildDHCP4(nil, dhcp4.TypeDiscover, other, 1, 0, nil, netip.Addr{}, netip.Addr{})
	r.bind.MACSpoof = true
	e.handle(append([]byte(nil), r.answer(stray)...), 3000)
	if e.c.unmatched != 1 {
		t.Errorf("a reply to another MAC: unmatched %d", e.c.unmatched)
	}
}

func TestOpenLoopFreesSlots(t *testing.T) {
	e, sink := newTestEngine(t, Config{Mode: ModeRS, Rate: 1000, MaxInFlight: 4})
	r := newResponder(t, false)
	if len(e.free) != 4 {
		t.Fatalf("free %d", len(e.free))
	}
	e.start(int(e.free[3]), 0)
	e.free = e.free[:3]
	e.flush()
	pump(e, sink, r, 500)
	if len(e.free) != 4 || e.c.completed != 1 || e.inFlight() != 0 {
		t.Errorf("free %d, completed %d, in flight %d", len(e.free), e.c.completed, e.inFlight())
	}
}

// TestHotPathAllocs checks that a full exchange (build, match, record,
// restart) allocates nothing in any mode.
func TestHotPathAllocs(t *testing.T) {
	for _, cfg := range []Config{
		{Mode: ModeDORA, InFlight: 16},
		{Mode: ModeRS, InFlight: 16},
		{Mode: ModeNS, InFlight: 16, Target: routerLL},
		{Mode: ModeDHCP6, InFlight: 16},
	} {
		e, sink := newTestEngine(t, cfg)
		r := newResponder(t, false)
		for i := range e.slots {
			e.start(i, 0)
		}
		e.flush()
		now := int64(0)
		allocs := testing.AllocsPerRun(200, func() {
			now += 1000
			pump(e, sink, r, now)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per round of %d exchanges", cfg.Mode, allocs, cfg.InFlight)
		}
	}
}

func BenchmarkExchangeDORA(b *testing.B) {
	e, sink := newTestEngine(b, Config{Mode: ModeDORA, InFlight: 16})
	r := newResponder(b, false)
	for i := range e.slots {
		e.start(i, 0)
	}
	e.flush()
	b.ReportAllocs()
	now := int64(0)
	for b.Loop() {
		now += 1000
		pump(e, sink, r, now)
	}
}
