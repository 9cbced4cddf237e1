package dhcp4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Defaults used for zero Config durations (GRNET nfdhcpd's defaults).
const (
	DefaultLeaseTime   = 604800 * time.Second
	DefaultRenewalTime = 600 * time.Second
)

// ErrInvalidConfig is wrapped by NewResponder's errors.
var ErrInvalidConfig = errors.New("invalid dhcp4 config")

// Config is what the daemon maps nfdhcpd.conf's [dhcp] section onto.
type Config struct {
	// ServerIP is the server identifier and the replies' IPv4 source
	// (server_ip). When unset, the binding's IPv4 gateway is used.
	ServerIP netip.Addr
	// ServerMAC is the replies' Ethernet source, unless Request.ServerMAC
	// is set (the tap's MAC).
	ServerMAC net.HardwareAddr
	// LeaseTime is option 51 (lease_lifetime); 0 means DefaultLeaseTime.
	LeaseTime time.Duration
	// RenewalTime is T1, option 58 (lease_renewal); 0 means
	// DefaultRenewalTime. It is capped at T2, 7/8 of LeaseTime (option 59).
	RenewalTime time.Duration
	// DNS are the name servers (option 6), IPv4 only, at most 63.
	DNS []netip.Addr
	// Domain is option 15 (domain). When empty, the part of the binding's
	// HOSTNAME after its first dot is used, if any.
	Domain string
	// SearchDomains is option 119, encoded with RFC 1035 compression.
	SearchDomains []string
}

// Responder answers DHCPv4 requests. It is immutable after NewResponder and
// safe for concurrent use.
type Responder struct {
	serverIP    [4]byte
	hasServerIP bool
	serverMAC   [6]byte
	hasMAC      bool
	// lease is options 51, 58, 59, encoded.
	lease []byte
	// dns, domain, search are encoded options (code, length, value),
	// empty when not configured.
	dns    []byte
	domain []byte
	search []byte
	// maxFrame bounds the size of any reply frame.
	maxFrame int
}

// NewResponder validates cfg and precomputes the option blocks every reply
// shares.
func NewResponder(cfg Config) (*Responder, error) {
	r := &Responder{}
	if cfg.ServerIP.IsValid() {
		ip := cfg.ServerIP.Unmap()
		if !ip.Is4() || ip.IsUnspecified() {
			return nil, fmt.Errorf("server IP %v is not a unicast IPv4 address: %w", cfg.ServerIP, ErrInvalidConfig)
		}
		r.serverIP, r.hasServerIP = ip.As4(), true
	}
	if cfg.ServerMAC != nil {
		if len(cfg.ServerMAC) != 6 {
			return nil, fmt.Errorf("server MAC %v is not an Ethernet address: %w", cfg.ServerMAC, ErrInvalidConfig)
		}
		r.serverMAC, r.hasMAC = [6]byte(cfg.ServerMAC), true
	}

	lease, renew := cfg.LeaseTime, cfg.RenewalTime
	if lease == 0 {
		lease = DefaultLeaseTime
	}
	if renew == 0 {
		renew = DefaultRenewalTime
	}
	if lease < time.Second || lease/time.Second > 0xfffffffe || renew < 0 {
		return nil, fmt.Errorf("lease time %v / renewal time %v out of range: %w", lease, renew, ErrInvalidConfig)
	}
	leaseS := uint32(lease / time.Second)
	t2 := uint32(uint64(leaseS) * 7 / 8)
	t1 := uint32(min(renew/time.Second, time.Duration(t2)))
	r.lease = appendU32Option(r.lease, optLeaseTime, leaseS)
	r.lease = appendU32Option(r.lease, optRenewalTime, t1)
	r.lease = appendU32Option(r.lease, optRebindingTime, t2)

	if len(cfg.DNS) > 63 {
		return nil, fmt.Errorf("%d DNS servers, at most 63 fit: %w", len(cfg.DNS), ErrInvalidConfig)
	}
	if len(cfg.DNS) > 0 {
		r.dns = append(r.dns, optDNS, byte(4*len(cfg.DNS)))
		for _, a := range cfg.DNS {
			a = a.Unmap()
			if !a.Is4() {
				return nil, fmt.Errorf("DNS server %v is not IPv4: %w", a, ErrInvalidConfig)
			}
			b := a.As4()
			r.dns = append(r.dns, b[:]...)
		}
	}
	if cfg.Domain != "" {
		d := strings.TrimSuffix(cfg.Domain, ".")
		if err := checkDomain(d); err != nil {
			return nil, fmt.Errorf("domain %q: %w", cfg.Domain, err)
		}
		r.domain = append(r.domain, optDomainName, byte(len(d)))
		r.domain = append(r.domain, d...)
	}
	if len(cfg.SearchDomains) > 0 {
		enc, err := encodeSearchList(cfg.SearchDomains)
		if err != nil {
			return nil, err
		}
		r.search = appendLongOption(nil, optDomainSearch, enc)
		if len(r.search) > 1024 {
			return nil, fmt.Errorf("search list encodes to %d bytes, more than 1024: %w", len(r.search), ErrInvalidConfig)
		}
	}
	// The largest reply: every option at its largest (see options), and
	// at least the padded BOOTP minimum.
	opts := 9 + len(r.lease) + 6 + 6 + len(r.dns) + 2*16 + 4 + 257 +
		max(len(r.domain), 257) + 6 + len(r.search) + 1
	r.maxFrame = offOpts + max(opts, minBOOTPLen-optionsOff)
	return r, nil
}

// MaxFrameLen is an upper bound on the length of any reply frame r builds:
// Handle allocates nothing when dst has this much spare capacity.
func (r *Responder) MaxFrameLen() int { return r.maxFrame }

func appendU32Option(b []byte, code byte, v uint32) []byte {
	b = append(b, code, 4)
	return binary.BigEndian.AppendUint32(b, v)
}

// appendLongOption appends v as one or more instances of option code, split
// at 255 bytes (RFC 3396).
func appendLongOption(b []byte, code byte, v []byte) []byte {
	for len(v) > 0 {
		n := min(len(v), 255)
		b = append(b, code, byte(n))
		b = append(b, v[:n]...)
		v = v[n:]
	}
	return b
}

// checkDomain validates a DNS name without its trailing dot: labels of 1 to
// 63 bytes, at most 253 bytes in all, no bytes that break option parsers.
func checkDomain(d string) error {
	if d == "" || len(d) > 253 {
		return fmt.Errorf("name length %d not in 1..253: %w", len(d), ErrInvalidConfig)
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("label %q length not in 1..63: %w", l, ErrInvalidConfig)
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; c <= ' ' || c >= 0x7f {
				return fmt.Errorf("label %q has byte %#x: %w", l, c, ErrInvalidConfig)
			}
		}
	}
	return nil
}

// encodeSearchList encodes domains in RFC 1035 wire format with message
// compression, pointers relative to the start of the list (RFC 3397 2).
// Pointers only target names written without a pointer, so decoders that
// cannot follow nested pointers still work.
func encodeSearchList(domains []string) ([]byte, error) {
	var out []byte
	suffixes := map[string]int{} // lower-cased name suffix → offset
	type cand struct {
		name string
		off  int
	}
	var cands []cand
	for _, dom := range domains {
		d := strings.TrimSuffix(dom, ".")
		if err := checkDomain(d); err != nil {
			return nil, fmt.Errorf("search domain %q: %w", dom, err)
		}
		cands = cands[:0]
		for {
			key := strings.ToLower(d)
			if off, ok := suffixes[key]; ok {
				out = append(out, 0xc0|byte(off>>8), byte(off))
				cands = cands[:0]
				break
			}
			if len(out) < 0x4000 {
				cands = append(cands, cand{key, len(out)})
			}
			label, rest, more := strings.Cut(d, ".")
			out = append(out, byte(len(label)))
			out = append(out, label...)
			if !more {
				out = append(out, 0)
				break
			}
			d = rest
		}
		for _, c := range cands {
			if _, ok := suffixes[c.name]; !ok {
				suffixes[c.name] = c.off
			}
		}
	}
	return out, nil
}
