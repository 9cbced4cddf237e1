package nfqueue

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/nettest"
)

// procStats reads the queue statistics of ns.
func procStats(t testing.TB, ns *nettest.NS) []QueueStats {
	t.Helper()
	var st []QueueStats
	if err := ns.Do(func() (err error) {
		st, err = ReadProcStats()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return st
}

// outstanding returns the statistics of queue num in ns.
func outstanding(t testing.TB, ns *nettest.NS, num uint16) QueueStats {
	t.Helper()
	st := procStats(t, ns)
	s, ok := Find(st, num)
	if !ok {
		t.Fatalf("queue %d not in %s statistics: %+v", num, ns, st)
	}
	return s
}

// vmPair is a VM without a VM: host namespace with tap-like veth "tapq0"
// (198.51.100.1) and a VM namespace whose eth0 (198.51.100.2) is its peer.
type vmPair struct {
	host, vm *nettest.NS
	tapIndex int
	vmMAC    net.HardwareAddr
}

func newVMPair(t testing.TB) vmPair {
	t.Helper()
	p := vmPair{host: nettest.NewNS(t, "nfq-"), vm: nettest.NewNS(t, "nfq-")}
	pair := nettest.Veth(t, p.host, "tapq0", p.vm, "eth0")
	pair.Host.AddAddr(t, netip.MustParsePrefix("198.51.100.1/24"))
	pair.VM.AddAddr(t, netip.MustParsePrefix("198.51.100.2/24"))
	p.tapIndex, p.vmMAC = pair.Host.Index, pair.VM.MAC
	return p
}

// queueUDP queues UDP to port arriving on the host end.
func (p vmPair) queueUDP(t testing.TB, num uint16, port int, extra ...string) {
	t.Helper()
	args := []string{"-A", "INPUT", "-i", "tapq0", "-p", "udp", "--dport", fmt.Sprint(port)}
	args = append(args, extra...)
	args = append(args, "-j", "NFQUEUE", "--queue-num", fmt.Sprint(num))
	p.host.Run(t, append([]string{"iptables"}, args...)...)
}

// listen opens a UDP receiver on the host end.
func (p vmPair) listen(t testing.TB, port int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := p.host.Do(func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(198, 51, 100, 1), Port: port})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// sender opens a UDP socket in the VM aimed at the host end.
func (p vmPair) sender(t testing.TB, port int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := p.vm.Do(func() (err error) {
		c, err = net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(198, 51, 100, 2), Port: 40000}, &net.UDPAddr{IP: net.IPv4(198, 51, 100, 1), Port: port})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// queued is a VM pair whose UDP to port 6767 on the host end (and
// matching match, iptables arguments) goes to queue cfg.Queue, bound with
// cfg in the host namespace; l receives on the host end, s sends from
// the VM.
func queued(t testing.TB, cfg Config, match ...string) (p vmPair, q *Queue, l, s *net.UDPConn) {
	t.Helper()
	p = newVMPair(t)
	p.queueUDP(t, cfg.Queue, 6767, match...)
	q = openIn(t, p.host, cfg)
	return p, q, p.listen(t, 6767), p.sender(t, 6767)
}

// open binds a queue inside ns.
func openIn(t testing.TB, ns *nettest.NS, cfg Config) *Queue {
	t.Helper()
	cfg.NetNS = ns.Fd()
	q, err := Open(cfg)
	if err != nil {
		t.Fatalf("open queue %d in %s: %v", cfg.Queue, ns, err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

// recvWithin reads one datagram or reports none within d.
func recvWithin(c *net.UDPConn, d time.Duration) ([]byte, bool) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	b := make([]byte, 2048)
	n, err := c.Read(b)
	if err != nil {
		return nil, false
	}
	return b[:n], true
}
