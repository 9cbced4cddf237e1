package hostnet

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/inetsum"
	"github.com/diktyo/diktyo/pkg/nettest"
)

// needRoot skips tests that need namespaces when not root; as root (CI)
// a missing ip fails them.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("needs ip (make deps installs iproute2)")
	}
}

// testNS is a named network namespace that the test removes at cleanup.
type testNS struct {
	name string
	h    netns.NsHandle
}

func newNS(t testing.TB, tag string) *testNS {
	t.Helper()
	name := fmt.Sprintf("hn-%s-%d-%x", tag, os.Getpid(), rand.Uint32())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	n := &testNS{name: name, h: -1}
	t.Cleanup(func() {
		if n.h >= 0 {
			n.h.Close()
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	n.h = h
	n.ip(t, "link", "set", "lo", "up")
	return n
}

// ip runs "ip -n NS args..." and returns its output.
func (n *testNS) ip(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", n.name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s %s: %v: %s", n.name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// exec runs a command inside the namespace.
func (n *testNS) exec(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("in %s: %s: %v: %s", n.name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (n *testNS) sysctl(t testing.TB, key, value string) {
	t.Helper()
	n.exec(t, "sh", "-c", fmt.Sprintf("echo %s > /proc/sys/%s", value, key))
}

// applier returns an Applier bound to the namespace, closed at cleanup.
func (n *testNS) applier(t testing.TB, opts Options) *Applier {
	t.Helper()
	a, err := NewAt(n.h, opts)
	if err != nil {
		t.Fatalf("NewAt: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// snapshot captures the namespace state Apply may change: rules, routes
// of every table, proxy neighbours, links (state, MAC, MTU, master) and
// every sysctl of the given devices plus all/default.
func (n *testNS) snapshot(t testing.TB, devs ...string) string {
	t.Helper()
	var b strings.Builder
	for _, args := range [][]string{
		{"-4", "rule"}, {"-6", "rule"},
		{"-4", "route", "show", "table", "all"}, {"-6", "route", "show", "table", "all"},
		{"neigh", "show", "proxy"},
		{"-o", "link", "show"},
	} {
		fmt.Fprintf(&b, "## ip %s\n%s", strings.Join(args, " "), n.ip(t, args...))
	}
	dirs := []string{}
	for _, d := range append([]string{"all", "default"}, devs...) {
		for _, f := range []string{"ipv4/conf", "ipv6/conf", "ipv4/neigh", "ipv6/neigh"} {
			dirs = append(dirs, "/proc/sys/net/"+f+"/"+d)
		}
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.name, "grep", "-rs", "."}, dirs...)...)
	out, _ := cmd.Output() // unreadable keys (stable_secret) are skipped
	b.WriteString("## sysctls\n")
	b.Write(out)
	return scrubLinks(b.String())
}

// scrubLinks drops link counters that change by themselves.
func scrubLinks(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if i := strings.Index(l, " numtxqueues"); i >= 0 && strings.Contains(l, "link/") {
			l = l[:i]
		}
		// A link gets its qdisc when first up; nothing to restore.
		l = strings.Replace(l, " qdisc noop ", " qdisc noqueue ", 1)
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func sameSnapshot(t testing.TB, what, before, after string) {
	t.Helper()
	if before != after {
		t.Errorf("%s: state differs from before:\n%s", what, nettest.LineDiff(before, after))
	}
}

// waitLinkLocal waits until dev has a usable IPv6 link-local address, so
// that snapshots do not race with address configuration.
func (n *testNS) waitLinkLocal(t testing.TB, dev string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out := n.ip(t, "-6", "addr", "show", "dev", dev, "scope", "link")
		if strings.Contains(out, "fe80") && !strings.Contains(out, "tentative") {
			// The local route follows the address, and on a forwarding
			// device the subnet-router anycast route too.
			local := n.ip(t, "-6", "route", "show", "table", "local", "dev", dev)
			fwd := strings.TrimSpace(n.exec(t, "cat", "/proc/sys/net/ipv6/conf/"+dev+"/forwarding")) == "1"
			if strings.Contains(local, "local fe80") && (!fwd || strings.Contains(local, "anycast")) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: no IPv6 link-local address", dev)
}

// veth creates a veth pair: host end in n, peer moved into other as peerName.
func (n *testNS) veth(t testing.TB, name string, other *testNS, peerName string) {
	t.Helper()
	n.ip(t, "link", "add", name, "type", "veth", "peer", "name", peerName, "netns", other.name)
}

// ping sends ICMP echo requests from inside ns until one is answered.
func ping(t testing.TB, ns *testNS, dst netip.Addr, timeout time.Duration) error {
	t.Helper()
	runner, err := StartNetNS(ns.h, 10*time.Second)
	if err != nil {
		return err
	}
	defer runner.Close()
	var fd int
	err = runner.Run(func() error {
		var err error
		if dst.Is4() {
			fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		} else {
			fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("icmp socket: %w", err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(int64(300 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	id := uint16(rand.Uint32())
	var sa unix.Sockaddr
	typ, reply := byte(8), byte(0)
	if dst.Is4() {
		sa = &unix.SockaddrInet4{Addr: dst.As4()}
	} else {
		sa = &unix.SockaddrInet6{Addr: dst.As16()}
		typ, reply = 128, 129
	}
	deadline := time.Now().Add(timeout)
	var lastErr error
	buf := make([]byte, 1500)
	for seq := uint16(1); time.Now().Before(deadline); seq++ {
		msg := []byte{typ, 0, 0, 0, byte(id >> 8), byte(id), byte(seq >> 8), byte(seq), 'd', 'i', 'k', 't', 'y', 'o'}
		if dst.Is4() {
			binary.BigEndian.PutUint16(msg[2:], inetsum.Checksum(inetsum.Add(0, msg)))
		}
		if err := unix.Sendto(fd, msg, 0, sa); err != nil {
			lastErr = err
			time.Sleep(200 * time.Millisecond)
			continue
		}
		end := time.Now().Add(300 * time.Millisecond)
		for time.Now().Before(end) {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				break
			}
			p := buf[:n]
			if dst.Is4() && n > 20 {
				p = p[int(p[0]&0x0f)*4:] // raw IPv4 sockets include the header
			}
			if len(p) >= 8 && p[0] == reply && binary.BigEndian.Uint16(p[4:]) == id {
				return nil
			}
		}
		lastErr = fmt.Errorf("no echo reply from %s", dst)
	}
	return fmt.Errorf("ping %s from %s: %w", dst, ns.name, lastErr)
}

// capture collects frames received on dev inside ns until stop returns
// true for a frame set or the timeout passes.
type capture struct {
	fd     int
	frames chan []byte
	done   chan struct{}
}

func startCapture(t testing.TB, ns *testNS, dev string) *capture {
	t.Helper()
	runner, err := StartNetNS(ns.h, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer runner.Close()
	ifi := 0
	var fd int
	err = runner.Run(func() error {
		i, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		ifi = i.Index
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi})
	})
	if err != nil {
		t.Fatalf("capture on %s: %v", dev, err)
	}
	tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	c := &capture{fd: fd, frames: make(chan []byte, 1024), done: make(chan struct{})}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		buf := make([]byte, 2048)
		for {
			select {
			case <-c.done:
				return
			default:
			}
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				continue
			}
			select {
			case c.frames <- bytes.Clone(buf[:n]):
			default:
			}
		}
	}()
	t.Cleanup(func() {
		close(c.done)
		<-stopped
		unix.Close(fd)
	})
	return c
}

// waitFor returns once every predicate matched some frame.
func (c *capture) waitFor(timeout time.Duration, preds map[string]func([]byte) bool) error {
	deadline := time.After(timeout)
	for len(preds) > 0 {
		select {
		case f := <-c.frames:
			for name, p := range preds {
				if p(f) {
					delete(preds, name)
				}
			}
		case <-deadline:
			var missing []string
			for name := range preds {
				missing = append(missing, name)
			}
			return fmt.Errorf("not seen: %s", strings.Join(missing, ", "))
		}
	}
	return nil
}

// htons converts a 16-bit value to network byte order.
func htons(v uint16) uint16 { return v<<8 | v>>8 }
