package firewall

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/golden"
	"github.com/diktyo/diktyo/pkg/netplan"
)

// goldenFile checks got against testdata (pkg/golden).
func goldenFile(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", name), got)
}

// mac parses s; a []byte is assignable to net.HardwareAddr and mac.Addr.
func mac(s string) []byte {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// routedFilter and bridgedFilter are the reference NICs of the goldens.
func routedFilter(tap string) netplan.Filter {
	return netplan.Filter{
		Tap: tap, Mode: netplan.ModeRouted, MAC: mac("aa:00:00:12:34:56"),
		AntiSpoof: true, IPv4: addrs("198.51.100.10"), IPv6: addrs("2001:db8:1::a800:ff:fe12:3456"),
		Profile: netplan.ProfileLimited, ARPGateway: netip.MustParseAddr("198.51.100.1"),
		Queues:    &netplan.Queues{DHCP: 42, RS: 43, NS: 44, DHCPv6: 45},
		RouteMark: netplan.RouteMarkBase + 100,
		RouterLL6: netip.MustParseAddr("fe80::ce47:52ff:fe4e:4554"),
	}
}

func bridgedFilter(tap string) netplan.Filter {
	return netplan.Filter{
		Tap: tap, Mode: netplan.ModeBridged, Bridge: "br-priv", MAC: mac("aa:10:00:00:00:02"),
		AntiSpoof: true, IPv4: addrs("198.18.0.2"), LinkLocal6: true,
		Profile:   netplan.ProfileProtected,
		MACFilter: &netplan.MACFilter{Prefix: mac("aa:10:00:00:00:00")},
		Queues:    &netplan.Queues{DHCP: 42, RS: 43, NS: 44, DHCPv6: 45, Bypass: true},
		RouterLL6: netip.MustParseAddr("fe80::ff:fe00:e01"),
	}
}

// requireRoot skips root tests without root, with the reason; as root
// (CI) a missing tool fails the test.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and nftables tables")
	}
	for _, c := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Fatalf("needs %s (make deps installs it): %v", c, err)
		}
	}
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// netNS is a throwaway network namespace.
type netNS struct {
	name string
	fd   int
}

func uniq() string {
	var r [4]byte
	_, _ = rand.Read(r[:])
	return hex.EncodeToString(r[:])
}

func newNetNS(t testing.TB) netNS {
	t.Helper()
	name := "fw-" + uniq()
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

// exec runs a command inside the namespace.
func (ns netNS) exec(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, append([]string{"ip", "netns", "exec", ns.name}, args...)...)
}

// do runs fn on an OS thread inside ns; the thread is thrown away.
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

// ruleset is `nft list ruleset` of the namespace without the
// nft_compat warning lines.
func (ns netNS) ruleset(t testing.TB) string {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns.name, "nft", "list", "ruleset")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nft list ruleset in %s: %v\n%s", ns.name, err, stderr.Bytes())
	}
	return string(out)
}

// newFirewall returns an initialized Firewall in ns.
func newFirewall(t testing.TB, ns netNS) *Firewall {
	t.Helper()
	fw, err := New(Options{NetNS: ns.fd, Steerings: allSteerings()})
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Init(); err != nil {
		t.Fatal(err)
	}
	return fw
}

// link creates a veth pair host end hostName in ns, peer peerName moved
// into peerNS (the VM's eth0 side).
func vethPair(t testing.TB, ns netNS, hostName string, peer netNS, peerName string, peerMAC string) {
	t.Helper()
	ns.exec(t, "ip", "link", "add", hostName, "type", "veth", "peer", "name", peerName, "netns", peer.name)
	if peerMAC != "" {
		peer.exec(t, "ip", "link", "set", peerName, "address", peerMAC)
	}
	ns.exec(t, "ip", "link", "set", hostName, "up")
	peer.exec(t, "ip", "link", "set", peerName, "up")
}

func netipZero() netip.Addr { return netip.Addr{} }
