package e2e

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/nettest"
	"github.com/diktyo/diktyo/pkg/nfdconf"
)

// maxRouterLifetime is RFC 4861's bound on the advertised router lifetime.
const maxRouterLifetime = 9000 * time.Second

// TestClients runs every real client against the daemon in each topology:
// each must get exactly what the binding and the configuration say.
func TestClients(t *testing.T) {
	for _, top := range []topology{routed, bridged, realTap} {
		t.Run(string(top), func(t *testing.T) {
			t.Parallel()
			h := newHost(t, nfdconf.ModeSLAACDHCPv6, nil)
			v := h.addVM(t, top, 1)
			v.b.MTU = 1450
			h.bind(t, v.b)
			h.waitLog(t, `msg="binding loaded" tap=`+v.b.Tap)
			clientSuite(t, h, v, nfdconf.ModeSLAACDHCPv6)
		})
	}
}

// TestInputChainRecipe checks the queue rules of the daemon's documentation
// (filter INPUT instead of mangle PREROUTING) with the clients that only
// need the daemon's answers, DHCPv6 excepted. Router solicitations to ff02::2 only reach
// INPUT when the host has joined that group, that is with IPv6 forwarding
// on, as on a real host routing its VMs; without it they are dropped
// before INPUT and rdisc6 gets no answer.
func TestInputChainRecipe(t *testing.T) {
	t.Parallel()
	h := newHost(t, nfdconf.ModeSLAACDHCPv6, nil)
	h.chain = "filter/INPUT"
	h.ns.Sysctl(t, "net/ipv6/conf/all/forwarding", "1")
	v := h.addVM(t, routed, 6)
	h.bind(t, v.b)
	h.waitLog(t, `msg="binding loaded" tap=`+v.b.Tap)
	checkRA(t, v, nfdconf.ModeSLAACDHCPv6)
	if na, err := nettest.Ndisc6(t, v.ns, v.routerLL(), "eth0"); err != nil || na.TargetLLA.String() != v.pair.Host.MAC.String() {
		t.Errorf("ndisc6: %+v, %v", na, err)
	}
	if l, err := nettest.Udhcpc(t, v.ns, "eth0"); err != nil {
		t.Error(err)
	} else {
		checkLease(t, "udhcpc", l, v)
	}
	// Not checked: DHCPv6 Information-Requests go to ff02::1:2, a group
	// the host joins only when a DHCPv6 server or relay runs on it, so
	// with INPUT rules they never reach the queue (mangle PREROUTING sees
	// them: TestClients).
	h.queuesDrained(t, qDHCP, qRS, qNS)
}

// TestRAModes checks the RA flags of each [ipv6] mode the daemon accepts,
// and that the MTU option is left out when the binding has none.
func TestRAModes(t *testing.T) {
	for _, mode := range []nfdconf.Mode{nfdconf.ModeSLAAC, nfdconf.ModeSLAACDHCPv6} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			h := newHost(t, mode, nil)
			v := h.addVM(t, routed, 2)
			h.bind(t, v.b)
			h.waitLog(t, `msg="binding loaded" tap=`+v.b.Tap)
			checkRA(t, v, mode)
		})
	}
}

func checkLease(t *testing.T, client string, l nettest.Lease4, v *vm) {
	t.Helper()
	want := netip.PrefixFrom(v.b.IP, v.b.Subnet.Bits())
	if l.Addr != want || !slices.Equal(l.Routers, []netip.Addr{v.b.Gateway}) || !slices.Equal(l.DNS, dns4) {
		t.Errorf("%s: got %v routers %v dns %v; want %v router %v dns %v", client, l.Addr, l.Routers, l.DNS, want, v.b.Gateway, dns4)
	}
	if l.ServerID != serverIP {
		t.Errorf("%s: server id %v, want %v", client, l.ServerID, serverIP)
	}
}

func checkRA(t *testing.T, v *vm, mode nfdconf.Mode) {
	t.Helper()
	ra, err := nettest.Rdisc6(t, v.ns, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rdisc6: %+v", ra)
	managed, other := false, mode == nfdconf.ModeSLAACDHCPv6
	if ra.Managed != managed || ra.Other != other {
		t.Errorf("RA flags M=%v O=%v, want M=%v O=%v (mode %s)", ra.Managed, ra.Other, managed, other, mode)
	}
	if len(ra.Prefixes) != 1 || ra.Prefixes[0].Prefix != v.b.Subnet6 || !ra.Prefixes[0].OnLink || !ra.Prefixes[0].Autonomous ||
		ra.Prefixes[0].ValidLifetime == 0 || ra.Prefixes[0].PreferredLifetime > ra.Prefixes[0].ValidLifetime {
		t.Errorf("RA prefixes %+v, want %v with L and A", ra.Prefixes, v.b.Subnet6)
	}
	if ra.MTU != v.b.MTU {
		t.Errorf("RA MTU %d, want %d", ra.MTU, v.b.MTU)
	}
	if !slices.Equal(ra.RDNSS, dns6) || ra.RDNSSLifetime == 0 {
		t.Errorf("RA RDNSS %v (lifetime %v), want %v", ra.RDNSS, ra.RDNSSLifetime, dns6)
	}
	if !slices.Equal(ra.DNSSL, domains) || ra.DNSSLLifetime == 0 {
		t.Errorf("RA DNSSL %v (lifetime %v), want %v", ra.DNSSL, ra.DNSSLLifetime, domains)
	}
	if ra.RouterLifetime <= 0 || ra.RouterLifetime > maxRouterLifetime {
		t.Errorf("router lifetime %v, want (0, %v]", ra.RouterLifetime, maxRouterLifetime)
	}
	if ra.From != v.routerLL() || ra.SourceLLA.String() != v.pair.Host.MAC.String() {
		t.Errorf("RA from %v (%v), want %v (%v)", ra.From, ra.SourceLLA, v.routerLL(), v.pair.Host.MAC)
	}
}

// clientSuite runs every client in v and checks its answers.
func clientSuite(t *testing.T, h *host, v *vm, mode nfdconf.Mode) {
	t.Run("rdisc6", func(t *testing.T) { checkRA(t, v, mode) })
	t.Run("ndisc6", func(t *testing.T) {
		na, err := nettest.Ndisc6(t, v.ns, v.routerLL(), "eth0")
		if err != nil {
			t.Fatal(err)
		}
		if na.TargetLLA.String() != v.pair.Host.MAC.String() || na.From != v.routerLL() {
			t.Errorf("NA %+v, want target %v from %v", na, v.pair.Host.MAC, v.routerLL())
		}
	})
	t.Run("dhclient6", func(t *testing.T) {
		in, err := nettest.Dhclient6Stateless(t, v.ns, "eth0")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(in.DNS, dns6) || !slices.Equal(in.Domains, domains) {
			t.Errorf("dhclient -6 -S: dns %v domains %v, want %v %v", in.DNS, in.Domains, dns6, domains)
		}
	})
	t.Run("udhcpc", func(t *testing.T) {
		l, err := nettest.Udhcpc(t, v.ns, "eth0")
		if err != nil {
			t.Fatal(err)
		}
		checkLease(t, "udhcpc", l, v)
	})
	t.Run("dhclient4", func(t *testing.T) {
		l, err := nettest.Dhclient4(t, v.ns, "eth0")
		if err != nil {
			t.Fatal(err)
		}
		checkLease(t, "dhclient -4", l, v)
	})
	t.Run("dhcpcd4", func(t *testing.T) {
		l, err := nettest.Dhcpcd4(t, v.ns, "eth0")
		if err != nil {
			t.Fatal(err)
		}
		checkLease(t, "dhcpcd -4", l, v)
	})
	t.Run("dhcpcd6", func(t *testing.T) {
		s, err := nettest.Dhcpcd6(t, v.ns, "eth0")
		if err != nil {
			t.Fatal(err)
		}
		want := netip.PrefixFrom(v.b.EUI64, 64)
		if !slices.Equal(s.Addrs, []netip.Prefix{want}) {
			t.Errorf("dhcpcd -6 addresses %v, want %v", s.Addrs, want)
		}
		if !slices.Equal(s.Routers, []netip.Addr{v.routerLL()}) {
			t.Errorf("dhcpcd -6 default routers %v, want %v", s.Routers, v.routerLL())
		}
		if s.Info.Env == nil || !slices.Equal(s.Info.DNS, dns6) || !slices.Equal(s.Info.Domains, domains) {
			t.Errorf("dhcpcd -6 information %+v, want %v %v", s.Info, dns6, domains)
		}
		if t.Failed() {
			t.Logf("dhcpcd:\n%s", s.Output)
		}
	})
	h.checkAlive(t)
	h.queuesDrained(t, qDHCP, qRS, qNS, qDHCPv6)
}
