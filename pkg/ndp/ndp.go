// Package ndp owns nfdhcpd's IPv6 neighbour discovery answers (RFC 4861):
// router advertisements, periodic or in answer to a VM's router
// solicitation, and neighbour advertisements in answer to its neighbour
// solicitations, plus the unsolicited NA diktyo-ifup sends on the uplink.
// Every function is pure: (queued IPv6 packet, frame source MAC, binding,
// config) → a complete Ethernet reply frame appended to a caller's buffer,
// or a Result saying why nothing is sent. There are no sockets, clocks or
// package-level mutable state, and the answer path allocates nothing.
//
// It must never import sockets, netlink, nftables, nfqueue or the daemon;
// github.com/mdlayher/ndp is used by its tests only.
//
// Choices (RFC latitude, documented once here):
//   - An RA answering an RS is unicast (Ethernet and IPv6) to the soliciting
//     address when it is not ::, else sent to ff02::1 / 33:33:00:00:00:01
//     (RFC 4861 6.2.6 allows both; the tap only reaches one VM anyway).
//   - RS and NS are accepted from ::, from any fe80::/64 address (EUI-64,
//     stable-privacy or temporary link-locals, which GRNET wrongly dropped
//     as spoofed) and from any address in the binding's SUBNET6.
//   - Duplicate address detection (NS from ::) is never answered: answering
//     would make the VM's DAD fail for an address it may rightly want.
//   - NS targets answered: the router's link-local (O=1) and, on routed
//     NICs only (INDEV is the tap), GATEWAY6 (O=1) and the other addresses
//     of SUBNET6 (proxy, O=0, RFC 4861 7.2.8) so VM-to-VM traffic goes
//     through the host as with GRNET. On bridged NICs the gateway and the
//     other VMs answer for themselves. The VM's own addresses (EUI64, its MAC's link-local) are never
//     answered. All NAs have R=1 and S=1 and come from the router's
//     link-local address.
package ndp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"time"

	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/eui64"
	"github.com/diktyo/diktyo/pkg/ip6frame"
)

// ICMPv6 message types handled here.
const (
	TypeRouterSolicitation    = 133
	TypeRouterAdvertisement   = 134
	TypeNeighborSolicitation  = 135
	TypeNeighborAdvertisement = 136
)

// NDP option types (RFC 4861 4.6, RFC 8106).
const (
	OptSourceLinkLayer = 1
	OptTargetLinkLayer = 2
	OptPrefixInfo      = 3
	OptMTU             = 5
	OptRDNSS           = 25
	OptDNSSL           = 31
)

// Defaults and limits of the RA lifetimes.
const (
	DefaultRouterLifetime    = 1800 * time.Second
	MaxRouterLifetime        = 9000 * time.Second // RFC 4861 6.2.1 MaxRouterLifetime bound
	DefaultValidLifetime     = 86400 * time.Second
	DefaultPreferredLifetime = 14400 * time.Second
	DefaultDNSLifetime       = 1800 * time.Second
	// CurHopLimit is the hop limit advertised to VMs.
	CurHopLimit = 64
	// MinMTU is the smallest link MTU IPv6 allows; smaller binding MTUs
	// are not advertised.
	MinMTU = 1280
)

var (
	allNodes      = netip.AddrFrom16([16]byte{0xff, 0x02, 15: 1})
	allRouters    = netip.AddrFrom16([16]byte{0xff, 0x02, 15: 2})
	allNodesMAC   = [6]byte{0x33, 0x33, 0, 0, 0, 1}
	allRoutersMAC = [6]byte{0x33, 0x33, 0, 0, 0, 2}
)

// Mode is nfdhcpd's [ipv6] mode: how VMs get addresses and other
// configuration, carried by the RA's M and O flags.
type Mode uint8

// Modes, as spelled in nfdhcpd.conf. Prefixes are always advertised with
// the A flag, since diktyo only answers stateless DHCPv6.
const (
	// ModeAuto is ModeSLAACDHCPv6 (GRNET's default behaviour).
	ModeAuto Mode = iota
	// ModeSLAAC: M=0, O=0; DNS comes only in RDNSS/DNSSL.
	ModeSLAAC
	// ModeSLAACDHCPv6: M=0, O=1 (stateless DHCPv6 for other configuration).
	ModeSLAACDHCPv6
	// ModeDHCPv6: M=1, O=1.
	ModeDHCPv6
)

var modeNames = [...]string{"auto", "slaac", "slaac+dhcpv6", "dhcpv6"}

// ErrMode is returned by ParseMode for an unknown mode.
var ErrMode = errors.New("ndp: unknown ipv6 mode")

// ParseMode parses a mode as written in nfdhcpd.conf.
func ParseMode(s string) (Mode, error) {
	for i, n := range modeNames {
		if s == n {
			return Mode(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q", ErrMode, s)
}

// String returns the nfdhcpd.conf spelling of m.
func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", m)
}

// Flags returns the RA managed (M) and other-configuration (O) flags of m.
func (m Mode) Flags() (managed, other bool) {
	switch m {
	case ModeSLAAC:
		return false, false
	case ModeDHCPv6:
		return true, true
	default:
		return false, true
	}
}

// Result says what a handler did with a packet: Reply, or why not.
type Result uint8

// Results. Ignored* are valid packets that get no answer by design;
// Drop* are packets that are invalid or not allowed.
const (
	Reply Result = iota
	IgnoredDAD
	IgnoredTarget
	IgnoredNoIPv6
	DropNoBinding
	DropRouterMAC
	DropTruncated
	DropNotIPv6
	DropNotICMPv6
	DropType
	DropCode
	DropHopLimit
	DropShort
	DropChecksum
	DropSource
	DropDestination
	DropTarget
	DropOption
	DropUnspecifiedSLLAO
	DropSLLAOMismatch
	DropMACMismatch
	// NumResults is the number of Result values (for counters).
	NumResults
)

var resultNames = [NumResults]string{
	Reply:                "reply",
	IgnoredDAD:           "ignored: duplicate address detection",
	IgnoredTarget:        "ignored: target not answered for",
	IgnoredNoIPv6:        "ignored: binding has no SUBNET6",
	DropNoBinding:        "drop: no binding",
	DropRouterMAC:        "drop: no 48-bit router MAC",
	DropTruncated:        "drop: truncated IPv6 packet",
	DropNotIPv6:          "drop: not IPv6",
	DropNotICMPv6:        "drop: next header not ICMPv6",
	DropType:             "drop: unexpected ICMPv6 type",
	DropCode:             "drop: ICMPv6 code not 0",
	DropHopLimit:         "drop: hop limit not 255",
	DropShort:            "drop: ICMPv6 message too short",
	DropChecksum:         "drop: bad ICMPv6 checksum",
	DropSource:           "drop: source address not allowed",
	DropDestination:      "drop: destination address not allowed",
	DropTarget:           "drop: multicast target",
	DropOption:           "drop: malformed option",
	DropUnspecifiedSLLAO: "drop: source link-layer option from ::",
	DropSLLAOMismatch:    "drop: source link-layer option does not match MAC",
	DropMACMismatch:      "drop: frame source MAC does not match binding",
}

// String describes r for logs.
func (r Result) String() string {
	if r < NumResults {
		return resultNames[r]
	}
	return fmt.Sprintf("Result(%d)", r)
}

// Config is the [ipv6] part of nfdhcpd's configuration that shapes answers.
// Zero durations take the defaults above.
type Config struct {
	Mode Mode
	// RouterMAC, when set, replaces the MAC of the device a reply leaves
	// from as the router's identity: Ethernet source, link-layer address
	// options and the link-local source address.
	RouterMAC net.HardwareAddr
	// RouterLifetime is clamped to MaxRouterLifetime.
	RouterLifetime time.Duration
	// ValidLifetime and PreferredLifetime are those of the SUBNET6 prefix
	// information; PreferredLifetime is clamped to ValidLifetime.
	ValidLifetime, PreferredLifetime time.Duration
	// Nameservers (RDNSS) and Domains (DNSSL), both omitted when empty.
	Nameservers []netip.Addr
	Domains     []string
	// DNSLifetime is the RDNSS/DNSSL lifetime (GRNET: 3 × ra_period).
	DNSLifetime time.Duration
}

// Responder answers RS and NS for one Config. It is immutable and safe for
// concurrent use.
type Responder struct {
	mode                          Mode
	routerMAC                     net.HardwareAddr
	routerLifetime                uint16
	valid, preferred, dnsLifetime uint32
	nameservers                   []netip.Addr
	domains                       []string
}

// ErrConfig reports an unusable Config.
var ErrConfig = errors.New("ndp: invalid config")

func seconds(d, def time.Duration) uint32 {
	if d <= 0 {
		d = def
	}
	s := d / time.Second
	if s > 0xffffffff {
		s = 0xffffffff
	}
	return uint32(s)
}

// NewResponder validates c and prepares a Responder.
func NewResponder(c Config) (*Responder, error) {
	if c.Mode > ModeDHCPv6 {
		return nil, fmt.Errorf("%w: mode %d", ErrConfig, c.Mode)
	}
	if c.RouterMAC != nil && len(c.RouterMAC) != 6 {
		return nil, fmt.Errorf("%w: router MAC %v is not 48 bits", ErrConfig, c.RouterMAC)
	}
	r := &Responder{
		mode:           c.Mode,
		routerMAC:      bytes.Clone(c.RouterMAC),
		routerLifetime: uint16(min(seconds(c.RouterLifetime, DefaultRouterLifetime), uint32(MaxRouterLifetime/time.Second))),
		valid:          seconds(c.ValidLifetime, DefaultValidLifetime),
		preferred:      seconds(c.PreferredLifetime, DefaultPreferredLifetime),
		dnsLifetime:    seconds(c.DNSLifetime, DefaultDNSLifetime),
	}
	r.preferred = min(r.preferred, r.valid)
	for _, a := range c.Nameservers {
		if !a.Is6() || a.Is4In6() || a.IsMulticast() || a.IsUnspecified() {
			return nil, fmt.Errorf("%w: nameserver %v is not an IPv6 unicast address", ErrConfig, a)
		}
		r.nameservers = append(r.nameservers, a.WithZone(""))
	}
	for _, d := range c.Domains {
		if _, err := ip6frame.DomainLen(d); err != nil {
			return nil, fmt.Errorf("%w: domain %q: %w", ErrConfig, d, err)
		}
		r.domains = append(r.domains, d)
	}
	// The largest RA we can send must fit the minimum IPv6 MTU.
	p := r.params([]byte{0, 0, 0, 0, 0, 0}, &binding.Binding{
		Subnet6: netip.MustParsePrefix("2001:db8::/64"), MTU: 1500,
	})
	if n := len(BuildRA(nil, p)) - ip6frame.EthernetHeaderLen; n > MinMTU {
		return nil, fmt.Errorf("%w: router advertisement of %d bytes exceeds %d (too many nameservers or domains)", ErrConfig, n, MinMTU)
	}
	return r, nil
}

// RAParams describes one router advertisement for BuildRA. Lifetimes are in
// seconds.
type RAParams struct {
	// SrcMAC is the router's MAC (Ethernet source, source link-layer
	// option); Src defaults to its link-local address.
	SrcMAC net.HardwareAddr
	Src    netip.Addr
	// DstMAC and Dst default to 33:33:00:00:00:01 and ff02::1.
	DstMAC net.HardwareAddr
	Dst    netip.Addr

	CurHopLimit       uint8
	Managed, Other    bool
	RouterLifetime    uint16 // clamped to 9000
	ReachableTime     uint32 // milliseconds, 0 = unspecified
	RetransTimer      uint32 // milliseconds, 0 = unspecified
	MTU               uint32 // 0: no MTU option
	Prefix            netip.Prefix
	Autonomous        bool // A flag of Prefix (L is always set)
	ValidLifetime     uint32
	PreferredLifetime uint32
	Nameservers       []netip.Addr
	Domains           []string // invalid names are skipped
	DNSLifetime       uint32
}

// BuildRA appends a router advertisement frame described by p to dst and
// returns the extended buffer. It allocates only when dst lacks capacity.
func BuildRA(dst []byte, p RAParams) []byte {
	dstMAC := p.DstMAC
	if len(dstMAC) != 6 {
		dstMAC = allNodesMAC[:]
	}
	dstIP := p.Dst
	if !dstIP.IsValid() {
		dstIP = allNodes
	}
	src := p.Src
	if !src.IsValid() {
		src = eui64.LinkLocal(p.SrcMAC)
	}
	start := len(dst)
	dst = ip6frame.AppendHeaders(dst, dstMAC, p.SrcMAC, src, dstIP, ip6frame.ProtoICMPv6, 255)

	var b []byte
	dst, b = ip6frame.Grow(dst, 16)
	b[0], b[1], b[2], b[3] = TypeRouterAdvertisement, 0, 0, 0
	b[4] = p.CurHopLimit
	b[5] = 0
	if p.Managed {
		b[5] |= 0x80
	}
	if p.Other {
		b[5] |= 0x40
	}
	binary.BigEndian.PutUint16(b[6:], min(p.RouterLifetime, uint16(MaxRouterLifetime/time.Second)))
	binary.BigEndian.PutUint32(b[8:], p.ReachableTime)
	binary.BigEndian.PutUint32(b[12:], p.RetransTimer)

	dst = ip6frame.AppendLLAO(dst, OptSourceLinkLayer, p.SrcMAC)
	if p.MTU != 0 {
		dst, b = ip6frame.Grow(dst, 8)
		b[0], b[1], b[2], b[3] = OptMTU, 1, 0, 0
		binary.BigEndian.PutUint32(b[4:], p.MTU)
	}
	if p.Prefix.IsValid() && p.Prefix.Addr().Is6() {
		dst, b = ip6frame.Grow(dst, 32)
		b[0], b[1], b[2], b[3] = OptPrefixInfo, 4, byte(p.Prefix.Bits()), 0x80
		if p.Autonomous {
			b[3] |= 0x40
		}
		binary.BigEndian.PutUint32(b[4:], p.ValidLifetime)
		binary.BigEndian.PutUint32(b[8:], min(p.PreferredLifetime, p.ValidLifetime))
		clear(b[12:16])
		a := p.Prefix.Masked().Addr().As16()
		copy(b[16:], a[:])
	}
	if len(p.Nameservers) > 0 {
		n := min(len(p.Nameservers), 127)
		dst, b = ip6frame.Grow(dst, 8+16*n)
		b[0], b[1], b[2], b[3] = OptRDNSS, byte(1+2*n), 0, 0
		binary.BigEndian.PutUint32(b[4:], p.DNSLifetime)
		for i, a := range p.Nameservers[:n] {
			a16 := a.As16()
			copy(b[8+16*i:], a16[:])
		}
	}
	if l := domainsLen(p.Domains); l > 0 {
		units := (8 + l + 7) / 8
		dst, b = ip6frame.Grow(dst, 8)
		b[0], b[1], b[2], b[3] = OptDNSSL, byte(units), 0, 0
		binary.BigEndian.PutUint32(b[4:], p.DNSLifetime)
		used := 0
		for _, d := range p.Domains {
			n, err := ip6frame.DomainLen(d)
			if err != nil || used+n > l {
				continue
			}
			dst = ip6frame.AppendDomain(dst, d)
			used += n
		}
		dst, b = ip6frame.Grow(dst, units*8-8-l)
		clear(b)
	}
	ip6frame.Finish(dst[start:])
	return dst
}

// domainsLen is the wire length of the valid names of ds that fit one DNSSL
// option (at most 255 units of 8 bytes).
func domainsLen(ds []string) int {
	l := 0
	for _, d := range ds {
		n, err := ip6frame.DomainLen(d)
		if err != nil || 8+l+n > 255*8 {
			continue
		}
		l += n
	}
	return l
}

// routerMAC returns the router identity for a reply leaving devMAC.
func (r *Responder) routerMACFor(devMAC net.HardwareAddr) net.HardwareAddr {
	if r.routerMAC != nil {
		return r.routerMAC
	}
	return devMAC
}

// params returns the RA for binding b sent by routerMAC to all nodes.
func (r *Responder) params(routerMAC net.HardwareAddr, b *binding.Binding) RAParams {
	m, o := r.mode.Flags()
	p := RAParams{
		SrcMAC:            routerMAC,
		CurHopLimit:       CurHopLimit,
		Managed:           m,
		Other:             o,
		RouterLifetime:    r.routerLifetime,
		Prefix:            b.Subnet6.Masked(),
		Autonomous:        b.Subnet6.Bits() == 64,
		ValidLifetime:     r.valid,
		PreferredLifetime: r.preferred,
		Nameservers:       r.nameservers,
		Domains:           r.domains,
		DNSLifetime:       r.dnsLifetime,
	}
	if b.MTU >= MinMTU {
		p.MTU = uint32(b.MTU)
	}
	return p
}

// hasIPv6 reports whether b has an IPv6 subnet to advertise.
func hasIPv6(b *binding.Binding) bool {
	p := b.Subnet6
	return p.IsValid() && p.Addr().Is6() && !p.Addr().Is4In6()
}

// RAParams returns the periodic (all-nodes) RA for the NIC bound by b whose
// device (tap) has MAC devMAC, or a reason not to send one.
func (r *Responder) RAParams(devMAC net.HardwareAddr, b *binding.Binding) (RAParams, Result) {
	if b == nil {
		return RAParams{}, DropNoBinding
	}
	mac := r.routerMACFor(devMAC)
	if len(mac) != 6 {
		return RAParams{}, DropRouterMAC
	}
	if !hasIPv6(b) {
		return RAParams{}, IgnoredNoIPv6
	}
	return r.params(mac, b), Reply
}

// PeriodicRA appends the unsolicited RA for b (to ff02::1) to dst. The
// caller schedules it (see RAInterval).
func (r *Responder) PeriodicRA(dst []byte, devMAC net.HardwareAddr, b *binding.Binding) ([]byte, Result) {
	p, res := r.RAParams(devMAC, b)
	if res != Reply {
		return dst, res
	}
	return BuildRA(dst, p), Reply
}

// RAInterval spreads periodic RAs (RFC 4861 6.2.4): it maps a random value
// rnd (any uint32) to an interval in [3/4 period, period].
func RAInterval(period time.Duration, rnd uint32) time.Duration {
	q := period / 4
	hi, lo := bits.Mul64(uint64(q), uint64(rnd))
	return period - q + time.Duration(hi<<32|lo>>32)
}

// Packet is one queued packet and the context needed to answer it.
type Packet struct {
	// IPv6 is the packet as queued: IPv6 header and payload.
	IPv6 []byte
	// SrcMAC is the source MAC of the frame that carried it.
	SrcMAC net.HardwareAddr
	// DevMAC is the MAC of the device the reply leaves from (the tap);
	// Config.RouterMAC overrides it.
	DevMAC net.HardwareAddr
	// Binding is the VM NIC's binding.
	Binding *binding.Binding
}

// Handle answers an RS or an NS, whichever p holds.
func (r *Responder) Handle(dst []byte, p Packet) ([]byte, Result) {
	return r.handle(dst, p, 0)
}

// HandleRS answers a router solicitation with a router advertisement.
func (r *Responder) HandleRS(dst []byte, p Packet) ([]byte, Result) {
	return r.handle(dst, p, TypeRouterSolicitation)
}

// HandleNS answers a neighbour solicitation with a neighbour advertisement.
func (r *Responder) HandleNS(dst []byte, p Packet) ([]byte, Result) {
	return r.handle(dst, p, TypeNeighborSolicitation)
}

func (r *Responder) handle(dst []byte, p Packet, want uint8) ([]byte, Result) {
	b := p.Binding
	if b == nil {
		return dst, DropNoBinding
	}
	routerMAC := r.routerMACFor(p.DevMAC)
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
	if h.NextHeader != ip6frame.ProtoICMPv6 {
		return dst, DropNotICMPv6
	}
	m := h.Payload
	if len(m) < 4 {
		return dst, DropShort
	}
	typ := m[0]
	if typ != TypeRouterSolicitation && typ != TypeNeighborSolicitation || want != 0 && typ != want {
		return dst, DropType
	}
	if m[1] != 0 {
		return dst, DropCode
	}
	if h.HopLimit != 255 {
		return dst, DropHopLimit
	}
	minLen := 8
	if typ == TypeNeighborSolicitation {
		minLen = 24
	}
	if len(m) < minLen {
		return dst, DropShort
	}
	if !ip6frame.VerifyChecksum(h.Src, h.Dst, ip6frame.ProtoICMPv6, m) {
		return dst, DropChecksum
	}
	if !h.Src.IsUnspecified() && !ip6frame.IsLinkLocal64(h.Src) && !inSubnet6(b, h.Src) {
		return dst, DropSource
	}
	sllao, res := scanOptions(m[minLen:])
	if res != Reply {
		return dst, res
	}
	if sllao != nil {
		if h.Src.IsUnspecified() {
			return dst, DropUnspecifiedSLLAO
		}
		if !bytes.Equal(sllao, p.SrcMAC) || !b.MACSpoof && !bytes.Equal(sllao, b.MAC) {
			return dst, DropSLLAOMismatch
		}
	}
	if len(p.SrcMAC) != 6 || !b.MACSpoof && !bytes.Equal(p.SrcMAC, b.MAC) {
		return dst, DropMACMismatch
	}
	routerLL := eui64.LinkLocal(routerMAC)
	if typ == TypeRouterSolicitation {
		return r.answerRS(dst, h, p.SrcMAC, routerMAC, routerLL, b)
	}
	return r.answerNS(dst, h, m, p.SrcMAC, routerMAC, routerLL, b)
}

func (r *Responder) answerRS(dst []byte, h ip6frame.Header, srcMAC, routerMAC net.HardwareAddr, routerLL netip.Addr, b *binding.Binding) ([]byte, Result) {
	if h.Dst != allRouters && h.Dst != routerLL {
		return dst, DropDestination
	}
	if !hasIPv6(b) {
		return dst, IgnoredNoIPv6
	}
	p := r.params(routerMAC, b)
	p.Src = routerLL
	if !h.Src.IsUnspecified() {
		p.Dst, p.DstMAC = h.Src, srcMAC
	}
	return BuildRA(dst, p), Reply
}

func (r *Responder) answerNS(dst []byte, h ip6frame.Header, m []byte, srcMAC, routerMAC net.HardwareAddr, routerLL netip.Addr, b *binding.Binding) ([]byte, Result) {
	target := netip.AddrFrom16([16]byte(m[8:24]))
	if target.IsMulticast() || target.IsUnspecified() || target.Is4In6() {
		return dst, DropTarget
	}
	if h.Dst != target && h.Dst != ip6frame.SolicitedNode(target) {
		return dst, DropDestination
	}
	if h.Src.IsUnspecified() {
		return dst, IgnoredDAD
	}
	var override bool
	switch {
	case target == routerLL:
		override = true
	case target == b.EUI64 || target == eui64.LinkLocal(b.MAC):
		return dst, IgnoredTarget
	case !hasIPv6(b):
		return dst, IgnoredNoIPv6
	case !routed(b):
		return dst, IgnoredTarget
	case target == b.Gateway6:
		override = true
	case inSubnet6(b, target):
		override = false
	default:
		return dst, IgnoredTarget
	}
	return ip6frame.AppendNA(dst, srcMAC, routerMAC, routerLL, h.Src, target, ip6frame.NARouter|ip6frame.NASolicited|ip6frame.NAOverride*boolByte(override)), Reply
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// routed reports whether the binding's NIC is routed (queued on its own tap)
// rather than bridged (INDEV is a bridge shared with other VMs).
func routed(b *binding.Binding) bool {
	return b.InDev == "" || b.Tap == "" || b.InDev == b.Tap
}

func inSubnet6(b *binding.Binding, a netip.Addr) bool {
	return hasIPv6(b) && b.Subnet6.Contains(a)
}

// scanOptions checks that opts is a well-formed NDP option list (RFC 4861
// 4.6: no zero length, none past the end) and returns the address of its
// source link-layer address option, if any. An SLLAO must be 8 bytes
// (Ethernet, RFC 2464) and appear at most once.
func scanOptions(opts []byte) (sllao []byte, res Result) {
	for len(opts) > 0 {
		if len(opts) < 8 {
			return nil, DropOption
		}
		n := int(opts[1]) * 8
		if n == 0 || n > len(opts) {
			return nil, DropOption
		}
		if opts[0] == OptSourceLinkLayer {
			if n != 8 || sllao != nil {
				return nil, DropOption
			}
			sllao = opts[2:8]
		}
		opts = opts[n:]
	}
	return sllao, Reply
}

// BuildRS appends a router solicitation frame from srcMAC/src to ff02::2,
// with a source link-layer option unless src is ::. For tests and load
// generation; the IPv6 packet starts at ip6frame.EthernetHeaderLen.
func BuildRS(dst []byte, srcMAC net.HardwareAddr, src netip.Addr) []byte {
	start := len(dst)
	dst = ip6frame.AppendHeaders(dst, allRoutersMAC[:], srcMAC, src, allRouters, ip6frame.ProtoICMPv6, 255)
	dst, b := ip6frame.Grow(dst, 8)
	clear(b)
	b[0] = TypeRouterSolicitation
	if !src.IsUnspecified() {
		dst = ip6frame.AppendLLAO(dst, OptSourceLinkLayer, srcMAC)
	}
	ip6frame.Finish(dst[start:])
	return dst
}

// BuildNS appends a neighbour solicitation frame for target from
// srcMAC/src to target's solicited-node multicast address, with a source
// link-layer option unless src is :: (DAD). For tests and load generation;
// the IPv6 packet starts at ip6frame.EthernetHeaderLen.
func BuildNS(dst []byte, srcMAC net.HardwareAddr, src, target netip.Addr) []byte {
	start := len(dst)
	sn := ip6frame.SolicitedNode(target)
	mac := ip6frame.MulticastMAC(sn)
	dst = ip6frame.AppendHeaders(dst, mac[:], srcMAC, src, sn, ip6frame.ProtoICMPv6, 255)
	dst, b := ip6frame.Grow(dst, 24)
	clear(b)
	b[0] = TypeNeighborSolicitation
	t := target.As16()
	copy(b[8:], t[:])
	if !src.IsUnspecified() {
		dst = ip6frame.AppendLLAO(dst, OptSourceLinkLayer, srcMAC)
	}
	ip6frame.Finish(dst[start:])
	return dst
}
