package ipam

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/diktyo/diktyo/pkg/ganeti"
)

// Mode is how a NIC on a network is wired on a node.
type Mode = ganeti.NICMode

// The NIC modes Ganeti knows.
const (
	ModeRouted      = ganeti.ModeRouted
	ModeBridged     = ganeti.ModeBridged
	ModeOpenvSwitch = ganeti.ModeOpenvSwitch
)

// ParseMode checks a mode name with ganeti.ParseNICMode; the error also
// wraps ErrInvalid.
func ParseMode(s string) (Mode, error) {
	m, err := ganeti.ParseNICMode(s)
	if err != nil {
		return "", fmt.Errorf("mode %q: %w: %w", s, ErrInvalid, err)
	}
	return m, nil
}

// Connection is how a network is reached from the nodes of one node group.
type Connection struct {
	Mode Mode   `json:"mode"`
	Link string `json:"link"`
	VLAN string `json:"vlan,omitempty"`
}

// Range is an inclusive IPv4 address range inside a network.
type Range struct {
	First, Last netip.Addr
}

// String renders the range as FIRST-LAST.
func (r Range) String() string { return r.First.String() + "-" + r.Last.String() }

// ParseRange parses FIRST-LAST, or a single address, or a CIDR.
func ParseRange(s string) (Range, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		p = p.Masked()
		return Range{First: p.Addr(), Last: lastAddr(p)}, nil
	}
	first, last, ok := strings.Cut(s, "-")
	if !ok {
		last = first
	}
	a, err1 := netip.ParseAddr(strings.TrimSpace(first))
	b, err2 := netip.ParseAddr(strings.TrimSpace(last))
	if err1 != nil || err2 != nil || !a.Is4() || !b.Is4() || b.Less(a) {
		return Range{}, fmt.Errorf("range %q: %w: want FIRST-LAST IPv4 addresses", s, ErrInvalid)
	}
	return Range{First: a, Last: b}, nil
}

// MarshalText implements encoding.TextMarshaler.
func (r Range) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Range) UnmarshalText(b []byte) error {
	v, err := ParseRange(string(b))
	*r = v
	return err
}

// MACPrefix is the first three octets of the MACs of a network's NICs.
type MACPrefix [3]byte

// ParseMACPrefix parses "aa:00:00". The prefix must be unicast and locally
// administered, so generated MACs never collide with vendors'.
func ParseMACPrefix(s string) (MACPrefix, error) {
	var p MACPrefix
	hw, err := net.ParseMAC(s + ":00:00:00")
	if err != nil || len(hw) != 6 || strings.Count(s, ":") != 2 {
		return p, fmt.Errorf("MAC prefix %q: %w: want three octets like aa:00:00", s, ErrInvalid)
	}
	if hw[0]&0x01 != 0 {
		return p, fmt.Errorf("MAC prefix %q: %w: multicast bit set", s, ErrInvalid)
	}
	if hw[0]&0x02 == 0 {
		return p, fmt.Errorf("MAC prefix %q: %w: not locally administered (bit 0x02 of the first octet)", s, ErrInvalid)
	}
	copy(p[:], hw[:3])
	return p, nil
}

// IsZero reports whether no prefix is set.
func (p MACPrefix) IsZero() bool { return p == MACPrefix{} }

// String renders the prefix as aa:00:00, or "" when unset.
func (p MACPrefix) String() string {
	if p.IsZero() {
		return ""
	}
	return fmt.Sprintf("%02x:%02x:%02x", p[0], p[1], p[2])
}

// Contains reports whether mac starts with the prefix.
func (p MACPrefix) Contains(mac net.HardwareAddr) bool {
	return len(mac) == 6 && mac[0] == p[0] && mac[1] == p[1] && mac[2] == p[2]
}

// MarshalText implements encoding.TextMarshaler.
func (p MACPrefix) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *MACPrefix) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*p = MACPrefix{}
		return nil
	}
	v, err := ParseMACPrefix(string(b))
	*p = v
	return err
}

// Network is the definition of one network of the pool.
type Network struct {
	Name string `json:"name"`
	// UUID links the network to Ganeti's network of the same name, if any.
	UUID string `json:"uuid,omitempty"`
	// Subnet is the IPv4 CIDR (/8 to /30); zero for an IPv6-only network.
	Subnet    netip.Prefix `json:"subnet"`
	Gateway   netip.Addr   `json:"gateway"`
	Subnet6   netip.Prefix `json:"subnet6"`
	Gateway6  netip.Addr   `json:"gateway6"`
	MACPrefix MACPrefix    `json:"mac_prefix"`
	// Tags is a sorted set.
	Tags []string `json:"tags"`
	// Ranges restricts automatic allocation; empty means the whole subnet.
	Ranges []Range `json:"ranges"`
	// Connections maps a node group name to how the group reaches it.
	Connections map[string]Connection `json:"connections"`
}

// validName reports whether s matches ^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$
// (by hand: a regexp would be compiled at every process start).
func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '+' && c != '-') {
			return false
		}
	}
	return true
}

// ValidName checks a network or node group name.
func ValidName(kind, s string) error {
	if !validName(s) {
		return fmt.Errorf("%s name %q: %w: want 1-64 of A-Z a-z 0-9 . _ + - starting with a letter or digit", kind, s, ErrInvalid)
	}
	return nil
}

// MinBits and MaxBits bound the IPv4 prefix length of a network.
const (
	MinBits = 8
	MaxBits = 30
)

// Validate checks the definition and normalises it (sorted tags and ranges,
// masked prefixes).
func (n *Network) Validate() error {
	if err := ValidName("network", n.Name); err != nil {
		return err
	}
	if n.Subnet.IsValid() {
		if !n.Subnet.Addr().Is4() {
			return fmt.Errorf("network %s: subnet %v: %w: not IPv4", n.Name, n.Subnet, ErrInvalid)
		}
		if n.Subnet.Bits() < MinBits || n.Subnet.Bits() > MaxBits {
			return fmt.Errorf("network %s: subnet %v: %w: prefix length must be /%d to /%d", n.Name, n.Subnet, ErrInvalid, MinBits, MaxBits)
		}
		if n.Subnet != n.Subnet.Masked() {
			return fmt.Errorf("network %s: subnet %v: %w: host bits set (did you mean %v?)", n.Name, n.Subnet, ErrInvalid, n.Subnet.Masked())
		}
		if n.Gateway.IsValid() {
			if !n.Subnet.Contains(n.Gateway) || n.Gateway == n.Subnet.Addr() || n.Gateway == lastAddr(n.Subnet) {
				return fmt.Errorf("network %s: gateway %v: %w: not a host address of %v", n.Name, n.Gateway, ErrOutOfNetwork, n.Subnet)
			}
		}
	} else {
		if n.Gateway.IsValid() {
			return fmt.Errorf("network %s: gateway %v: %w: no IPv4 subnet", n.Name, n.Gateway, ErrInvalid)
		}
		if len(n.Ranges) > 0 {
			return fmt.Errorf("network %s: %w: ranges need an IPv4 subnet", n.Name, ErrInvalid)
		}
		if !n.Subnet6.IsValid() {
			return fmt.Errorf("network %s: %w: needs an IPv4 subnet or an IPv6 /64", n.Name, ErrInvalid)
		}
	}
	if n.Subnet6.IsValid() {
		if !n.Subnet6.Addr().Is6() || n.Subnet6.Addr().Is4In6() || n.Subnet6.Bits() != 64 {
			return fmt.Errorf("network %s: subnet6 %v: %w: need an IPv6 /64", n.Name, n.Subnet6, ErrInvalid)
		}
		n.Subnet6 = n.Subnet6.Masked()
		if n.Gateway6.IsValid() && !n.Subnet6.Contains(n.Gateway6) && !n.Gateway6.IsLinkLocalUnicast() {
			return fmt.Errorf("network %s: gateway6 %v: %w: not in %v or link-local", n.Name, n.Gateway6, ErrOutOfNetwork, n.Subnet6)
		}
	} else if n.Gateway6.IsValid() {
		return fmt.Errorf("network %s: gateway6 %v: %w: no IPv6 subnet", n.Name, n.Gateway6, ErrInvalid)
	}
	if !n.MACPrefix.IsZero() {
		if _, err := ParseMACPrefix(n.MACPrefix.String()); err != nil {
			return fmt.Errorf("network %s: %w", n.Name, err)
		}
	}
	n.Tags = normTags(n.Tags)
	for _, t := range n.Tags {
		if strings.ContainsAny(t, " \t\n,") {
			return fmt.Errorf("network %s: tag %q: %w: no spaces or commas", n.Name, t, ErrInvalid)
		}
	}
	for _, r := range n.Ranges {
		if !n.Subnet.Contains(r.First) || !n.Subnet.Contains(r.Last) || r.Last.Less(r.First) {
			return fmt.Errorf("network %s: range %v: %w: not inside %v", n.Name, r, ErrOutOfNetwork, n.Subnet)
		}
	}
	n.Ranges = mergeRanges(n.Ranges)
	for g, c := range n.Connections {
		if err := ValidName("node group", g); err != nil {
			return fmt.Errorf("network %s: %w", n.Name, err)
		}
		if _, err := ParseMode(string(c.Mode)); err != nil {
			return fmt.Errorf("network %s: group %s: %w", n.Name, g, err)
		}
		if c.Link == "" {
			return fmt.Errorf("network %s: group %s: %w: link is empty", n.Name, g, ErrInvalid)
		}
	}
	return nil
}

// Size is the number of IPv4 addresses of the subnet (0 if none).
func (n *Network) Size() uint32 {
	if !n.Subnet.IsValid() {
		return 0
	}
	return uint32(1) << (32 - n.Subnet.Bits())
}

// Offset returns the position of ip inside the subnet.
func (n *Network) Offset(ip netip.Addr) (uint32, bool) {
	if !n.Subnet.IsValid() || !ip.Is4() || !n.Subnet.Contains(ip) {
		return 0, false
	}
	return addr4(ip) - addr4(n.Subnet.Addr()), true
}

// AddrAt returns the address at offset off of the subnet.
func (n *Network) AddrAt(off uint32) netip.Addr {
	return from4(addr4(n.Subnet.Addr()) + off)
}

// HasTag reports whether the network carries tag t.
func (n *Network) HasTag(t string) bool {
	_, ok := slices.BinarySearch(n.Tags, t)
	return ok
}

// Clone returns a deep copy.
func (n *Network) Clone() *Network {
	c := *n
	c.Tags = slices.Clone(n.Tags)
	c.Ranges = slices.Clone(n.Ranges)
	if n.Connections != nil {
		c.Connections = make(map[string]Connection, len(n.Connections))
		for k, v := range n.Connections {
			c.Connections[k] = v
		}
	}
	return &c
}

func normTags(tags []string) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func mergeRanges(rs []Range) []Range {
	if len(rs) == 0 {
		return nil
	}
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b Range) int { return a.First.Compare(b.First) })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if addr4(r.First) <= addr4(last.Last)+1 {
			if last.Last.Less(r.Last) {
				last.Last = r.Last
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

func addr4(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func from4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func lastAddr(p netip.Prefix) netip.Addr {
	return from4(addr4(p.Masked().Addr()) | (uint32(1)<<(32-p.Bits()) - 1))
}

// overlaps reports whether two IPv4 prefixes share an address.
func overlaps(a, b netip.Prefix) bool {
	return a.IsValid() && b.IsValid() && a.Overlaps(b)
}

func marshalNetwork(n *Network) ([]byte, error) { return json.Marshal(n) }

func unmarshalNetwork(b []byte) (*Network, error) {
	var n Network
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("%w: network record: %v", ErrInvalid, err)
	}
	return &n, nil
}
