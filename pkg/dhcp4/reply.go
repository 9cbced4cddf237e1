package dhcp4

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"

	"github.com/diktyo/diktyo/pkg/binding"
)

// Request is one queued packet as the daemon received it.
type Request struct {
	// Packet is the IPv4 packet from its header on (NFQA_PAYLOAD).
	Packet []byte
	// SrcMAC is the source MAC of the frame (NFQA_HWADDR).
	SrcMAC net.HardwareAddr
	// ServerMAC, when set, is the reply's Ethernet source (e.g. the tap's
	// MAC) instead of Config.ServerMAC.
	ServerMAC net.HardwareAddr
}

// Frame offsets of a reply.
const (
	offIP    = ethHdrLen
	offUDP   = offIP + ipv4HdrLen
	offBOOTP = offUDP + udpHdrLen
	offOpts  = offBOOTP + optionsOff
)

// Handle answers one request for the VM bound by b. It appends the reply
// Ethernet frame to dst and returns the extended slice, like append; it
// returns dst unchanged when there is nothing to send (see Result.Kind).
// With MaxFrameLen bytes of spare capacity in dst it allocates nothing.
func (r *Responder) Handle(dst []byte, req Request, b *binding.Binding) ([]byte, Result) {
	msg, reason := ParseRequest(req.Packet)
	res := Result{Msg: msg}
	if reason != ReasonNone {
		res.Reason = reason
		return dst, res
	}
	if msg.GIAddr.As4() != [4]byte{} {
		res.Reason = ReasonRelay
		return dst, res
	}
	if !bytes.Equal(msg.CHAddr[:], req.SrcMAC) {
		res.Reason = ReasonChaddrMismatch
		return dst, res
	}
	if b == nil {
		res.Reason = ReasonNoBinding
		return dst, res
	}
	if !b.MACSpoof && !bytes.Equal(msg.CHAddr[:], b.MAC) {
		res.Reason = ReasonMACMismatch
		return dst, res
	}
	var kind Kind
	switch msg.Type {
	case TypeDiscover:
		kind = KindOffer
	case TypeRequest:
		kind = KindAck
	case TypeInform:
		kind = KindInformAck
	case TypeRelease:
		res.Kind = KindRelease
		return dst, res
	case TypeDecline:
		res.Kind = KindDecline
		return dst, res
	default:
		res.Reason = ReasonUnexpectedType
		return dst, res
	}
	if !b.IP.IsValid() {
		res.Reason = ReasonNoAddress
		return dst, res
	}
	ip := b.IP.Unmap()
	if !ip.Is4() {
		res.Reason = ReasonNotIPv4
		return dst, res
	}
	gw, hasGW := unicast4(b.Gateway)
	server, hasServer := r.serverIP, r.hasServerIP
	if !hasServer && hasGW {
		server, hasServer = gw.As4(), true
	}
	smac, hasMAC := r.serverMAC, r.hasMAC
	if len(req.ServerMAC) == 6 {
		smac, hasMAC = [6]byte(req.ServerMAC), true
	}
	if !hasServer || !hasMAC {
		res.Reason = ReasonServerConfig
		return dst, res
	}
	if kind == KindAck {
		if msg.ServerID.IsValid() && msg.ServerID.As4() != server {
			res.Reason = ReasonNotOurServer
			return dst, res
		}
		want := msg.RequestedIP
		if !want.IsValid() {
			want = msg.CIAddr
		}
		if want != ip {
			kind, res.Reason = KindNak, ReasonWrongAddress
		}
	}
	res.Kind = kind
	rp := replyParams{
		kind: kind, msg: &msg, b: b,
		ip: ip.As4(), server: server, smac: smac, gw: gw.As4(), hasGW: hasGW,
	}
	return r.build(dst, &rp), res
}

// unicast4 returns a as a usable IPv4 unicast address.
func unicast4(a netip.Addr) (netip.Addr, bool) {
	a = a.Unmap()
	return a, a.Is4() && !a.IsUnspecified()
}

type replyParams struct {
	kind   Kind
	msg    *Message
	b      *binding.Binding
	ip     [4]byte
	server [4]byte
	smac   [6]byte
	gw     [4]byte
	hasGW  bool
}

// build appends the reply frame for p to dst.
func (r *Responder) build(dst []byte, p *replyParams) []byte {
	start := len(dst)
	dst = slices.Grow(dst, r.maxFrame)
	f := dst[start : start+r.maxFrame]
	msg := p.msg

	// BOOTP fixed part.
	bp := f[offBOOTP:offOpts]
	clear(bp)
	bp[0], bp[1], bp[2] = 2, 1, 6 // BOOTREPLY, Ethernet, hlen
	binary.BigEndian.PutUint32(bp[4:8], msg.XID)
	binary.BigEndian.PutUint16(bp[10:12], msg.Flags)
	var yiaddr [4]byte
	switch p.kind {
	case KindOffer:
		yiaddr = p.ip
	case KindAck:
		yiaddr = p.ip
		ci := msg.CIAddr.As4()
		copy(bp[12:16], ci[:])
	case KindInformAck:
		ci := msg.CIAddr.As4()
		copy(bp[12:16], ci[:])
	}
	copy(bp[16:20], yiaddr[:])
	copy(bp[28:34], msg.CHAddr[:])
	binary.BigEndian.PutUint32(bp[bootpHdrLen:optionsOff], magicCookie)

	// Options. lim leaves room for the End option.
	maxIP := max(int(msg.MaxSize), MinMaxMessageSize)
	lim := offIP + maxIP - 1
	o := offOpts
	mt := TypeAck
	switch p.kind {
	case KindOffer:
		mt = TypeOffer
	case KindNak:
		mt = TypeNak
	}
	f[o], f[o+1], f[o+2] = optMessageType, 1, byte(mt)
	f[o+3], f[o+4] = optServerID, 4
	copy(f[o+5:o+9], p.server[:])
	o += 9
	if p.kind != KindNak {
		o = r.options(f, o, lim, p)
	}
	f[o] = optEnd
	o++
	if o < offBOOTP+minBOOTPLen {
		clear(f[o : offBOOTP+minBOOTPLen])
		o = offBOOTP + minBOOTPLen
	}
	f = f[:o]

	// Ethernet.
	copy(f[0:6], msg.CHAddr[:])
	copy(f[6:12], p.smac[:])
	f[12], f[13] = 0x08, 0x00

	// IPv4.
	var ipDst [4]byte
	switch {
	case p.kind == KindNak:
		ipDst = [4]byte{255, 255, 255, 255}
	case msg.CIAddr.As4() != [4]byte{}:
		ipDst = msg.CIAddr.As4()
	case msg.Broadcast() || yiaddr == [4]byte{}:
		ipDst = [4]byte{255, 255, 255, 255}
	default:
		ipDst = yiaddr
	}
	putIPv4UDP(f, 0x40, p.server, ipDst, serverPort, clientPort) // DF
	return dst[:start+o]
}

// options writes the options after 53 and 54 of an OFFER or ACK into f from
// offset o, skipping those that would pass lim; it returns the new offset.
func (r *Responder) options(f []byte, o, lim int, p *replyParams) int {
	msg, b := p.msg, p.b
	want := requestedSet(msg.ParamRequest)
	put := func(opt []byte) {
		if len(opt) > 0 && o+len(opt) <= lim {
			o += copy(f[o:], opt)
		}
	}
	if p.kind != KindInformAck {
		put(r.lease)
	}
	bits := 32
	if b.Subnet.IsValid() && b.Subnet.Addr().Is4() {
		bits = b.Subnet.Bits()
	}
	mask := ^uint32(0) << (32 - bits)
	ipU := binary.BigEndian.Uint32(p.ip[:])
	bcast := ipU | ^mask
	var tmp [18]byte
	put(u32Option(&tmp, optSubnetMask, mask))

	router := p.hasGW && !b.Private && p.gw != p.ip
	var routes []byte
	if router {
		put(addrOption(&tmp, optRouter, p.gw))
		gwU := binary.BigEndian.Uint32(p.gw[:])
		onLink := bits < 31 && gwU&mask == ipU&mask && gwU != bcast && gwU != ipU&mask
		if !onLink || want.has(optClasslessRt) {
			routes = classlessRoutes(&tmp, p.gw, onLink)
		}
	}
	put(r.dns)
	if routes != nil {
		routes[0] = optClasslessRt
		put(routes)
		if msg.ParamRequest != nil && want.has(optMSClasslessRt) {
			routes[0] = optMSClasslessRt
			put(routes)
		}
	}
	if b.MTU >= 68 && b.MTU <= 0xffff && want.has(optMTU) {
		var m [4]byte
		m[0], m[1] = optMTU, 2
		binary.BigEndian.PutUint16(m[2:], uint16(b.MTU))
		put(m[:])
	}
	if h := b.Hostname; h != "" && len(h) <= 255 && want.has(optHostname) && o+2+len(h) <= lim {
		f[o], f[o+1] = optHostname, byte(len(h))
		o += 2 + copy(f[o+2:], h)
	}
	if want.has(optDomainName) {
		if r.domain != nil {
			put(r.domain)
		} else if _, d, ok := cutDot(b.Hostname); ok && d != "" && len(d) <= 255 && o+2+len(d) <= lim {
			f[o], f[o+1] = optDomainName, byte(len(d))
			o += 2 + copy(f[o+2:], d)
		}
	}
	if bits <= 30 && want.has(optBroadcast) {
		put(u32Option(&tmp, optBroadcast, bcast))
	}
	if want.has(optDomainSearch) {
		put(r.search)
	}
	return o
}

// codeSet is a set of option codes.
type codeSet [4]uint64

func (s *codeSet) has(c byte) bool { return s[c>>6]&(1<<(c&63)) != 0 }

// requestedSet returns the codes in a parameter request list; all codes
// when the list is absent (nil).
func requestedSet(prl []byte) codeSet {
	if prl == nil {
		return codeSet{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}
	}
	var s codeSet
	for _, c := range prl {
		s[c>>6] |= 1 << (c & 63)
	}
	return s
}

func cutDot(s string) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func u32Option(tmp *[18]byte, code byte, v uint32) []byte {
	tmp[0], tmp[1] = code, 4
	binary.BigEndian.PutUint32(tmp[2:6], v)
	return tmp[:6]
}

func addrOption(tmp *[18]byte, code byte, a [4]byte) []byte {
	tmp[0], tmp[1] = code, 4
	copy(tmp[2:6], a[:])
	return tmp[:6]
}

// classlessRoutes encodes RFC 3442 routes into tmp: a host route to an
// off-link gateway, then the default route via the gateway. The code byte
// is left for the caller to set.
func classlessRoutes(tmp *[18]byte, gw [4]byte, onLink bool) []byte {
	n := 2
	if !onLink {
		tmp[n] = 32
		copy(tmp[n+1:n+5], gw[:])
		n += 5
		tmp[n], tmp[n+1], tmp[n+2], tmp[n+3] = 0, 0, 0, 0 // on-link
		n += 4
	}
	tmp[n] = 0
	copy(tmp[n+1:n+5], gw[:])
	n += 5
	tmp[1] = byte(n - 2)
	return tmp[:n]
}
