package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/nettest"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// raw is an AF_PACKET socket on a VM's eth0, opened inside its namespace.
type raw struct {
	c   *packet.Conn
	mac net.HardwareAddr
}

func openRaw(t *testing.T, v *vm, proto int) *raw {
	t.Helper()
	c, err := v.ns.Packet("eth0", proto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &raw{c: c, mac: v.b.MAC}
}

// send writes one frame (its destination MAC is the frame's).
func (r *raw) send(frame []byte) error {
	_, err := r.c.WriteTo(frame, &packet.Addr{HardwareAddr: net.HardwareAddr(frame[0:6])})
	return err
}

// discover sends one DHCPDISCOVER with the VM's MAC and returns the
// offered address, or an invalid address when nothing came within wait.
func (r *raw) discover(wait time.Duration) (netip.Addr, error) {
	d, err := dhcpv4.NewDiscovery(r.mac, dhcpv4.WithBroadcast(true))
	if err != nil {
		return netip.Addr{}, err
	}
	f := nettest.UDP4(nettest.BroadcastMAC, r.mac, netip.IPv4Unspecified(), netip.AddrFrom4([4]byte{255, 255, 255, 255}), 0, 68, 67, d.ToBytes())
	if err := r.send(f); err != nil {
		return netip.Addr{}, fmt.Errorf("send discover: %w", err)
	}
	deadline := time.Now().Add(wait)
	buf := make([]byte, 2048)
	for {
		if err := r.c.SetReadDeadline(deadline); err != nil {
			return netip.Addr{}, err
		}
		n, _, err := r.c.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return netip.Addr{}, nil
		}
		if err != nil {
			return netip.Addr{}, err
		}
		reply, ok := parseDHCPReply(buf[:n])
		if ok && reply.TransactionID == d.TransactionID && reply.MessageType() == dhcpv4.MessageTypeOffer {
			a, _ := netip.AddrFromSlice(reply.YourIPAddr.To4())
			return a, nil
		}
	}
}

// parseDHCPReply parses an Ethernet + IPv4 + UDP (to port 68) frame.
func parseDHCPReply(f []byte) (*dhcpv4.DHCPv4, bool) {
	if len(f) < 14+20+8 || binary.BigEndian.Uint16(f[12:]) != unix.ETH_P_IP {
		return nil, false
	}
	ip := f[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[9] != unix.IPPROTO_UDP || len(ip) < ihl+8 {
		return nil, false
	}
	u := ip[ihl:]
	if binary.BigEndian.Uint16(u[2:]) != 68 {
		return nil, false
	}
	d, err := dhcpv4.FromBytes(u[8:])
	return d, err == nil
}

// waitOffer probes with DISCOVERs every few milliseconds until the offer is
// want (an invalid want: until no offer comes), and returns how long it
// took from start.
func (r *raw) waitOffer(t *testing.T, start time.Time, want netip.Addr, limit time.Duration) time.Duration {
	t.Helper()
	for {
		got, err := r.discover(20 * time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("offer is %v, want %v, after %v", got, want, limit)
		}
	}
}
