package nfdhcpd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/dhcp4"
	"github.com/diktyo/diktyo/pkg/dhcp6"
	"github.com/diktyo/diktyo/pkg/ndp"
	"github.com/diktyo/diktyo/pkg/nfqueue"
)

// responders are one configuration's answer functions; a nil field means
// the function is disabled. A set is immutable and swapped whole on reload.
type responders struct {
	dhcp4    *dhcp4.Responder
	ndp      *ndp.Responder
	dhcp6    *dhcp6.Responder
	raPeriod time.Duration // 0: no periodic RAs
}

// engine is the state every queue handler and the RA scheduler share: the
// current binding table and responders (both swapped atomically), the tap
// MAC cache, the reply socket, metrics and the logger.
type engine struct {
	tab   atomic.Pointer[binding.Table]
	resp  atomic.Pointer[responders]
	macs  *macCache
	out   sender
	m     *metrics
	log   *slog.Logger
	now   func() time.Time
	onTab func(*binding.Table) // called after a new table is installed
}

func newEngine(out sender, macLookup func(string) ([6]byte, error), m *metrics, log *slog.Logger) *engine {
	e := &engine{macs: newMACCache(macLookup), out: out, m: m, log: log, now: time.Now}
	e.resp.Store(&responders{})
	return e
}

// setTable installs a new binding table: the MAC cache is rebuilt before
// the table is visible, so that lookups of new taps hit the cache.
func (e *engine) setTable(t *binding.Table) {
	for _, err := range e.macs.refresh(t) {
		e.log.Warn("cannot read tap MAC", "err", err)
	}
	e.tab.Store(t)
	if e.onTab != nil {
		e.onTab(t)
	}
}

// queueHandler handles one queue's packets. Its buffers belong to the
// queue's Serve goroutine.
type queueHandler struct {
	e     *engine
	proto proto
	buf   []byte
	mac   [6]byte
	lim   limiter
	// pass is set by ndp when a valid packet must be accepted unanswered.
	pass bool
}

// maxNDFrame bounds NDP and DHCPv6 replies: Ethernet + IPv6 minimum MTU.
const maxNDFrame = 14 + 1280

func newQueueHandler(e *engine, p proto) *queueHandler {
	return &queueHandler{e: e, proto: p, buf: make([]byte, 0, 4096)}
}

// handle is the nfqueue.Handler: unknown tap → Accept; known tap → Drop,
// after sending the reply, if any, out of the tap.
func (q *queueHandler) handle(p *nfqueue.Packet) (v nfqueue.Verdict) {
	defer func() {
		if r := recover(); r != nil {
			v = nfqueue.Drop
			q.e.m.p[q.proto].panics.Inc()
			q.e.log.Error("packet handler panic", "proto", q.proto.String(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	start := q.e.now()
	pm := &q.e.m.p[q.proto]
	ent, ok := q.e.tab.Load().LookupEntry(int(p.InDev), int(p.PhysInDev), p.HWAddr)
	if !ok {
		pm.unknownTap.Inc()
		if ok, supp := q.admit(slog.LevelDebug, p.InDev, 0); ok {
			q.emit(slog.LevelDebug, supp, "packet from interface without binding, accepted",
				slog.Uint64("indev", uint64(p.InDev)), slog.Uint64("physindev", uint64(p.PhysInDev)))
		}
		return nfqueue.Accept
	}
	r := q.e.resp.Load()
	b := ent.Binding
	mac, err := q.e.macs.get(ent)
	if err != nil {
		pm.noMAC.Inc()
		q.logf(slog.LevelError, uint32(ent.TapIndex), 1, "cannot answer: no tap MAC", slog.String("tap", b.Tap), slog.Any("err", err))
		return nfqueue.Drop
	}
	q.mac = mac
	var frame []byte
	switch q.proto {
	case protoDHCP4:
		if r.dhcp4 == nil {
			return nfqueue.Accept
		}
		frame = q.dhcp4(r.dhcp4, p, ent)
	case protoRS, protoNS:
		if r.ndp == nil {
			return nfqueue.Accept
		}
		frame = q.ndp(r.ndp, p, ent)
	case protoDHCP6:
		if r.dhcp6 == nil {
			return nfqueue.Accept
		}
		frame = q.dhcp6(r.dhcp6, p, ent)
	}
	if len(frame) == 0 {
		if q.pass {
			q.pass = false
			return nfqueue.Accept
		}
		return nfqueue.Drop
	}
	if err := q.e.out.Send(ent.TapIndex, frame); err != nil {
		pm.sendErrors.Inc()
		q.logf(slog.LevelError, uint32(ent.TapIndex), 2, "cannot send reply", slog.String("tap", b.Tap), slog.Any("err", err))
		return nfqueue.Drop
	}
	pm.latency.Observe(q.e.now().Sub(start).Seconds())
	return nfqueue.Drop
}

// Log event ids for the rate limiter (per tap): 0-2 above, then 16+kind
// for replies and 64+reason for refusals.
const (
	evReply  = 16
	evReason = 64
)

func (q *queueHandler) dhcp4(r *dhcp4.Responder, p *nfqueue.Packet, ent *binding.Entry) []byte {
	if n := r.MaxFrameLen(); cap(q.buf) < n {
		q.buf = make([]byte, 0, n)
	}
	pm := &q.e.m.p[q.proto]
	frame, res := r.Handle(q.buf[:0], dhcp4.Request{Packet: p.Payload, SrcMAC: p.HWAddr, ServerMAC: q.mac[:]}, ent.Binding)
	typ := int(res.Msg.Type)
	if typ >= len(pm.requests) {
		typ = 0
	}
	pm.requests[typ].Inc()
	b := ent.Binding
	switch {
	case res.Kind.Replied():
		inc(pm.replies, int(res.Kind))
		lvl := slog.LevelInfo
		if res.Kind == dhcp4.KindNak {
			lvl = slog.LevelWarn
		}
		if ok, supp := q.admit(lvl, uint32(ent.TapIndex), evReply+uint32(res.Kind)); ok {
			q.emit(lvl, supp, "dhcp reply",
				slog.String("tap", b.Tap), slog.String("request", res.Msg.Type.String()),
				slog.String("reply", res.Kind.String()), slog.String("ip", b.IP.String()),
				slog.String("mac", net.HardwareAddr(res.Msg.CHAddr[:]).String()), slog.String("reason", res.Reason.String()))
		}
	case res.Kind == dhcp4.KindDrop:
		inc(pm.notAnswered, int(res.Reason))
		if ok, supp := q.admit(slog.LevelWarn, uint32(ent.TapIndex), evReason+uint32(res.Reason)); ok {
			q.emit(slog.LevelWarn, supp, "dhcp request dropped",
				slog.String("tap", b.Tap), slog.String("request", res.Msg.Type.String()), slog.String("reason", res.Reason.String()))
		}
	default: // RELEASE, DECLINE: nothing to send
		if ok, supp := q.admit(slog.LevelInfo, uint32(ent.TapIndex), evReply+uint32(res.Kind)); ok {
			q.emit(slog.LevelInfo, supp, "dhcp "+res.Kind.String(),
				slog.String("tap", b.Tap), slog.String("ip", b.IP.String()))
		}
	}
	return frame
}

func (q *queueHandler) ndp(r *ndp.Responder, p *nfqueue.Packet, ent *binding.Entry) []byte {
	pm := &q.e.m.p[q.proto]
	pm.requests[0].Inc()
	pkt := ndp.Packet{IPv6: p.Payload, SrcMAC: p.HWAddr, DevMAC: q.mac[:], Binding: ent.Binding}
	var frame []byte
	var res ndp.Result
	if q.proto == protoRS {
		frame, res = r.HandleRS(q.buf[:0], pkt)
	} else {
		frame, res = r.HandleNS(q.buf[:0], pkt)
	}
	q.count6(pm, ent, uint32(res), res == ndp.Reply, res.String())
	if res != ndp.Reply {
		// A valid neighbour solicitation we do not answer for (another
		// VM on the bridge, duplicate address detection) goes on, so that
		// neighbour discovery between VMs keeps working; anti-spoofing
		// already vouched for its source.
		q.pass = q.proto == protoNS && (res == ndp.IgnoredTarget || res == ndp.IgnoredDAD)
		return nil
	}
	return frame
}

func (q *queueHandler) dhcp6(r *dhcp6.Responder, p *nfqueue.Packet, ent *binding.Entry) []byte {
	pm := &q.e.m.p[q.proto]
	pm.requests[0].Inc()
	frame, res := r.Handle(q.buf[:0], dhcp6.Packet{IPv6: p.Payload, SrcMAC: p.HWAddr, DevMAC: q.mac[:], Binding: ent.Binding})
	q.count6(pm, ent, uint32(res), res == dhcp6.Reply, res.String())
	if res != dhcp6.Reply {
		return nil
	}
	return frame
}

// count6 counts and logs an NDP or DHCPv6 result; desc is only used when
// the line is logged.
func (q *queueHandler) count6(pm *protoMetrics, ent *binding.Entry, res uint32, replied bool, desc string) {
	lvl, ev := slog.LevelDebug, uint32(evReply)
	if replied {
		pm.replies[0].Inc()
	} else {
		inc(pm.notAnswered, int(res))
		lvl, ev = slog.LevelDebug, evReason+res
		if len(desc) > 5 && desc[:5] == "drop:" {
			lvl = slog.LevelWarn
		}
	}
	if ok, supp := q.admit(lvl, uint32(ent.TapIndex), ev); ok {
		q.emit(lvl, supp, q.proto.String()+" "+desc, slog.String("tap", ent.Binding.Tap))
	}
}

// logf logs one line about ifindex, subject to the (ifindex, event) rate
// limit. Callers check Enabled first where building attrs costs.
func (q *queueHandler) logf(lvl slog.Level, ifindex, event uint32, msg string, attrs ...slog.Attr) {
	if ok, supp := q.admit(lvl, ifindex, event); ok {
		q.emit(lvl, supp, msg, attrs...)
	}
}

// admit reports whether a line at lvl about (ifindex, event) may be logged
// now. Callers build the line's attributes only once admitted, so lines
// that are filtered out or rate-limited cost no allocation.
func (q *queueHandler) admit(lvl slog.Level, ifindex, event uint32) (bool, uint64) {
	if !q.e.log.Enabled(context.Background(), lvl) {
		return false, 0
	}
	ok, supp := q.lim.allow(limitKey(ifindex, event|uint32(q.proto)<<24), q.e.now())
	if !ok {
		q.e.m.suppressed.Inc()
	}
	return ok, supp
}

// emit logs an admitted line, saying how many were suppressed before it.
func (q *queueHandler) emit(lvl slog.Level, supp uint64, msg string, attrs ...slog.Attr) {
	if supp > 0 {
		attrs = append(attrs, slog.Uint64("suppressed", supp))
	}
	q.e.log.LogAttrs(context.Background(), lvl, msg, attrs...)
}
