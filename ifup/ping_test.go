package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/diktyo/diktyo/pkg/nettest"
)

// icmpEcho sends one echo request from src ("" for any) to dst inside ns
// and waits up to timeout for the reply (no ping binary needed).
func icmpEcho(ns *nettest.NS, src, dst string, timeout time.Duration) error {
	to := netip.MustParseAddr(dst)
	return ns.Do(func() error {
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
		msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: 1, Data: []byte("diktyo")}}
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
			c.SetReadDeadline(deadline)
			n, peer, err := c.ReadFrom(buf)
			if err != nil {
				return fmt.Errorf("no echo reply from %s: %w", dst, err)
			}
			m, err := icmp.ParseMessage(proto, buf[:n])
			if err != nil || m.Type != reply {
				continue
			}
			if e, ok := m.Body.(*icmp.Echo); ok && string(e.Data) == "diktyo" && peer.String() == to.String() {
				return nil
			}
		}
	})
}
