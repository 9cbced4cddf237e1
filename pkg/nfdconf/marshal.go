package nfdconf

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
)

// Marshal renders c as an nfdhcpd.conf that Parse reads back to an equal
// Config. diktyo's keys (metrics_listen, queue_bypass) are written only
// when set, so the output stays readable by GRNET's nfdhcpd otherwise.
func (c *Config) Marshal() []byte {
	var b bytes.Buffer
	kv := func(k, v string) {
		b.WriteString(k)
		if v == "" {
			b.WriteString(" =\n")
			return
		}
		b.WriteString(" = ")
		b.WriteString(v)
		b.WriteByte('\n')
	}
	yn := func(v bool) string {
		if v {
			return "yes"
		}
		return "no"
	}
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	b.WriteString("[general]\n")
	kv("pidfile", quote(c.General.PIDFile))
	kv("datapath", quote(c.General.DataPath))
	kv("logdir", quote(c.General.LogDir))
	kv("user", quote(c.General.User))
	if c.General.MetricsListen != "" {
		kv("metrics_listen", quote(c.General.MetricsListen))
	}
	if c.General.QueueBypass {
		kv("queue_bypass", "yes")
	}
	b.WriteString("\n[dhcp]\n")
	kv("enable_dhcp", yn(c.DHCP.Enable))
	kv("lease_lifetime", u(uint64(c.DHCP.LeaseLifetime)))
	kv("lease_renewal", u(uint64(c.DHCP.LeaseRenewal)))
	if c.DHCP.ServerIP.IsValid() {
		kv("server_ip", c.DHCP.ServerIP.String())
	} else {
		kv("server_ip", "")
	}
	kv("server_on_link", yn(c.DHCP.ServerOnLink))
	kv("dhcp_queue", u(uint64(c.DHCP.Queue)))
	kv("nameservers", addrs(c.DHCP.Nameservers))
	kv("domain", c.DHCP.Domain)
	b.WriteString("\n[ipv6]\n")
	kv("enable_ipv6", yn(c.IPv6.Enable))
	kv("mode", string(c.IPv6.Mode))
	kv("ra_period", u(uint64(c.IPv6.RAPeriod)))
	kv("rs_queue", u(uint64(c.IPv6.RSQueue)))
	kv("ns_queue", u(uint64(c.IPv6.NSQueue)))
	kv("dhcpv6_queue", u(uint64(c.IPv6.DHCPv6Queue)))
	kv("nameservers", addrs(c.IPv6.Nameservers))
	kv("domains", strings.Join(c.IPv6.Domains, ", "))
	return b.Bytes()
}

func addrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// quote quotes a string value when it would otherwise not read back
// unchanged. A value holding both quote characters cannot be written (nor
// can Parse produce one).
func quote(s string) string {
	if s == "" || !strings.ContainsAny(s, "#,\"' \t") {
		return s
	}
	if strings.ContainsRune(s, '"') {
		return "'" + s + "'"
	}
	return `"` + s + `"`
}
