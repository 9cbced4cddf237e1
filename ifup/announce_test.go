package main

import (
	be "encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/nettest"
)

// TestE2EAnnounceWhenVMRuns: the real binary's detached announcer sends
// the routed VM's gratuitous ARP on the uplink only once the VM has sent
// a frame on its tap (as on the target of a live migration, where the VM
// resumes later), not at up.
func TestE2EAnnounceWhenVMRuns(t *testing.T) {
	h := newHost(t)
	routedNet(t, h)
	env := envOf(t, "kvm-ifup-kvm2.ganeti.test-nic0.env", map[string]string{"INTERFACE": "tap-a1"})
	v := nettest.NewNS(t, "ifv")
	for _, k := range []string{"net/ipv6/conf/all/disable_ipv6", "net/ipv6/conf/default/disable_ipv6"} {
		v.Sysctl(t, k, "1") // a silent VM: no DAD, no RS
	}
	mac, err := net.ParseMAC(env["MAC"])
	if err != nil {
		t.Fatal(err)
	}
	nettest.VethMAC(t, h.ns, "tap-a1", v, "eth0", mac)
	vmIP := netip.MustParseAddr(env["IP"])

	// ETH_P_ALL: only those sockets see the frames the host sends.
	capture, err := h.ns.Packet("up1", unix.ETH_P_ALL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { capture.Close() })
	garp := func(within time.Duration) bool {
		t.Helper()
		seen, err := nettest.AwaitFrame(capture, within, func(f []byte) bool {
			return len(f) >= 42 && be.BigEndian.Uint16(f[12:]) == unix.ETH_P_ARP &&
				netip.AddrFrom4([4]byte(f[28:32])) == vmIP && netip.AddrFrom4([4]byte(f[38:42])) == vmIP
		})
		if err != nil {
			t.Fatal(err)
		}
		return seen
	}

	h.mustIfup("kvm-vif-bridge", env)
	if garp(1500 * time.Millisecond) {
		t.Fatal("gratuitous ARP sent before the VM sent anything")
	}
	v.SendBroadcastFrame(t, "eth0", mac)
	if !garp(5 * time.Second) {
		t.Fatal("no gratuitous ARP after the VM's first frame")
	}
}
