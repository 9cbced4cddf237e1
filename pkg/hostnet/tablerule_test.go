package hostnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/flock"
	"github.com/diktyo/diktyo/pkg/netplan"
)

// sharedPlan is routedPlan with the table's shared mark rules.
func sharedPlan(t testing.TB, tap string, ip4 netip.Addr, mac net.HardwareAddr) netplan.Host {
	t.Helper()
	mark, err := netplan.RouteMark(testTable)
	if err != nil {
		t.Fatal(err)
	}
	h := routedPlan(tap, testTable, uplinkName, ip4, mac)
	h.Announce = nil
	for i := range h.Rules {
		h.Rules[i].IIF, h.Rules[i].Mark = "", mark
	}
	return h
}

// addSharedNICs adds a VM behind each tap and returns their plans with
// the table's shared rules: MACs aa:00:00:12:SEQ:i, addresses
// 198.51.100.FIRST+i (SEQ and FIRST keep the tests of one run apart).
func addSharedNICs(t testing.TB, e *routedEnv, seq, first byte, taps ...string) []netplan.Host {
	t.Helper()
	var plans []netplan.Host
	for i, tap := range taps {
		mac := net.HardwareAddr{0xaa, 0, 0, 0x12, seq, byte(i)}
		e.addVM(t, tap, mac)
		plans = append(plans, sharedPlan(t, tap, netip.AddrFrom4([4]byte{198, 51, 100, first + byte(i)}), mac))
	}
	return plans
}

// markRules returns the shared rules of the test table in the namespace.
func markRules(t testing.TB, ns *testNS) string {
	t.Helper()
	out, err := listMarkRules(ns)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// listMarkRules is markRules for goroutines, which must not call
// t.Fatal: it returns the error.
func listMarkRules(ns *testNS) (string, error) {
	var out []string
	for _, fam := range []string{"-4", "-6"} {
		b, err := exec.Command("ip", "-n", ns.Name(), fam, "rule").CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("ip -n %s %s rule: %w: %s", ns.Name(), fam, err, b)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "fwmark") {
				out = append(out, fam+" "+strings.TrimSpace(l))
			}
		}
	}
	return strings.Join(out, "\n"), nil
}

func TestSharedRules(t *testing.T) {
	needRoot(t)
	e := newRoutedEnv(t)
	dir := t.TempDir()
	a := e.host.applier(t, Options{StateDir: dir})
	users := filepath.Join(dir, "tables", "100")
	const want = "-4 32000:\tfrom all fwmark 0xd1d10064 lookup 100\n-6 32000:\tfrom all fwmark 0xd1d10064 lookup 100"

	taps := []string{"tap-s1", "tap-s2"}
	plans := addSharedNICs(t, e, 0x34, 10, taps...)
	before := e.host.snapshot(t, append(taps, uplinkName)...)
	if got := a.uplinkByMark(testTable, 4); got != "" {
		t.Errorf("uplinkByMark without the rules = %q, want a fallback", got)
	}

	var applied []Applied
	for _, p := range plans {
		r, err := a.Apply(p)
		if err != nil {
			t.Fatal(err)
		}
		applied = append(applied, r)
	}
	if _, err := a.Apply(plans[0]); err != nil { // again: nothing changes
		t.Fatal(err)
	}
	if got := markRules(t, e.host); got != want {
		t.Fatalf("rules after two ups:\n%s\nwant\n%s", got, want)
	}
	for _, fam := range []int{4, 6} {
		if got := a.uplinkByMark(testTable, fam); got != uplinkName {
			t.Errorf("uplinkByMark(IPv%d) = %q, want %s", fam, got, uplinkName)
		}
	}

	if err := a.Remove(applied[0]); err != nil {
		t.Fatal(err)
	}
	if got := markRules(t, e.host); got != want {
		t.Fatalf("rules after the first down:\n%s\nwant\n%s", got, want)
	}
	if _, err := os.Stat(filepath.Join(users, taps[1])); err != nil {
		t.Fatalf("remaining user: %v", err)
	}
	if err := a.Remove(applied[1]); err != nil {
		t.Fatal(err)
	}
	if err := a.Remove(applied[1]); err != nil { // again: already gone
		t.Fatal(err)
	}
	if _, err := os.Stat(users); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("users directory after the last down: %v", err)
	}
	sameSnapshot(t, "after the last down", before, e.host.snapshot(t, append(taps, uplinkName)...))
}

func TestSharedRulesRollback(t *testing.T) {
	needRoot(t)
	e := newRoutedEnv(t)
	tap := "tap-s3"
	mac := net.HardwareAddr{0xaa, 0, 0, 0x12, 0x34, 0x57}
	e.addVM(t, tap, mac)
	dir := t.TempDir()
	before := e.host.snapshot(t, tap, uplinkName)

	// Open vSwitch fails after the rules and routes are in place.
	failing := e.host.applier(t, Options{StateDir: dir, OVSVsctl: func(...string) ([]byte, error) {
		return nil, errors.New("no switch")
	}})
	p := sharedPlan(t, tap, netip.MustParseAddr("198.51.100.20"), mac)
	p.OVS = &netplan.OVSPort{Bridge: "br-x"}
	if _, err := failing.Apply(p); err == nil {
		t.Fatal("Apply succeeded")
	}
	sameSnapshot(t, "after the rollback", before, e.host.snapshot(t, tap, uplinkName))

	// A table whose users stay locked: Apply gives up, nothing changes.
	holder := e.host.applier(t, Options{StateDir: dir})
	lock, err := holder.lockTable(testTable)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	impatient := e.host.applier(t, Options{StateDir: dir, Timeout: 50 * time.Millisecond})
	p.OVS = nil
	if _, err := impatient.Apply(p); !errors.Is(err, flock.ErrTimeout) {
		t.Fatalf("Apply with the table locked = %v, want flock.ErrTimeout", err)
	}
	sameSnapshot(t, "after the lock timeout", before, e.host.snapshot(t, tap, uplinkName))

	// Without a state directory shared rules are refused.
	if _, err := e.host.applier(t, Options{}).Apply(p); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Apply without a state directory = %v, want ErrInvalid", err)
	}
}

// TestSharedRulesConcurrent runs ups and downs of several taps of one
// table at once, each through its own Applier as separate diktyo-ifup
// processes would: the rules exist exactly while a NIC is up.
func TestSharedRulesConcurrent(t *testing.T) {
	needRoot(t)
	e := newRoutedEnv(t)
	dir := t.TempDir()
	const n, cycles = 6, 15
	var taps []string
	for i := range n {
		taps = append(taps, fmt.Sprintf("tap-c%d", i))
	}
	plans := addSharedNICs(t, e, 0x35, 30, taps...)
	before := e.host.snapshot(t, append(taps, uplinkName)...)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, p := range plans {
		a := e.host.applier(t, Options{StateDir: dir})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range cycles {
				r, err := a.Apply(p)
				if err == nil {
					var got string
					got, err = listMarkRules(e.host)
					if err == nil && (!strings.Contains(got, "-6 32000:") || !strings.Contains(got, "-4 32000:")) {
						err = fmt.Errorf("%s up but rules are %q", p.Tap.Name, got)
					}
				}
				if err == nil {
					err = a.Remove(r)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	sameSnapshot(t, "after all downs", before, e.host.snapshot(t, append(taps, uplinkName)...))
}

func TestDirEmpty(t *testing.T) {
	dir := t.TempDir()
	check := func(want bool) {
		t.Helper()
		f, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if got, err := dirEmpty(f); err != nil || got != want {
			t.Fatalf("dirEmpty = %v, %v, want %v", got, err, want)
		}
	}
	check(true)
	for i := range 300 { // more entries than one read returns
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("tap-with-a-long-name%d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	check(false)
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, n := range names[1:] {
		os.Remove(n)
	}
	check(false)
	os.Remove(names[0])
	check(true)
}

// TestReleaseStale: users left without a record (a crash, an unreadable
// record) and a table a crash left without users are cleaned up.
func TestReleaseStale(t *testing.T) {
	needRoot(t)
	e := newRoutedEnv(t)
	dir := t.TempDir()
	a := e.host.applier(t, Options{StateDir: dir})
	plans := addSharedNICs(t, e, 0x36, 50, "tap-x1", "tap-x2")
	before := markRules(t, e.host)
	for _, p := range plans {
		if _, err := a.Apply(p); err != nil {
			t.Fatal(err)
		}
	}
	// tap-x1 keeps its record, tap-x2 lost it: only tap-x2 goes.
	if err := a.ReleaseStale(func(tap string) bool { return tap == "tap-x1" }); err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "tables", "100")
	if _, err := os.Stat(filepath.Join(users, "tap-x2")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale user kept: %v", err)
	}
	if got := markRules(t, e.host); got == before {
		t.Fatal("rules deleted while tap-x1 still uses them")
	}
	// A crash between removing the last user and deleting the rules.
	if err := os.Remove(filepath.Join(users, "tap-x1")); err != nil {
		t.Fatal(err)
	}
	if err := a.ReleaseStale(func(string) bool { return true }); err != nil {
		t.Fatal(err)
	}
	if got := markRules(t, e.host); got != before {
		t.Errorf("rules after the cleanup:\n%s\nwant\n%s", got, before)
	}
	if _, err := os.Stat(users); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("users directory after the cleanup: %v", err)
	}
	// A rule whose mark is not the table's is refused before any change.
	p := plans[0]
	p.Rules = slices.Clone(p.Rules)
	p.Rules[0].Mark++
	if _, err := a.Apply(p); !errors.Is(err, ErrInvalid) {
		t.Errorf("Apply with a foreign mark = %v, want ErrInvalid", err)
	}
}
