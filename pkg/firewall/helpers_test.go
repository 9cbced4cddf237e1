package firewall

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/diktyo/diktyo/pkg/golden"
	"github.com/diktyo/diktyo/pkg/netplan"
	"github.com/diktyo/diktyo/pkg/nettest"
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

// ruleset is `nft list ruleset` of the namespace without the
// nft_compat warning lines.
func ruleset(t testing.TB, ns *nettest.NS) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), nettest.CommandTimeout)
	defer cancel()
	cmd := ns.Exec(ctx, "nft", "list", "ruleset")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nft list ruleset in %s: %v\n%s", ns, err, stderr.Bytes())
	}
	return string(out)
}

// newFirewall returns an initialized Firewall in ns.
func newFirewall(t testing.TB, ns *nettest.NS) *Firewall {
	t.Helper()
	fw, err := New(Options{NetNS: ns.Fd(), Steerings: allSteerings()})
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Init(); err != nil {
		t.Fatal(err)
	}
	return fw
}

// vethPair creates a veth pair, both ends up: host end hostName in ns,
// peer peerName (the VM's eth0 side, with peerMAC unless empty) in peer.
func vethPair(t testing.TB, ns *nettest.NS, hostName string, peer *nettest.NS, peerName string, peerMAC string) {
	t.Helper()
	var m net.HardwareAddr
	if peerMAC != "" {
		m = mac(peerMAC)
	}
	nettest.VethMAC(t, ns, hostName, peer, peerName, m)
}

func netipZero() netip.Addr { return netip.Addr{} }
