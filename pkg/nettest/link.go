package nettest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Link is a network interface inside a test namespace.
type Link struct {
	NS    *NS
	Name  string
	Index int
	MAC   net.HardwareAddr
}

// Pair is the two ends of a VM's NIC: Host is the tap side (in the host
// namespace), VM is the VM's interface (in the VM namespace).
type Pair struct {
	Host, VM Link
}

// Handle opens a netlink handle bound to the namespace.
func (ns *NS) Handle() (*netlink.Handle, error) {
	h, err := netlink.NewHandleAt(netns.NsHandle(ns.fd))
	if err != nil {
		return nil, fmt.Errorf("netns %s: netlink handle: %w", ns.name, err)
	}
	return h, nil
}

// withHandle runs fn with a netlink handle of ns.
func (ns *NS) withHandle(fn func(h *netlink.Handle) error) error {
	h, err := ns.Handle()
	if err != nil {
		return err
	}
	defer h.Close()
	return fn(h)
}

// LinkByName looks a link up by name and returns its current attributes.
func (ns *NS) LinkByName(name string) (Link, error) {
	var l Link
	err := ns.withHandle(func(h *netlink.Handle) error {
		nl, err := h.LinkByName(name)
		if err != nil {
			return fmt.Errorf("netns %s: link %s: %w", ns.name, name, err)
		}
		a := nl.Attrs()
		l = Link{NS: ns, Name: a.Name, Index: a.Index, MAC: a.HardwareAddr}
		return nil
	})
	return l, err
}

// MustLink is LinkByName failing the test on error.
func (ns *NS) MustLink(t testing.TB, name string) Link {
	t.Helper()
	l, err := ns.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Veth creates a veth pair: hostName in hostNS (name it like a tap, at most
// 15 bytes) and its peer vmName in vmNS, both up (operstate UP, so a frame
// sent at once is not dropped for a missing carrier). The pair goes away with
// either namespace; cleanup also deletes it explicitly.
func Veth(t testing.TB, hostNS *NS, hostName string, vmNS *NS, vmName string) Pair {
	t.Helper()
	return VethMAC(t, hostNS, hostName, vmNS, vmName, nil)
}

// VethMAC is Veth with the VM end created with vmMAC (nil: a random
// one), so that its IPv6 link-local address derives from it from the
// start, as on a VM whose NIC boots with its MAC.
func VethMAC(t testing.TB, hostNS *NS, hostName string, vmNS *NS, vmName string, vmMAC net.HardwareAddr) Pair {
	t.Helper()
	p := addVeth(t, hostNS, hostName, vmNS, vmName, vmMAC)
	p.Host.Up(t)
	p.VM.Up(t)
	hostNS.WaitUp(t, hostName)
	vmNS.WaitUp(t, vmName)
	return p
}

// VethDown is Veth leaving both ends down, as a tap is before Ganeti sets
// it up: the test sets MACs, MTUs and sysctls first, or leaves bringing
// the host end up to the code under test.
func VethDown(t testing.TB, hostNS *NS, hostName string, vmNS *NS, vmName string) Pair {
	t.Helper()
	return addVeth(t, hostNS, hostName, vmNS, vmName, nil)
}

func addVeth(t testing.TB, hostNS *NS, hostName string, vmNS *NS, vmName string, vmMAC net.HardwareAddr) Pair {
	t.Helper()
	RequireRoot(t)
	err := hostNS.withHandle(func(h *netlink.Handle) error {
		v := &netlink.Veth{
			LinkAttrs:        netlink.LinkAttrs{Name: hostName},
			PeerName:         vmName,
			PeerNamespace:    netlink.NsFd(vmNS.fd),
			PeerHardwareAddr: vmMAC,
		}
		return h.LinkAdd(v)
	})
	if err != nil {
		t.Fatalf("veth %s/%s - %s/%s: %v", hostNS, hostName, vmNS, vmName, err)
	}
	t.Cleanup(func() { _ = deleteLink(hostNS, hostName) })
	return Pair{Host: hostNS.MustLink(t, hostName), VM: vmNS.MustLink(t, vmName)}
}

// Bridge creates an empty bridge, up, in ns. An empty bridge also stands in
// for a dummy interface, which this kernel lacks.
func Bridge(t testing.TB, ns *NS, name string) Link {
	t.Helper()
	RequireRoot(t)
	err := ns.withHandle(func(h *netlink.Handle) error {
		return h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}})
	})
	if err != nil {
		t.Fatalf("netns %s: bridge %s: %v", ns, name, err)
	}
	t.Cleanup(func() { _ = deleteLink(ns, name) })
	l := ns.MustLink(t, name)
	l.Up(t)
	return l
}

func deleteLink(ns *NS, name string) error {
	return ns.withHandle(func(h *netlink.Handle) error {
		l, err := h.LinkByName(name)
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		if err != nil {
			return err
		}
		return h.LinkDel(l)
	})
}

// do runs fn on l's netlink link, failing the test with what on error.
func (l Link) do(t testing.TB, what string, fn func(h *netlink.Handle, nl netlink.Link) error) {
	t.Helper()
	err := l.NS.withHandle(func(h *netlink.Handle) error {
		nl, err := h.LinkByName(l.Name)
		if err != nil {
			return err
		}
		return fn(h, nl)
	})
	if err != nil {
		t.Fatalf("netns %s: %s: %s: %v", l.NS, l.Name, what, err)
	}
}

// Up sets the link up.
func (l Link) Up(t testing.TB) {
	t.Helper()
	l.do(t, "set up", func(h *netlink.Handle, nl netlink.Link) error { return h.LinkSetUp(nl) })
}

// Down sets the link down.
func (l Link) Down(t testing.TB) {
	t.Helper()
	l.do(t, "set down", func(h *netlink.Handle, nl netlink.Link) error { return h.LinkSetDown(nl) })
}

// SetMAC sets the link's MAC address and returns the updated Link. An up
// link is set down first and up again, so that its IPv6 link-local address
// is derived from the new MAC, as on a VM whose NIC starts with its MAC.
func (l Link) SetMAC(t testing.TB, mac net.HardwareAddr) Link {
	t.Helper()
	l.do(t, "set address", func(h *netlink.Handle, nl netlink.Link) error {
		up := nl.Attrs().Flags&net.FlagUp != 0
		if up {
			if err := h.LinkSetDown(nl); err != nil {
				return err
			}
		}
		if err := h.LinkSetHardwareAddr(nl, mac); err != nil {
			return err
		}
		if up {
			return h.LinkSetUp(nl)
		}
		return nil
	})
	l.MAC = append(net.HardwareAddr(nil), mac...)
	return l
}

// SetMTU sets the link's MTU.
func (l Link) SetMTU(t testing.TB, mtu int) {
	t.Helper()
	l.do(t, "set mtu", func(h *netlink.Handle, nl netlink.Link) error { return h.LinkSetMTU(nl, mtu) })
}

// SetMaster makes l a port of bridge br (same namespace).
func (l Link) SetMaster(t testing.TB, br Link) {
	t.Helper()
	l.do(t, "set master "+br.Name, func(h *netlink.Handle, nl netlink.Link) error {
		return h.LinkSetMasterByIndex(nl, br.Index)
	})
}

// AddAddr adds an address with its prefix length (e.g. 198.51.100.1/24,
// 2001:db8::1/64; IPv6 addresses are added with nodad).
func (l Link) AddAddr(t testing.TB, addr netip.Prefix) {
	t.Helper()
	a := &netlink.Addr{IPNet: &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), addr.Addr().BitLen())}}
	if addr.Addr().Is6() {
		a.Flags = 0x02 // IFA_F_NODAD
	}
	l.do(t, "add address "+addr.String(), func(h *netlink.Handle, nl netlink.Link) error { return h.AddrAdd(nl, a) })
}

// Addrs lists l's addresses of family (netlink.FAMILY_V4, FAMILY_V6 or
// FAMILY_ALL) with their flags.
func (l Link) Addrs(family int) ([]netlink.Addr, error) {
	var out []netlink.Addr
	err := l.NS.withHandle(func(h *netlink.Handle) error {
		nl, err := h.LinkByName(l.Name)
		if err != nil {
			return err
		}
		out, err = h.AddrList(nl, family)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netns %s: %s: list addresses: %w", l.NS, l.Name, err)
	}
	return out, nil
}

// AddRoute adds a route to dst via gw (may be invalid: on-link) out of
// dev (may be empty when gw is given) in ns.
func (ns *NS) AddRoute(t testing.TB, dst netip.Prefix, gw netip.Addr, dev string) {
	t.Helper()
	err := ns.withHandle(func(h *netlink.Handle) error {
		r := &netlink.Route{Dst: &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), dst.Addr().BitLen())}}
		if gw.IsValid() {
			r.Gw = gw.AsSlice()
		}
		if dev != "" {
			nl, err := h.LinkByName(dev)
			if err != nil {
				return err
			}
			r.LinkIndex = nl.Attrs().Index
		}
		return h.RouteAdd(r)
	})
	if err != nil {
		t.Fatalf("netns %s: route %v via %v dev %q: %v", ns, dst, gw, dev, err)
	}
}

// AddNeigh adds a permanent neighbour entry (ARP or NDP) on dev.
func (ns *NS) AddNeigh(t testing.TB, dev string, ip netip.Addr, mac net.HardwareAddr) {
	t.Helper()
	l := Link{NS: ns, Name: dev}
	l.do(t, "add neighbour "+ip.String(), func(h *netlink.Handle, nl netlink.Link) error {
		fam := netlink.FAMILY_V4
		if ip.Is6() {
			fam = netlink.FAMILY_V6
		}
		return h.NeighSet(&netlink.Neigh{LinkIndex: nl.Attrs().Index, Family: fam, State: netlink.NUD_PERMANENT, IP: ip.AsSlice(), HardwareAddr: mac})
	})
}

// Routes lists the routes of family in the main table of ns.
func (ns *NS) Routes(family int) ([]netlink.Route, error) {
	var out []netlink.Route
	err := ns.withHandle(func(h *netlink.Handle) error {
		var err error
		out, err = h.RouteList(nil, family)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netns %s: list routes: %w", ns, err)
	}
	return out, nil
}

// Packet opens an AF_PACKET socket (raw frames) of protocol proto on
// ifname inside the namespace: proto 0 receives nothing (a sender),
// ETH_P_ALL every frame. The caller closes it.
func (ns *NS) Packet(ifname string, proto int) (*packet.Conn, error) {
	var c *packet.Conn
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		c, err = packet.Listen(ifi, packet.Raw, proto, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netns %s: AF_PACKET on %s: %w", ns.name, ifname, err)
	}
	return c, nil
}

// SendBroadcastFrame sends one broadcast frame of a local experimental
// EtherType (0x88b5) from src on ifname inside the namespace: in the
// tests, a VM's first frame (as QEMU's self-announcement is when the VM
// resumes), or a frame that is not the VM's.
func (ns *NS) SendBroadcastFrame(t testing.TB, ifname string, src net.HardwareAddr) {
	t.Helper()
	c, err := ns.Packet(ifname, 0x88b5)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	if err := SendFrames(c, Ether(bcast, src, 0x88b5, make([]byte, 46))); err != nil {
		t.Fatal(err)
	}
}
