package dhcpload

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"runtime/metrics"
	"time"

	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/dhcp4"
	"github.com/diktyo/diktyo/pkg/dhcp6"
)

// ErrNoAnswer is returned by Run when not a single exchange completed.
var ErrNoAnswer = errors.New("no exchange completed")

// Slot states.
const (
	stateIdle uint8 = iota
	stateFirst
	stateSecond
)

// How often timeouts and the context are checked, and how long a receive
// blocks at most.
const (
	scanEvery  = time.Millisecond
	rcvTimeout = 5 * time.Millisecond
)

// slot is one exchange in flight.
type slot struct {
	state    uint8
	seq      uint32
	xid      uint32
	mac      uint32
	src      [16]byte // NDP/DHCPv6 source address, the reply's destination
	start    int64    // exchange start, ns since engine.base
	sent     int64    // last message sent
	deadline int64
	buf      []byte
}

// counters are the events of a run; only those during the measurement
// window are reported.
type counters struct {
	started, completed, timeouts, naks, unmatched, late, other, sendErrors, skipped uint64
}

// frameSink sends frames in batches: the packet socket, or a test's fake.
type frameSink interface {
	// queue adds f to the batch; f must stay unchanged until flush. It
	// returns how many frames failed if the batch had to be flushed.
	queue(f []byte) (failed int)
	// flush sends the batch and returns how many frames failed.
	flush() (failed int)
}

// engine runs one Config. Its methods are the hot path: they allocate
// nothing.
type engine struct {
	cfg    Config
	sink   frameSink
	sock   frameIO
	base   time.Time
	slots  []slot
	free   []int32
	layout xidLayout
	macs   [][6]byte
	macHW  []net.HardwareAddr
	duids  [][]byte
	prl    []byte
	flags  uint16
	next   int
	tmo    int64
	run    bool  // start new exchanges
	rec    bool  // measuring
	recAt  int64 // when measuring began
	c      counters
	full   Histogram
	first  Histogram
	second Histogram
}

func newEngine(cfg Config, sink frameSink, base [6]byte) *engine {
	e := &engine{cfg: cfg, sink: sink, tmo: int64(cfg.Timeout), prl: dhclientPRL[:]}
	if cfg.Broadcast {
		e.flags = dhcp4.FlagBroadcast
	}
	n := cfg.slotCount()
	width := uint(32)
	if cfg.Mode == ModeDHCP6 {
		width = 24
	}
	e.layout = newXIDLayout(n, width)
	e.slots = make([]slot, n)
	for i := range e.slots {
		e.slots[i].buf = make([]byte, 0, maxFrameSize)
	}
	if cfg.openLoop() {
		e.free = make([]int32, 0, n)
		for i := n - 1; i >= 0; i-- {
			e.free = append(e.free, int32(i))
		}
	}
	e.macs = make([][6]byte, cfg.MACs)
	e.macHW = make([]net.HardwareAddr, cfg.MACs)
	e.duids = make([][]byte, cfg.MACs)
	for i := range e.macs {
		e.macs[i] = nthMAC(base, i)
		e.macHW[i] = e.macs[i][:]
		e.duids[i] = dhcp6.DUIDLL(e.macHW[i])
	}
	return e
}

func (e *engine) now() int64 { return int64(time.Since(e.base)) }

// send queues s's frame.
func (e *engine) send(s *slot, now int64) {
	s.sent, s.deadline = now, now+e.tmo
	if e.sink.queue(s.buf) > 0 && e.rec {
		e.c.sendErrors++
	}
}

// flush sends the queued frames.
func (e *engine) flush() {
	if f := e.sink.flush(); f > 0 && e.rec {
		e.c.sendErrors += uint64(f)
	}
}

// start begins a new exchange in slot i.
func (e *engine) start(i int, now int64) {
	s := &e.slots[i]
	s.seq++
	s.mac = uint32(e.next)
	e.next++
	if e.next == len(e.macs) {
		e.next = 0
	}
	s.xid = e.layout.xid(i, s.seq)
	s.state, s.start = stateFirst, now
	mac := e.macHW[s.mac]
	switch e.cfg.Mode {
	case ModeDORA:
		s.buf = buildDHCP4(s.buf[:0], dhcp4.TypeDiscover, e.macs[s.mac], s.xid, e.flags, e.prl, netip.Addr{}, netip.Addr{})
	case ModeRS:
		src := ndpSource(uint16(i), s.seq)
		s.src = src.As16()
		s.buf = buildRS(s.buf[:0], mac, src)
	case ModeNS:
		src := ndpSource(uint16(i), s.seq)
		s.src = src.As16()
		s.buf = buildNS(s.buf[:0], mac, src, e.cfg.Target)
	case ModeDHCP6:
		src := ndpSource(uint16(i), s.seq)
		s.src = src.As16()
		s.buf = buildIR(s.buf[:0], mac, src, s.xid, e.duids[s.mac])
	}
	if e.rec {
		e.c.started++
	}
	e.send(s, now)
}

// finish ends the exchange in slot i (done or timed out) and starts the
// next one: in the same slot in closed loop, or frees the slot.
func (e *engine) finish(i int, now int64) {
	e.slots[i].state = stateIdle
	switch {
	case !e.run:
	case e.cfg.openLoop():
		e.free = append(e.free, int32(i))
	default:
		e.start(i, now)
	}
}

// complete records a finished exchange in slot i.
func (e *engine) complete(i int, now int64) {
	s := &e.slots[i]
	if e.rec {
		e.c.completed++
		e.full.Record(time.Duration(now - s.start))
		if s.state == stateSecond {
			e.second.Record(time.Duration(now - s.sent))
		} else {
			e.first.Record(time.Duration(now - s.sent))
		}
	}
	e.finish(i, now)
}

// handle matches one received frame to its exchange and moves it on.
func (e *engine) handle(f []byte, now int64) {
	switch e.cfg.Mode {
	case ModeDORA:
		e.handleDHCP4(f, now)
	case ModeRS, ModeNS:
		r, ok := parseNDP(f)
		if !ok || e.cfg.Mode == ModeRS && r.Type != typeRA || e.cfg.Mode == ModeNS && r.Type != typeNA {
			e.miss(missOther)
			return
		}
		if e.cfg.Mode == ModeNS && r.Target != e.cfg.Target.As16() {
			e.miss(missUnmatched)
			return
		}
		e.handleByDst(r.Dst, now)
	case ModeDHCP6:
		r, ok := parseReply6(f)
		if !ok || r.Type != dhcp6.MsgReply {
			e.miss(missOther)
			return
		}
		i := e.layout.slot(r.XID)
		if i >= len(e.slots) {
			e.miss(missUnmatched)
			return
		}
		if e.slots[i].xid != r.XID || e.slots[i].src != r.Dst || e.slots[i].state != stateFirst {
			e.miss(missLate)
			return
		}
		e.complete(i, now)
	}
}

// Kinds of frames that answer nothing in flight.
const (
	missOther     = iota // not a reply of the mode's kind (a tap sees all)
	missUnmatched        // a reply of that kind for no exchange of ours
	missLate             // a reply to an exchange already finished
)

// miss counts a frame that answers nothing in flight.
func (e *engine) miss(kind int) {
	if !e.rec {
		return
	}
	switch kind {
	case missOther:
		e.c.other++
	case missUnmatched:
		e.c.unmatched++
	default:
		e.c.late++
	}
}

func (e *engine) handleByDst(dst [16]byte, now int64) {
	si, seq, ok := ndpSlot(dst)
	i := int(si)
	if !ok || i >= len(e.slots) {
		e.miss(missUnmatched)
		return
	}
	s := &e.slots[i]
	if s.seq != seq || s.state != stateFirst {
		e.miss(missLate)
		return
	}
	e.complete(i, now)
}

func (e *engine) handleDHCP4(f []byte, now int64) {
	r, ok := parseReply4(f)
	if !ok {
		e.miss(missOther)
		return
	}
	i := e.layout.slot(r.XID)
	if i >= len(e.slots) || r.CHAddr != e.macs[e.slots[i].mac] {
		e.miss(missUnmatched)
		return
	}
	if e.slots[i].xid != r.XID || e.slots[i].state == stateIdle {
		e.miss(missLate)
		return
	}
	s := &e.slots[i]
	switch {
	case s.state == stateFirst && r.Type == dhcp4.TypeOffer:
		if e.rec {
			e.first.Record(time.Duration(now - s.sent))
		}
		sid := netip.Addr{}
		if r.HasSID {
			sid = netip.AddrFrom4(r.ServerID)
		}
		s.buf = buildDHCP4(s.buf[:0], dhcp4.TypeRequest, e.macs[s.mac], s.xid, e.flags, e.prl,
			netip.AddrFrom4(r.YIAddr), sid)
		s.state = stateSecond
		e.send(s, now)
	case s.state == stateSecond && r.Type == dhcp4.TypeAck:
		e.complete(i, now)
	case s.state == stateSecond && r.Type == dhcp4.TypeNak:
		if e.rec {
			e.c.naks++
		}
		e.finish(i, now)
	default:
		e.miss(missLate) // e.g. a second OFFER to the same DISCOVER
	}
}

// scan times out overdue exchanges.
func (e *engine) scan(now int64) {
	for i := range e.slots {
		s := &e.slots[i]
		if s.state != stateIdle && now > s.deadline {
			// Messages sent before the window (e.g. lost while a tap's
			// carrier came up) do not count against the window.
			if e.rec && s.sent >= e.recAt {
				e.c.timeouts++
			}
			e.finish(i, now)
		}
	}
}

// inFlight counts exchanges not finished.
func (e *engine) inFlight() int {
	n := 0
	for i := range e.slots {
		if e.slots[i].state != stateIdle {
			n++
		}
	}
	return n
}

// measurement holds what is read at the edges of the measured window.
type measurement struct {
	at        int64
	serverCPU time.Duration
	selfCPU   time.Duration
	drops     uint64
	allocs    uint64 // heap objects this process allocated so far
}

func (e *engine) mark(now int64) (measurement, error) {
	m := measurement{at: now, selfCPU: selfCPU(), drops: e.sock.drops(), allocs: heapAllocs()}
	if e.cfg.ServerPID != 0 {
		cpu, err := ProcessCPU(e.cfg.ServerPID)
		if err != nil {
			return m, err
		}
		m.serverCPU = cpu
	}
	return m, nil
}

// heapAllocs returns how many heap objects the process has allocated.
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// loop runs the load until the end of the measured window.
func (e *engine) loop(ctx context.Context) (m0, m1 measurement, err error) {
	measureAt := int64(e.cfg.Warmup)
	end := measureAt + int64(e.cfg.Duration)
	interval := int64(0)
	if e.cfg.openLoop() {
		interval = max(int64(float64(time.Second)/e.cfg.Rate), 1)
	}
	e.run = true
	if measureAt == 0 {
		e.rec = true
		if m0, err = e.mark(0); err != nil {
			return m0, m1, err
		}
	}
	now := e.now()
	if !e.cfg.openLoop() {
		for i := range e.slots {
			e.start(i, now)
		}
		e.flush()
	}
	nextStart, nextScan := now, now+int64(scanEvery)
	for {
		now = e.now()
		if now >= end {
			break
		}
		if !e.rec && now >= measureAt {
			if m0, err = e.mark(now); err != nil {
				return m0, m1, err
			}
			e.rec, e.recAt = true, now
		}
		if interval > 0 {
			for nextStart <= now {
				if n := len(e.free); n > 0 {
					i := e.free[n-1]
					e.free = e.free[:n-1]
					e.start(int(i), now)
				} else if e.rec {
					e.c.skipped++
				}
				nextStart += interval
			}
			e.flush()
			if !e.cfg.BusyPoll {
				wait := min(nextStart, nextScan, end) - e.now()
				if err := e.sock.waitReadable(time.Duration(wait)); err != nil {
					return m0, m1, err
				}
			}
		}
		n, err := e.sock.recv(interval > 0 || e.cfg.BusyPoll)
		if err != nil {
			return m0, m1, err
		}
		now = e.now()
		for i := range n {
			if f := e.sock.frame(i); f != nil {
				e.handle(f, now)
			}
		}
		e.flush()
		if now >= nextScan {
			e.scan(now)
			e.flush()
			nextScan = now + int64(scanEvery)
			if err := ctx.Err(); err != nil {
				return m0, m1, fmt.Errorf("load interrupted: %w", err)
			}
		}
	}
	e.run = false
	m1, err = e.mark(now)
	return m0, m1, err
}

// Run generates the load cfg describes on its interface and returns what
// was measured. It needs CAP_NET_RAW and runs until the warm-up and the
// measured duration are over or ctx ends.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	mac := cfg.MAC
	if mac == nil {
		ifi, err := net.InterfaceByName(cfg.Interface)
		if err != nil {
			return nil, fmt.Errorf("load on %s: %w", cfg.Interface, err)
		}
		mac = ifi.HardwareAddr
	}
	if len(mac) != 6 {
		return nil, fmt.Errorf("%w: %s has no 48-bit MAC", ErrConfig, cfg.Interface)
	}
	var dev frameIO
	if cfg.Tap {
		dev, err = openTap(cfg.Interface, rcvTimeout)
	} else {
		proto, filter := uint16(etherIPv6), filterNDP[:]
		switch cfg.Mode {
		case ModeDORA:
			proto, filter = etherIPv4, filterDHCP4[:]
		case ModeDHCP6:
			filter = filterDHCP6[:]
		}
		dev, err = openPacketSock(cfg.Interface, proto, filter, rcvTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("load on %s: %w", cfg.Interface, err)
	}
	defer dev.Close()

	// One OS thread, with a fine timer slack so open-loop pacing is not
	// rounded to the default 50 µs.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)

	e := newEngine(cfg, dev, [6]byte(mac))
	e.sock = dev
	e.base = time.Now()
	m0, m1, err := e.loop(ctx)
	if err != nil {
		return nil, fmt.Errorf("load on %s: %w", cfg.Interface, err)
	}
	rep := e.report(m0, m1)
	if rep.Exchanges == 0 {
		return rep, fmt.Errorf("load on %s (%s): %w", cfg.Interface, cfg.Mode, ErrNoAnswer)
	}
	return rep, nil
}
