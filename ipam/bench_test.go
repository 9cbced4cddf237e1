package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/ipam/etcdstore/etcdtest"
)

// BenchmarkProcessAllocate runs the real diktyo-ipam binary once per op:
// start, open the store, allocate one address in a /16, fsync, exit. It
// reports the latency percentiles of one process (target: p50 < 5 ms).
func BenchmarkProcessAllocate(b *testing.B) {
	dir := b.TempDir()
	bin := buildBinary(b, dir)
	db := filepath.Join(dir, "ipam.db")
	if out, err := exec.Command(bin, "--db", db, "network", "add", "--network=198.18.0.0/16", "--gateway=198.18.0.1", "n").CombinedOutput(); err != nil {
		b.Fatalf("network add: %v\n%s", err, out)
	}
	b.Run("diktyo-ipam", func(b *testing.B) {
		runProcesses(b, func(i int) *exec.Cmd {
			return exec.Command(bin, "--db", db, "ip", "allocate", fmt.Sprintf("--owner=vm%d:0", i), "n")
		})
	})
	// What starting the binary costs before it touches the store.
	b.Run("diktyo-ipam--version", func(b *testing.B) {
		runProcesses(b, func(int) *exec.Cmd { return exec.Command(bin, "--version") })
	})
	// The floor: starting a process that does nothing, the same way.
	b.Run("true", func(b *testing.B) {
		runProcesses(b, func(int) *exec.Cmd { return exec.Command("/bin/true") })
	})
}

// buildBinary builds diktyo-ipam into dir as make build does.
func buildBinary(b *testing.B, dir string) string {
	b.Helper()
	bin := filepath.Join(dir, "diktyo-ipam")
	build := exec.Command("go", "build", "-trimpath", "-tags", "urfave_cli_no_docs", "-ldflags", "-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// BenchmarkProcessAllocateEtcd is BenchmarkProcessAllocate on a pool in a
// three-member etcd cluster on loopback (fsync on): each process also
// connects to etcd and reads the pool's schema before it allocates.
func BenchmarkProcessAllocateEtcd(b *testing.B) {
	dir := b.TempDir()
	bin := buildBinary(b, dir)
	cl := etcdtest.StartCluster(b, 3, etcdtest.Config{Fsync: true, TickMs: 100, ElectionMs: 1000})
	db := "etcd://" + strings.Join(cl.Endpoints(), ",") + "/bench"
	env := append(os.Environ(), "DIKTYO_STATE_DIR="+dir)
	add := exec.Command(bin, "--db", db, "network", "add", "--network=198.18.0.0/16", "--gateway=198.18.0.1", "n")
	add.Env = env
	if out, err := add.CombinedOutput(); err != nil {
		b.Fatalf("network add: %v\n%s", err, out)
	}
	b.Run("diktyo-ipam", func(b *testing.B) {
		runProcesses(b, func(i int) *exec.Cmd {
			c := exec.Command(bin, "--db", db, "ip", "allocate", fmt.Sprintf("--owner=vm%d:0", i), "n")
			c.Env = env
			return c
		})
	})
}

// runProcesses runs b.N commands one after the other and reports latency
// percentiles.
func runProcesses(b *testing.B, cmd func(i int) *exec.Cmd) {
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		err := cmd(i).Run()
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.9), "p90-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
