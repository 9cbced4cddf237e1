package nettest

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// echoData marks the echo requests of Echo, so that replies to others'
// are ignored.
const echoData = "nettest"

// Echo sends one ICMP or ICMPv6 echo request from src ("" for any) to dst
// inside ns and waits up to timeout for the reply (no ping binary needed).
func (ns *NS) Echo(src, dst string, timeout time.Duration) error {
	to, err := netip.ParseAddr(dst)
	if err != nil {
		return fmt.Errorf("netns %s: echo: %w", ns, err)
	}
	err = ns.Do(func() error {
		network, laddr := "ip4:icmp", "0.0.0.0"
		var typ, reply icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
		proto := 1
		if to.Is6() {
			network, laddr, typ, reply, proto = "ip6:ipv6-icmp", "::", ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply, 58
		}
		if src != "" {
			laddr = src
		}
		c, err := icmp.ListenPacket(network, laddr)
		if err != nil {
			return err
		}
		defer c.Close()
		id := os.Getpid() & 0xffff
		msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: 1, Data: []byte(echoData)}}
		b, err := msg.Marshal(nil)
		if err != nil {
			return err
		}
		if _, err := c.WriteTo(b, &net.IPAddr{IP: to.AsSlice()}); err != nil {
			return err
		}
		deadline := time.Now().Add(timeout)
		buf := make([]byte, 1500)
		for {
			_ = c.SetReadDeadline(deadline)
			n, peer, err := c.ReadFrom(buf)
			if err != nil {
				return fmt.Errorf("no echo reply: %w", err)
			}
			m, err := icmp.ParseMessage(proto, buf[:n])
			if err != nil || m.Type != reply {
				continue
			}
			if e, ok := m.Body.(*icmp.Echo); ok && string(e.Data) == echoData && peer.String() == to.String() {
				return nil
			}
		}
	})
	if err != nil {
		return fmt.Errorf("netns %s: echo %s: %w", ns, dst, err)
	}
	return nil
}

// Ping sends echo requests from ns to dst, one at a time (each waits a
// second at most for its reply), until one is answered or timeout has
// passed; it returns the last failure.
func (ns *NS) Ping(dst string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ns.Echo("", dst, min(time.Second, max(time.Until(deadline), time.Millisecond)))
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}
