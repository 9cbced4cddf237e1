package nfdhcpd

import "time"

// Log rate limits per (tap, event): a burst, then one line per interval.
const (
	logBurst    = 10
	logInterval = 10 * time.Second
	limiterSize = 1024 // slots; a power of two
)

// limiter is a fixed-size table of token buckets keyed by (ifindex, event).
// It is owned by one goroutine (one per queue), allocates nothing, and a
// collision merely resets a bucket: a hostile VM can make its own lines
// rarer, never other taps' lines more frequent than burst + rate.
type limiter struct {
	slots [limiterSize]bucket
}

type bucket struct {
	key        uint64
	used       bool
	tokens     float64
	last       time.Time
	suppressed uint64
}

func limitKey(ifindex uint32, event uint32) uint64 { return uint64(ifindex)<<32 | uint64(event) }

// allow reports whether a line for key may be logged at now, and how many
// were suppressed since the last one that was.
func (l *limiter) allow(key uint64, now time.Time) (bool, uint64) {
	h := (key * 0x9E3779B97F4A7C15) >> (64 - 10)
	b := &l.slots[h&(limiterSize-1)]
	if !b.used || b.key != key {
		*b = bucket{key: key, used: true, tokens: logBurst, last: now}
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(logBurst, b.tokens+float64(el)/float64(logInterval))
		b.last = now
	}
	if b.tokens < 1 {
		b.suppressed++
		return false, 0
	}
	b.tokens--
	s := b.suppressed
	b.suppressed = 0
	return true, s
}
