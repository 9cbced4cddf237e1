package dhcpload

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/diktyo/diktyo/pkg/dhcp4"
	"github.com/diktyo/diktyo/pkg/dhcp6"
	"github.com/diktyo/diktyo/pkg/ndp"
)

// Wire constants the reply parsers need.
const (
	ethLen       = 14
	etherIPv4    = 0x0800
	etherIPv6    = 0x86dd
	ip6Len       = 40
	udpLen       = 8
	bootpFixed   = 236
	dhcpCookie   = 0x63825363
	dhcp4Client  = 68
	dhcp6Client  = dhcp6.ClientPort
	icmp6Proto   = 58
	udpProto     = 17
	typeRA       = 134
	typeNA       = 136
	optDHCPType  = 53
	optServerID  = 54
	optEnd       = 255
	optPad       = 0
	maxFrameSize = 2048
)

// DHCPClientPRL is the parameter request list the generated DISCOVERs and
// REQUESTs carry: Debian dhclient's default (subnet mask, broadcast, time
// offset, routers, domain name, DNS, domain search, host name, MTU,
// classless routes, NTP), so every server answers what a real VM asks.
var dhclientPRL = [...]byte{1, 28, 2, 3, 15, 6, 119, 12, 26, 121, 42}

// buildDHCP4 appends the DISCOVER (yiaddr and sid invalid) or REQUEST
// (selecting state: option 50 yiaddr, option 54 sid) a VM sends.
func buildDHCP4(dst []byte, typ dhcp4.MessageType, mac [6]byte, xid uint32, flags uint16, prl []byte, yiaddr, sid netip.Addr) []byte {
	m := dhcp4.Message{
		Type:         typ,
		XID:          xid,
		Flags:        flags,
		CHAddr:       mac,
		RequestedIP:  yiaddr,
		ServerID:     sid,
		ParamRequest: prl,
	}
	return dhcp4.BuildRequest(dst, &m)
}

// reply4 is what the generator reads from a DHCPv4 reply frame.
type reply4 struct {
	XID      uint32
	Type     dhcp4.MessageType
	CHAddr   [6]byte
	YIAddr   [4]byte
	ServerID [4]byte
	HasSID   bool
}

// parseReply4 reads a BOOTREPLY to UDP port 68 from an Ethernet frame. It
// checks structure only: checksums are not verified because a reply from
// a UDP socket on a veth may still carry a partial checksum.
func parseReply4(f []byte) (reply4, bool) {
	var r reply4
	if len(f) < ethLen+20 || binary.BigEndian.Uint16(f[12:14]) != etherIPv4 {
		return r, false
	}
	ip := f[ethLen:]
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if ip[0]>>4 != 4 || ihl < 20 || total < ihl+udpLen || total > len(ip) || ip[9] != udpProto ||
		binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 {
		return r, false
	}
	udp := ip[ihl:total]
	if binary.BigEndian.Uint16(udp[2:4]) != dhcp4Client {
		return r, false
	}
	p := udp[udpLen:]
	if len(p) < bootpFixed+4 || p[0] != 2 || binary.BigEndian.Uint32(p[bootpFixed:]) != dhcpCookie {
		return r, false
	}
	r.XID = binary.BigEndian.Uint32(p[4:8])
	copy(r.YIAddr[:], p[16:20])
	copy(r.CHAddr[:], p[28:34])
	opts := p[bootpFixed+4:]
	for i := 0; i < len(opts); {
		code := opts[i]
		if code == optPad {
			i++
			continue
		}
		if code == optEnd || i+1 >= len(opts) {
			break
		}
		n := int(opts[i+1])
		v := opts[i+2:]
		if len(v) < n {
			return r, false
		}
		switch {
		case code == optDHCPType && n == 1:
			r.Type = dhcp4.MessageType(v[0])
		case code == optServerID && n == 4:
			copy(r.ServerID[:], v[:4])
			r.HasSID = true
		}
		i += 2 + n
	}
	return r, r.Type != 0
}

// ndpSource returns the link-local address a solicitation of slot with
// sequence number seq comes from: fe80::200:SSSS:SSSS:LLLL (seq, slot).
// nfdhcpd accepts RS and NS from any fe80::/64 address and answers to the
// source, so the reply's destination identifies the exchange.
func ndpSource(slot uint16, seq uint32) netip.Addr {
	var a [16]byte
	a[0], a[1] = 0xfe, 0x80
	a[8] = 0x02
	binary.BigEndian.PutUint32(a[10:14], seq)
	binary.BigEndian.PutUint16(a[14:16], slot)
	return netip.AddrFrom16(a)
}

// ndpSlot inverts ndpSource; ok is false for addresses it did not make.
func ndpSlot(a [16]byte) (slot uint16, seq uint32, ok bool) {
	if a[0] != 0xfe || a[1] != 0x80 || a[8] != 0x02 || a[9] != 0 ||
		binary.BigEndian.Uint64(a[0:8]) != 0xfe80<<48 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint16(a[14:16]), binary.BigEndian.Uint32(a[10:14]), true
}

// buildRS appends a router solicitation from mac/src.
func buildRS(dst []byte, mac net.HardwareAddr, src netip.Addr) []byte {
	return ndp.BuildRS(dst, mac, src)
}

// buildNS appends a neighbour solicitation for target from mac/src.
func buildNS(dst []byte, mac net.HardwareAddr, src, target netip.Addr) []byte {
	return ndp.BuildNS(dst, mac, src, target)
}

// buildIR appends a DHCPv6 Information-request from mac/src.
func buildIR(dst []byte, mac net.HardwareAddr, src netip.Addr, xid uint32, duid []byte) []byte {
	return dhcp6.BuildInformationRequest(dst, mac, src, xid, duid)
}

// replyNDP is what the generator reads from an RA or NA frame.
type replyNDP struct {
	Type   uint8
	Dst    [16]byte
	Target [16]byte // NA only
}

// parseNDP reads an RA or NA (no extension headers) from an Ethernet frame.
func parseNDP(f []byte) (replyNDP, bool) {
	var r replyNDP
	if len(f) < ethLen+ip6Len+16 || binary.BigEndian.Uint16(f[12:14]) != etherIPv6 {
		return r, false
	}
	ip := f[ethLen:]
	if ip[0]>>4 != 6 || ip[6] != icmp6Proto {
		return r, false
	}
	plen := int(binary.BigEndian.Uint16(ip[4:6]))
	m := ip[ip6Len:]
	if plen > len(m) {
		return r, false
	}
	m = m[:plen]
	r.Type = m[0]
	copy(r.Dst[:], ip[24:40])
	switch r.Type {
	case typeRA:
		return r, len(m) >= 16
	case typeNA:
		if len(m) < 24 {
			return r, false
		}
		copy(r.Target[:], m[8:24])
		return r, true
	}
	return r, false
}

// reply6 is what the generator reads from a DHCPv6 reply frame.
type reply6 struct {
	Type uint8
	XID  uint32
	Dst  [16]byte
}

// parseReply6 reads a DHCPv6 message to UDP port 546 (no extension
// headers) from an Ethernet frame.
func parseReply6(f []byte) (reply6, bool) {
	var r reply6
	if len(f) < ethLen+ip6Len+udpLen+4 || binary.BigEndian.Uint16(f[12:14]) != etherIPv6 {
		return r, false
	}
	ip := f[ethLen:]
	if ip[0]>>4 != 6 || ip[6] != udpProto {
		return r, false
	}
	plen := int(binary.BigEndian.Uint16(ip[4:6]))
	u := ip[ip6Len:]
	if plen > len(u) || plen < udpLen+4 || binary.BigEndian.Uint16(u[2:4]) != dhcp6Client {
		return r, false
	}
	copy(r.Dst[:], ip[24:40])
	w := binary.BigEndian.Uint32(u[udpLen:])
	r.Type, r.XID = uint8(w>>24), w&0xffffff
	return r, true
}
