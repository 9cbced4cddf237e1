package nfqueue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/nettest"
)

// failsafe bounds waits in tests; it is not a timing goal.
const failsafe = 5 * time.Second

// serve runs q.Serve in the background; the returned stop cancels it and
// returns its error.
func serve(t *testing.T, q *Queue, h Handler) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Serve(ctx, h) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(failsafe):
				err = errors.New("Serve did not return after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func mustRecv(t *testing.T, c *net.UDPConn, want string) {
	t.Helper()
	got, ok := recvWithin(c, failsafe)
	if !ok {
		t.Fatalf("receiver got nothing, want %q", want)
	}
	if string(got) != want {
		t.Fatalf("receiver got %q, want %q", got, want)
	}
}

func send(t *testing.T, c *net.UDPConn, s string) {
	t.Helper()
	if _, err := c.Write([]byte(s)); err != nil {
		t.Fatalf("send %q: %v", s, err)
	}
}

func TestServeAcceptSeesFields(t *testing.T) {
	nettest.RequireRoot(t)
	p, q, l, s := queued(t, Config{Queue: 42})

	seen := make(chan Packet, 4)
	h := func(pk *Packet) Verdict {
		c := *pk
		c.HWAddr = bytes.Clone(pk.HWAddr)
		c.Payload = bytes.Clone(pk.Payload)
		seen <- c
		return Accept
	}
	// Serve twice: a cancelled Serve leaves the queue usable.
	for round := range 2 {
		stop := serve(t, q, h)
		msg := fmt.Sprintf("hello %d", round)
		send(t, s, msg)
		mustRecv(t, l, msg)
		pk := <-seen
		if pk.Queue != 42 || pk.HWProtocol != 0x0800 || pk.Hook != 1 {
			t.Errorf("queue %d proto %#x hook %d", pk.Queue, pk.HWProtocol, pk.Hook)
		}
		if int(pk.InDev) != p.tapIndex || pk.OutDev != 0 || pk.PhysInDev != 0 {
			t.Errorf("indev %d (want tap %d) outdev %d physindev %d", pk.InDev, p.tapIndex, pk.OutDev, pk.PhysInDev)
		}
		if pk.HWAddr.String() != p.vmMAC.String() {
			t.Errorf("hwaddr %s, want VM's %s", pk.HWAddr, p.vmMAC)
		}
		if len(pk.Payload) != 28+len(msg) || pk.Payload[0] != 0x45 || pk.Payload[9] != 17 ||
			!net.IP(pk.Payload[12:16]).Equal(net.IPv4(198, 51, 100, 2)) || string(pk.Payload[28:]) != msg {
			t.Errorf("payload %x", pk.Payload)
		}
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Serve returned %v, want context.Canceled", err)
		}
	}
	st := q.Stats()
	if st.Received != 2 || st.Accepted != 2 || st.Dropped != 0 || st.ParseErrors != 0 {
		t.Errorf("stats %+v", st)
	}
	if o := outstanding(t, p.host, 42); o.Outstanding != 0 || o.CopyMode != 2 || o.CopyRange < 65000 { // the kernel clamps to 0xffff - NLA_HDRLEN
		t.Errorf("proc %+v", o)
	}
}

func TestServeDrop(t *testing.T) {
	nettest.RequireRoot(t)
	p, q, l, s := queued(t, Config{Queue: 43})
	serve(t, q, func(*Packet) Verdict { return Drop })
	send(t, s, "drop me")
	nettest.Eventually(t, "a drop verdict", failsafe, func() bool { return q.Stats().Dropped == 1 })
	if got, ok := recvWithin(l, 200*time.Millisecond); ok {
		t.Errorf("dropped packet arrived: %q", got)
	}
	if o := outstanding(t, p.host, 43); o.Outstanding != 0 {
		t.Errorf("proc %+v", o)
	}
}

func TestServeHandlerPanic(t *testing.T) {
	nettest.RequireRoot(t)
	for _, v := range []Verdict{Accept, Drop} {
		t.Run(v.String(), func(t *testing.T) {
			p, q, l, s := queued(t, Config{Queue: 44, PanicVerdict: v})
			serve(t, q, func(pk *Packet) Verdict {
				pk.SetVerdictMark(7) // must not survive the panic
				panic("handler bug")
			})
			send(t, s, "boom")
			nettest.Eventually(t, "the panic", failsafe, func() bool { return q.Stats().Panics == 1 })
			_, arrived := recvWithin(l, 500*time.Millisecond)
			if arrived != (v == Accept) {
				t.Errorf("packet arrived = %v with panic verdict %v", arrived, v)
			}
			if o := outstanding(t, p.host, 44); o.Outstanding != 0 {
				t.Errorf("proc %+v", o)
			}
			nettest.Eventually(t, "one verdict", failsafe, func() bool { st := q.Stats(); return st.Accepted+st.Dropped == 1 })
			if st := q.Stats(); (st.Accepted == 1) != (v == Accept) {
				t.Errorf("stats %+v after panic with verdict %v", st, v)
			}
		})
	}
}

func TestSetVerdictBatch(t *testing.T) {
	nettest.RequireRoot(t)
	p, q, l, s := queued(t, Config{Queue: 45})
	ids := make(chan uint32, 8)
	serve(t, q, func(pk *Packet) Verdict { ids <- pk.ID; return Pending })
	const n = 5
	var last uint32
	for i := range n {
		send(t, s, fmt.Sprint("p", i))
		select {
		case last = <-ids:
		case <-time.After(failsafe):
			t.Fatalf("packet %d not queued", i)
		}
	}
	if o := outstanding(t, p.host, 45); o.Outstanding != n {
		t.Fatalf("outstanding %d, want %d", o.Outstanding, n)
	}
	if err := q.SetVerdictBatch(last, Accept); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		mustRecv(t, l, fmt.Sprint("p", i))
	}
	if o := outstanding(t, p.host, 45); o.Outstanding != 0 {
		t.Errorf("proc %+v", o)
	}
	// A second verdict for a gone id is refused by the kernel (ENOENT),
	// which Serve reads and counts.
	if err := q.SetVerdict(last, Accept); err != nil {
		t.Fatal(err)
	}
	nettest.Eventually(t, "the refused verdict", failsafe, func() bool { return q.Stats().VerdictErrors == 1 })
	if st := q.Stats(); st.Pending != n || st.Batches != 1 {
		t.Errorf("stats %+v", st)
	}
	if err := q.SetVerdict(1, Pending); err == nil {
		t.Error("SetVerdict(Pending) accepted")
	}
}

func TestRepeatWithMark(t *testing.T) {
	nettest.RequireRoot(t)
	_, q, l, s := queued(t, Config{Queue: 42}, "-m", "mark", "!", "--mark", "0x1")
	serve(t, q, func(pk *Packet) Verdict {
		pk.SetVerdictMark(1)
		return Repeat
	})
	send(t, s, "again")
	mustRecv(t, l, "again")
	nettest.Eventually(t, "the repeat verdict count", failsafe, func() bool { return q.Stats().Repeated == 1 })
	if st := q.Stats(); st.Received != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestFailOpen(t *testing.T) {
	nettest.RequireRoot(t)
	for _, failOpen := range []bool{true, false} {
		t.Run(fmt.Sprint("failopen=", failOpen), func(t *testing.T) {
			p, q, l, s := queued(t, Config{Queue: 42, MaxLen: 1, FailOpen: failOpen})
			entered, release := make(chan struct{}), make(chan struct{})
			serve(t, q, func(pk *Packet) Verdict {
				close(entered) // a second call would panic: only one packet fits
				<-release
				return Accept
			})
			send(t, s, "held")
			<-entered
			send(t, s, "over 1")
			send(t, s, "over 2")
			if failOpen {
				mustRecv(t, l, "over 1")
				mustRecv(t, l, "over 2")
			} else {
				nettest.Eventually(t, "queue drops", failsafe, func() bool { return outstanding(t, p.host, 42).QueueDropped == 2 })
			}
			close(release)
			mustRecv(t, l, "held")
			if got, ok := recvWithin(l, 200*time.Millisecond); ok {
				t.Errorf("unexpected %q", got)
			}
			if st := q.Stats(); st.Received != 1 || st.Panics != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestQueueBusyAndReopen(t *testing.T) {
	nettest.RequireRoot(t)
	ns := nettest.NewNS(t, "nfq-")
	q1 := openIn(t, ns, Config{Queue: 42})
	if q2, err := Open(Config{Queue: 42, NetNS: ns.Fd()}); !errors.Is(err, ErrQueueBusy) {
		if q2 != nil {
			_ = q2.Close()
		}
		t.Fatalf("second Open: %v, want ErrQueueBusy", err)
	}
	// Queues are per namespace: the same number elsewhere is free.
	openIn(t, nettest.NewNS(t, "nfq-"), Config{Queue: 42})
	if err := q1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q1.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if s, ok := Find(procStats(t, ns), 42); ok {
		t.Errorf("queue still bound after Close: %+v", s)
	}
	openIn(t, ns, Config{Queue: 42})
	if err := q1.SetVerdict(1, Accept); !errors.Is(err, ErrClosed) {
		t.Errorf("SetVerdict after Close: %v", err)
	}
}

func TestCloseStopsServe(t *testing.T) {
	nettest.RequireRoot(t)
	ns := nettest.NewNS(t, "nfq-")
	q := openIn(t, ns, Config{Queue: 42})
	done := make(chan error, 1)
	go func() { done <- q.Serve(context.Background(), func(*Packet) Verdict { return Accept }) }()
	nettest.Eventually(t, "Serve to start", failsafe, func() bool { return len(q.slot) == 1 })
	if err := q.Serve(context.Background(), func(*Packet) Verdict { return Accept }); !errors.Is(err, ErrServing) {
		t.Errorf("concurrent Serve: %v", err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Serve returned %v, want ErrClosed", err)
		}
	case <-time.After(failsafe):
		t.Fatal("Serve still running after Close")
	}
	if err := q.Serve(context.Background(), func(*Packet) Verdict { return Accept }); !errors.Is(err, ErrClosed) && !errors.Is(err, ErrServing) {
		t.Errorf("Serve after Close: %v", err)
	}
}

func TestOpenRejectsPending(t *testing.T) {
	if _, err := Open(Config{Queue: 1, PanicVerdict: Pending}); err == nil {
		t.Fatal("Pending panic verdict accepted")
	}
}

// BenchmarkKernelRoundTrip pushes UDP datagrams from a VM namespace through
// NFQUEUE (Accept) to a receiver on the host end, 32 in flight.
func BenchmarkKernelRoundTrip(b *testing.B) {
	nettest.RequireRoot(b)
	p := newVMPair(b)
	p.queueUDP(b, 42, 6767)
	q := openIn(b, p.host, Config{Queue: 42})
	l, s := p.listen(b, 6767), p.sender(b, 6767)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Serve(ctx, func(*Packet) Verdict { return Accept }) }()
	defer func() { cancel(); <-done }()

	const window = 32
	credits := make(chan struct{}, window)
	for range window {
		credits <- struct{}{}
	}
	msg := make([]byte, 64)
	got := make(chan error, 1)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	go func() {
		buf := make([]byte, 256)
		for range b.N {
			_ = l.SetReadDeadline(time.Now().Add(failsafe))
			if _, err := l.Read(buf); err != nil {
				got <- err
				return
			}
			credits <- struct{}{}
		}
		got <- nil
	}()
	for range b.N {
		<-credits
		if _, err := s.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-got; err != nil {
		b.Fatalf("receiver: %v (stats %+v)", err, q.Stats())
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pkts/s")
}

// Packets that arrive while Open (or Close) waits for a config ack are kept
// and served first, not lost without a verdict.
func TestPacketsDuringConfigAreKept(t *testing.T) {
	nettest.RequireRoot(t)
	p, q, l, s := queued(t, Config{Queue: 42})
	send(t, s, "early")
	nettest.Eventually(t, "the packet to be queued", failsafe, func() bool { return outstanding(t, p.host, 42).Outstanding == 1 })
	if err := q.request(paramsAttr(DefaultCopyRange)); err != nil {
		t.Fatal(err)
	}
	if len(q.pending) != 1 {
		t.Fatalf("%d pending messages, want 1", len(q.pending))
	}
	serve(t, q, func(*Packet) Verdict { return Accept })
	mustRecv(t, l, "early")
}

// TestCopyRangeAndOptions opens with every option and checks that a packet
// longer than the copy range arrives cut, with its original length.
func TestCopyRangeAndOptions(t *testing.T) {
	nettest.RequireRoot(t)
	p, q, l, s := queued(t, Config{Queue: 42, CopyRange: 64, MaxLen: 16, FailOpen: true, GSO: true, ReadBuffer: 1 << 20, LegacyPFBind: true})
	type seen struct {
		n      int
		capLen uint32
	}
	ch := make(chan seen, 1)
	serve(t, q, func(pk *Packet) Verdict {
		ch <- seen{len(pk.Payload), pk.CapLen}
		return Accept
	})
	msg := string(bytes.Repeat([]byte("x"), 300))
	send(t, s, msg)
	mustRecv(t, l, msg)
	if got := <-ch; got.n != 64 || got.capLen != 328 {
		t.Errorf("payload %d bytes, caplen %d; want 64, 328", got.n, got.capLen)
	}
	if o := outstanding(t, p.host, 42); o.CopyRange != 64 {
		t.Errorf("proc %+v", o)
	}
}

// TestBridgedPhysInDev: traffic entering a bridge port reaches INPUT with the
// bridge as InDev and the port (the VM's tap) as PhysInDev.
func TestBridgedPhysInDev(t *testing.T) {
	nettest.RequireRoot(t)
	p := newVMPair(t)
	p.host.Run(t, "ip", "addr", "flush", "dev", "tapq0")
	br := nettest.Bridge(t, p.host, "brq0")
	p.host.MustLink(t, "tapq0").SetMaster(t, br)
	br.AddAddr(t, netip.MustParsePrefix("198.51.100.1/24"))
	brIndex := br.Index
	p.host.Run(t, "iptables", "-A", "INPUT", "-i", "brq0", "-p", "udp", "--dport", "6767", "-j", "NFQUEUE", "--queue-num", "42")
	q := openIn(t, p.host, Config{Queue: 42})
	l, s := p.listen(t, 6767), p.sender(t, 6767)
	ch := make(chan [2]uint32, 1)
	serve(t, q, func(pk *Packet) Verdict {
		ch <- [2]uint32{pk.InDev, pk.PhysInDev}
		return Accept
	})
	send(t, s, "bridged")
	mustRecv(t, l, "bridged")
	if got := <-ch; got != [2]uint32{uint32(brIndex), uint32(p.tapIndex)} {
		t.Errorf("indev/physindev %v, want %d/%d", got, brIndex, p.tapIndex)
	}
}
