package nfdhcpd

import (
	"strconv"
	"strings"

	"github.com/diktyo/diktyo/pkg/dhcp4"
	"github.com/diktyo/diktyo/pkg/dhcp6"
	"github.com/diktyo/diktyo/pkg/ndp"
	"github.com/diktyo/diktyo/pkg/nfqueue"
	"github.com/prometheus/client_golang/prometheus"
)

// proto is one queued function.
type proto uint8

const (
	protoDHCP4 proto = iota
	protoRS
	protoNS
	protoDHCP6
	numProtos
)

func (p proto) String() string {
	switch p {
	case protoDHCP4:
		return "dhcp4"
	case protoRS:
		return "rs"
	case protoNS:
		return "ns"
	case protoDHCP6:
		return "dhcp6"
	}
	return "proto(" + strconv.Itoa(int(p)) + ")"
}

// protoMetrics are one function's counters, resolved once so that the
// packet path only increments.
type protoMetrics struct {
	requests    []prometheus.Counter // by request type index
	replies     []prometheus.Counter // by reply type index
	notAnswered []prometheus.Counter // by reason index
	unknownTap  prometheus.Counter
	noMAC       prometheus.Counter
	sendErrors  prometheus.Counter
	panics      prometheus.Counter
	latency     prometheus.Observer
}

// metrics are the daemon's Prometheus metrics; they exist (cheaply) even
// when no endpoint serves them.
type metrics struct {
	reg          *prometheus.Registry
	p            [numProtos]protoMetrics
	periodicRA   prometheus.Counter
	raSendErrors prometheus.Counter
	suppressed   prometheus.Counter
}

// labelize turns a result description into a label value:
// "drop: bad ICMPv6 checksum" → "drop-bad-icmpv6-checksum".
func labelize(s string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(s) {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(c)
		} else {
			dash = true
		}
	}
	return b.String()
}

// dhcp4Reasons returns the label of every dhcp4.Reason.
func dhcp4Reasons() []string {
	var rs []string
	for i := 0; i < 256; i++ {
		s := dhcp4.Reason(i).String()
		if strings.HasPrefix(s, "Reason(") {
			break
		}
		rs = append(rs, s)
	}
	return rs
}

// dhcp4Types returns the labels of request types indexed by
// dhcp4.MessageType; index 0 is a request that did not parse that far.
func dhcp4Types() []string {
	ts := []string{"unknown"}
	for t := dhcp4.TypeDiscover; t <= dhcp4.TypeInform; t++ {
		ts = append(ts, strings.ToLower(t.String()))
	}
	return ts
}

// dhcp4ReplyTypes are indexed by dhcp4.Kind.
func dhcp4ReplyTypes() []string {
	var ks []string
	for k := dhcp4.KindDrop; k <= dhcp4.KindDecline; k++ {
		ks = append(ks, k.String())
	}
	return ks
}

func ndpReasons() []string {
	rs := make([]string, ndp.NumResults)
	for r := range ndp.NumResults {
		rs[r] = labelize(r.String())
	}
	return rs
}

func dhcp6Reasons() []string {
	rs := make([]string, dhcp6.NumResults)
	for r := range dhcp6.NumResults {
		rs[r] = labelize(r.String())
	}
	return rs
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	const ns = "nfdhcpd"
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "requests_total",
		Help: "Packets queued from taps with a binding, by function and request type."}, []string{"proto", "type"})
	replies := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "replies_total",
		Help: "Reply frames sent, by function and reply type (type nak counts DHCP NAKs)."}, []string{"proto", "type"})
	notAnswered := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "not_answered_total",
		Help: "Requests from taps with a binding that got no reply, by function and reason."}, []string{"proto", "reason"})
	unknown := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "unknown_tap_total",
		Help: "Packets from interfaces without a binding, accepted untouched."}, []string{"proto"})
	noMAC := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "no_tap_mac_total",
		Help: "Requests dropped because the tap's MAC could not be read."}, []string{"proto"})
	sendErr := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "send_errors_total",
		Help: "Reply frames the AF_PACKET socket refused."}, []string{"proto"})
	panics := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "handler_panics_total",
		Help: "Packet handler panics (the packet is dropped)."}, []string{"proto"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "reply_latency_seconds",
		Help:    "Time from receiving a queued packet to sending its reply.",
		Buckets: prometheus.ExponentialBuckets(2e-6, 2, 14)}, []string{"proto"})
	periodic := prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "periodic_ra_total",
		Help: "Unsolicited router advertisements sent."})
	raErr := prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "periodic_ra_errors_total",
		Help: "Unsolicited router advertisements that could not be built or sent."})
	supp := prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "log_lines_suppressed_total",
		Help: "Log lines suppressed by the per-tap rate limit."})
	m.reg.MustRegister(requests, replies, notAnswered, unknown, noMAC, sendErr, panics, latency, periodic, raErr, supp)
	m.periodicRA, m.raSendErrors, m.suppressed = periodic, raErr, supp

	resolve := func(v *prometheus.CounterVec, p proto, vals []string) []prometheus.Counter {
		cs := make([]prometheus.Counter, len(vals))
		for i, s := range vals {
			cs[i] = v.WithLabelValues(p.String(), s)
		}
		return cs
	}
	for p := range numProtos {
		pm := &m.p[p]
		switch p {
		case protoDHCP4:
			pm.requests = resolve(requests, p, dhcp4Types())
			pm.replies = resolve(replies, p, dhcp4ReplyTypes())
			pm.notAnswered = resolve(notAnswered, p, dhcp4Reasons())
		case protoRS:
			pm.requests = resolve(requests, p, []string{"rs"})
			pm.replies = resolve(replies, p, []string{"ra"})
			pm.notAnswered = resolve(notAnswered, p, ndpReasons())
		case protoNS:
			pm.requests = resolve(requests, p, []string{"ns"})
			pm.replies = resolve(replies, p, []string{"na"})
			pm.notAnswered = resolve(notAnswered, p, ndpReasons())
		case protoDHCP6:
			pm.requests = resolve(requests, p, []string{"dhcpv6"})
			pm.replies = resolve(replies, p, []string{"reply"})
			pm.notAnswered = resolve(notAnswered, p, dhcp6Reasons())
		}
		pm.unknownTap = unknown.WithLabelValues(p.String())
		pm.noMAC = noMAC.WithLabelValues(p.String())
		pm.sendErrors = sendErr.WithLabelValues(p.String())
		pm.panics = panics.WithLabelValues(p.String())
		pm.latency = latency.WithLabelValues(p.String())
	}
	return m
}

// inc increments cs[i] when i is in range (a result value newer than this
// daemon's tables is not counted rather than panicking).
func inc(cs []prometheus.Counter, i int) {
	if i >= 0 && i < len(cs) {
		cs[i].Inc()
	}
}

// queueSnapshot is what the collector reports about one bound queue.
type queueSnapshot struct {
	proto proto
	num   uint16
	stats nfqueue.Stats
}

// stateCollector reports queue and binding state at scrape time.
type stateCollector struct {
	queues   func() []queueSnapshot
	bindings func() (resolved, stale int)
	proc     func() ([]nfqueue.QueueStats, error)

	received, verdicts, qpanics, verrs, rerrs *prometheus.Desc
	kdrop, udrop, outstanding, bindingsDesc   *prometheus.Desc
}

func newStateCollector(queues func() []queueSnapshot, bindings func() (int, int), proc func() ([]nfqueue.QueueStats, error)) *stateCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("nfdhcpd_"+name, help, labels, nil)
	}
	return &stateCollector{
		queues: queues, bindings: bindings, proc: proc,
		received:     d("queue_received_total", "Packets read from the queue.", "proto", "queue"),
		verdicts:     d("queue_verdicts_total", "Verdicts given.", "proto", "queue", "verdict"),
		qpanics:      d("queue_panics_total", "Handler panics caught by the queue.", "proto", "queue"),
		verrs:        d("queue_verdict_errors_total", "Verdicts that failed.", "proto", "queue"),
		rerrs:        d("queue_receive_errors_total", "Receive buffer overruns survived.", "proto", "queue"),
		kdrop:        d("queue_kernel_dropped_total", "Packets the kernel dropped because the queue was full (/proc).", "proto", "queue"),
		udrop:        d("queue_user_dropped_total", "Packets the kernel could not deliver to the socket (/proc).", "proto", "queue"),
		outstanding:  d("queue_outstanding", "Packets awaiting a verdict (/proc).", "proto", "queue"),
		bindingsDesc: d("bindings", "Binding files loaded, by state.", "state"),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.received, c.verdicts, c.qpanics, c.verrs, c.rerrs, c.kdrop, c.udrop, c.outstanding, c.bindingsDesc} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	proc, procErr := c.proc()
	for _, q := range c.queues() {
		l := []string{q.proto.String(), strconv.Itoa(int(q.num))}
		cnt := func(d *prometheus.Desc, v uint64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append(l, extra...)...)
		}
		cnt(c.received, q.stats.Received)
		cnt(c.verdicts, q.stats.Accepted, "accept")
		cnt(c.verdicts, q.stats.Dropped, "drop")
		cnt(c.qpanics, q.stats.Panics)
		cnt(c.verrs, q.stats.VerdictErrors)
		cnt(c.rerrs, q.stats.ReceiveErrors)
		if procErr != nil {
			continue
		}
		if ps, ok := nfqueue.Find(proc, q.num); ok {
			cnt(c.kdrop, uint64(ps.QueueDropped))
			cnt(c.udrop, uint64(ps.UserDropped))
			ch <- prometheus.MustNewConstMetric(c.outstanding, prometheus.GaugeValue, float64(ps.Outstanding), l...)
		}
	}
	res, stale := c.bindings()
	ch <- prometheus.MustNewConstMetric(c.bindingsDesc, prometheus.GaugeValue, float64(res), "resolved")
	ch <- prometheus.MustNewConstMetric(c.bindingsDesc, prometheus.GaugeValue, float64(stale), "stale")
}
