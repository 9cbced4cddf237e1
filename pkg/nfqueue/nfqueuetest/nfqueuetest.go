// Package nfqueuetest reads NFQUEUE statistics inside the throwaway
// network namespaces of pkg/nettest, for root tests that check what
// reached a queue. It lives apart from pkg/nettest so that nettest
// imports no production package (pkg/nfqueue's own tests use nettest).
//
// This package is for tests only; production code must never import it.
package nfqueuetest

import (
	"errors"
	"fmt"

	"github.com/diktyo/diktyo/pkg/nettest"
	"github.com/diktyo/diktyo/pkg/nfqueue"
)

// ErrNotBound is returned for a queue the namespace's statistics do not
// list (nothing is bound to it).
var ErrNotBound = errors.New("queue is not bound")

// Stats returns the statistics of queue num in ns
// (/proc/net/netfilter/nfnetlink_queue there).
func Stats(ns *nettest.NS, num uint16) (nfqueue.QueueStats, error) {
	var st []nfqueue.QueueStats
	if err := ns.Do(func() (err error) {
		st, err = nfqueue.ReadProcStats()
		return err
	}); err != nil {
		return nfqueue.QueueStats{}, fmt.Errorf("netns %s: queue statistics: %w", ns, err)
	}
	s, ok := nfqueue.Find(st, num)
	if !ok {
		return s, fmt.Errorf("netns %s: queue %d: %w", ns, num, ErrNotBound)
	}
	return s, nil
}

// Outstanding returns the number of packets of queue num in ns waiting
// for a verdict.
func Outstanding(ns *nettest.NS, num uint16) (uint32, error) {
	s, err := Stats(ns, num)
	return s.Outstanding, err
}
