package ganeti

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/diktyo/diktyo/pkg/mac"
)

// environToMap turns "K=V" entries into a map, keeping only the keys for
// which keep returns true. Entries without "=" are skipped (as the Go runtime
// does for the process environment); a kept key that appears twice is an
// error.
func environToMap(environ []string, keep func(string) bool) (map[string]string, error) {
	m := make(map[string]string)
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !keep(k) {
			continue
		}
		if _, dup := m[k]; dup {
			return nil, varErr(k, ErrDuplicate)
		}
		m[k] = v
	}
	return m, nil
}

// varSet is the set of variables of one view, with the common prefix
// ("GANETI_", "GANETI_POST_" or "") stripped from the keys. It records which
// keys the typed parsers consumed; the others end up in Extra.
type varSet struct {
	prefix string
	m      map[string]string
	keys   []string // sorted, for deterministic errors
	used   map[string]bool
}

func newVarSet(prefix string, m map[string]string) *varSet {
	return &varSet{prefix: prefix, m: m, keys: slices.Sorted(maps.Keys(m)), used: make(map[string]bool)}
}

// name returns the full variable name of key k.
func (v *varSet) name(k string) string { return v.prefix + k }

// get returns the value of k and marks it consumed.
func (v *varSet) get(k string) (string, bool) {
	s, ok := v.m[k]
	if ok {
		v.used[k] = true
	}
	return s, ok
}

func (v *varSet) str(k string) string {
	s, _ := v.get(k)
	return s
}

func (v *varSet) has(k string) bool {
	_, ok := v.m[k]
	return ok
}

// hasAny reports whether any of keys is present.
func (v *varSet) hasAny(keys ...string) bool {
	for _, k := range keys {
		if v.has(k) {
			return true
		}
	}
	return false
}

// hasPrefix reports whether some key starts with p.
func (v *varSet) hasPrefix(p string) bool {
	for _, k := range v.keys {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// withPrefix returns the keys that start with p, sorted.
func (v *varSet) withPrefix(p string) []string {
	var r []string
	for _, k := range v.keys {
		if strings.HasPrefix(k, p) {
			r = append(r, k)
		}
	}
	return r
}

// required returns the value of k, or an ErrMissing error if it is absent,
// empty or "None".
func (v *varSet) required(k string) (string, error) {
	s, ok := v.get(k)
	if !ok || isUnset(s) {
		return "", varErr(v.name(k), ErrMissing)
	}
	return s, nil
}

// wrap completes a value error with the variable name.
func (v *varSet) wrap(k string, err error) error {
	if err == nil {
		return nil
	}
	return varErr(v.name(k), err)
}

func (v *varSet) mac(k string, required bool) (mac.Addr, error) {
	s, ok := v.get(k)
	if required && (!ok || isUnset(s)) {
		return nil, varErr(v.name(k), ErrMissing)
	}
	m, err := parseMAC(s)
	return m, v.wrap(k, err)
}

func (v *varSet) mode(k string, required bool) (NICMode, error) {
	s, ok := v.get(k)
	if !required && (!ok || isUnset(s)) {
		return "", nil
	}
	if isUnset(s) {
		return "", varErr(v.name(k), ErrMissing)
	}
	m, err := ParseNICMode(s)
	return m, v.wrap(k, err)
}

func (v *varSet) count(k, what string, optional bool) (int, error) {
	s, ok := v.get(k)
	if !ok {
		if optional {
			return 0, nil
		}
		return 0, varErr(v.name(k), ErrMissing)
	}
	n, err := parseCount(s, what, optional)
	return n, v.wrap(k, err)
}

// rest returns the keys not consumed, or nil.
func (v *varSet) rest() map[string]string {
	var r map[string]string
	for _, k := range v.keys {
		if v.used[k] {
			continue
		}
		if r == nil {
			r = make(map[string]string)
		}
		r[k] = v.m[k]
	}
	return r
}

// parseNetwork parses the network variables p+NAME, p+UUID, p+SUBNET,
// p+GATEWAY, p+SUBNET6, p+GATEWAY6, p+MAC_PREFIX and p+TAGS. It returns nil
// when they carry nothing.
func parseNetwork(v *varSet, p string) (*Network, error) {
	n := &Network{
		Name: v.str(p + "NAME"),
		UUID: v.str(p + "UUID"),
		Tags: ParseTags(v.str(p + "TAGS")),
	}
	var err error
	if n.Subnet, err = parsePrefix(v.str(p+"SUBNET"), ipv4); err != nil {
		return nil, v.wrap(p+"SUBNET", err)
	}
	if n.Gateway, err = parseAddr(v.str(p+"GATEWAY"), ipv4); err != nil {
		return nil, v.wrap(p+"GATEWAY", err)
	}
	if n.Subnet6, err = parsePrefix(v.str(p+"SUBNET6"), ipv6); err != nil {
		return nil, v.wrap(p+"SUBNET6", err)
	}
	if n.Gateway6, err = parseAddr(v.str(p+"GATEWAY6"), ipv6); err != nil {
		return nil, v.wrap(p+"GATEWAY6", err)
	}
	if n.MACPrefix, err = parseMACPrefix(v.str(p + "MAC_PREFIX")); err != nil {
		return nil, v.wrap(p+"MAC_PREFIX", err)
	}
	if n.IsZero() {
		return nil, nil
	}
	return n, nil
}

// renderNetwork writes n with prefix p. With always, NAME, UUID and TAGS
// are written even when empty, as Ganeti does for NICs.
func renderNetwork(set func(k, v string), p string, n *Network, always bool) {
	if n == nil {
		return
	}
	opt := func(k, s string) {
		if always || s != "" {
			set(p+k, s)
		}
	}
	opt("NAME", n.Name)
	opt("UUID", n.UUID)
	opt("TAGS", n.Tags.String())
	if n.Subnet.IsValid() {
		set(p+"SUBNET", n.Subnet.String())
	}
	if n.Gateway.IsValid() {
		set(p+"GATEWAY", n.Gateway.String())
	}
	if n.Subnet6.IsValid() {
		set(p+"SUBNET6", n.Subnet6.String())
	}
	if n.Gateway6.IsValid() {
		set(p+"GATEWAY6", n.Gateway6.String())
	}
	if len(n.MACPrefix) > 0 {
		set(p+"MAC_PREFIX", n.MACPrefix.String())
	}
}

// sortedEnviron turns a map into sorted "K=V" entries.
func sortedEnviron(m map[string]string) []string {
	r := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		r = append(r, fmt.Sprintf("%s=%s", k, m[k]))
	}
	return r
}
