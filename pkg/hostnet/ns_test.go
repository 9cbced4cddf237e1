package hostnet

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/nettest"
)

// needRoot skips tests that need namespaces when not root; as root (CI)
// a missing tool fails them (nettest.RequireRoot).
func needRoot(t testing.TB) {
	t.Helper()
	nettest.RequireRoot(t)
}

// testNS is a throwaway namespace (pkg/nettest) with the handle that
// NewAt and StartNetNS take.
type testNS struct {
	*nettest.NS
	h netns.NsHandle // NS's descriptor: NS closes it at cleanup
}

func newNS(t testing.TB, tag string) *testNS {
	t.Helper()
	ns := nettest.NewNS(t, "hn-"+tag+"-")
	return &testNS{NS: ns, h: netns.NsHandle(ns.Fd())}
}

// ip runs "ip -n NS args..." and returns what it printed on stdout: the
// state snapshots compare. Its stderr is not state: while other tests
// create and delete namespaces, naming a veth peer's netns may print
// "Peer netns reference is invalid" there once and not the next time.
func (n *testNS) ip(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), nettest.CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"-n", n.Name()}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ip -n %s %s: %v: %s", n.Name(), strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
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
	ctx, cancel := context.WithTimeout(context.Background(), nettest.CommandTimeout)
	defer cancel()
	out, _ := n.Exec(ctx, append([]string{"grep", "-rs", "."}, dirs...)...).Output() // unreadable keys (stable_secret) are skipped
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

// waitLinkLocal waits until dev has a usable IPv6 link-local address and
// the routes that follow it, so that snapshots do not race with address
// configuration.
func (n *testNS) waitLinkLocal(t testing.TB, dev string) {
	t.Helper()
	if _, err := nettest.WaitLinkLocal(n.NS, dev, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		// The local route follows the address, and on a forwarding
		// device the subnet-router anycast route too.
		local := n.ip(t, "-6", "route", "show", "table", "local", "dev", dev)
		fwd, err := n.ReadSysctl("net/ipv6/conf/" + dev + "/forwarding")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(local, "local fe80") && (fwd != "1" || strings.Contains(local, "anycast")) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: no route for its IPv6 link-local address", dev)
}

// capture collects frames received on dev inside ns.
type capture struct {
	frames chan []byte
}

func startCapture(t testing.TB, ns *testNS, dev string) *capture {
	t.Helper()
	c, err := ns.Packet(dev, unix.ETH_P_ALL)
	if err != nil {
		t.Fatalf("capture on %s: %v", dev, err)
	}
	capt := &capture{frames: make(chan []byte, 1024)}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		buf := make([]byte, 2048)
		for {
			select {
			case <-done:
				return
			default:
			}
			_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				continue
			}
			select {
			case capt.frames <- append([]byte(nil), buf[:n]...):
			default:
			}
		}
	}()
	t.Cleanup(func() {
		close(done)
		<-stopped
		_ = c.Close()
	})
	return capt
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
