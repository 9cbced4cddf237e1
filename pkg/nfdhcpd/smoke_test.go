package nfdhcpd

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/nettest"
)

// daemonBin is the nfdhcpd binary TestMain builds for the root tests.
var daemonBin string

func TestMain(m *testing.M) {
	code := func() int {
		flag.Parse()
		if os.Geteuid() == 0 && !testing.Short() {
			dir, err := os.MkdirTemp("", "nfdhcpd-bin-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			daemonBin = filepath.Join(dir, "nfdhcpd")
			cmd := exec.Command("go", "build", "-o", daemonBin, "github.com/diktyo/diktyo/nfdhcpd")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "go build nfdhcpd: %v\n%s", err, out)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

// requireRoot skips the root tests without root or in -short mode (no
// daemon binary then); as root, a missing client fails them.
func requireRoot(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("root smoke test skipped in -short mode")
	}
	nettest.RequireRoot(t, "udhcpc", "rdisc6")
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// metricsIn fetches /metrics from addr inside ns.
func metricsIn(ns *nettest.NS, addr string) ([]byte, error) {
	var body []byte
	err := ns.Do(func() error {
		// The socket is made on this thread, in the namespace.
		conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		body, err = io.ReadAll(conn)
		return err
	})
	return body, err
}

// udhcpc runs udhcpc once in vm and fails the test unless it leased want.
func udhcpc(t *testing.T, vm *nettest.NS, want string) {
	t.Helper()
	l, err := nettest.Udhcpc(t, vm, "eth0")
	if err != nil {
		t.Fatalf("udhcpc: %v", err)
	}
	if got := l.Addr.Addr().String(); got != want {
		t.Fatalf("udhcpc leased %s, want %s", got, want)
	}
}

// TestSmoke runs the real binary in a host namespace with a VM namespace
// behind a routed tap-like veth, and real clients in the VM.
func TestSmoke(t *testing.T) {
	requireRoot(t)
	host, vm := nettest.NewNS(t, "nfd-h-"), nettest.NewNS(t, "nfd-v-")
	id := nettest.UniqueName("", 6)
	tap := "tap" + id
	// No duplicate address detection in the VM: its link-local address
	// is usable at once.
	vm.Sysctl(t, "net/ipv6/conf/default/accept_dad", "0")
	// A routed host forwards IPv6: without it the kernel drops the VM's
	// RS to ff02::2 before the INPUT hook.
	host.Sysctl(t, "net/ipv6/conf/all/forwarding", "1")
	vmMAC := nettest.Veth(t, host, tap, vm, "eth0").VM.MAC.String()
	nettest.SteerQueues(t, host, nettest.Queues{Tap: tap, DHCP: 42, RS: 43, NS: 44, DHCPv6: 45, Chain: "filter/INPUT"})

	// A state directory the daemon user (nobody) can read.
	root, dir := nettest.DaemonDir(t, "nfdhcpd-smoke-")
	pidfile := filepath.Join(root, "run", "nfdhcpd.pid")
	conf := filepath.Join(root, "nfdhcpd.conf")
	writeFile(t, conf, fmt.Sprintf(`[general]
pidfile = %s
datapath = /nonexistent  # overridden by NFDHCPD_STATE_DIR
logdir = %s
user = nobody
metrics_listen = 127.0.0.1:0

[dhcp]
enable_dhcp = yes
server_ip = 198.51.100.1
dhcp_queue = 42
nameservers = 198.51.100.53

[ipv6]
enable_ipv6 = yes
mode = slaac+dhcpv6
ra_period = 300
rs_queue = 43
ns_queue = 44
dhcpv6_queue = 45
nameservers = 2001:db8:53::1
domains = example.org
`, pidfile, root))

	logs := &nettest.LogBuffer{}
	cmd := exec.Command("ip", "netns", "exec", host.Name(), daemonBin, "-f", "-d", "-c", conf)
	cmd.Env = append(os.Environ(), EnvStateDir+"="+dir)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	logs.Wait(t, `msg="nfdhcpd serving"`, 30*time.Second)
	metricsAddr := logs.Wait(t, `msg="metrics endpoint" listen=(\S+)`, 30*time.Second)[1]

	// Privileges: nobody with CAP_NET_ADMIN and CAP_NET_RAW only.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Uid:\t65534\t65534\t65534\t65534", "CapEff:\t0000000000003000", "CapPrm:\t0000000000003000", "CapAmb:\t0000000000000000"} {
		if !strings.Contains(string(status), want) {
			t.Errorf("daemon status lacks %q:\n%s", want, status)
		}
	}

	// The binding appears after the daemon started: the watcher picks it up.
	writeFile(t, filepath.Join(dir, tap), fmt.Sprintf("INDEV=%s\nIP=198.51.100.10\nMAC=%s\nHOSTNAME=vm1\n"+
		"GATEWAY=198.51.100.1\nSUBNET=198.51.100.0/24\nGATEWAY6=2001:db8:1::1\nSUBNET6=2001:db8:1::/64\n", tap, vmMAC))
	logs.Wait(t, `msg="binding loaded" tap=`+tap, 30*time.Second)

	udhcpc(t, vm, "198.51.100.10")

	// rdisc6 (after the VM's link-local address is usable).
	ra, err := nettest.Rdisc6(t, vm, "eth0")
	if err != nil {
		t.Fatalf("rdisc6: %v", err)
	}
	if !slices.ContainsFunc(ra.Prefixes, func(p nettest.RAPrefix) bool { return p.Prefix == netip.MustParsePrefix("2001:db8:1::/64") }) {
		t.Fatalf("rdisc6 shows no prefix 2001:db8:1::/64: %+v", ra)
	}

	body, err := metricsIn(host, metricsAddr)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`nfdhcpd_replies_total{proto="dhcp4",type="offer"} 1`,
		`nfdhcpd_replies_total{proto="dhcp4",type="ack"} 1`,
		`nfdhcpd_replies_total{proto="rs",type="ra"}`,
		`nfdhcpd_periodic_ra_total 1`,
		`nfdhcpd_bindings{state="resolved"} 1`,
		`nfdhcpd_queue_received_total{proto="dhcp4",queue="42"} 2`,
		`nfdhcpd_queue_kernel_dropped_total{proto="dhcp4",queue="42"} 0`,
		`nfdhcpd_reply_latency_seconds_count{proto="dhcp4"} 2`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}

	// SIGUSR1 dumps, SIGHUP reloads and keeps serving, SIGTERM exits 0.
	_ = cmd.Process.Signal(syscall.SIGUSR1)
	logs.Wait(t, `msg=binding tap=`+tap, 30*time.Second)
	_ = cmd.Process.Signal(syscall.SIGHUP)
	logs.Wait(t, `msg="reloading \(SIGHUP\)"`, 30*time.Second)
	udhcpc(t, vm, "198.51.100.10") // after the reload
	// A binding written before its tap exists resolves when the tap appears.
	late := "tapz" + id
	writeFile(t, filepath.Join(dir, late), fmt.Sprintf("INDEV=%s\nIP=198.51.100.11\nMAC=aa:00:00:00:00:11\nHOSTNAME=vm2\n", late))
	logs.Wait(t, `msg="binding stale" tap=`+late, 30*time.Second)
	host.Run(t, "ip", "link", "add", late, "type", "veth", "peer", "name", late+"p")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		_ = cmd.Process.Signal(syscall.SIGUSR1)
		time.Sleep(100 * time.Millisecond)
		if regexp.MustCompile(`msg=binding tap=` + late + ` indev=` + late + ` tap_index=[1-9]`).MatchString(logs.String()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("binding of %s not resolved after the link appeared", late)
		}
	}

	// A queue number change rebinds the queue on SIGHUP.
	writeFile(t, conf, strings.Replace(readFile(t, conf), "dhcp_queue = 42", "dhcp_queue = 46", 1))
	_ = cmd.Process.Signal(syscall.SIGHUP)
	logs.Wait(t, `msg="queue bound" function=dhcp4 queue=46`, 30*time.Second)
	host.Run(t, "iptables", "-R", "INPUT", "1", "-i", tap, "-p", "udp", "--dport", "67", "-j", "NFQUEUE", "--queue-num", "46")
	udhcpc(t, vm, "198.51.100.10") // after the queue change

	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Fatalf("daemon exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not stop on SIGTERM")
	}
	if b, err := os.ReadFile(pidfile); err == nil && len(b) > 0 {
		t.Errorf("pidfile still names a process: %q", b)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", logs.String())
	}
}

// TestRunBadConfig: a bad value fails at start, naming the key, in one
// line on stderr.
func TestRunBadConfig(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "nfdhcpd.conf")
	writeFile(t, conf, "[dhcp]\ndhcp_queue = 70000\n")
	var stderr bytes.Buffer
	code := Run(t.Context(), []string{"nfdhcpd", "-f", "-c", conf}, nil, nil, io.Discard, &stderr)
	if code != ExitError {
		t.Fatalf("exit %d, want %d", code, ExitError)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "dhcp_queue") {
		t.Fatalf("stderr %q: want one line naming dhcp_queue", stderr.String())
	}
	stderr.Reset()
	if code := Run(t.Context(), []string{"nfdhcpd", "-x"}, nil, nil, io.Discard, &stderr); code != ExitUsage {
		t.Fatalf("bad flag: exit %d", code)
	}
	writeFile(t, conf, "[ipv6]\nmode = dhcpv6\n")
	stderr.Reset()
	if code := Run(t.Context(), []string{"nfdhcpd", "-f", "-c", conf}, nil, nil, io.Discard, &stderr); code != ExitError || !strings.Contains(stderr.String(), "mode") {
		t.Fatalf("mode dhcpv6: exit %d, %q", code, stderr.String())
	}
}

func TestFlags(t *testing.T) {
	env := map[string]string{EnvStateDir: "/env/dir"}
	getenv := func(k string) string { return env[k] }
	o, code := parseFlags([]string{"nfdhcpd", "-fd", "-c", "/x.conf"}, getenv, io.Discard)
	if code >= 0 || !o.Foreground || !o.Debug || o.ConfigPath != "/x.conf" || o.BindingDir != "/env/dir" {
		t.Fatalf("got %+v, %d", o, code)
	}
	o, _ = parseFlags([]string{"nfdhcpd", "--bindings", "/flag/dir"}, getenv, io.Discard)
	if o.BindingDir != "/flag/dir" {
		t.Fatalf("flag does not override env: %q", o.BindingDir)
	}

	conf := filepath.Join(t.TempDir(), "nfdhcpd.conf")
	writeFile(t, conf, "[general]\ndatapath = /file/dir\nmetrics_listen = 127.0.0.1:9000\nqueue_bypass = yes\n")
	s, _, err := loadSettings(Options{ConfigPath: conf, MetricsListen: "none", PIDFile: "none"})
	if err != nil {
		t.Fatal(err)
	}
	if s.dir != "/file/dir" || s.metrics != "" || s.pidfile != "" || !s.failOpen {
		t.Fatalf("settings %+v", s)
	}
}

func TestPIDFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "nfdhcpd.pid")
	p, err := createPIDFile(path, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := createPIDFile(path, 1); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second instance: %v", err)
	}
	if err := p.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("pidfile not removed: %v", err)
	}
	for _, stale := range []string{"999999999\n", "garbage", ""} {
		writeFile(t, path, stale)
		p, err := createPIDFile(path, os.Getpid())
		if err != nil {
			t.Fatalf("stale %q: %v", stale, err)
		}
		_ = p.Remove()
	}
}

// TestDaemonize starts the binary without -f: the parent returns 0 once the
// detached child serves and wrote its pidfile; SIGTERM stops the child and
// removes the pidfile. Without syslog it logs to logdir/nfdhcpd.log.
func TestDaemonize(t *testing.T) {
	requireRoot(t)
	host := nettest.NewNS(t, "nfd-d-")
	root := t.TempDir()
	pidfile := filepath.Join(root, "nfdhcpd.pid")
	conf := filepath.Join(root, "nfdhcpd.conf")
	writeFile(t, conf, fmt.Sprintf("[general]\npidfile = %s\ndatapath = %s\nlogdir = %s\nuser = root\n"+
		"[dhcp]\ndhcp_queue = 42\n[ipv6]\nenable_ipv6 = no\n", pidfile, filepath.Join(root, "b"), root))
	out, err := exec.Command("ip", "netns", "exec", host.Name(), daemonBin, "-c", conf).CombinedOutput()
	if err != nil {
		t.Fatalf("daemon start: %v\n%s", err, out)
	}
	pid := 0
	if _, err := fmt.Sscan(readFile(t, pidfile), &pid); err != nil || pid <= 0 {
		t.Fatalf("pidfile: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if sid, err := unix.Getsid(pid); err != nil || sid != pid {
		t.Errorf("daemon pid %d: session %d (%v), want its own", pid, sid, err)
	}
	// A second instance refuses to start, naming the first.
	out, err = exec.Command("ip", "netns", "exec", host.Name(), daemonBin, "-f", "-c", conf).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "already running") {
		t.Errorf("second instance: %v\n%s", err, out)
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for deadline := time.Now().Add(20 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("daemon did not stop on SIGTERM")
		}
	}
	if _, err := os.Stat(pidfile); !os.IsNotExist(err) {
		t.Errorf("pidfile left behind: %v", err)
	}
	if _, err := os.Stat("/dev/log"); err != nil {
		if log := readFile(t, filepath.Join(root, "nfdhcpd.log")); !strings.Contains(log, "nfdhcpd serving") {
			t.Errorf("log file lacks the start line:\n%s", log)
		}
	}
}
