package main

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/nettest"
)

var (
	broadcast4   = netip.MustParseAddr("255.255.255.255")
	unspecified6 = netip.IPv6Unspecified()
)

// rawSocket is an AF_PACKET socket on eth0 of a namespace.
type rawSocket struct{ c *packet.Conn }

// openRaw opens it; proto 0 receives nothing (a sender), ETH_P_ALL
// everything.
func openRaw(t *testing.T, ns *nettest.NS, proto int) *rawSocket {
	t.Helper()
	c, err := ns.Packet("eth0", proto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawSocket{c: c}
}

func (r *rawSocket) send(t *testing.T, frames ...[]byte) {
	t.Helper()
	if err := nettest.SendFrames(r.c, frames...); err != nil {
		t.Fatalf("send frame: %v", err)
	}
}

// startCapture captures on eth0 of ns in the background; wait returns the
// markers seen.
func startCapture(t *testing.T, ns *nettest.NS, timeout time.Duration) (wait func() []string) {
	t.Helper()
	r := openRaw(t, ns, unix.ETH_P_ALL)
	type result struct {
		seen []string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		seen, err := nettest.CaptureMarkers(r.c, timeout)
		ch <- result{seen, err}
	}()
	return func() []string {
		t.Helper()
		res := <-ch
		if res.err != nil {
			t.Fatalf("capture in %s: %v", ns, res.err)
		}
		return res.seen
	}
}

// neighMAC is the link-layer address ns's neighbour table has for addr on
// eth0 ("" for none).
func neighMAC(t *testing.T, ns *nettest.NS, addr netip.Addr) string {
	t.Helper()
	f := strings.Fields(ns.Run(t, "ip", "neigh", "show", addr.String(), "dev", "eth0"))
	if i := slices.Index(f, "lladdr"); i >= 0 && i+1 < len(f) {
		return f[i+1]
	}
	return ""
}
