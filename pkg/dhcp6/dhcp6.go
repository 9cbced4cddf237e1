// Package dhcp6 owns nfdhcpd's stateless DHCPv6 answers (RFC 8415 as a
// stateless server, RFC 3736 behaviour): an Information-request queued from
// a VM's tap becomes a complete Ethernet frame carrying a Reply with the
// server's DUID, the client's DUID echoed, DNS recursive name servers
// (option 23), the domain search list (option 24) and optionally the
// information refresh time (option 32). Handling is pure and allocation
// free: (queued IPv6 packet, frame source MAC, binding, config) → frame
// appended to a caller's buffer, or a Result saying why nothing is sent.
//
// It must never import sockets, netlink, nftables, nfqueue or the daemon;
// insomniacslk/dhcp is used by its tests only.
//
// Choices:
//   - Like GRNET's nfdhcpd, only Information-request is answered. Solicit
//     is ignored (RFC 8415 lets a stateless-only server stay silent, and
//     the RA's M flag is what steers clients); Request, Renew, Rebind,
//     Release, Decline and Confirm are ignored with their own Result.
//   - The Server Identifier is a DUID passed in the Config (DUIDLL of a
//     configured MAC is stable across replies and restarts by construction;
//     GRNET made a new one per reply).
//   - The Reply goes to the request's source address and UDP port (546 for
//     real clients), from the router's link-local address and port 547.
//   - One hop-by-hop options header is skipped; other extension headers
//     are not chased (DropNotUDP).
//   - Options 23/24/32 are sent whether or not the client's ORO asks for
//     them (RFC 8415 21.7 allows it; GRNET does the same).
package dhcp6

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/eui64"
	"github.com/diktyo/diktyo/pkg/ip6frame"
)

// UDP ports (RFC 8415 7.2).
const (
	ClientPort = 546
	ServerPort = 547
)

// Message types (RFC 8415 7.3).
const (
	MsgSolicit            = 1
	MsgAdvertise          = 2
	MsgRequest            = 3
	MsgConfirm            = 4
	MsgRenew              = 5
	MsgRebind             = 6
	MsgReply              = 7
	MsgRelease            = 8
	MsgDecline            = 9
	MsgReconfigure        = 10
	MsgInformationRequest = 11
	MsgRelayForw          = 12
	MsgRelayRepl          = 13
)

// Option codes used here.
const (
	OptClientID        = 1
	OptServerID        = 2
	OptIANA            = 3
	OptIATA            = 4
	OptORO             = 6
	OptElapsedTime     = 8
	OptDNSServers      = 23
	OptDomainList      = 24
	OptIAPD            = 25
	OptInfoRefreshTime = 32
)

// MinInfoRefreshTime is IRT_MINIMUM (RFC 8415 7.6); shorter configured
// refresh times are raised to it.
const MinInfoRefreshTime = 600 * time.Second

// maxDUIDLen is the longest DUID: 2-byte type + 128 bytes (RFC 8415 11.1).
const maxDUIDLen = 130

var (
	allServers    = netip.AddrFrom16([16]byte{0xff, 0x02, 13: 1, 15: 2}) // ff02::1:2
	allServersMAC = [6]byte{0x33, 0x33, 0, 1, 0, 2}
	duidEpoch     = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// DUIDLL returns the DUID-LL (type 3, hardware type 1) of a MAC.
func DUIDLL(mac net.HardwareAddr) []byte {
	d := []byte{0, 3, 0, 1}
	return append(d, mac...)
}

// DUIDLLT returns the DUID-LLT (type 1, hardware type 1) of a MAC at time
// t. t must be fixed (e.g. saved at first start) for the DUID to be stable.
func DUIDLLT(mac net.HardwareAddr, t time.Time) []byte {
	d := []byte{0, 1, 0, 1}
	d = binary.BigEndian.AppendUint32(d, uint32(int64(t.Sub(duidEpoch)/time.Second)))
	return append(d, mac...)
}

// Result says what Handle did with a packet: Reply, or why not.
type Result uint8

// Results. Ignored* are valid packets not answered by design; Drop* are
// invalid or disallowed packets.
const (
	Reply Result = iota
	IgnoredSolicit
	IgnoredStateful
	IgnoredNoIPv6
	DropNoBinding
	DropRouterMAC
	DropTruncated
	DropNotIPv6
	DropNotUDP
	DropUDPLength
	DropPort
	DropChecksum
	DropSource
	DropDestination
	DropShort
	DropOption
	DropServerMessage
	DropUnknownType
	DropServerID
	DropIA
	DropMACMismatch
	// NumResults is the number of Result values (for counters).
	NumResults
)

var resultNames = [NumResults]string{
	Reply:             "reply",
	IgnoredSolicit:    "ignored: solicit (stateless server)",
	IgnoredStateful:   "ignored: stateful message",
	IgnoredNoIPv6:     "ignored: binding has no SUBNET6",
	DropNoBinding:     "drop: no binding",
	DropRouterMAC:     "drop: no 48-bit router MAC",
	DropTruncated:     "drop: truncated IPv6 packet",
	DropNotIPv6:       "drop: not IPv6",
	DropNotUDP:        "drop: next header not UDP",
	DropUDPLength:     "drop: bad UDP length",
	DropPort:          "drop: wrong UDP port",
	DropChecksum:      "drop: bad UDP checksum",
	DropSource:        "drop: source address not allowed",
	DropDestination:   "drop: destination address not allowed",
	DropShort:         "drop: DHCPv6 message too short",
	DropOption:        "drop: malformed option",
	DropServerMessage: "drop: server or relay message from a client",
	DropUnknownType:   "drop: unknown message type",
	DropServerID:      "drop: server identifier is not ours",
	DropIA:            "drop: information-request with an IA option",
	DropMACMismatch:   "drop: frame source MAC does not match binding",
}

// String describes r for logs.
func (r Result) String() string {
	if r < NumResults {
		return resultNames[r]
	}
	return fmt.Sprintf("Result(%d)", r)
}

// Config is what shapes stateless replies.
type Config struct {
	// ServerDUID identifies the server (DUIDLL or DUIDLLT); required.
	ServerDUID []byte
	// RouterMAC, when set, replaces the MAC of the device a reply leaves
	// from as Ethernet source and link-local source address.
	RouterMAC net.HardwareAddr
	// Nameservers (option 23) and Domains (option 24), omitted when empty.
	Nameservers []netip.Addr
	Domains     []string
	// InfoRefreshTime (option 32) is omitted when 0.
	InfoRefreshTime time.Duration
}

// Responder answers Information-requests for one Config. It is immutable
// and safe for concurrent use.
type Responder struct {
	serverDUID []byte
	routerMAC  net.HardwareAddr
	serverID   []byte // encoded Server Identifier option
	tail       []byte // encoded options 23, 24, 32
}

// ErrConfig reports an unusable Config.
var ErrConfig = errors.New("dhcp6: invalid config")

// NewResponder validates c and pre-encodes the reply's fixed options.
func NewResponder(c Config) (*Responder, error) {
	if len(c.ServerDUID) < 3 || len(c.ServerDUID) > maxDUIDLen {
		return nil, fmt.Errorf("%w: server DUID of %d bytes", ErrConfig, len(c.ServerDUID))
	}
	if c.RouterMAC != nil && len(c.RouterMAC) != 6 {
		return nil, fmt.Errorf("%w: router MAC %v is not 48 bits", ErrConfig, c.RouterMAC)
	}
	r := &Responder{serverDUID: bytes.Clone(c.ServerDUID), routerMAC: bytes.Clone(c.RouterMAC)}
	r.serverID = appendOption(nil, OptServerID, c.ServerDUID)
	if len(c.Nameservers) > 0 {
		var v []byte
		for _, a := range c.Nameservers {
			if !a.Is6() || a.Is4In6() || a.IsMulticast() || a.IsUnspecified() {
				return nil, fmt.Errorf("%w: nameserver %v is not an IPv6 unicast address", ErrConfig, a)
			}
			a16 := a.As16()
			v = append(v, a16[:]...)
		}
		r.tail = appendOption(r.tail, OptDNSServers, v)
	}
	if len(c.Domains) > 0 {
		var v []byte
		for _, d := range c.Domains {
			if _, err := ip6frame.DomainLen(d); err != nil {
				return nil, fmt.Errorf("%w: domain %q: %w", ErrConfig, d, err)
			}
			v = ip6frame.AppendDomain(v, d)
		}
		r.tail = appendOption(r.tail, OptDomainList, v)
	}
	if c.InfoRefreshTime > 0 {
		s := max(c.InfoRefreshTime, MinInfoRefreshTime) / time.Second
		r.tail = appendOption(r.tail, OptInfoRefreshTime, binary.BigEndian.AppendUint32(nil, uint32(min(s, 0xffffffff))))
	}
	// The largest reply (with the longest client ID) must fit IPv6's
	// minimum MTU.
	if n := ip6frame.IPv6HeaderLen + 8 + 4 + len(r.serverID) + 4 + maxDUIDLen + len(r.tail); n > 1280 {
		return nil, fmt.Errorf("%w: reply of %d bytes exceeds 1280 (too many nameservers or domains)", ErrConfig, n)
	}
	return r, nil
}

func appendOption(dst []byte, code uint16, v []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, code)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(v)))
	return append(dst, v...)
}

// Packet is one queued packet and the context needed to answer it.
type Packet struct {
	// IPv6 is the packet as queued: IPv6 header, UDP header, message.
	IPv6 []byte
	// SrcMAC is the source MAC of the frame that carried it.
	SrcMAC net.HardwareAddr
	// DevMAC is the MAC of the device the reply leaves from (the tap);
	// Config.RouterMAC overrides it.
	DevMAC net.HardwareAddr
	// Binding is the VM NIC's binding.
	Binding *binding.Binding
}

// Handle answers an Information-request with a Reply frame appended to
// dst, or returns dst unchanged and the reason for not answering.
func (r *Responder) Handle(dst []byte, p Packet) ([]byte, Result) {
	b := p.Binding
	if b == nil {
		return dst, DropNoBinding
	}
	routerMAC := p.DevMAC
	if r.routerMAC != nil {
		routerMAC = r.routerMAC
	}
	if len(routerMAC) != 6 {
		return dst, DropRouterMAC
	}
	h, err := ip6frame.Parse(p.IPv6)
	switch {
	case errors.Is(err, ip6frame.ErrVersion):
		return dst, DropNotIPv6
	case err != nil:
		return dst, DropTruncated
	}
	next, seg := h.NextHeader, h.Payload
	if next == ip6frame.ProtoHopByHop {
		if len(seg) < 8 || int(seg[1]+1)*8 > len(seg) {
			return dst, DropTruncated
		}
		next, seg = seg[0], seg[int(seg[1]+1)*8:]
	}
	if next != ip6frame.ProtoUDP {
		return dst, DropNotUDP
	}
	if len(seg) < 8 || int(binary.BigEndian.Uint16(seg[4:6])) != len(seg) {
		return dst, DropUDPLength
	}
	sport := binary.BigEndian.Uint16(seg[0:2])
	if binary.BigEndian.Uint16(seg[2:4]) != ServerPort || sport == 0 {
		return dst, DropPort
	}
	if !ip6frame.VerifyChecksum(h.Src, h.Dst, ip6frame.ProtoUDP, seg) {
		return dst, DropChecksum
	}
	if !ip6frame.IsLinkLocal64(h.Src) && !(hasIPv6(b) && b.Subnet6.Contains(h.Src)) {
		return dst, DropSource
	}
	routerLL := eui64.LinkLocal(routerMAC)
	if h.Dst != allServers && h.Dst != routerLL {
		return dst, DropDestination
	}
	msg := seg[8:]
	if len(msg) < 4 {
		return dst, DropShort
	}
	switch msg[0] {
	case MsgInformationRequest:
	case MsgSolicit:
		return dst, IgnoredSolicit
	case MsgRequest, MsgConfirm, MsgRenew, MsgRebind, MsgRelease, MsgDecline:
		return dst, IgnoredStateful
	case MsgAdvertise, MsgReply, MsgReconfigure, MsgRelayForw, MsgRelayRepl:
		return dst, DropServerMessage
	default:
		return dst, DropUnknownType
	}
	clientID, res := r.scanOptions(msg[4:])
	if res != Reply {
		return dst, res
	}
	if len(p.SrcMAC) != 6 || !b.MACSpoof && !bytes.Equal(p.SrcMAC, b.MAC) {
		return dst, DropMACMismatch
	}
	if !hasIPv6(b) {
		return dst, IgnoredNoIPv6
	}

	start := len(dst)
	dst = ip6frame.AppendHeaders(dst, p.SrcMAC, routerMAC, routerLL, h.Src, ip6frame.ProtoUDP, 64)
	dst, u := ip6frame.Grow(dst, 12)
	binary.BigEndian.PutUint16(u[0:], ServerPort)
	binary.BigEndian.PutUint16(u[2:], sport)
	u[4], u[5], u[6], u[7] = 0, 0, 0, 0 // length and checksum: Finish
	u[8], u[9], u[10], u[11] = MsgReply, msg[1], msg[2], msg[3]
	dst = append(dst, r.serverID...)
	dst = append(dst, clientID...)
	dst = append(dst, r.tail...)
	ip6frame.Finish(dst[start:])
	return dst, Reply
}

// scanOptions checks the option list of an Information-request and returns
// the raw Client Identifier option (header included), if any.
func (r *Responder) scanOptions(opts []byte) (clientID []byte, res Result) {
	for len(opts) > 0 {
		if len(opts) < 4 {
			return nil, DropOption
		}
		code := binary.BigEndian.Uint16(opts[0:2])
		n := int(binary.BigEndian.Uint16(opts[2:4]))
		if n > len(opts)-4 {
			return nil, DropOption
		}
		v := opts[4 : 4+n]
		switch code {
		case OptClientID:
			if clientID != nil || n < 3 || n > maxDUIDLen {
				return nil, DropOption
			}
			clientID = opts[:4+n]
		case OptServerID:
			if !bytes.Equal(v, r.serverDUID) {
				return nil, DropServerID
			}
		case OptIANA, OptIATA, OptIAPD:
			return nil, DropIA
		}
		opts = opts[4+n:]
	}
	return clientID, Reply
}

func hasIPv6(b *binding.Binding) bool {
	p := b.Subnet6
	return p.IsValid() && p.Addr().Is6() && !p.Addr().Is4In6()
}

// BuildInformationRequest appends an Information-request frame from
// srcMAC/src port 546 to ff02::1:2 with transaction id xid (low 24 bits),
// the client's DUID (omitted when empty), an ORO asking for options 23, 24
// and 32, and an elapsed time of 0. For tests and load generation; the IPv6
// packet starts at ip6frame.EthernetHeaderLen.
func BuildInformationRequest(dst []byte, srcMAC net.HardwareAddr, src netip.Addr, xid uint32, clientDUID []byte) []byte {
	start := len(dst)
	dst = ip6frame.AppendHeaders(dst, allServersMAC[:], srcMAC, src, allServers, ip6frame.ProtoUDP, 1)
	dst, u := ip6frame.Grow(dst, 12)
	binary.BigEndian.PutUint16(u[0:], ClientPort)
	binary.BigEndian.PutUint16(u[2:], ServerPort)
	u[4], u[5], u[6], u[7] = 0, 0, 0, 0
	binary.BigEndian.PutUint32(u[8:], xid&0xffffff|MsgInformationRequest<<24)
	if len(clientDUID) > 0 {
		dst = binary.BigEndian.AppendUint16(dst, OptClientID)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(clientDUID)))
		dst = append(dst, clientDUID...)
	}
	dst = append(dst, 0, OptORO, 0, 6, 0, OptDNSServers, 0, OptDomainList, 0, OptInfoRefreshTime)
	dst = append(dst, 0, OptElapsedTime, 0, 2, 0, 0)
	ip6frame.Finish(dst[start:])
	return dst
}
