package e2e

import (
	"net"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/nfdconf"
	"github.com/diktyo/diktyo/pkg/nfqueue/nfqueuetest"
	"golang.org/x/sys/unix"
)

// TestUnknownTapAccepted checks that a DHCP request from a tap without a
// binding is given back to the host stack (ACCEPT), as GRNET does: a UDP
// listener on port 67 in the host namespace receives it, after it went
// through the daemon's queue.
func TestUnknownTapAccepted(t *testing.T) {
	t.Parallel()
	h := newHost(t, nfdconf.ModeSLAACDHCPv6, nil)
	v := h.addVM(t, routed, 4) // no binding written
	var l *net.UDPConn
	if err := h.ns.Do(func() (err error) {
		l, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 67})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	before, err := nfqueuetest.Stats(h.ns, qDHCP)
	if err != nil {
		t.Fatal(err)
	}
	r := openRaw(t, v, unix.ETH_P_IP)
	buf := make([]byte, 2048)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatal("no DHCP request reached the host's port 67 within 30s")
		}
		if got, err := r.discover(0); err != nil || got.IsValid() {
			t.Fatalf("discover: offer %v, %v", got, err)
		}
		_ = l.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, from, err := l.ReadFromUDP(buf)
		if err != nil {
			continue
		}
		if n < 240 || from.Port != 68 || net.HardwareAddr(buf[28:34]).String() != v.b.MAC.String() {
			t.Fatalf("received %d bytes from %v, not our DISCOVER", n, from)
		}
		break
	}
	after, err := nfqueuetest.Stats(h.ns, qDHCP)
	if err != nil {
		t.Fatal(err)
	}
	if after.IDSequence == before.IDSequence {
		t.Fatal("the request did not go through the daemon's queue")
	}
	if after.Outstanding != 0 {
		t.Fatalf("%d packets outstanding", after.Outstanding)
	}
	h.checkAlive(t)
}
