package nfqueue

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// requireRoot skips root tests without root, with the reason; as root
// (CI) a missing tool fails the test.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and binds NFQUEUE")
	}
	for _, c := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Fatalf("needs %s (make deps installs it): %v", c, err)
		}
	}
}

func run(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// netNS is a throwaway network namespace.
type netNS struct {
	name string
	fd   int
}

func newNetNS(t testing.TB) netNS {
	t.Helper()
	var r [4]byte
	_, _ = rand.Read(r[:])
	name := "nfq-" + hex.EncodeToString(r[:])
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	fd, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return netNS{name, fd}
}

// do runs fn on an OS thread inside ns; sockets fn creates stay in ns. The
// thread is thrown away afterwards.
func (ns netNS) do(fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := unix.Setns(ns.fd, unix.CLONE_NEWNET); err != nil {
			ch <- fmt.Errorf("setns %s: %w", ns.name, err)
			return
		}
		ch <- fn()
	}()
	return <-ch
}

func (ns netNS) iptables(t testing.TB, args ...string) {
	t.Helper()
	run(t, append([]string{"ip", "netns", "exec", ns.name, "iptables"}, args...)...)
}

func (ns netNS) outstanding(t testing.TB, num uint16) QueueStats {
	t.Helper()
	st, err := ReadProcStatsNetNS(ns.fd)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := Find(st, num)
	if !ok {
		t.Fatalf("queue %d not in %s statistics: %+v", num, ns.name, st)
	}
	return s
}

// vmPair is a VM without a VM: host namespace with tap-like veth "tapq0"
// (198.51.100.1) and a VM namespace whose eth0 (198.51.100.2) is its peer.
type vmPair struct {
	host, vm netNS
	tapIndex int
	vmMAC    net.HardwareAddr
}

func newVMPair(t testing.TB) vmPair {
	t.Helper()
	p := vmPair{host: newNetNS(t), vm: newNetNS(t)}
	run(t, "ip", "-n", p.host.name, "link", "add", "tapq0", "type", "veth", "peer", "name", "eth0", "netns", p.vm.name)
	run(t, "ip", "-n", p.host.name, "addr", "add", "198.51.100.1/24", "dev", "tapq0")
	run(t, "ip", "-n", p.vm.name, "addr", "add", "198.51.100.2/24", "dev", "eth0")
	run(t, "ip", "-n", p.host.name, "link", "set", "tapq0", "up")
	run(t, "ip", "-n", p.vm.name, "link", "set", "eth0", "up")
	if err := p.host.do(func() error {
		ifi, err := net.InterfaceByName("tapq0")
		if err == nil {
			p.tapIndex = ifi.Index
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.vm.do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err == nil {
			p.vmMAC = ifi.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return p
}

// queueUDP queues UDP to port arriving on the host end.
func (p vmPair) queueUDP(t testing.TB, num uint16, port int, extra ...string) {
	t.Helper()
	args := []string{"-A", "INPUT", "-i", "tapq0", "-p", "udp", "--dport", fmt.Sprint(port)}
	args = append(args, extra...)
	args = append(args, "-j", "NFQUEUE", "--queue-num", fmt.Sprint(num))
	p.host.iptables(t, args...)
}

// listen opens a UDP receiver on the host end.
func (p vmPair) listen(t testing.TB, port int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := p.host.do(func() (err error) {
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
	if err := p.vm.do(func() (err error) {
		c, err = net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(198, 51, 100, 2), Port: 40000}, &net.UDPAddr{IP: net.IPv4(198, 51, 100, 1), Port: port})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// open binds a queue inside ns.
func openIn(t testing.TB, ns netNS, cfg Config) *Queue {
	t.Helper()
	cfg.NetNS = ns.fd
	q, err := Open(cfg)
	if err != nil {
		t.Fatalf("open queue %d in %s: %v", cfg.Queue, ns.name, err)
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
