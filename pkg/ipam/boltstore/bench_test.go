package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/ipam"
)

// fillStore creates a store at path holding n keys of 100-byte values.
func fillStore(b *testing.B, path string, n int) {
	b.Helper()
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i += 10000 {
		err := s.Update(context.Background(), func(tx ipam.StoreTx) error {
			for j := i; j < min(i+10000, n); j++ {
				if err := tx.Put(fmt.Appendf(nil, "net/n%03d/r%08d", j%100, j), make([]byte, 100)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCycle is what one hook process does: Open, one Update with one
// Put (fsync'ed), Close.
func BenchmarkCycle(b *testing.B) {
	for _, keys := range []int{10, 50000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "ipam.db")
			fillStore(b, path, keys)
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				s, err := Open(path, Options{})
				if err != nil {
					b.Fatal(err)
				}
				i++
				err = s.Update(ctx, func(tx ipam.StoreTx) error {
					return tx.Put(fmt.Appendf(nil, "net/n050/x%d", i%1000), []byte("owner"))
				})
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpenClose is Open and Close alone, read-only and read-write,
// on a store of 50000 keys.
func BenchmarkOpenClose(b *testing.B) {
	for _, ro := range []bool{false, true} {
		b.Run(fmt.Sprintf("readonly=%v", ro), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "ipam.db")
			fillStore(b, path, 50000)
			b.ReportAllocs()
			for b.Loop() {
				s, err := Open(path, Options{ReadOnly: ro})
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLockUncontended takes and releases the sidecar lock.
func BenchmarkLockUncontended(b *testing.B) {
	path := filepath.Join(b.TempDir(), "ipam.db.lock")
	b.ReportAllocs()
	for b.Loop() {
		f, err := openLockFile(path, false)
		if err != nil {
			b.Fatal(err)
		}
		l, err := acquire(f, true, time.Now().Add(time.Second))
		if err != nil {
			b.Fatal(err)
		}
		if err := l.release(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPut is the cost of one Put inside one large transaction, into
// a store of 50000 keys (the commit is not timed).
func BenchmarkPut(b *testing.B) {
	path := filepath.Join(b.TempDir(), "ipam.db")
	fillStore(b, path, 50000)
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	val := make([]byte, 100)
	b.ReportAllocs()
	err = s.Update(context.Background(), func(tx ipam.StoreTx) error {
		i := 0
		for b.Loop() {
			i++
			if err := tx.Put(fmt.Appendf(nil, "net/n%03d/s%08d", i%100, i), val); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkContention runs Open/Update/Close cycles (with fsync) from many
// processes at once, as parallel Ganeti hooks do. Each process pauses
// 1-3 ms between cycles (outside the lock), as a hook process would exit
// and another start.
// ns/op is wall time per cycle across all processes; wait-p50/p99/max are
// how long single Opens waited for the lock.
func BenchmarkContention(b *testing.B) {
	for _, procs := range []int{8, 32} {
		b.Run(fmt.Sprintf("procs=%d", procs), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "ipam.db")
			fillStore(b, path, 1000)
			each := max(b.N/procs, 1)
			env := []string{envCount + "=" + strconv.Itoa(each), envThink + "=2ms"}
			var cmds []*exec.Cmd
			var outs []*bytes.Buffer
			for range procs {
				cmd := helper(b, "increment", path, env...)
				out := new(bytes.Buffer)
				cmd.Stdout = out
				cmds = append(cmds, cmd)
				outs = append(outs, out)
			}
			b.ResetTimer()
			for _, cmd := range cmds {
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
			}
			for _, cmd := range cmds {
				if err := cmd.Wait(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			var waits []time.Duration
			for _, out := range outs {
				for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
					f := strings.Fields(line)
					ns, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
					waits = append(waits, time.Duration(ns))
				}
			}
			slices.Sort(waits)
			q := func(p float64) float64 { return float64(waits[int(p*float64(len(waits)-1))].Microseconds()) / 1000 }
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(each*procs), "ns/cycle")
			b.ReportMetric(q(0.5), "wait-p50-ms")
			b.ReportMetric(q(0.99), "wait-p99-ms")
			b.ReportMetric(q(1), "wait-max-ms")
		})
	}
}

// BenchmarkLockHandoff is the time from a holder's unlock to a waiting
// goroutine (on another open file description) holding the lock.
func BenchmarkLockHandoff(b *testing.B) {
	path := filepath.Join(b.TempDir(), "ipam.db.lock")
	b.ReportAllocs()
	var total time.Duration
	for b.Loop() {
		hf, err := openLockFile(path, false)
		if err != nil {
			b.Fatal(err)
		}
		held, err := acquire(hf, true, time.Now().Add(time.Second))
		if err != nil {
			b.Fatal(err)
		}
		got := make(chan time.Time, 1)
		go func() {
			f, err := openLockFile(path, false)
			if err != nil {
				panic(err)
			}
			l, err := acquire(f, true, time.Now().Add(10*time.Second))
			if err != nil {
				panic(err)
			}
			got <- time.Now()
			_ = l.release()
		}()
		time.Sleep(2 * time.Millisecond) // let the waiter block
		released := time.Now()
		if err := held.release(); err != nil {
			b.Fatal(err)
		}
		total += (<-got).Sub(released)
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/handoff")
}
