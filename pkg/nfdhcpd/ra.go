package nfdhcpd

import (
	"container/heap"
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/ndp"
)

// raScheduler sends unsolicited router advertisements on every tap whose
// binding has a SUBNET6: at once when the binding appears or changes, then
// every ra_period, jittered to [3/4, 1] × period (ndp.RAInterval). One
// goroutine, one min-heap ordered by due time.
type raScheduler struct {
	e     *engine
	wake  chan struct{}
	buf   []byte
	taps  map[string]*raTap
	queue raHeap
	gen   uint64
	lim   limiter
}

type raTap struct {
	ent *binding.Entry
	gen uint64
}

type raItem struct {
	due time.Time
	tap string
	gen uint64
}

type raHeap []raItem

func (h raHeap) Len() int           { return len(h) }
func (h raHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h raHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *raHeap) Push(x any)        { *h = append(*h, x.(raItem)) }
func (h *raHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

func newRAScheduler(e *engine) *raScheduler {
	return &raScheduler{e: e, wake: make(chan struct{}, 1), buf: make([]byte, 0, maxNDFrame), taps: map[string]*raTap{}}
}

// notify makes the scheduler look at the current table and responders; it
// never blocks.
func (s *raScheduler) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run schedules and sends until ctx is done.
func (s *raScheduler) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	s.sync(s.e.now())
	for {
		now := s.e.now()
		s.fire(now)
		wait := time.Hour
		if len(s.queue) > 0 {
			wait = max(s.queue[0].due.Sub(now), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
			s.sync(s.e.now())
		case <-timer.C:
		}
	}
}

// wants reports whether e should get periodic RAs.
func wantsRA(e *binding.Entry) bool {
	p := e.Binding.Subnet6
	return e.TapIndex > 0 && p.IsValid() && p.Addr().Is6() && !p.Addr().Is4In6()
}

// sync schedules an immediate RA for every new or changed binding and
// forgets the bindings that went away (their heap items become stale).
func (s *raScheduler) sync(now time.Time) {
	r := s.e.resp.Load()
	seen := make(map[string]bool, len(s.taps))
	if r.ndp != nil && r.raPeriod > 0 {
		for _, e := range s.e.tab.Load().Entries() {
			if !wantsRA(e) {
				continue
			}
			name := e.Binding.Tap
			seen[name] = true
			if t, ok := s.taps[name]; ok && t.ent.TapIndex == e.TapIndex && t.ent.Binding.Equal(e.Binding) {
				t.ent = e
				continue
			}
			s.gen++
			s.taps[name] = &raTap{ent: e, gen: s.gen}
			heap.Push(&s.queue, raItem{due: now, tap: name, gen: s.gen})
		}
	}
	for name := range s.taps {
		if !seen[name] {
			delete(s.taps, name)
		}
	}
	// Drop stale items so the heap does not grow with binding churn.
	if len(s.queue) > 2*len(s.taps)+16 {
		q := s.queue[:0]
		for _, it := range s.queue {
			if t, ok := s.taps[it.tap]; ok && t.gen == it.gen {
				q = append(q, it)
			}
		}
		s.queue = q
		heap.Init(&s.queue)
	}
}

// fire sends every RA due at now and schedules the next one.
func (s *raScheduler) fire(now time.Time) {
	r := s.e.resp.Load()
	for len(s.queue) > 0 && !s.queue[0].due.After(now) {
		it := heap.Pop(&s.queue).(raItem)
		t, ok := s.taps[it.tap]
		if !ok || t.gen != it.gen {
			continue
		}
		if r.ndp == nil || r.raPeriod <= 0 {
			continue
		}
		s.send(r, t.ent)
		heap.Push(&s.queue, raItem{due: now.Add(ndp.RAInterval(r.raPeriod, rand.Uint32())), tap: it.tap, gen: it.gen})
	}
}

func (s *raScheduler) send(r *responders, e *binding.Entry) {
	mac, err := s.e.macs.get(e)
	if err != nil {
		s.e.m.raSendErrors.Inc()
		s.logf(e, "periodic RA: no tap MAC", err)
		return
	}
	frame, res := r.ndp.PeriodicRA(s.buf[:0], mac[:], e.Binding)
	if res != ndp.Reply {
		s.e.m.raSendErrors.Inc()
		s.logf(e, "periodic RA not built: "+res.String(), nil)
		return
	}
	if err := s.e.out.Send(e.TapIndex, frame); err != nil {
		s.e.m.raSendErrors.Inc()
		s.logf(e, "periodic RA not sent", err)
		return
	}
	s.e.m.periodicRA.Inc()
	s.e.log.Debug("periodic RA sent", "tap", e.Binding.Tap, "prefix", e.Binding.Subnet6.String())
}

func (s *raScheduler) logf(e *binding.Entry, msg string, err error) {
	ok, supp := s.lim.allow(limitKey(uint32(e.TapIndex), 1), s.e.now())
	if !ok {
		s.e.m.suppressed.Inc()
		return
	}
	s.e.log.LogAttrs(context.Background(), slog.LevelWarn, msg, slog.String("tap", e.Binding.Tap), slog.Any("err", err), slog.Uint64("suppressed", supp))
}
