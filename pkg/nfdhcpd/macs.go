package nfdhcpd

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/diktyo/diktyo/pkg/afpacket"
	"github.com/diktyo/diktyo/pkg/binding"
)

// ErrNoMAC is returned when a tap has no usable Ethernet MAC.
var ErrNoMAC = afpacket.ErrNoMAC

// macCache maps tap ifindexes to the taps' own MACs (the server/router MAC
// of replies) so that the packet path makes no syscall. It is rebuilt when
// the binding table changes and filled in on a miss.
type macCache struct {
	lookup func(name string) ([6]byte, error)
	mu     sync.Mutex // serializes writers; readers are lock-free
	cur    atomic.Pointer[map[int][6]byte]
}

func newMACCache(lookup func(string) ([6]byte, error)) *macCache {
	c := &macCache{lookup: lookup}
	m := map[int][6]byte{}
	c.cur.Store(&m)
	return c
}

// get returns the MAC of e's tap. A hit allocates nothing.
func (c *macCache) get(e *binding.Entry) ([6]byte, error) {
	if mac, ok := (*c.cur.Load())[e.TapIndex]; ok {
		return mac, nil
	}
	return c.miss(e)
}

func (c *macCache) miss(e *binding.Entry) ([6]byte, error) {
	mac, err := c.lookup(e.Binding.Tap)
	if err != nil {
		return mac, fmt.Errorf("tap %s: %w", e.Binding.Tap, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.cur.Load()
	m := make(map[int][6]byte, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[e.TapIndex] = mac
	c.cur.Store(&m)
	return mac, nil
}

// refresh rebuilds the cache for the resolved entries of t; it returns the
// taps whose MAC could not be read.
func (c *macCache) refresh(t *binding.Table) []error {
	var errs []error
	m := make(map[int][6]byte, t.Len())
	for _, e := range t.Entries() {
		if e.TapIndex <= 0 {
			continue
		}
		mac, err := c.lookup(e.Binding.Tap)
		if err != nil {
			errs = append(errs, fmt.Errorf("tap %s: %w", e.Binding.Tap, err))
			continue
		}
		m[e.TapIndex] = mac
	}
	c.mu.Lock()
	c.cur.Store(&m)
	c.mu.Unlock()
	return errs
}
