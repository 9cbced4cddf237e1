package firewall

import (
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/nettest"
)

// packetConn opens an AF_PACKET socket on iface inside ns (proto 0:
// sending only; unix.ETH_P_ALL: every frame), closed at cleanup.
func packetConn(t *testing.T, ns *nettest.NS, iface string, proto int) *packet.Conn {
	t.Helper()
	c, err := ns.Packet(iface, proto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func sendRaw(t *testing.T, c *packet.Conn, frames ...[]byte) {
	t.Helper()
	if err := nettest.SendFrames(c, frames...); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// trafficFrames are the frames of TestAntiSpoofTraffic, by name, from a
// VM with mac, IPv4 address ip and link-local ll: each carries its
// marker in its payload (after an ARP body, in an option of an RA).
func trafficFrames(mac net.HardwareAddr, ip, ll netip.Addr) map[string][]byte {
	bc, dst4 := nettest.BroadcastMAC, netip.MustParseAddr("198.18.0.250")
	udp4 := func(src net.HardwareAddr, sip, dip netip.Addr, sport, dport uint16, name string) []byte {
		return nettest.UDP4(bc, src, sip, dip, 0, sport, dport, []byte(nettest.MarkerPrefix+name))
	}
	udp6 := func(sip netip.Addr, name string) []byte {
		return nettest.UDP6(nettest.AllNodesMAC, mac, sip, nettest.AllNodes, nettest.IP6Opts{}, 1234, 9999, []byte(nettest.MarkerPrefix+name))
	}
	other4 := netip.MustParseAddr("198.18.0.99")
	return map[string][]byte{
		"end":         udp4(mac, ip, dst4, 1234, 9999, "end"),
		"legit":       udp4(mac, ip, dst4, 1234, 9999, "legit"),
		"legit6":      udp6(ll, "legit6"),
		"spoof-ip":    udp4(mac, other4, dst4, 1234, 9999, "spoof-ip"),
		"spoof-mac":   udp4(net.HardwareAddr{0xaa, 0x10, 0, 0, 0, 0x99}, ip, dst4, 1234, 9999, "spoof-mac"),
		"spoof-ip6":   udp6(netip.MustParseAddr("2001:db8::99"), "spoof-ip6"),
		"dhcp-server": udp4(mac, ip, netip.MustParseAddr("255.255.255.255"), 67, 68, "dhcp-server"),
		"ra": nettest.ICMP6(nettest.AllNodesMAC, mac, ll, nettest.AllNodes, nettest.IP6Opts{},
			nettest.RouterAdvertisement(nettest.MarkerOpt("ra"))),
		"vlan":      nettest.VLAN(udp4(mac, ip, dst4, 1234, 9999, "vlan"), 10),
		"arp-spoof": nettest.ARP(bc, mac, 1, mac, other4, dst4, "arp-spoof"),
		"arp":       nettest.ARP(bc, mac, 1, mac, ip, dst4, "arp"),
	}
}

// discoverFrame is a DHCPDISCOVER from a VM with mac, as its client sends
// it: from 0.0.0.0:68 to 255.255.255.255:67.
func discoverFrame(t *testing.T, mac net.HardwareAddr) []byte {
	t.Helper()
	d, err := dhcpv4.NewDiscovery(mac)
	if err != nil {
		t.Fatal(err)
	}
	return nettest.UDP4(nettest.BroadcastMAC, mac, netip.IPv4Unspecified(), netip.MustParseAddr("255.255.255.255"), 0, 68, 67, d.ToBytes())
}

// ndFrame builds one frame of the neighbour discovery tests; the marker
// goes in the IPv6 flow label (IPv4: the identification), which NDP
// ignores.
type ndFrame func(marker uint32) [][]byte

// ndFrames are the frames of TestNDAntiSpoof by name (see ndSpoofed and
// ndLegit). Keys of a: mac, ll, ip6, ip4 (the sender's own), dmac (the
// destination MAC of unicast frames), vip6, vip4 (the victim's), nstgt
// (the target of NS: an address of the receiver), gw6, gwll (the
// gateway's), other (another node's MAC).
func ndFrames(a map[string]string) map[string]ndFrame {
	addr := func(k string) netip.Addr { return netip.MustParseAddr(a[k]) }
	hw := func(k string) net.HardwareAddr { return mac(a[k]) }
	me := hw("mac")
	own, other := nettest.NDOpt(nettest.OptTLL, me), nettest.NDOpt(nettest.OptTLL, hw("other"))
	sown, sother := nettest.NDOpt(nettest.OptSLL, me), nettest.NDOpt(nettest.OptSLL, hw("other"))
	nonce := nettest.NDOpt(nettest.OptNonce, []byte("diktyo")) // RFC 7527, length 1
	mtu := nettest.NDOpt(nettest.OptMTU, []byte{0, 0, 0, 0, 5, 0})
	const naO, naR = nettest.NAOverride, 0x80
	icmp := func(dmac net.HardwareAddr, src, dst netip.Addr, msg []byte, hbh bool) ndFrame {
		return func(m uint32) [][]byte {
			return [][]byte{nettest.ICMP6(dmac, me, src, dst, nettest.IP6Opts{FlowLabel: m, HopByHop: hbh}, msg)}
		}
	}
	na := func(tgt netip.Addr, opts ...[]byte) ndFrame {
		return icmp(nettest.AllNodesMAC, addr("ll"), nettest.AllNodes, nettest.NDTarget(nettest.NDNA, naO, tgt, opts...), false)
	}
	ns := func(src, tgt netip.Addr, opts ...[]byte) ndFrame {
		dst, dmac := nettest.SolicitedNode(tgt)
		return icmp(dmac, src, dst, nettest.NDTarget(nettest.NDNS, 0, tgt, opts...), false)
	}
	rs := func(src netip.Addr, opts ...[]byte) ndFrame {
		return icmp(nettest.AllRoutersMAC, src, nettest.AllRouters, nettest.RouterSolicitation(opts...), false)
	}
	udp6 := func(sport, dport uint16) ndFrame {
		return func(m uint32) [][]byte {
			return [][]byte{nettest.UDP6(hw("dmac"), me, addr("ip6"), addr("vip6"), nettest.IP6Opts{HopLimit: 255, FlowLabel: m},
				sport, dport, []byte("diktyo"))}
		}
	}
	udp4 := func(sport, dport uint16) ndFrame {
		return func(m uint32) [][]byte {
			return [][]byte{nettest.UDP4(hw("dmac"), me, addr("ip4"), addr("vip4"), uint16(m), sport, dport, []byte("diktyo"))}
		}
	}
	return map[string]ndFrame{
		// Spoofed: another node's address or MAC, or options no stack sends.
		"na-gw":   na(addr("gw6"), own),  // claims the gateway's address
		"na-gwll": na(addr("gwll"), own), // claims the gateway's link-local
		"na-vm":   na(addr("vip6"), own), // claims another VM's address
		"na-gw-hbh": icmp(nettest.AllNodesMAC, addr("ll"), nettest.AllNodes,
			nettest.NDTarget(nettest.NDNA, naO, addr("gw6"), own), true),
		"na-tlla-frag": func(m uint32) [][]byte { // the TLLA in the second fragment
			msg := nettest.NDTarget(nettest.NDNA, naO, addr("ip6"), other)
			return nettest.Fragments6(nettest.AllNodesMAC, me, addr("ll"), nettest.AllNodes, unix.IPPROTO_ICMPV6,
				nettest.IP6Opts{HopLimit: 255, FlowLabel: m}, msg, 2, 24, 0xd1d1)
		},
		"na-tlla":       na(addr("ip6"), other), // own address, another MAC
		"na-tlla-slla":  na(addr("ip6"), own, sown),
		"ns-slla":       ns(addr("ip6"), addr("nstgt"), sother),
		"ns-mtu":        ns(addr("ip6"), addr("nstgt"), mtu),
		"ns-nonce-slla": ns(addr("ip6"), addr("nstgt"), nonce, sown),
		"ns-slla-slla":  ns(addr("ip6"), addr("nstgt"), sown, sown),
		"rs-slla":       rs(addr("ll"), sother),
		"rs-slla-mtu":   rs(addr("ll"), sown, mtu),
		// From the router's link-local, with the VM's own MAC.
		"ns-gwll-src": ns(addr("gwll"), addr("nstgt"), sown),
		"na-gwll-src": icmp(nettest.AllNodesMAC, addr("gwll"), nettest.AllNodes,
			nettest.NDTarget(nettest.NDNA, naR|naO, addr("ip6"), own), false),
		// Legit forms of Linux, Windows and the BSDs.
		"na-own":        na(addr("ip6"), own),
		"na-ownll":      na(addr("ll"), own),
		"na-noopt":      na(addr("ip6")),
		"ns":            ns(addr("ip6"), addr("nstgt"), sown),
		"ns-noopt":      ns(addr("ip6"), addr("nstgt")),
		"ns-dad":        ns(netip.IPv6Unspecified(), addr("ip6"), nonce),
		"ns-slla-nonce": ns(addr("ip6"), addr("nstgt"), sown, nonce),
		"rs":            rs(addr("ll"), sown),
		"rs-dad":        rs(netip.IPv6Unspecified()),
		// DHCP server replies (spoofed) and plain UDP (legit), to the
		// victim directly (bridged) or through the host (routed).
		"dhcp6-server": udp6(547, 546),
		"udp6":         udp6(1234, 9999),
		"dhcp-server":  udp4(67, 68),
		"udp4":         udp4(1234, 9999),
	}
}
