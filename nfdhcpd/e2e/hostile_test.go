package e2e

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/eui64"
	"github.com/diktyo/diktyo/pkg/nettest"
	"github.com/diktyo/diktyo/pkg/nfdconf"
	"github.com/diktyo/diktyo/pkg/nfqueue/nfqueuetest"
)

// hostilePackets is how many malformed or spoofed frames the VM sends.
const hostilePackets = 100_000

// hostile builds malformed and spoofed frames from a VM: DHCP (truncated,
// bad lengths, bad options, wrong chaddr, other MACs, huge option lists,
// bad hlen, foreign requests) and RS/NS/DHCPv6 garbage.
type hostile struct {
	rng      *rand.Rand
	mac      net.HardwareAddr
	routerLL netip.Addr
	valid    []byte // a well-formed DISCOVER's BOOTP payload
}

func newHostile(v *vm) *hostile {
	d, _ := dhcpv4.NewDiscovery(v.b.MAC)
	return &hostile{rng: rand.New(rand.NewPCG(1, 2)), mac: v.b.MAC, routerLL: v.routerLL(), valid: d.ToBytes()}
}

func (g *hostile) randMAC() net.HardwareAddr {
	m := make(net.HardwareAddr, 6)
	binary.LittleEndian.PutUint32(m, g.rng.Uint32())
	binary.LittleEndian.PutUint16(m[4:], uint16(g.rng.Uint32()))
	m[0] = m[0]&^1 | 2 // unicast, locally administered
	return m
}

func (g *hostile) randBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	return b
}

var (
	bcast4     = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	allRouters = netip.MustParseAddr("ff02::2")
	dhcp6Mcast = netip.MustParseAddr("ff02::1:2")
)

// dhcp wraps a BOOTP payload in a broadcast frame from src.
func (g *hostile) dhcp(src net.HardwareAddr, p []byte) []byte {
	return nettest.UDP4(nettest.BroadcastMAC, src, netip.IPv4Unspecified(), bcast4, 0, 68, 67, p)
}

// next returns the i-th hostile frame.
func (g *hostile) next(i int) []byte {
	p := append([]byte(nil), g.valid...)
	const opts = 240 // BOOTP fixed part + magic cookie
	switch i % 16 {
	case 0: // truncated BOOTP
		return g.dhcp(g.mac, p[:g.rng.IntN(opts)])
	case 1: // bad magic cookie
		p[236] ^= 0xff
		return g.dhcp(g.mac, p)
	case 2: // bad hlen
		p[2] = []byte{0, 7, 16, 17, 255}[g.rng.IntN(5)]
		return g.dhcp(g.mac, p)
	case 3: // wrong chaddr, our Ethernet source
		copy(p[28:34], g.randMAC())
		return g.dhcp(g.mac, p)
	case 4: // another VM's MAC in both places
		m := g.randMAC()
		copy(p[28:34], m)
		return g.dhcp(m, p)
	case 5: // huge option list: every code, then no End
		o := p[:opts]
		for len(o) < 1400 {
			o = append(o, byte(g.rng.IntN(254)+1), 2, byte(g.rng.Uint32()), byte(g.rng.Uint32()))
		}
		return g.dhcp(g.mac, o)
	case 6: // option length past the end
		o := append(p[:opts], 53, 1, 1, 55, 200, 1, 3, 6)
		return g.dhcp(g.mac, o)
	case 7: // duplicated and wrongly sized message type
		o := append(p[:opts], 53, 1, 1, 53, 5, 3, 3, 3, 3, 3, 53, 0, 255)
		return g.dhcp(g.mac, o)
	case 8: // random options after the cookie
		return g.dhcp(g.mac, append(p[:opts], g.randBytes(g.rng.IntN(600))...))
	case 9: // UDP length larger than the datagram, or smaller than 8
		f := g.dhcp(g.mac, p)
		binary.BigEndian.PutUint16(f[14+20+4:], []uint16{0, 7, 2000, 65535}[g.rng.IntN(4)])
		return f
	case 10: // a REQUEST for someone else's address, relayed, bad op
		o := append(p[:opts], 53, 1, 3, 50, 4, 198, 51, 100, byte(g.rng.IntN(256)), 54, 4, 198, 51, 100, 99, 255)
		if g.rng.IntN(2) == 0 {
			copy(o[24:28], []byte{198, 51, 100, 200}) // giaddr
		}
		o[0] = byte(g.rng.IntN(4))
		return g.dhcp(g.mac, o)
	case 11: // RS garbage: bad checksum, hop limit, code, options
		msg := append([]byte{133, byte(g.rng.IntN(2)), 0, 0, 0, 0, 0, 0}, g.randBytes(g.rng.IntN(64))...)
		hops := []uint8{255, 64, 1}[g.rng.IntN(3)]
		return nettest.IP6(nettest.AllRoutersMAC, g.mac, eui64.LinkLocal(g.mac), allRouters, unix.IPPROTO_ICMPV6,
			nettest.IP6Opts{HopLimit: hops, BadChecksum: g.rng.IntN(2) == 0}, msg, 2)
	case 12: // RS with a zero-length option or a SLLAO of another MAC, from a spoofed source
		msg := []byte{133, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}
		if g.rng.IntN(2) == 0 {
			msg = append(msg[:8], 1, 1)
			msg = append(msg, g.randMAC()...)
		}
		src := g.randMAC()
		return nettest.ICMP6(nettest.AllRoutersMAC, src, eui64.LinkLocal(src), allRouters, nettest.IP6Opts{}, msg)
	case 13: // NS garbage: multicast target, truncated, bad options
		msg := []byte{135, 0, 0, 0, 0, 0, 0, 0}
		t := g.routerLL.As16()
		if g.rng.IntN(2) == 0 {
			t = allRouters.As16()
		}
		msg = append(msg, t[:g.rng.IntN(17)]...)
		msg = append(msg, g.randBytes(g.rng.IntN(24))...)
		return nettest.ICMP6(net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 1}, g.mac, eui64.LinkLocal(g.mac), netip.MustParseAddr("ff02::1:ff00:1"), nettest.IP6Opts{}, msg)
	case 14: // DAD-like NS from :: with a SLLAO (invalid)
		t := g.routerLL.As16()
		msg := append([]byte{135, 0, 0, 0, 0, 0, 0, 0}, t[:]...)
		msg = append(append(msg, 1, 1), g.mac...)
		return nettest.ICMP6(net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 1}, g.mac, netip.IPv6Unspecified(), netip.MustParseAddr("ff02::1:ff00:1"), nettest.IP6Opts{}, msg)
	default: // DHCPv6 garbage (UDP over IPv6 to ff02::1:2:547)
		payload := append([]byte{byte(g.rng.IntN(16)), 1, 2, 3}, g.randBytes(g.rng.IntN(300))...)
		return nettest.UDP6(net.HardwareAddr{0x33, 0x33, 0, 1, 0, 2}, g.mac, eui64.LinkLocal(g.mac), dhcp6Mcast, nettest.IP6Opts{HopLimit: 1}, 546, 547, payload)
	}
}

// TestHostileVM floods the daemon with malformed and spoofed packets from
// a VM while a real client of that VM keeps asking for its lease: the
// daemon stays up, the client always gets its address, and the queues end
// with nothing outstanding.
func TestHostileVM(t *testing.T) {
	t.Parallel()
	h := newHost(t, nfdconf.ModeSLAACDHCPv6, shortLease)
	v := h.addVM(t, routed, 5)
	h.bind(t, v.b)
	h.waitLog(t, `msg="binding loaded" tap=`+v.b.Tap)
	want := netip.PrefixFrom(v.b.IP, v.b.Subnet.Bits())
	if _, err := nettest.WaitLinkLocal(v.ns, "eth0", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	// A VM that renews every 2 s by unicast, through the flood.
	d := startRenewing(t, v)
	if _, err := d.WaitLeases(1, time.Minute); err != nil {
		t.Fatal(err)
	}

	r := openRaw(t, v, 0) // send only: receives nothing
	g := newHostile(v)
	var sent, sendErrs atomic.Int64
	flooding := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	go func() {
		defer wg.Done()
		defer close(flooding)
		for i := range hostilePackets {
			if err := r.send(g.next(i)); err != nil {
				sendErrs.Add(1)
				// ENOBUFS: the VM's own queue is full; let it drain.
				time.Sleep(time.Millisecond)
				continue
			}
			sent.Add(1)
		}
	}()

	// The renewing client: udhcpc again and again, during the flood and
	// a few times after it.
	runs, after := 0, 0
	for after < 3 {
		select {
		case <-flooding:
			after++
		default:
		}
		l, err := nettest.Udhcpc(t, v.ns, "eth0", "-t", "5", "-T", "1")
		runs++
		if err != nil {
			t.Errorf("udhcpc run %d: %v", runs, err)
			continue
		}
		if l.Addr != want {
			t.Errorf("udhcpc run %d: lease %v, want %v", runs, l.Addr, want)
		}
		h.checkAlive(t)
	}
	wg.Wait()
	t.Logf("flood: %d frames sent (%d send errors) in %v; %d udhcpc runs", sent.Load(), sendErrs.Load(), time.Since(start), runs)
	if sent.Load() < hostilePackets*9/10 {
		t.Errorf("only %d of %d frames sent", sent.Load(), hostilePackets)
	}
	for _, q := range []uint16{qDHCP, qRS, qNS, qDHCPv6} {
		st, err := nfqueuetest.Stats(h.ns, q)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("queue %d: %+v", q, st)
	}
	h.queuesDrained(t, qDHCP, qRS, qNS, qDHCPv6)
	// dhclient kept renewing the same address, and still does.
	ls, err := d.Leases()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dhclient: %d leases so far", len(ls))
	checkRenewals(t, d, v, renewalsOf(ls)+2, time.Minute)
	// Still answering, IPv6 too.
	if ra, err := nettest.Rdisc6(t, v.ns, "eth0"); err != nil || ra.Prefixes[0].Prefix != v.b.Subnet6 {
		t.Errorf("rdisc6 after the flood: %+v, %v", ra, err)
	}
	h.checkAlive(t)
}

func renewalsOf(ls []nettest.Lease4) int {
	n := 0
	for _, l := range ls {
		if l.Event == "RENEW" {
			n++
		}
	}
	return n
}
