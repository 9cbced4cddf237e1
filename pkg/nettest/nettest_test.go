package nettest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var vmMAC = net.HardwareAddr{0xaa, 0x00, 0x01, 0x12, 0x34, 0x56}

func TestNSDo(t *testing.T) {
	t.Parallel()
	ns := NewNS(t, "nt-")
	if _, err := os.Stat(ns.Path()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join("/etc/netns", ns.Name(), "resolv.conf")); err != nil {
		t.Fatal(err)
	}
	self, _ := os.Readlink("/proc/thread-self/ns/net")
	var inside string
	if err := ns.Do(func() (err error) {
		inside, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inside == self || inside == "" {
		t.Fatalf("Do ran in %q, caller is in %q", inside, self)
	}
	ns.Sysctl(t, "net.ipv4.ip_forward", "1")
	if v, err := ns.ReadSysctl("net/ipv4/ip_forward"); err != nil || v != "1" {
		t.Fatalf("ip_forward %q %v", v, err)
	}
	if out := ns.Run(t, "cat", "/etc/resolv.conf"); !strings.Contains(out, ns.Name()) {
		t.Fatalf("resolv.conf inside: %q", out)
	}
	if out := ns.Snapshot(t, "ip", "-o", "link", "show", "lo"); !strings.Contains(out, "lo:") {
		t.Fatalf("snapshot of lo: %q", out)
	}
}

// vm is a host namespace and a VM namespace joined by a veth whose VM end
// has vmMAC.
func vm(t *testing.T) (host, guest *NS, p Pair) {
	host, guest = NewNS(t, "nth-"), NewNS(t, "ntv-")
	p = Veth(t, host, "tap-nt0", guest, "eth0")
	p.VM = p.VM.SetMAC(t, vmMAC)
	return host, guest, p
}

func TestVethBridge(t *testing.T) {
	t.Parallel()
	host, guest, p := vm(t)
	br := Bridge(t, host, "br-nt0")
	p.Host.SetMaster(t, br)
	br.AddAddr(t, netip.MustParsePrefix("198.51.100.1/24"))
	p.VM.AddAddr(t, netip.MustParsePrefix("198.51.100.2/24"))
	guest.AddRoute(t, netip.MustParsePrefix("198.18.0.0/15"), netip.MustParseAddr("198.51.100.1"), "eth0")
	// A bridge takes the lowest MAC of its ports: read it again.
	guest.AddNeigh(t, "eth0", netip.MustParseAddr("198.51.100.1"), host.MustLink(t, br.Name).MAC)
	udpRoundTrip(t, host, netip.MustParseAddr("198.51.100.1"), guest)
	if err := guest.Ping("198.51.100.1", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := host.Echo("198.51.100.1", "198.51.100.2", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	// Nothing answers for an address nobody has.
	if err := guest.Ping("198.51.100.99", time.Second); err == nil {
		t.Fatal("ping of an absent address answered")
	}
	if got := guest.MustLink(t, "eth0").MAC; got.String() != vmMAC.String() {
		t.Fatalf("VM MAC %v", got)
	}
	if !HasPhysdev(host) {
		t.Log("physdev match not available")
	}
}

func TestTapPair(t *testing.T) {
	t.Parallel()
	host, guest := NewNS(t, "nth-"), NewNS(t, "ntv-")
	tp := TapPair(t, host, "tap-nt1", guest, "eth0")
	tp.Host.AddAddr(t, netip.MustParsePrefix("198.51.100.1/24"))
	tp.VM.AddAddr(t, netip.MustParsePrefix("198.51.100.2/24"))
	udpRoundTrip(t, host, netip.MustParseAddr("198.51.100.1"), guest)
	if toVM, toHost := tp.Frames(); toVM == 0 || toHost == 0 {
		t.Fatalf("frames copied: to VM %d, to host %d", toVM, toHost)
	}
	if c := host.Run(t, "cat", "/sys/class/net/tap-nt1/carrier"); strings.TrimSpace(c) != "1" {
		t.Fatalf("carrier while open: %q", c)
	}
	if err := tp.Close(); err != nil {
		t.Fatal(err)
	}
	// The kernel deletes the tap with the last reference to its file: a
	// child that another test forks at that moment holds one until its
	// exec closes it (O_CLOEXEC), so the tap may outlive Close briefly.
	Eventually(t, "the host tap to go after Close", 5*time.Second, func() bool {
		_, err := host.LinkByName("tap-nt1")
		return err != nil
	})
}

// dnsmasq serves DHCPv4, RAs (M=0, O=1, MTU 1450, RDNSS, DNSSL) and
// stateless DHCPv6 on the host end of p: a known-good server for checking
// the client runners.
func dnsmasq(t *testing.T, host *NS, p Pair) {
	t.Helper()
	RequireRoot(t, "dnsmasq")
	p.Host.AddAddr(t, netip.MustParsePrefix("198.51.100.1/24"))
	p.Host.AddAddr(t, netip.MustParsePrefix("2001:db8:1::1/64"))
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := host.Exec(ctx, "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
		"--pid-file="+filepath.Join(dir, "pid"), "--leasefile-ro", "--port=0", "--interface="+p.Host.Name, "--bind-interfaces",
		"--dhcp-range=198.51.100.23,198.51.100.23,255.255.255.0,1h",
		"--dhcp-option=option:dns-server,198.51.100.53,198.51.100.54", "--dhcp-option=option:domain-name,example.org",
		"--enable-ra", "--dhcp-range=2001:db8:1::,ra-stateless",
		"--dhcp-option=option6:dns-server,[2001:db8:53::1]", "--dhcp-option=option6:domain-search,example.org,example.net",
		"--ra-param="+p.Host.Name+",mtu:1450,10,1800")
	log, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("dnsmasq:\n%s", b)
		}
	})
}

func TestClientsAgainstDnsmasq(t *testing.T) {
	t.Parallel()
	host, guest, p := vm(t)
	dnsmasq(t, host, p)
	want4 := func(t *testing.T, l Lease4) {
		t.Helper()
		if l.Addr != netip.MustParsePrefix("198.51.100.23/24") || !slices.Equal(l.Routers, addrs("198.51.100.1")) ||
			!slices.Equal(l.DNS, addrs("198.51.100.53", "198.51.100.54")) || l.Domain != "example.org" {
			t.Errorf("lease %+v", l)
		}
	}
	t.Run("udhcpc", func(t *testing.T) {
		l, err := Udhcpc(t, guest, "eth0")
		if err != nil {
			t.Fatal(err)
		}
		want4(t, l)
	})
	t.Run("dhclient4", func(t *testing.T) {
		l, err := Dhclient4(t, guest, "eth0")
		if err != nil {
			t.Fatal(err)
		}
		want4(t, l)
	})
	t.Run("dhcpcd4", func(t *testing.T) {
		l, err := Dhcpcd4(t, guest, "eth0")
		if err != nil {
			t.Fatal(err)
		}
		want4(t, l)
	})
	routerLL := netip.MustParseAddr(eui64LL(p.Host.MAC))
	t.Run("rdisc6", func(t *testing.T) {
		ra, err := Rdisc6(t, guest, "eth0")
		if err != nil {
			t.Fatal(err)
		}
		if ra.Managed || !ra.Other || ra.MTU != 1450 || len(ra.Prefixes) != 1 ||
			ra.Prefixes[0].Prefix != netip.MustParsePrefix("2001:db8:1::/64") ||
			!slices.Equal(ra.RDNSS, addrs("2001:db8:53::1")) || !slices.Equal(ra.DNSSL, []string{"example.org", "example.net"}) ||
			ra.RouterLifetime != 1800*time.Second || ra.From != routerLL {
			t.Errorf("RA %+v", ra)
		}
	})
	t.Run("ndisc6", func(t *testing.T) {
		na, err := Ndisc6(t, guest, routerLL, "eth0")
		if err != nil {
			t.Fatal(err)
		}
		if na.TargetLLA.String() != p.Host.MAC.String() || na.From != routerLL {
			t.Errorf("NA %+v", na)
		}
	})
	t.Run("dhclient6", func(t *testing.T) {
		in, err := Dhclient6Stateless(t, guest, "eth0")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(in.DNS, addrs("2001:db8:53::1")) || !slices.Equal(in.Domains, []string{"example.org", "example.net"}) {
			t.Errorf("info %+v", in)
		}
	})
	t.Run("dhcpcd6", func(t *testing.T) {
		guest.Run(t, "ip", "-6", "addr", "flush", "dev", "eth0", "scope", "global")
		s, err := Dhcpcd6(t, guest, "eth0")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(s.Addrs, netip.MustParsePrefix("2001:db8:1:0:a800:1ff:fe12:3456/64")) ||
			!slices.Equal(s.Routers, []netip.Addr{routerLL}) || !slices.Equal(s.Info.DNS, addrs("2001:db8:53::1")) {
			t.Errorf("SLAAC %+v", s)
		}
	})
}

// eui64LL is the EUI-64 link-local address of mac.
func eui64LL(mac net.HardwareAddr) string {
	return fmt.Sprintf("fe80::%x:%x:%x:%x", uint16(mac[0]^2)<<8|uint16(mac[1]), uint16(mac[2])<<8|0xff,
		0xfe00|uint16(mac[3]), uint16(mac[4])<<8|uint16(mac[5]))
}

func TestRequireRootTools(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, c := range []string{"udhcpc", "dhclient", "dhcpcd", "rdisc6", "ndisc6", "unshare", "env"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
}

// udpRoundTrip sends a datagram from guest to a listener on addr in host
// and checks that it arrives.
func udpRoundTrip(t *testing.T, host *NS, addr netip.Addr, guest *NS) {
	t.Helper()
	var l *net.UDPConn
	if err := host.Do(func() (err error) {
		l, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var c *net.UDPConn
	if err := guest.Do(func() (err error) {
		c, err = net.DialUDP("udp", nil, l.LocalAddr().(*net.UDPAddr))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	for i := 0; i < 60; i++ {
		if _, err := c.Write([]byte("nettest")); err != nil {
			t.Fatal(err)
		}
		_ = l.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if n, _, err := l.ReadFromUDP(buf); err == nil && string(buf[:n]) == "nettest" {
			return
		}
	}
	t.Fatal("no datagram arrived within 30s")
}

func TestDaemonDir(t *testing.T) {
	root, bindings := DaemonDir(t, "nettest-")
	for _, d := range []string{root, bindings} {
		st, err := os.Stat(d)
		if err != nil || !st.IsDir() || st.Mode().Perm()&0o005 != 0o005 {
			t.Errorf("%s: %v %v, want a directory every user can read", d, st.Mode(), err)
		}
	}
	if filepath.Dir(bindings) != root {
		t.Errorf("bindings %s not in %s", bindings, root)
	}
}
