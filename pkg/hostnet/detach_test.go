package hostnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/eui64"
)

// The test binary re-executed as the detached announcer: with
// announceChildEnv set it runs RunAnnounce on its arguments instead of
// the tests, then writes what it looked like (session, descriptors) to
// the file named by announceReportEnv, if any.
const (
	announceChildEnv  = "HOSTNET_TEST_ANNOUNCE_CHILD"
	announceReportEnv = "HOSTNET_TEST_ANNOUNCE_REPORT"
)

func TestMain(m *testing.M) {
	if os.Getenv(announceChildEnv) == "1" {
		err := RunAnnounce(os.Args[1:])
		if path := os.Getenv(announceReportEnv); path != "" {
			writeChildReport(path, err)
		}
		if err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func writeChildReport(path string, runErr error) {
	var b strings.Builder
	sid, _ := unix.Getsid(0)
	fmt.Fprintf(&b, "session-leader %v\nerr %v\n", sid == os.Getpid(), runErr)
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		fmt.Fprintf(&b, "fd %s %s\n", e.Name(), target)
	}
	cwd, _ := os.Getwd()
	fmt.Fprintf(&b, "cwd %s\n", cwd)
	_ = os.WriteFile(path+".tmp", []byte(b.String()), 0o600)
	_ = os.Rename(path+".tmp", path)
}

// childCommand is the test binary as the announcer.
func childCommand(report string, extra ...string) SpawnCommand {
	return SpawnCommand{
		Path: "/proc/self/exe",
		Args: append([]string{"hostnet.test"}, extra...),
		Env:  []string{announceChildEnv + "=1", announceReportEnv + "=" + report},
	}
}

func TestSpawnSenderCollects(t *testing.T) {
	s := NewSpawnSender(SpawnCommand{Path: "/nonexistent/announcer"}, nil)
	frame := make([]byte, 60)
	for _, c := range []struct{ idx, n int }{{0, 60}, {-1, 60}, {1, 13}, {1, 0}} {
		if err := s.SendFrame(c.idx, frame[:c.n]); !errors.Is(err, ErrAnnounce) {
			t.Errorf("SendFrame(%d, %d bytes) = %v, want ErrAnnounce", c.idx, c.n, err)
		}
	}
	if err := s.SendFrame(3, make([]byte, 1515)); !errors.Is(err, ErrAnnounce) {
		t.Errorf("oversized frame: %v", err)
	}
	if err := s.SendFrame(3, frame); err != nil {
		t.Fatal(err)
	}
	if s.Pending() != 1 {
		t.Errorf("Pending = %d", s.Pending())
	}
	// A child that cannot start is an error; the frames are dropped.
	if err := s.Spawn(); err == nil {
		t.Error("Spawn of a missing executable succeeded")
	}
	if s.Pending() != 0 {
		t.Errorf("Pending after Spawn = %d", s.Pending())
	}
	if err := s.Spawn(); err != nil {
		t.Errorf("Spawn with nothing pending: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.SendFrame(3, frame); !errors.Is(err, ErrAnnounce) {
		t.Errorf("SendFrame after Close = %v", err)
	}
	// The default child is this binary, which in a test cannot announce:
	// New falls back to the in-process sender.
}

func TestRunAnnounceArgs(t *testing.T) {
	lg := &syslogger{}
	for _, args := range [][]string{
		{"-count", "0", "1:" + strings.Repeat("00", 60)},
		{"-count", "11", "1:" + strings.Repeat("00", 60)},
		{"-interval", "-1s", "1:" + strings.Repeat("00", 60)},
		{"-bogus"},
		{"1"},
		{"x:00"},
		{"0:" + strings.Repeat("00", 60)},
		{"1:" + strings.Repeat("00", 13)},
		{"1:" + strings.Repeat("00", 1515)},
		{"1:zz"},
	} {
		if err := runAnnounce(args, lg); !errors.Is(err, ErrAnnounce) {
			t.Errorf("runAnnounce(%.40q) = %v, want ErrAnnounce", args, err)
		}
	}
	if err := runAnnounce(nil, lg); err != nil {
		t.Errorf("no frames: %v", err)
	}
}

// TestDetachedAnnounce applies a routed NIC with detached announcements:
// the test binary, re-executed as the announcer from the namespace's
// thread, must send the GARP and the NA on the uplink three times, from
// a new session with nothing but /dev/null inherited.
func TestDetachedAnnounce(t *testing.T) {
	needRoot(t)
	e := newRoutedEnv(t)
	tap := "tap-d1"
	vmMAC := net.HardwareAddr{0xaa, 0x00, 0x00, 0x12, 0x34, 0x57}
	vmIP := netip.MustParseAddr("198.51.100.11")
	eui, _ := eui64.Addr(subnet6, vmMAC)
	e.addVM(t, tap, vmMAC)
	report := filepath.Join(t.TempDir(), "report")
	a := e.host.applier(t, Options{Detach: ptr(childCommand(report, "-interval", "200ms"))})
	if _, ok := a.sender.(*SpawnSender); !ok {
		t.Fatalf("sender is %T, want *SpawnSender", a.sender)
	}
	upl, err := a.LinkFacts(uplinkName)
	if err != nil {
		t.Fatal(err)
	}
	// A descriptor leaked to us without close-on-exec must not reach the
	// long-lived child.
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })

	capt := startCapture(t, e.router, "rtr0")
	start := time.Now()
	rec, err := a.Apply(routedPlan(tap, testTable, uplinkName, vmIP, vmMAC))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Apply with detached announcements: %v", time.Since(start))
	if err := a.Flush(); err != nil {
		t.Errorf("Flush with nothing pending: %v", err)
	}
	garp, na := isGARP(net.HardwareAddr(upl.MAC), vmIP), isUnsolicitedNA(net.HardwareAddr(upl.MAC), eui)
	seenGARP, seenNA := 0, 0
	deadline := time.After(10 * time.Second)
	for seenGARP < 3 || seenNA < 3 {
		select {
		case f := <-capt.frames:
			if garp(f) {
				seenGARP++
			}
			if na(f) {
				seenNA++
			}
		case <-deadline:
			t.Fatalf("seen %d gratuitous ARPs and %d unsolicited NAs, want 3 each", seenGARP, seenNA)
		}
	}
	var rep []byte
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if rep, err = os.ReadFile(report); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("no report from the child: %v", err)
	}
	s := string(rep)
	t.Logf("child:\n%s", s)
	if !strings.Contains(s, "session-leader true\n") || !strings.Contains(s, "err <nil>\n") || !strings.Contains(s, "cwd /\n") {
		t.Errorf("child not detached or failed:\n%s", s)
	}
	for fd := range 3 {
		if !strings.Contains(s, "fd "+strconv.Itoa(fd)+" /dev/null\n") {
			t.Errorf("child fd %d is not /dev/null:\n%s", fd, s)
		}
	}
	if strings.Contains(s, "pipe:") {
		t.Errorf("child kept an inherited pipe:\n%s", s)
	}
	if err := a.Remove(rec); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

// BenchmarkSpawn is the parent's cost of handing two frames to a
// detached announcer (fork, exec, return), from a namespace's thread.
// The children stay zombies until the test binary exits (ifup exits at
// once and init reaps them): run it with a fixed -benchtime such as 300x.
func BenchmarkSpawn(b *testing.B) {
	needRoot(b)
	ns := newNS(b, "spawn")
	runner, err := StartNetNS(ns.h, 10*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { runner.Close() })
	s := NewSpawnSender(childCommand("", "-count", "1"), runner.Run)
	frame := BuildGratuitousARP(nil, net.HardwareAddr{2, 0, 0, 0, 0, 1}, netip.MustParseAddr("198.51.100.1"))
	for b.Loop() {
		_ = s.SendFrame(1, frame)
		_ = s.SendFrame(1, frame)
		if err := s.Spawn(); err != nil {
			b.Fatal(err)
		}
	}
}
