package ifup

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/nettest"
)

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestWatchIncoming: what the migrate pre hook stores (ExpectIncoming)
// makes Watch set the routed NIC up as soon as Ganeti's NIC file names a
// tap that exists; the bridged NIC is not kept; Ganeti's own ifup after
// the migration finds the same plan and removes nothing; a NIC file older
// than the hook is not this migration's; an incoming migration whose taps
// never appear is given up after IncomingTimeout.
func TestWatchIncoming(t *testing.T) {
	g := newRig(t)
	var skew atomic.Int64
	g.r.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	events := make(chan string)
	g.r.deleted = func(context.Context) (<-chan string, error) { return events, nil }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.r.Watch(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	}()

	parse := func(file string, over map[string]string) ganeti.IfupEnv {
		e, err := ganeti.ParseIfupEnv(environ(t, file, over))
		if err != nil {
			t.Fatal(err)
		}
		return *e
	}
	routed := parse(routedEnv, nil)
	bridged := parse(bridgedEnv, map[string]string{"INSTANCE": routed.Instance, "INTERFACE_INDEX": "1"})
	stored := filepath.Join(IncomingDir(g.cfg.StateDir), routed.Instance+".json")
	nicFile := func(instance string, index int, tap string) string {
		dir := filepath.Join(g.cfg.KVMNICDir, instance)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, string(rune('0'+index)))
		if err := os.WriteFile(p, []byte(tap), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// A NIC file of an earlier run is there before the hook.
	stale := nicFile(routed.Instance, 0, "tap1")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if err := ExpectIncoming(g.cfg.StateDir, Incoming{Instance: routed.Instance, Since: time.Now(), NICs: []ganeti.IfupEnv{routed, bridged}}); err != nil {
		t.Fatal(err)
	}
	in, err := readIncoming(stored)
	if err != nil || len(in.NICs) != 1 || in.NICs[0].Mode != ganeti.ModeRouted || in.NICs[0].Interface != "" {
		t.Fatalf("stored: %+v, %v", in, err)
	}
	nettest.Eventually(t, "the incoming migration noticed", 10*time.Second, func() bool { return strings.Contains(g.logs.String(), "live migration incoming") })
	time.Sleep(5 * incomingPoll)
	if rec := g.record("tap1"); rec != nil {
		t.Fatalf("set up from a NIC file older than the hook: %+v", rec.NIC)
	}

	// Ganeti names the tap before it exists for this test's host: the
	// up waits for the device.
	nicFile(routed.Instance, 0, "tap7")
	time.Sleep(5 * incomingPoll)
	if exists(g.r.st.recordPath("tap7")) {
		t.Fatal("set up a tap that does not exist")
	}
	g.host.addTap("tap7", 70)
	nettest.Eventually(t, "tap7 set up", 10*time.Second, func() bool { return exists(g.r.st.recordPath("tap7")) && !exists(stored) })
	rec := g.record("tap7")
	if rec.NIC.Instance != routed.Instance || rec.NIC.Index != 0 || !rec.Complete || rec.TapIndex != 70 {
		t.Fatalf("record: %+v", rec)
	}
	if !slices.Contains(g.host.snapshot(), "route 198.18.100.2/32 tap7 100") {
		t.Errorf("no route via tap7: %q", g.host.snapshot())
	}

	// Ganeti's ifup at FinalizeMigrationDst: the same plan, nothing torn
	// down, the host applied again (idempotent) for its announcements.
	g.host.calls = nil
	g.mustUp(routedEnv, map[string]string{"INTERFACE": "tap7"})
	if slices.Contains(g.host.calls, "remove tap7") || !slices.Contains(g.host.calls, "apply tap7") {
		t.Errorf("Ganeti's ifup after watch's: calls %q", g.host.calls)
	}
	if !strings.Contains(g.logs.String(), "routed NIC of an incoming migration set up") {
		t.Errorf("no log line:\n%s", g.logs)
	}

	// A migration whose taps never come.
	other := routed
	other.Instance = "never.ganeti.test"
	if err := ExpectIncoming(g.cfg.StateDir, Incoming{Instance: other.Instance, Since: time.Now(), NICs: []ganeti.IfupEnv{other}}); err != nil {
		t.Fatal(err)
	}
	nettest.Eventually(t, "the second migration noticed", 10*time.Second, func() bool { return strings.Count(g.logs.String(), "live migration incoming") == 2 })
	skew.Store(int64(IncomingTimeout + time.Minute))
	nettest.Eventually(t, "the second migration given up", 10*time.Second, func() bool {
		return !exists(filepath.Join(IncomingDir(g.cfg.StateDir), other.Instance+".json"))
	})
	if !strings.Contains(g.logs.String(), "did not appear") {
		t.Errorf("no warning on giving up:\n%s", g.logs)
	}
}

func TestExpectIncoming(t *testing.T) {
	dir := t.TempDir()
	e, err := ganeti.ParseIfupEnv(environ(t, bridgedEnv, nil))
	if err != nil {
		t.Fatal(err)
	}
	// Nothing routed: nothing stored, an earlier entry removed.
	path := filepath.Join(IncomingDir(dir), e.Instance+".json")
	if err := os.MkdirAll(IncomingDir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ExpectIncoming(dir, Incoming{Instance: e.Instance, NICs: []ganeti.IfupEnv{*e}}); err != nil || exists(path) {
		t.Fatalf("bridged only: %v, file left: %v", err, exists(path))
	}
	for _, bad := range []string{"", ".hidden", "a/b", "x\x00y", strings.Repeat("a", 240)} {
		if err := ExpectIncoming(dir, Incoming{Instance: bad}); err == nil {
			t.Errorf("instance %q accepted", bad)
		}
		if err := ForgetIncoming(dir, bad); err == nil {
			t.Errorf("forget %q accepted", bad)
		}
	}
	long := strings.Repeat("a", 239)
	r, err := ganeti.ParseIfupEnv(environ(t, routedEnv, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := ExpectIncoming(dir, Incoming{Instance: long, NICs: []ganeti.IfupEnv{*r}}); err != nil {
		t.Errorf("the longest name: %v", err)
	}
	if err := ForgetIncoming(dir, long); err != nil || exists(filepath.Join(IncomingDir(dir), long+".json")) {
		t.Errorf("forget the longest name: %v", err)
	}
	if err := ForgetIncoming(dir, "gone.ganeti.test"); err != nil {
		t.Errorf("forget of nothing: %v", err)
	}
}
