package nettest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ErrNoAnswer is wrapped when a client got no (usable) answer.
var ErrNoAnswer = errors.New("no answer")

// EventKey is the variable the client scripts of this package add to each
// record: the script's first argument (udhcpc's event name), empty for
// clients that pass none.
const EventKey = "nettest_event"

// ParseEnvRecords parses what the client scripts of this package write:
// per call one record of NUL-terminated NAME=VALUE entries (`env -0`)
// followed by one more NUL.
func ParseEnvRecords(b []byte) []map[string]string {
	var out []map[string]string
	cur := map[string]string{}
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			i = len(b) // truncated last entry: keep what is there
		}
		e := string(b[:i])
		b = b[min(i+1, len(b)):]
		if e == "" {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = map[string]string{}
			continue
		}
		if k, v, ok := strings.Cut(e, "="); ok {
			cur[k] = v
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// Lease4 is a DHCPv4 lease as a client reported it to its script.
type Lease4 struct {
	// Addr is the address with the mask's prefix length.
	Addr      netip.Prefix
	Routers   []netip.Addr
	DNS       []netip.Addr
	Domain    string
	Search    []string
	ServerID  netip.Addr
	LeaseTime time.Duration
	// Renewal is T1 (0 when the client does not report it).
	Renewal  time.Duration
	MTU      int
	Hostname string
	// Event is the script event or reason the lease came with.
	Event string
	// Env is the whole record.
	Env map[string]string
}

func parseAddrList(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for f := range strings.FieldsSeq(strings.ReplaceAll(s, ",", " ")) {
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// domainList splits a space separated domain list and drops trailing dots
// (dhclient writes "example.org.").
func domainList(s string) []string {
	var out []string
	for f := range strings.FieldsSeq(s) {
		out = append(out, strings.TrimSuffix(f, "."))
	}
	return out
}

func maskBits(s string) (int, error) {
	m, err := netip.ParseAddr(s)
	if err != nil || !m.Is4() {
		return 0, fmt.Errorf("subnet mask %q: not an IPv4 mask", s)
	}
	b := m.As4()
	ones, bits := net.IPMask(b[:]).Size()
	if bits == 0 {
		return 0, fmt.Errorf("subnet mask %q: not contiguous", s)
	}
	return ones, nil
}

func seconds(env map[string]string, key string) (time.Duration, error) {
	v, ok := env[key]
	if !ok || v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: %w", key, v, err)
	}
	return time.Duration(n) * time.Second, nil
}

// leaseFields maps Lease4 fields to one client's variable names.
type leaseFields struct {
	ip, mask, bits, routers, dns, domain, search, server, lease, renewal, mtu, host string
}

var (
	udhcpcFields = leaseFields{"ip", "subnet", "mask", "router", "dns", "domain", "search", "serverid", "lease", "", "mtu", "hostname"}
	iscFields    = leaseFields{"new_ip_address", "new_subnet_mask", "new_subnet_cidr", "new_routers", "new_domain_name_servers",
		"new_domain_name", "new_domain_search", "new_dhcp_server_identifier", "new_dhcp_lease_time", "new_dhcp_renewal_time",
		"new_interface_mtu", "new_host_name"}
)

func parseLease(env map[string]string, f leaseFields, event string) (Lease4, error) {
	l := Lease4{Env: env, Event: event}
	ip, err := netip.ParseAddr(env[f.ip])
	if err != nil || !ip.Is4() {
		return l, fmt.Errorf("%s=%q: not an IPv4 address", f.ip, env[f.ip])
	}
	bits := -1
	if m := env[f.mask]; m != "" {
		if bits, err = maskBits(m); err != nil {
			return l, err
		}
	} else if c := env[f.bits]; c != "" {
		if bits, err = strconv.Atoi(c); err != nil || bits < 0 || bits > 32 {
			return l, fmt.Errorf("%s=%q: not a prefix length", f.bits, c)
		}
	}
	if bits < 0 {
		return l, fmt.Errorf("lease of %v has no subnet mask", ip)
	}
	l.Addr = netip.PrefixFrom(ip, bits)
	if l.Routers, err = parseAddrList(env[f.routers]); err != nil {
		return l, fmt.Errorf("%s: %w", f.routers, err)
	}
	if l.DNS, err = parseAddrList(env[f.dns]); err != nil {
		return l, fmt.Errorf("%s: %w", f.dns, err)
	}
	l.Domain = strings.TrimSuffix(env[f.domain], ".")
	l.Search = domainList(env[f.search])
	if s := env[f.server]; s != "" {
		if l.ServerID, err = netip.ParseAddr(s); err != nil {
			return l, fmt.Errorf("%s: %w", f.server, err)
		}
	}
	if l.LeaseTime, err = seconds(env, f.lease); err != nil {
		return l, err
	}
	if f.renewal != "" {
		if l.Renewal, err = seconds(env, f.renewal); err != nil {
			return l, err
		}
	}
	if m := env[f.mtu]; m != "" {
		if l.MTU, err = strconv.Atoi(m); err != nil {
			return l, fmt.Errorf("%s=%q: %w", f.mtu, m, err)
		}
	}
	l.Hostname = env[f.host]
	return l, nil
}

// lastRecord returns the last record whose event (EventKey, else reason)
// is one of events.
func lastRecord(recs []map[string]string, events ...string) (map[string]string, string) {
	for i := len(recs) - 1; i >= 0; i-- {
		ev := recs[i][EventKey]
		if ev == "" {
			ev = recs[i]["reason"]
		}
		for _, e := range events {
			if ev == e {
				return recs[i], ev
			}
		}
	}
	return nil, ""
}

// UdhcpcLease returns the lease of the last "bound" or "renew" event of
// udhcpc's script records.
func UdhcpcLease(recs []map[string]string) (Lease4, error) {
	env, ev := lastRecord(recs, "bound", "renew")
	if env == nil {
		return Lease4{}, fmt.Errorf("udhcpc: %w: no bound event in %d script calls", ErrNoAnswer, len(recs))
	}
	l, err := parseLease(env, udhcpcFields, ev)
	if err != nil {
		return l, fmt.Errorf("udhcpc %s: %w", ev, err)
	}
	return l, nil
}

// ISCLease returns the lease of the last BOUND, RENEW, REBIND or REBOOT
// record of dhclient's or dhcpcd's script records.
func ISCLease(recs []map[string]string) (Lease4, error) {
	env, ev := lastRecord(recs, "BOUND", "RENEW", "REBIND", "REBOOT")
	if env == nil {
		return Lease4{}, fmt.Errorf("%w: no BOUND record in %d script calls", ErrNoAnswer, len(recs))
	}
	l, err := parseLease(env, iscFields, ev)
	if err != nil {
		return l, fmt.Errorf("%s: %w", ev, err)
	}
	return l, nil
}

// Info6 is stateless DHCPv6 configuration (an Information-Request's Reply).
type Info6 struct {
	DNS     []netip.Addr
	Domains []string
	Event   string
	Env     map[string]string
}

// Info6Of returns the DHCPv6 information of the last record that carries
// any (dhclient -6 -S reports it as RENEW6, dhcpcd as INFORM6).
func Info6Of(recs []map[string]string) (Info6, error) {
	for i := len(recs) - 1; i >= 0; i-- {
		env := recs[i]
		ns, hasNS := env["new_dhcp6_name_servers"]
		ds, hasDS := env["new_dhcp6_domain_search"]
		if !hasNS && !hasDS {
			continue
		}
		in := Info6{Env: env, Event: env["reason"], Domains: domainList(ds)}
		var err error
		if in.DNS, err = parseAddrList(ns); err != nil {
			return in, fmt.Errorf("new_dhcp6_name_servers: %w", err)
		}
		return in, nil
	}
	return Info6{}, fmt.Errorf("%w: no DHCPv6 information in %d script calls", ErrNoAnswer, len(recs))
}

// RA is a router advertisement as rdisc6 prints it. Lifetimes hold the
// advertised value (0xffffffff seconds for "infinite").
type RA struct {
	HopLimit       int
	Managed        bool // M: stateful address configuration
	Other          bool // O: stateful other configuration
	HomeAgent      bool
	Preference     string // low, medium, high
	Proxy          bool
	RouterLifetime time.Duration
	ReachableTime  time.Duration
	RetransTime    time.Duration
	Prefixes       []RAPrefix
	// MTU is 0 when the RA has no MTU option.
	MTU           int
	SourceLLA     net.HardwareAddr
	RDNSS         []netip.Addr
	RDNSSLifetime time.Duration
	DNSSL         []string
	DNSSLLifetime time.Duration
	From          netip.Addr
}

// RAPrefix is a prefix information option.
type RAPrefix struct {
	Prefix            netip.Prefix
	OnLink            bool
	Autonomous        bool
	ValidLifetime     time.Duration
	PreferredLifetime time.Duration
}

// ParseRdisc6 parses the first advertisement in rdisc6's output (run with
// -1). It fails with ErrNoAnswer when rdisc6 printed none.
func ParseRdisc6(out string) (RA, error) {
	var ra RA
	var pfx *RAPrefix
	seen := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if from, ok := strings.CutPrefix(line, " from "); ok {
			a, err := netip.ParseAddr(strings.TrimSpace(from))
			if err != nil {
				return ra, fmt.Errorf("rdisc6 line %d: %w", n, err)
			}
			ra.From = a
			return ra, nil // -1: the first advertisement is enough
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		var err error
		switch key {
		case "Hop limit":
			seen = true
			f := strings.Fields(val)
			switch {
			case len(f) == 0:
				err = errors.New("empty")
			case f[0] == "unspecified":
				ra.HopLimit = 0
			default:
				ra.HopLimit, err = strconv.Atoi(f[0])
			}
		case "Stateful address conf.":
			ra.Managed, err = yesNo(val)
		case "Stateful other conf.":
			ra.Other, err = yesNo(val)
		case "Mobile home agent":
			ra.HomeAgent, err = yesNo(val)
		case "Router preference":
			ra.Preference = val
		case "Neighbor discovery proxy":
			ra.Proxy, err = yesNo(val)
		case "Router lifetime":
			ra.RouterLifetime, err = lifetime(val, time.Second)
		case "Reachable time":
			ra.ReachableTime, err = lifetime(val, time.Millisecond)
		case "Retransmit time":
			ra.RetransTime, err = lifetime(val, time.Millisecond)
		case "Prefix":
			var p netip.Prefix
			p, err = netip.ParsePrefix(val)
			ra.Prefixes = append(ra.Prefixes, RAPrefix{Prefix: p})
			pfx = &ra.Prefixes[len(ra.Prefixes)-1]
		case "On-link", "Autonomous address conf.", "Valid time", "Pref. time":
			if pfx == nil {
				err = errors.New("prefix field outside a prefix")
				break
			}
			switch key {
			case "On-link":
				pfx.OnLink, err = yesNo(val)
			case "Autonomous address conf.":
				pfx.Autonomous, err = yesNo(val)
			case "Valid time":
				pfx.ValidLifetime, err = lifetime(val, time.Second)
			default:
				pfx.PreferredLifetime, err = lifetime(val, time.Second)
			}
		case "MTU":
			f := strings.Fields(val)
			if len(f) == 0 {
				err = errors.New("empty")
			} else {
				ra.MTU, err = strconv.Atoi(f[0])
			}
		case "Source link-layer address":
			ra.SourceLLA, err = net.ParseMAC(val)
		case "Recursive DNS server":
			var a netip.Addr
			a, err = netip.ParseAddr(val)
			ra.RDNSS = append(ra.RDNSS, a)
		case "DNS server lifetime", "DNS servers lifetime":
			ra.RDNSSLifetime, err = lifetime(val, time.Second)
		case "DNS search list":
			ra.DNSSL = append(ra.DNSSL, domainList(val)...)
		case "DNS search list lifetime":
			ra.DNSSLLifetime, err = lifetime(val, time.Second)
		}
		if err != nil {
			return ra, fmt.Errorf("rdisc6 line %d %q: %w", n, line, err)
		}
	}
	if !seen {
		return ra, fmt.Errorf("rdisc6: %w: %s", ErrNoAnswer, strings.TrimSpace(out))
	}
	return ra, nil
}

func yesNo(s string) (bool, error) {
	switch s {
	case "Yes":
		return true, nil
	case "No":
		return false, nil
	}
	return false, fmt.Errorf("%q is not Yes or No", s)
}

// lifetime parses rdisc6's "%12u (0x%08x) unit", "infinite (0xffffffff)"
// and "unspecified (0x00000000)" from the hexadecimal value.
func lifetime(s string, unit time.Duration) (time.Duration, error) {
	_, rest, ok := strings.Cut(s, "(0x")
	h, _, ok2 := strings.Cut(rest, ")")
	if !ok || !ok2 {
		return 0, fmt.Errorf("%q: no (0x...) value", s)
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	return time.Duration(v) * unit, nil
}

// NA is a neighbour advertisement as ndisc6 prints it.
type NA struct {
	TargetLLA net.HardwareAddr
	From      netip.Addr
}

// ParseNdisc6 parses ndisc6's output (run with -1); ErrNoAnswer when it
// printed no advertisement.
func ParseNdisc6(out string) (NA, error) {
	var na NA
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "Target link-layer address:"); ok {
			mac, err := net.ParseMAC(strings.TrimSpace(v))
			if err != nil {
				return na, fmt.Errorf("ndisc6: %q: %w", line, err)
			}
			na.TargetLLA = mac
		} else if v, ok := strings.CutPrefix(line, " from "); ok {
			a, err := netip.ParseAddr(strings.TrimSpace(v))
			if err != nil {
				return na, fmt.Errorf("ndisc6: %q: %w", line, err)
			}
			na.From = a
			return na, nil
		}
	}
	return na, fmt.Errorf("ndisc6: %w: %s", ErrNoAnswer, strings.TrimSpace(out))
}
