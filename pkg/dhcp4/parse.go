package dhcp4

import (
	"encoding/binary"
	"net/netip"
)

// Wire sizes and constants.
const (
	ethHdrLen   = 14
	ipv4HdrLen  = 20
	udpHdrLen   = 8
	bootpHdrLen = 236 // fixed BOOTP fields, up to and including file
	optionsOff  = 240 // after the magic cookie
	// MinMaxMessageSize is the smallest IP datagram a DHCP client must
	// accept (RFC 2131 2); option 57 values below it are ignored.
	MinMaxMessageSize = 576
	minBOOTPLen       = 300 // legacy BOOTP size replies are padded to

	serverPort = 67
	clientPort = 68

	// FlagBroadcast is the BOOTP broadcast flag (RFC 2131 2).
	FlagBroadcast uint16 = 0x8000
)

// magicCookie starts the options field (RFC 2131 3).
const magicCookie uint32 = 0x63825363

// DHCP option codes used here (RFC 2132, 3397, 3442).
const (
	optPad           = 0
	optSubnetMask    = 1
	optRouter        = 3
	optDNS           = 6
	optHostname      = 12
	optDomainName    = 15
	optMTU           = 26
	optBroadcast     = 28
	optRequestedIP   = 50
	optLeaseTime     = 51
	optOverload      = 52
	optMessageType   = 53
	optServerID      = 54
	optParamRequest  = 55
	optMaxMsgSize    = 57
	optRenewalTime   = 58
	optRebindingTime = 59
	optDomainSearch  = 119
	optClasslessRt   = 121
	optMSClasslessRt = 249
	optEnd           = 255
)

// Message is a parsed DHCPv4 request. ParamRequest aliases the packet it
// was parsed from. Addresses are the zero netip.Addr when absent (options)
// and 0.0.0.0 when zero in the header (CIAddr, GIAddr).
type Message struct {
	Type   MessageType
	XID    uint32
	Secs   uint16
	Flags  uint16
	CIAddr netip.Addr
	GIAddr netip.Addr
	CHAddr [6]byte
	// RequestedIP is option 50.
	RequestedIP netip.Addr
	// ServerID is option 54.
	ServerID netip.Addr
	// MaxSize is option 57, 0 when absent.
	MaxSize uint16
	// ParamRequest is the first option 55; nil when absent.
	ParamRequest []byte
}

// Broadcast reports whether the client set the broadcast flag.
func (m *Message) Broadcast() bool { return m.Flags&FlagBroadcast != 0 }

// Requested reports whether the client asks for option code: true when it
// is in the parameter request list or when the client sent no list.
func (m *Message) Requested(code byte) bool {
	if m.ParamRequest == nil {
		return true
	}
	for _, c := range m.ParamRequest {
		if c == code {
			return true
		}
	}
	return false
}

// ParseRequest parses and validates an IPv4 packet (from the IP header on,
// as NFQUEUE delivers it) carrying a DHCP request to UDP port 67. It walks
// the options in place and allocates nothing. On failure it returns the
// reason and the fields parsed so far.
func ParseRequest(pkt []byte) (Message, Reason) {
	var m Message
	if len(pkt) < ipv4HdrLen || pkt[0]>>4 != 4 {
		return m, ReasonMalformedIP
	}
	ihl := int(pkt[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:4]))
	if ihl < ipv4HdrLen || total < ihl || total > len(pkt) {
		return m, ReasonMalformedIP
	}
	if binary.BigEndian.Uint16(pkt[6:8])&0x3fff != 0 { // MF or offset
		return m, ReasonFragment
	}
	if pkt[9] != 17 {
		return m, ReasonNotUDP
	}
	udp := pkt[ihl:total]
	if len(udp) < udpHdrLen {
		return m, ReasonMalformedUDP
	}
	ulen := int(binary.BigEndian.Uint16(udp[4:6]))
	if ulen < udpHdrLen || ulen > len(udp) {
		return m, ReasonMalformedUDP
	}
	if binary.BigEndian.Uint16(udp[2:4]) != serverPort {
		return m, ReasonNotServerPort
	}
	return parseBOOTP(udp[udpHdrLen:ulen])
}

// parseBOOTP parses a BOOTP message carrying DHCP options.
func parseBOOTP(p []byte) (Message, Reason) {
	var m Message
	if len(p) < optionsOff {
		return m, ReasonMalformed
	}
	m.XID = binary.BigEndian.Uint32(p[4:8])
	m.Secs = binary.BigEndian.Uint16(p[8:10])
	m.Flags = binary.BigEndian.Uint16(p[10:12])
	m.CIAddr = netip.AddrFrom4([4]byte(p[12:16]))
	m.GIAddr = netip.AddrFrom4([4]byte(p[24:28]))
	copy(m.CHAddr[:], p[28:34])
	if p[0] != 1 {
		return m, ReasonNotRequest
	}
	if p[1] != 1 || p[2] != 6 {
		return m, ReasonBadHType
	}
	if binary.BigEndian.Uint32(p[bootpHdrLen:optionsOff]) != magicCookie {
		return m, ReasonBadCookie
	}
	var seen50, seen54, seen57 bool
	opts := p[optionsOff:]
	for i := 0; i < len(opts); {
		code := opts[i]
		if code == optPad {
			i++
			continue
		}
		if code == optEnd {
			break
		}
		if i+1 >= len(opts) {
			return m, ReasonMalformed
		}
		n := int(opts[i+1])
		start := i + 2
		if start+n > len(opts) {
			return m, ReasonMalformed
		}
		v := opts[start : start+n]
		i = start + n
		switch code {
		case optMessageType:
			if m.Type != 0 || n != 1 || v[0] == 0 {
				return m, ReasonMalformed
			}
			m.Type = MessageType(v[0])
		case optRequestedIP:
			if seen50 || n != 4 {
				return m, ReasonMalformed
			}
			seen50 = true
			m.RequestedIP = netip.AddrFrom4([4]byte(v))
		case optServerID:
			if seen54 || n != 4 {
				return m, ReasonMalformed
			}
			seen54 = true
			m.ServerID = netip.AddrFrom4([4]byte(v))
		case optMaxMsgSize:
			if seen57 || n != 2 {
				return m, ReasonMalformed
			}
			seen57 = true
			m.MaxSize = binary.BigEndian.Uint16(v)
		case optParamRequest:
			if m.ParamRequest == nil {
				m.ParamRequest = v[:n:n]
			}
		}
	}
	if m.Type == 0 {
		return m, ReasonNoMessageType
	}
	return m, ReasonNone
}
