package hostnet

import (
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

	"github.com/diktyo/diktyo/pkg/announce"
	"github.com/diktyo/diktyo/pkg/eui64"
)

// The test binary re-executed as the detached announcer: with
// announceChildEnv set it runs announce.Run on its arguments instead of
// the tests, then writes what it looked like (session, descriptors) to
// the file named by announceReportEnv, if any.
const (
	announceChildEnv  = "HOSTNET_TEST_ANNOUNCE_CHILD"
	announceReportEnv = "HOSTNET_TEST_ANNOUNCE_REPORT"
)

func TestMain(m *testing.M) {
	if os.Getenv(announceChildEnv) == "1" {
		err := announce.Run(os.Args[1:])
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
func childCommand(report string, extra ...string) announce.Command {
	return announce.Command{
		Path: "/proc/self/exe",
		Args: append([]string{"hostnet.test"}, extra...),
		Env:  []string{announceChildEnv + "=1", announceReportEnv + "=" + report},
	}
}

// TestDetachedAnnounce applies a routed NIC with detached announcements:
// the test binary, re-executed as the announcer from the namespace's
// thread, must send the GARP and the NA on the uplink three times once
// the VM has sent a frame on its tap (its IPv6 start-up frames), from a
// new session with nothing but /dev/null inherited. (pkg/announce tests
// the wait itself.)
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
	if _, ok := a.sender.(*announce.Spawner); !ok {
		t.Fatalf("sender is %T, want *announce.Spawner", a.sender)
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
