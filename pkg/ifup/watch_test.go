package ifup

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestWatch drives Watch with scripted device events: a deleted recorded
// tap loses its state; a name without a record, or a tap already
// recreated and set up again, keeps what it has; lost events (a closed
// channel) make it subscribe again and reconcile; the end of its context
// ends it without error.
func TestWatch(t *testing.T) {
	g := newRig(t)
	g.mustUp(bridgedEnv, nil) // tap0
	g.mustUp(routedEnv, nil)  // tap1
	subs := make(chan chan string, 2)
	g.r.deleted = func(ctx context.Context) (<-chan string, error) {
		ch := make(chan string)
		subs <- ch
		return ch, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.r.Watch(ctx) }()
	next := func() chan string {
		t.Helper()
		select {
		case ch := <-subs:
			return ch
		case <-time.After(10 * time.Second):
			t.Fatal("Watch did not subscribe")
			return nil
		}
	}
	ev := next()

	// tap1 is recreated and set up again before its deletion event is
	// handled: the new state stays.
	g.host.delTap("tap1")
	g.host.addTap("tap1", 21)
	g.mustUp(routedEnv, nil)
	ev <- "tap1"
	ev <- "eth7" // never recorded
	// tap0 goes for good.
	g.host.delTap("tap0")
	ev <- "tap0"
	close(ev) // events lost: subscribe again, reconcile
	ev = next()
	ev <- "tap1" // a no-op barrier: the events above were handled
	recs, err := g.r.Records()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].NIC.Tap != "tap1" || recs[0].TapIndex != 21 {
		t.Fatalf("records: %+v", recs)
	}
	if l, _ := g.fw.List(); !slices.Equal(l, []string{"tap1"}) {
		t.Errorf("filters: %q", l)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
	if !strings.Contains(g.logs.String(), "device events lost") {
		t.Errorf("no warning about lost events:\n%s", g.logs)
	}

	g.r.deleted = func(context.Context) (<-chan string, error) { return nil, errors.New("no netlink") }
	if err := g.r.Watch(context.Background()); err == nil || !strings.Contains(err.Error(), "no netlink") {
		t.Errorf("Watch without events: %v", err)
	}
}
