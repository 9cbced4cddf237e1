package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/eui64"
	"github.com/diktyo/diktyo/pkg/nettest"
	"github.com/diktyo/diktyo/pkg/nfdconf"
	"github.com/diktyo/diktyo/pkg/nfqueue/nfqueuetest"
)

// daemonBin is the nfdhcpd binary TestMain builds; empty when not root.
var daemonBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		return m.Run() // every test skips
	}
	dir, err := os.MkdirTemp("", "nfdhcpd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	bin := filepath.Join(dir, "nfdhcpd")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// Without cgo, as make build does: the daemon can only drop privileges
	// to [general] user then.
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "github.com/diktyo/diktyo/nfdhcpd")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build nfdhcpd: %v\n%s", err, out)
		return 1
	}
	daemonBin = bin
	return m.Run()
}

// Addresses of the test network (TESTBED: only these ranges, only inside
// test namespaces).
var (
	serverIP = netip.MustParseAddr("198.51.100.1")
	gateway  = netip.MustParseAddr("198.51.100.1")
	subnet   = netip.MustParsePrefix("198.51.100.0/24")
	gateway6 = netip.MustParseAddr("2001:db8:100::1")
	subnet6  = netip.MustParsePrefix("2001:db8:100::/64")
	dns4     = []netip.Addr{netip.MustParseAddr("198.51.100.53"), netip.MustParseAddr("198.51.100.54")}
	dns6     = []netip.Addr{netip.MustParseAddr("2001:db8:53::1"), netip.MustParseAddr("2001:db8:53::2")}
	domains  = []string{"example.org", "example.net"}
)

// Queue numbers: GRNET's defaults; queues are per namespace.
const (
	qDHCP, qRS, qNS, qDHCPv6 = 42, 43, 44, 45
)

// config is the daemon configuration of the tests, for mode.
func config(dir, root string, mode nfdconf.Mode) *nfdconf.Config {
	c := nfdconf.Default()
	c.General.PIDFile = filepath.Join(root, "nfdhcpd.pid")
	c.General.DataPath = dir
	c.General.LogDir = root
	c.General.User = "nobody"
	c.DHCP.ServerIP = serverIP
	c.DHCP.Queue = qDHCP
	c.DHCP.Nameservers = dns4
	c.DHCP.Domain = "example.org"
	c.DHCP.LeaseLifetime = 3600
	c.DHCP.LeaseRenewal = 600
	c.IPv6.Mode = mode
	c.IPv6.RSQueue, c.IPv6.NSQueue, c.IPv6.DHCPv6Queue = qRS, qNS, qDHCPv6
	c.IPv6.Nameservers = dns6
	c.IPv6.Domains = domains
	return c
}

// host is a host namespace running nfdhcpd on a binding directory.
type host struct {
	ns   *nettest.NS
	dir  string // binding files
	root string
	log  string // the daemon's stderr
	cmd  *exec.Cmd
	done chan struct{}
	// chain is where addVM puts the queue rules (nettest.Queues.Chain;
	// empty: mangle/PREROUTING, where diktyo's own rules hook).
	chain string
	werr  error
}

// requireE2E skips without root and fails when a tool is missing.
func requireE2E(t *testing.T) {
	t.Helper()
	nettest.RequireRoot(t, "udhcpc", "dhclient", "dhcpcd", "rdisc6", "ndisc6", "unshare")
	if daemonBin == "" {
		t.Fatal("nfdhcpd was not built")
	}
}

// newHost creates a host namespace and starts nfdhcpd in it with the test
// configuration for mode (edit may change it).
func newHost(t *testing.T, mode nfdconf.Mode, edit func(*nfdconf.Config)) *host {
	t.Helper()
	requireE2E(t)
	h := &host{ns: nettest.NewNS(t, "e2h-"), done: make(chan struct{})}
	// The daemon runs as nobody: it must read the binding directory.
	root, dir := nettest.DaemonDir(t, "nfdhcpd-e2e-")
	h.root, h.dir, h.log = root, dir, filepath.Join(root, "stderr")
	cfg := config(h.dir, root, mode)
	if edit != nil {
		edit(cfg)
	}
	conf := filepath.Join(root, "nfdhcpd.conf")
	if err := os.WriteFile(conf, cfg.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(h.log)
	if err != nil {
		t.Fatal(err)
	}
	h.cmd = exec.Command("ip", "netns", "exec", h.ns.Name(), daemonBin, "-f", "-c", conf)
	h.cmd.Env = append(os.Environ(), "NFDHCPD_STATE_DIR="+h.dir)
	h.cmd.Stdout, h.cmd.Stderr = logf, logf
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { h.werr = h.cmd.Wait(); logf.Close(); close(h.done) }()
	t.Cleanup(func() {
		_ = h.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-h.done:
		case <-time.After(20 * time.Second):
			t.Error("nfdhcpd did not stop within 20s of SIGTERM")
			_ = h.cmd.Process.Kill()
			<-h.done
		}
		logs := h.logs()
		if regexp.MustCompile(`panic|level=ERROR`).MatchString(logs) {
			t.Errorf("nfdhcpd logged errors:\n%s", logs)
		} else if t.Failed() {
			t.Logf("nfdhcpd log:\n%s", logs)
		}
	})
	h.waitLog(t, `msg="nfdhcpd serving"`)
	return h
}

func (h *host) logs() string {
	b, _ := os.ReadFile(h.log)
	return string(b)
}

// waitLog waits up to a minute for a log line matching re.
func (h *host) waitLog(t *testing.T, re string) {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(time.Minute)
	for !rx.MatchString(h.logs()) {
		h.checkAlive(t)
		if time.Now().After(deadline) {
			t.Fatalf("nfdhcpd did not log %q within a minute:\n%s", re, h.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signal sends sig to the daemon (ip netns exec execs it: same pid).
func (h *host) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := h.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal nfdhcpd: %v", err)
	}
}

// checkAlive fails the test if the daemon exited.
func (h *host) checkAlive(t *testing.T) {
	t.Helper()
	select {
	case <-h.done:
		t.Fatalf("nfdhcpd exited: %v\n%s", h.werr, h.logs())
	default:
	}
}

// topology is how a VM's NIC reaches the host.
type topology string

const (
	routed  topology = "routed"  // veth; the host end is the tap, INDEV = tap
	bridged topology = "bridged" // veth; the host end is a port of a bridge, INDEV = bridge
	realTap topology = "tap"     // a real TAP pair, routed
)

// vm is one VM NIC: its namespace, both ends, and its binding.
type vm struct {
	ns     *nettest.NS
	pair   nettest.Pair
	bridge string
	b      *binding.Binding
}

// vmMAC is the MAC of VM number i (locally administered, as Ganeti's).
func vmMAC(i int) net.HardwareAddr {
	return net.HardwareAddr{0xaa, 0x00, 0x01, 0x12, byte(i >> 8), byte(i)}
}

// addVM creates VM number i behind a tap of h in topology top, steers its
// packets to the daemon's queues, and returns it with the binding it
// should have (not written: call h.bind).
func (h *host) addVM(t *testing.T, top topology, i int) *vm {
	t.Helper()
	v := &vm{ns: nettest.NewNS(t, "e2v-")}
	// The kernel of the VM must not autoconfigure from RAs itself: every
	// address found must come from the client under test.
	v.ns.Sysctl(t, "net/ipv6/conf/default/accept_ra", "0")
	tap := fmt.Sprintf("tap-e2e%d", i)
	switch top {
	case realTap:
		v.pair = nettest.TapPair(t, h.ns, tap, v.ns, "eth0").Pair
	default:
		v.pair = nettest.Veth(t, h.ns, tap, v.ns, "eth0")
	}
	v.pair.VM = v.pair.VM.SetMAC(t, vmMAC(i))
	v.pair.Host = h.ns.MustLink(t, tap)
	indev := tap
	if top == bridged {
		v.bridge = fmt.Sprintf("br-e2e%d", i)
		br := nettest.Bridge(t, h.ns, v.bridge)
		v.pair.Host.SetMaster(t, br)
		indev = v.bridge
	}
	nettest.SteerQueues(t, h.ns, nettest.Queues{Tap: tap, Bridge: v.bridge, DHCP: qDHCP, RS: qRS, NS: qNS, DHCPv6: qDHCPv6, Chain: h.chain})
	ip6, _ := eui64.Addr(subnet6, vmMAC(i))
	v.b = &binding.Binding{
		Tap:      tap,
		InDev:    indev,
		IP:       ipAt(10),
		MAC:      vmMAC(i),
		Hostname: "vm" + strconv.Itoa(i) + ".example.org",
		Gateway:  gateway,
		Subnet:   subnet,
		Gateway6: gateway6,
		Subnet6:  subnet6,
		EUI64:    ip6,
	}
	return v
}

// bind writes v's binding (atomically, with pkg/binding).
func (h *host) bind(t *testing.T, b *binding.Binding) {
	t.Helper()
	if err := binding.WriteFile(h.dir, b); err != nil {
		t.Fatal(err)
	}
}

// routerLL is the router address the daemon answers from: the link-local
// address of the tap's MAC.
func (v *vm) routerLL() netip.Addr { return eui64.LinkLocal(v.pair.Host.MAC) }

// queuesDrained waits until every queue of h has no packet outstanding.
func (h *host) queuesDrained(t *testing.T, queues ...uint16) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, q := range queues {
		for {
			n, err := nfqueuetest.Outstanding(h.ns, q)
			if err == nil && n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("queue %d: %d outstanding after 30s (%v)", q, n, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// ipAt returns the i-th address of subnet.
func ipAt(i int) netip.Addr {
	a := subnet.Addr().As4()
	a[3] = byte(i)
	return netip.AddrFrom4(a)
}
