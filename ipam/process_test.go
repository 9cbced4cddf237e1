package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/boltstore"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore/etcdtest"
	"github.com/diktyo/diktyo/pkg/ipamcli"
)

// These tests run many diktyo-ipam processes against one store file at
// once: the test binary re-executes itself as a worker that runs the CLI
// (ipamcli.Run, exactly what main runs) once per operation, so every
// operation opens, locks, commits and closes the store like a separate
// diktyo-ipam process would.

const workerEnv = "DIKTYO_IPAM_TEST_WORKER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(workerEnv); mode != "" {
		os.Exit(worker(mode))
	}
	etcdtest.Main(m) // the etcd members of BenchmarkProcessAllocateEtcd
}

// cli runs one diktyo-ipam command in this process.
func cli(db string, args ...string) (string, int) {
	var out, errb bytes.Buffer
	code := ipamcli.Run(context.Background(), append([]string{"diktyo-ipam", "--db", db, "--timeout", "120s"}, args...),
		nil, strings.NewReader(""), &out, &errb)
	if code != 0 {
		return strings.TrimSpace(errb.String()), code
	}
	return strings.TrimSpace(out.String()), 0
}

// worker is the body of a worker process. Modes:
//
//	alloc: allocate $COUNT addresses, print "A ip owner" after each commit.
//	churn: forever allocate, and release about a third of what it holds,
//	       printing "A ip owner" after each allocation commits and
//	       "r ip owner" before each release.
func worker(mode string) int {
	db, id := os.Getenv("DB"), os.Getenv("ID")
	out := os.Stdout
	switch mode {
	case "alloc":
		n, _ := strconv.Atoi(os.Getenv("COUNT"))
		for j := range n {
			owner := fmt.Sprintf("w%s-%d:0", id, j)
			ip, code := cli(db, "ip", "allocate", "--owner="+owner, "n")
			if code != 0 {
				fmt.Fprintf(os.Stderr, "worker %s: allocate %d: exit %d: %s\n", id, j, code, ip)
				return 1
			}
			fmt.Fprintf(out, "A %s %s\n", ip, owner)
		}
		return 0
	case "churn":
		r := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
		var held [][2]string
		for j := 0; ; j++ {
			if len(held) > 0 && r.IntN(3) == 0 {
				k := r.IntN(len(held))
				h := held[k]
				// Say so before releasing: a kill between the commit and
				// the "R" line must not look like a lost address.
				fmt.Fprintf(os.Stdout, "r %s %s\n", h[0], h[1])
				if msg, code := cli(db, "ip", "release", "--owner="+h[1], "n", h[0]); code != 0 {
					fmt.Fprintf(os.Stderr, "release: %s\n", msg)
					return 1
				}
				held = append(held[:k], held[k+1:]...)
				continue
			}
			owner := fmt.Sprintf("c%s-%d-%d:0", id, os.Getpid(), j)
			ip, code := cli(db, "ip", "allocate", "--owner="+owner, "n")
			if code != 0 {
				fmt.Fprintf(os.Stderr, "allocate: exit %d: %s\n", code, ip)
				return 1
			}
			fmt.Fprintf(os.Stdout, "A %s %s\n", ip, owner)
			held = append(held, [2]string{ip, owner})
		}
	}
	return 2
}

func startWorker(t *testing.T, mode, db, id string, extra ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), workerEnv+"="+mode, "DB="+db, "ID="+id)
	cmd.Env = append(cmd.Env, extra...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &stdout, &stderr
}

func newDB(t *testing.T, cidr, gw string) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "ipam.db")
	if msg, code := cli(db, "network", "add", "--network="+cidr, "--gateway="+gw, "n"); code != 0 {
		t.Fatalf("network add: %s", msg)
	}
	return db
}

// holdings reads the store directly: ip → owner, and the check result.
func holdings(t *testing.T, db string) (map[netip.Addr]string, []string) {
	t.Helper()
	st, err := boltstore.Open(db, boltstore.Options{ReadOnly: true, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	held := map[netip.Addr]string{}
	var probs []string
	err = ipam.New(st).View(context.Background(), func(tx *ipam.Txn) error {
		hs, err := tx.Holdings("n")
		if err != nil {
			return err
		}
		for _, h := range hs {
			if h.Kind == ipam.KindInstance && h.MAC == "" {
				held[h.IP] = h.Owner.String()
			}
		}
		probs, err = tx.Check()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return held, probs
}

// TestConcurrentProcesses: 32 processes allocate 500 addresses each from
// one /16 at the same time: 16000 distinct addresses, none lost, check
// passes.
func TestConcurrentProcesses(t *testing.T) {
	procs, each := 32, 500
	if testing.Short() {
		procs, each = 8, 50
	}
	db := newDB(t, "198.18.0.0/16", "198.18.0.1")
	type w struct {
		cmd            *exec.Cmd
		stdout, stderr *bytes.Buffer
	}
	var ws []w
	start := time.Now()
	for i := range procs {
		cmd, o, e := startWorker(t, "alloc", db, strconv.Itoa(i), "COUNT="+strconv.Itoa(each))
		ws = append(ws, w{cmd, o, e})
	}
	got := map[string]string{}
	for i, w := range ws {
		if err := w.cmd.Wait(); err != nil {
			t.Fatalf("worker %d: %v: %s", i, err, w.stderr)
		}
		for _, line := range strings.Split(strings.TrimSpace(w.stdout.String()), "\n") {
			f := strings.Fields(line)
			if len(f) != 3 || f[0] != "A" {
				t.Fatalf("worker %d: bad line %q", i, line)
			}
			if prev, dup := got[f[1]]; dup {
				t.Fatalf("%s handed out twice: to %s and %s", f[1], prev, f[2])
			}
			got[f[1]] = f[2]
		}
	}
	t.Logf("%d processes × %d allocations in %v", procs, each, time.Since(start))
	if len(got) != procs*each {
		t.Fatalf("%d distinct addresses, want %d", len(got), procs*each)
	}
	held, probs := holdings(t, db)
	if len(probs) > 0 {
		t.Fatalf("check: %q", probs)
	}
	if len(held) != procs*each {
		t.Fatalf("store holds %d addresses, want %d", len(held), procs*each)
	}
	for ip, owner := range got {
		if h := held[netip.MustParseAddr(ip)]; h != owner {
			t.Fatalf("%s: store says %q, worker said %q", ip, h, owner)
		}
	}
}

// TestCrashRecovery kills allocating processes with SIGKILL at random
// moments, 100 rounds: after each, check passes and every address a worker
// saw committed (and did not release) is still held by its owner.
func TestCrashRecovery(t *testing.T) {
	rounds, workers := 100, 4
	if testing.Short() {
		rounds = 10
	}
	db := newDB(t, "198.18.0.0/16", "198.18.0.1")
	r := rand.New(rand.NewPCG(42, 42))
	want := map[string]string{} // ip → owner that must hold it
	for round := range rounds {
		type w struct {
			cmd    *exec.Cmd
			stdout *bytes.Buffer
			stderr *bytes.Buffer
		}
		var ws []w
		for i := range workers {
			cmd, o, e := startWorker(t, "churn", db, fmt.Sprintf("%d.%d", round, i))
			ws = append(ws, w{cmd, o, e})
		}
		var wg sync.WaitGroup
		for _, w := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(20+r.IntN(250)) * time.Millisecond)
				_ = w.cmd.Process.Signal(syscall.SIGKILL)
			}()
		}
		wg.Wait()
		for _, w := range ws {
			err := w.cmd.Wait()
			if ws, ok := w.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
				t.Fatalf("round %d: worker ended before the kill: %v: %s", round, err, w.stderr)
			}
			for _, line := range strings.Split(w.stdout.String(), "\n") {
				f := strings.Fields(line)
				if len(f) != 3 {
					continue // empty, or cut by the kill
				}
				switch f[0] {
				case "A":
					want[f[1]] = f[2]
				case "r": // release started: either outcome is fine
					if want[f[1]] == f[2] {
						delete(want, f[1])
					}
				}
			}
		}
		held, probs := holdings(t, db)
		if len(probs) > 0 {
			t.Fatalf("round %d: check: %q", round, probs)
		}
		for ip, owner := range want {
			if h := held[netip.MustParseAddr(ip)]; h != owner {
				t.Fatalf("round %d: %s lost: store says %q, want %q", round, ip, h, owner)
			}
		}
	}
	t.Logf("%d rounds, %d addresses known held at the end", rounds, len(want))
}
