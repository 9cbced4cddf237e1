package firewall

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/eui64"
	"github.com/diktyo/diktyo/pkg/netplan"
	"github.com/diktyo/diktyo/pkg/nettest"
)

// The frames of ndFrames the VM (attacker) sends. Spoofed ones
// must never get past diktyo; legit ones (the forms real stacks send)
// must. The spoofed forms that carry the VM's own MAC come first: were
// they let through, they would repair the entries the ones after them
// poison.
var (
	ndSpoofed = []string{"ns-gwll-src", "na-gwll-src", "na-tlla-slla", "ns-mtu", "ns-nonce-slla", "ns-slla-slla", "rs-slla-mtu",
		"dhcp6-server", "dhcp-server", "rs-slla", "na-tlla-frag", "na-gw-hbh", "na-gw", "na-gwll", "na-vm",
		"na-tlla", "ns-slla"}
	ndLegit = []string{"na-own", "na-ownll", "na-noopt", "ns", "ns-noopt", "ns-dad",
		"ns-slla-nonce", "rs", "rs-dad", "udp6", "udp4"}
)

const (
	ndAttackerMAC = "aa:00:00:00:00:0a"
	ndVictimMAC   = "aa:00:00:00:00:0b"
	ndGatewayMAC  = "aa:00:00:00:00:01"
)

// ndNet is a host with two VMs on anti-spoofed taps, tapa (the attacker)
// and tapv (the victim), routed or bridged.
type ndNet struct {
	host, attacker, victim *nettest.NS
	// args are ndFrames' addresses.
	args map[string]string
	// neighbours are entries the kernel's NDP resolved (REACHABLE) and
	// that the attack must not change.
	neighbours []ndNeigh
	// observers see what got past diktyo: the victim (bridged), the
	// host (routed: NDP from a VM ends there) and the victim.
	observers []observer
}

type ndNeigh struct {
	ns             *nettest.NS
	dev, addr, mac string
}

// slaac is the EUI-64 address of hw in the /64 of prefix.
func slaac(prefix, hw string) string {
	a, _ := eui64.Addr(netip.PrefixFrom(netip.MustParseAddr(prefix), 64), mac(hw))
	return a.String()
}

// TestNDAntiSpoof: a VM sends spoofed neighbour discovery (another node's
// address as NA target, another MAC in a link-layer address option,
// option forms no stack sends) and DHCP server replies; none of it gets
// past diktyo, no neighbour cache is poisoned, and the forms real stacks
// send (and the kernel's own NDP) still work. Routed and bridged taps.
func TestNDAntiSpoof(t *testing.T) {
	nettest.RequireRoot(t, "nft")
	for _, mode := range []netplan.Mode{netplan.ModeRouted, netplan.ModeBridged} {
		t.Run(string(mode), func(t *testing.T) {
			n := newNDNet(t, mode)
			for _, e := range n.neighbours {
				e.waitReachable(t)
			}

			// Spoofed frames, then a legit one to know they have all
			// been processed (a legit NA would repair a poisoned entry,
			// so the other legit frames come after the checks).
			sent := sendND(t, n.attacker, n.args, append(slices.Clone(ndSpoofed), "udp6")...)
			for _, o := range n.observers {
				o.wait(t, sent["udp6"])
				for _, name := range ndSpoofed {
					if o.saw(t, sent[name]) {
						t.Errorf("%s received the spoofed %s", o.ns.Name(), name)
					}
				}
			}
			for _, e := range n.neighbours {
				if got, state := neighMAC(t, e.ns, e.dev, e.addr); got != e.mac {
					t.Errorf("%s: neighbour %s on %s poisoned: %s %s, want %s", e.ns.Name(), e.addr, e.dev, got, state, e.mac)
				}
			}

			sent = sendND(t, n.attacker, n.args, ndLegit...)
			for _, o := range n.observers {
				for _, name := range ndLegit {
					if o.only == nil || slices.Contains(o.only, name) {
						o.wait(t, sent[name])
					}
				}
			}
		})
	}
}

func newNDNet(t *testing.T, mode netplan.Mode) ndNet {
	host, att, vic := nettest.NewNS(t, "fw-"), nettest.NewNS(t, "fw-"), nettest.NewNS(t, "fw-")
	n := ndNet{host: host, attacker: att, victim: vic}
	prefix, p4 := "2001:db8:1::", "198.18.1."
	if mode == netplan.ModeRouted {
		prefix, p4 = "2001:db8:2::", "198.18.2."
	}
	att6, vic6 := slaac(prefix, ndAttackerMAC), slaac(prefix, ndVictimMAC)
	att4, vic4 := p4+"10", p4+"11"
	attLL := eui64.LinkLocal(mac(ndAttackerMAC)).String()
	vethPair(t, host, "tapa", att, "eth0", ndAttackerMAC)
	vethPair(t, host, "tapv", vic, "eth0", ndVictimMAC)
	for _, x := range []struct {
		ns  *nettest.NS
		dev string
	}{{host, "tapa"}, {host, "tapv"}, {att, "eth0"}, {vic, "eth0"}} {
		fastProbe(t, x.ns, x.dev)
	}
	n.args = map[string]string{"mac": ndAttackerMAC, "ll": attLL, "ip6": att6, "ip4": att4,
		"vip6": vic6, "vip4": vic4, "gw6": prefix + "1", "gwll": "fe80::1", "other": ndGatewayMAC}
	fw := newFirewall(t, host)
	for _, v := range []struct{ tap, mac, ip6, ip4 string }{{"tapa", ndAttackerMAC, att6, att4}, {"tapv", ndVictimMAC, vic6, vic4}} {
		f := netplan.Filter{Tap: v.tap, Mode: mode, MAC: mac(v.mac), AntiSpoof: true,
			IPv4: addrs(v.ip4), IPv6: addrs(v.ip6), LinkLocal6: true, RouterLL6: netip.MustParseAddr("fe80::1")}
		if mode == netplan.ModeBridged {
			f.Bridge = "br0"
		}
		if err := fw.Apply(f); err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range []*nettest.NS{att, vic} {
		listen(t, ns, "[::]:7")
	}
	if mode == netplan.ModeBridged {
		gw := nettest.NewNS(t, "fw-")
		host.Run(t, "ip", "link", "add", "br0", "address", "02:00:00:00:01:01", "type", "bridge")
		host.Run(t, "ip", "link", "set", "br0", "up")
		vethPair(t, host, "upg", gw, "eth0", ndGatewayMAC)
		fastProbe(t, gw, "eth0")
		for _, tap := range []string{"tapa", "tapv", "upg"} {
			host.Run(t, "ip", "link", "set", tap, "master", "br0")
		}
		gw.Run(t, "ip", "addr", "add", prefix+"1/64", "dev", "eth0", "nodad")
		gw.Run(t, "ip", "addr", "add", "fe80::1/64", "dev", "eth0", "nodad")
		for _, v := range []struct {
			ns       *nettest.NS
			ip6, ip4 string
		}{{att, att6, att4}, {vic, vic6, vic4}} {
			v.ns.Run(t, "ip", "addr", "add", v.ip6+"/64", "dev", "eth0", "nodad")
			v.ns.Run(t, "ip", "addr", "add", v.ip4+"/24", "dev", "eth0")
		}
		listen(t, gw, "[::]:7")
		waitLinkLocal(t, att, vic, gw)
		n.args["dmac"], n.args["nstgt"] = ndVictimMAC, vic6
		// The kernel's NDP between the VMs and with the gateway, on
		// global and EUI-64 link-local addresses. (Zones by index: Go
		// caches interface names process-wide, across namespaces.)
		zone := "%" + strings.TrimSpace(vic.Run(t, "cat", "/sys/class/net/eth0/ifindex"))
		for _, c := range []struct {
			from *nettest.NS
			to   string
		}{{vic, att6}, {vic, attLL + zone}, {att, vic6}, {vic, prefix + "1"}, {vic, "fe80::1" + zone}} {
			if err := dialFrom(c.from, "["+c.to+"]:7", 2*time.Second); err != nil {
				t.Fatalf("%s → %s: %v", c.from.Name(), c.to, err)
			}
		}
		n.neighbours = []ndNeigh{
			{vic, "eth0", att6, ndAttackerMAC},
			{vic, "eth0", attLL, ndAttackerMAC},
			{att, "eth0", vic6, ndVictimMAC},
			{vic, "eth0", prefix + "1", ndGatewayMAC},
			{vic, "eth0", "fe80::1", ndGatewayMAC},
		}
		n.observers = []observer{observe(t, vic, "", nil)}
		return n
	}

	// Routed: the host routes each VM's /128 and /32 to its tap and is
	// the VMs' router (fe80::1, proxy ARP); NDP from a VM ends at the
	// host, whose neighbour entries on tapa the attack targets.
	host.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
		"net.ipv4.conf.tapa.proxy_arp=1", "net.ipv4.conf.tapv.proxy_arp=1")
	host.Run(t, "ip", "addr", "add", p4+"1/32", "dev", "lo") // the source of its ARP requests
	for _, v := range []struct {
		ns            *nettest.NS
		tap, ip6, ip4 string
	}{{att, "tapa", att6, att4}, {vic, "tapv", vic6, vic4}} {
		host.Run(t, "ip", "addr", "add", "fe80::1/64", "dev", v.tap, "nodad")
		host.Run(t, "ip", "-6", "route", "add", v.ip6+"/128", "dev", v.tap)
		host.Run(t, "ip", "route", "add", v.ip4+"/32", "dev", v.tap)
		v.ns.Run(t, "ip", "addr", "add", v.ip6+"/64", "dev", "eth0", "nodad", "noprefixroute")
		v.ns.Run(t, "ip", "addr", "add", v.ip4+"/24", "dev", "eth0")
		v.ns.Run(t, "ip", "-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0")
		v.ns.Run(t, "ip", "route", "add", "default", "dev", "eth0")
	}
	waitLinkLocal(t, att, vic)
	tapMAC := strings.TrimSpace(host.Run(t, "cat", "/sys/class/net/tapa/address"))
	n.args["dmac"], n.args["nstgt"], n.args["other"] = tapMAC, "fe80::1", ndVictimMAC
	for _, c := range []struct {
		from *nettest.NS
		to   string
	}{{host, att6}, {att, vic6}, {att, vic4}} {
		if err := dialFrom(c.from, net6or4(c.to)+":7", 2*time.Second); err != nil {
			t.Fatalf("%s → %s: %v", c.from.Name(), c.to, err)
		}
	}
	n.neighbours = []ndNeigh{
		{host, "tapa", att6, ndAttackerMAC},
		{att, "eth0", "fe80::1", tapMAC},
	}
	n.observers = []observer{observe(t, host, "tapa", nil), observe(t, vic, "", []string{"udp6", "udp4"})}
	return n
}

func net6or4(a string) string {
	if strings.Contains(a, ":") {
		return "[" + a + "]"
	}
	return a
}

// waitLinkLocal waits until eth0 of each namespace has finished DAD.
func waitLinkLocal(t *testing.T, nss ...*nettest.NS) {
	t.Helper()
	for _, ns := range nss {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			out := ns.Run(t, "ip", "-6", "-o", "addr", "show", "dev", "eth0")
			if strings.Contains(out, "fe80::") && !strings.Contains(out, "tentative") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: eth0 has no usable link-local address: %s", ns.Name(), out)
			}
		}
	}
}

// waitReachable waits until the entry is REACHABLE with its MAC: one a
// received NS created (STALE) and traffic used goes through DELAY and a
// unicast probe (1 s each here) first.
func (e ndNeigh) waitReachable(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got, state := neighMAC(t, e.ns, e.dev, e.addr)
		if got == e.mac && state == "REACHABLE" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: neighbour %s on %s is %s %s, want %s REACHABLE", e.ns.Name(), e.addr, e.dev, got, state, e.mac)
		}
	}
}

// fastProbe makes neighbour entries of dev in ns in DELAY probe after 1 s
// instead of 5.
func fastProbe(t *testing.T, ns *nettest.NS, dev string) {
	t.Helper()
	ns.Run(t, "sysctl", "-qw", "net.ipv6.neigh."+dev+".delay_first_probe_time=1")
}

// neighMAC returns the link-layer address and state of ns's neighbour
// entry for addr on dev ("" when there is none).
func neighMAC(t *testing.T, ns *nettest.NS, dev, addr string) (mac, state string) {
	t.Helper()
	f := strings.Fields(ns.Run(t, "ip", "-6", "neigh", "show", addr, "dev", dev))
	if i := slices.Index(f, "lladdr"); i >= 0 && i+1 < len(f) {
		mac = f[i+1]
	}
	if len(f) > 0 {
		state = f[len(f)-1]
	}
	return mac, state
}

// sendND sends the named frames of ndFrames out of the VM's eth0, each
// with its own marker (in the order given), and returns the markers.
func sendND(t *testing.T, vm *nettest.NS, args map[string]string, names ...string) map[string]uint32 {
	t.Helper()
	frames := ndFrames(args)
	c := packetConn(t, vm, "eth0", 0)
	sent := map[string]uint32{}
	for i, name := range names {
		build, ok := frames[name]
		if !ok {
			t.Fatalf("no frame %q", name)
		}
		marker := uint32(0xd1d00 + i)
		if name == "dhcp-server" || name == "udp4" {
			marker = uint32(0xd100 + i) // an IPv4 identification
		}
		sendRaw(t, c, build(marker)...)
		sent[name] = marker
	}
	return sent
}

// observer records which test packets reach prerouting of its
// namespace after diktyo's chains (priority 0): their flow label (IPv6)
// or IP id (IPv4), which sendND sets to each frame's marker.
type observer struct {
	ns *nettest.NS
	// only are the legit frames this observer gets (nil: all; the
	// victim of routed taps gets only what the host forwards).
	only []string
}

func observe(t *testing.T, ns *nettest.NS, iif string, only []string) observer {
	t.Helper()
	match := ""
	if iif != "" {
		match = fmt.Sprintf("iifname %q ", iif)
	}
	file := filepath.Join(t.TempDir(), "observer.nft")
	rules := fmt.Sprintf(`table inet fwobs {
	set seen6 { typeof ip6 flowlabel; flags dynamic; }
	set seen4 { typeof ip id; flags dynamic; }
	chain prerouting {
		type filter hook prerouting priority 0; policy accept;
		%[1]sip6 flowlabel != 0 add @seen6 { ip6 flowlabel }
		%[1]sip id != 0 add @seen4 { ip id }
	}
}
`, match)
	if err := os.WriteFile(file, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	ns.Run(t, "nft", "-f", file)
	return observer{ns: ns, only: only}
}

var setElements = regexp.MustCompile(`elements = \{([^}]*)\}`)

// saw reports whether the packet with marker m has been seen.
func (o observer) saw(t *testing.T, m uint32) bool {
	t.Helper()
	for _, set := range []string{"seen6", "seen4"} {
		out := o.ns.Run(t, "nft", "list", "set", "inet", "fwobs", set)
		if e := setElements.FindStringSubmatch(out); e != nil {
			for f := range strings.FieldsFuncSeq(e[1], func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
				if f == strconv.FormatUint(uint64(m), 10) {
					return true
				}
			}
		}
	}
	return false
}

// wait fails the test unless the packet with marker m is seen within 5
// seconds.
func (o observer) wait(t *testing.T, m uint32) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !o.saw(t, m); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("%s never received the legit packet with marker %#x", o.ns.Name(), m)
			return
		}
	}
}
