package nfqueuetest_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/nettest"
	"github.com/diktyo/diktyo/pkg/nfqueue"
	"github.com/diktyo/diktyo/pkg/nfqueue/nfqueuetest"
)

// TestSteerQueues: nettest.SteerQueues steers a VM's DHCP to the queue,
// the queue's statistics show it bound with nothing outstanding once
// every packet got its verdict, and an unbound queue is ErrNotBound.
func TestSteerQueues(t *testing.T) {
	t.Parallel()
	nettest.RequireRoot(t, "udhcpc")
	host, guest := nettest.NewNS(t, "nth-"), nettest.NewNS(t, "ntv-")
	p := nettest.Veth(t, host, "tap-nt0", guest, "eth0")
	nettest.SteerQueues(t, host, nettest.Queues{Tap: p.Host.Name, DHCP: 42})
	q, err := nfqueue.Open(nfqueue.Config{Queue: 42, NetNS: host.Fd()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	var seen atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- q.Serve(ctx, func(pk *nfqueue.Packet) nfqueue.Verdict {
			if pk.InDev == uint32(p.Host.Index) {
				seen.Add(1)
			}
			return nfqueue.Drop
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(30 * time.Second)
	for seen.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no packet queued within 30s")
		}
		// udhcpc gets no answer: one discover is enough.
		_, _ = nettest.Udhcpc(t, guest, "eth0", "-t", "1", "-T", "1")
	}
	out, err := nfqueuetest.Outstanding(host, 42)
	if err != nil || out != 0 {
		t.Fatalf("outstanding %d, %v", out, err)
	}
	if _, err := nfqueuetest.Stats(host, 43); !errors.Is(err, nfqueuetest.ErrNotBound) {
		t.Fatalf("unbound queue 43: %v, want ErrNotBound", err)
	}
}
