package dhcpload

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(v uint64) {
		i := bucketOf(v)
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Fatalf("%d in bucket %d [%d, %d]", v, i, lo, hi)
		}
		if v >= subCount && float64(hi-lo) > float64(v)/subCount {
			t.Fatalf("bucket of %d is %d wide", v, hi-lo)
		}
		if i >= histBucket {
			t.Fatalf("bucket %d out of range", i)
		}
	}
	for v := range uint64(4096) {
		check(v)
	}
	for range 100000 {
		check(rng.Uint64() >> rng.UintN(64))
	}
	check(^uint64(0))
	// Buckets tile the line: each starts right after the previous one.
	for i := 1; i < histBucket; i++ {
		_, prevHi := bucketRange(i - 1)
		lo, _ := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ends at %d", i, lo, prevHi)
		}
	}
}

func TestQuantiles(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram")
	}
	// 1..10000 µs: p50 = 5000 µs, p99 = 9900 µs, within a bucket (0.8 %).
	for v := 1; v <= 10000; v++ {
		h.Record(time.Duration(v) * time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 5000 * time.Microsecond},
		{0.9, 9000 * time.Microsecond},
		{0.99, 9900 * time.Microsecond},
		{1, 10000 * time.Microsecond},
		{0, time.Microsecond},
	} {
		got := h.Quantile(tc.q)
		if d := (got - tc.want).Abs(); float64(d) > float64(tc.want)/100 {
			t.Errorf("q%.2f = %v, want %v ±1%%", tc.q, got, tc.want)
		}
	}
	if h.Count() != 10000 || h.Max() != 10*time.Millisecond || h.Mean() != 5000500*time.Nanosecond {
		t.Errorf("count %d max %v mean %v", h.Count(), h.Max(), h.Mean())
	}
}

func TestQuantileSingleValue(t *testing.T) {
	var h Histogram
	h.Record(56 * time.Microsecond)
	for _, q := range []float64{0, 0.5, 0.99, 1} {
		if got := h.Quantile(q); got != 56*time.Microsecond {
			t.Errorf("q%.2f = %v, want exactly the one value", q, got)
		}
	}
	h.Record(-time.Second)
	if h.Quantile(0) != 0 {
		t.Errorf("negative durations count as 0")
	}
}

func TestMerge(t *testing.T) {
	var a, b, all Histogram
	for v := range 1000 {
		d := time.Duration(v*v) * time.Nanosecond
		all.Record(d)
		if v%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	if a != all {
		t.Errorf("merged histogram differs")
	}
	a.Reset()
	if a.Count() != 0 {
		t.Errorf("reset")
	}
}

func TestRecordAllocs(t *testing.T) {
	var h Histogram
	if n := testing.AllocsPerRun(1000, func() { h.Record(42 * time.Microsecond) }); n != 0 {
		t.Errorf("%v allocations per Record", n)
	}
}
