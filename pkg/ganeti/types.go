package ganeti

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/diktyo/diktyo/pkg/mac"
)

// NICMode is a NIC's mode, the "mode" NIC parameter.
type NICMode string

// The NIC modes of Ganeti 3.0.
const (
	ModeBridged     NICMode = "bridged"
	ModeRouted      NICMode = "routed"
	ModeOpenvSwitch NICMode = "openvswitch"
)

// ParseNICMode parses a NIC mode. An unknown mode is an error wrapping
// [ErrUnknownMode] (and so [ErrInvalid]); the empty string is
// [ErrMissing].
func ParseNICMode(s string) (NICMode, error) {
	switch m := NICMode(s); m {
	case ModeBridged, ModeRouted, ModeOpenvSwitch:
		return m, nil
	case "":
		return "", ErrMissing
	default:
		return "", fmt.Errorf("%w %q (want bridged, routed or openvswitch)", ErrUnknownMode, s)
	}
}

// Valid reports whether m is one of the known modes.
func (m NICMode) Valid() bool {
	_, err := ParseNICMode(string(m))
	return err == nil
}

func (m NICMode) String() string { return string(m) }

// Tags is a set of Ganeti tags. Ganeti passes tags space separated in no
// stable order; a nil Tags is the empty set. Ganeti tags never contain
// white space.
type Tags map[string]struct{}

// ParseTags parses a space separated list of tags. It returns nil when there
// are none.
func ParseTags(s string) Tags {
	f := strings.Fields(s)
	if len(f) == 0 {
		return nil
	}
	return NewTags(f...)
}

// NewTags returns the set of the given tags (empty strings are skipped), or
// nil if there are none.
func NewTags(tags ...string) Tags {
	var t Tags
	for _, s := range tags {
		if s == "" {
			continue
		}
		if t == nil {
			t = make(Tags, len(tags))
		}
		t[s] = struct{}{}
	}
	return t
}

// Has reports whether tag is in t.
func (t Tags) Has(tag string) bool {
	_, ok := t[tag]
	return ok
}

// Len returns the number of tags.
func (t Tags) Len() int { return len(t) }

// Sorted returns the tags in lexical order (nil for an empty set).
func (t Tags) Sorted() []string {
	if len(t) == 0 {
		return nil
	}
	s := make([]string, 0, len(t))
	for k := range t {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}

// String returns the tags sorted and space separated, the form Ganeti uses.
func (t Tags) String() string { return strings.Join(t.Sorted(), " ") }

// MarshalJSON encodes t as a sorted JSON array.
func (t Tags) MarshalJSON() ([]byte, error) {
	s := t.Sorted()
	if s == nil {
		s = []string{}
	}
	return json.Marshal(s)
}

// UnmarshalJSON decodes a JSON array of strings (or null).
func (t *Tags) UnmarshalJSON(b []byte) error {
	var s []string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*t = NewTags(s...)
	return nil
}

// Network is a Ganeti network as the environments describe it. It is shared
// by hook NICs (GANETI_INSTANCE_NIC<i>_NETWORK_*), network hooks
// (GANETI_NETWORK_*) and kvm-ifup (NETWORK_*). Every field is optional:
// network hooks, for instance, carry no UUID.
type Network struct {
	Name     string       `json:"name,omitempty"`
	UUID     string       `json:"uuid,omitempty"`
	Subnet   netip.Prefix `json:"subnet,omitzero"`   // IPv4, e.g. 198.51.100.0/24
	Gateway  netip.Addr   `json:"gateway,omitzero"`  // IPv4
	Subnet6  netip.Prefix `json:"subnet6,omitzero"`  // IPv6, e.g. 2001:db8::/64
	Gateway6 netip.Addr   `json:"gateway6,omitzero"` // IPv6
	// MACPrefix is the three-octet prefix of the MACs Ganeti generates for
	// NICs on this network (nil if unset).
	MACPrefix mac.Addr `json:"mac_prefix,omitempty"`
	Tags      Tags     `json:"tags,omitempty"`
}

// IsZero reports whether n carries no information at all.
func (n *Network) IsZero() bool {
	return n == nil || (n.Name == "" && n.UUID == "" && !n.Subnet.IsValid() && !n.Gateway.IsValid() &&
		!n.Subnet6.IsValid() && !n.Gateway6.IsValid() && len(n.MACPrefix) == 0 && len(n.Tags) == 0)
}

// Value parsers. They treat "" and "None" as unset where the value is
// optional. Their errors are completed with the variable name by the caller.

func isUnset(s string) bool { return s == "" || s == "None" }

// parseMAC parses a 6-octet MAC address; unset gives nil.
func parseMAC(s string) (mac.Addr, error) {
	if isUnset(s) {
		return nil, nil
	}
	m, err := net.ParseMAC(s)
	if err != nil || len(m) != 6 {
		return nil, fmt.Errorf("%w MAC %q", ErrInvalid, s)
	}
	return mac.Addr(m), nil
}

// parseMACPrefix parses a three-octet MAC prefix such as "aa:00:00".
func parseMACPrefix(s string) (mac.Addr, error) {
	if isUnset(s) {
		return nil, nil
	}
	bad := fmt.Errorf("%w MAC prefix %q (want three octets, like aa:00:00)", ErrInvalid, s)
	if len(s) != 8 || s[2] != ':' || s[5] != ':' {
		return nil, bad
	}
	m, err := net.ParseMAC(s + ":00:00:00")
	if err != nil {
		return nil, bad
	}
	return mac.Addr(m[:3:3]), nil
}

type ipFamily int

const (
	anyFamily ipFamily = iota
	ipv4
	ipv6
)

func (f ipFamily) String() string {
	switch f {
	case ipv4:
		return "IPv4"
	case ipv6:
		return "IPv6"
	}
	return "IP"
}

func (f ipFamily) accepts(a netip.Addr) bool {
	switch f {
	case ipv4:
		return a.Is4()
	case ipv6:
		return a.Is6() && !a.Is4In6()
	}
	return true
}

// parseAddr parses an IP address without zone; unset gives the zero Addr.
func parseAddr(s string, f ipFamily) (netip.Addr, error) {
	if isUnset(s) {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%w %s address %q", ErrInvalid, f, s)
	}
	if !f.accepts(a) {
		return netip.Addr{}, fmt.Errorf("%w %s address %q: not an %s address", ErrInvalid, f, s, f)
	}
	return a, nil
}

// parsePrefix parses a subnet in CIDR notation; unset gives the zero Prefix.
func parsePrefix(s string, f ipFamily) (netip.Prefix, error) {
	if isUnset(s) {
		return netip.Prefix{}, nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%w %s subnet %q", ErrInvalid, f, s)
	}
	if !f.accepts(p.Addr()) {
		return netip.Prefix{}, fmt.Errorf("%w %s subnet %q: not an %s subnet", ErrInvalid, f, s, f)
	}
	return p, nil
}

// parseVLANValue is ParseVLAN that also takes "None" for no VLAN.
func parseVLANValue(s string) (VLAN, error) {
	if isUnset(s) {
		return VLAN{}, nil
	}
	return ParseVLAN(s)
}

// parseCount parses a non-negative decimal integer (a count, index or
// amount of memory); unset is 0 when optional is true.
func parseCount(s, what string, optional bool) (int, error) {
	if optional && isUnset(s) {
		return 0, nil
	}
	if !isDigits(s) || len(s) > 9 {
		return 0, fmt.Errorf("%w %s %q (want a non-negative decimal number)", ErrInvalid, what, s)
	}
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n, nil
}
