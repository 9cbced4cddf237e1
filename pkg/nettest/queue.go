package nettest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// Queues says which of a VM's packets are steered to which NFQUEUE. A zero
// queue number leaves that kind of packet alone.
type Queues struct {
	// Tap is the VM's tap (host end).
	Tap string
	// Bridge, when set, is the bridge Tap is a port of: packets are then
	// matched with -m physdev --physdev-in Tap (through br_netfilter), or,
	// where the physdev match is missing, with -i Bridge.
	Bridge string
	// DHCP is the queue of UDP to port 67 (iptables).
	DHCP uint16
	// RS and NS are the queues of ICMPv6 router and neighbour
	// solicitations (types 133 and 135; ip6tables).
	RS, NS uint16
	// DHCPv6 is the queue of UDP to port 547 (ip6tables).
	DHCPv6 uint16
	// Bypass adds --queue-bypass: packets pass when nothing is bound.
	Bypass bool
	// Chain is "table/chain"; empty means "mangle/PREROUTING", which sees
	// broadcasts, multicasts the host has not joined (ff02::2 without
	// forwarding) and unicasts to any address, as GRNET's rules do. Use
	// "filter/INPUT" for local deliveries only.
	Chain string
}

// rule is one iptables or ip6tables rule: the command and its match and
// target arguments, without the -A/-D and chain.
type rule struct {
	cmd  string
	args []string
}

// rules builds the rules of q; physdev chooses the bridge match.
func (q Queues) rules(physdev bool) ([]rule, string, string, error) {
	table, chain := "mangle", "PREROUTING"
	if q.Chain != "" {
		var ok bool
		table, chain, ok = strings.Cut(q.Chain, "/")
		if !ok {
			return nil, "", "", fmt.Errorf("chain %q is not table/chain", q.Chain)
		}
	}
	if q.Tap == "" {
		return nil, "", "", errors.New("queues: no tap")
	}
	in := []string{"-i", q.Tap}
	if q.Bridge != "" {
		in = []string{"-i", q.Bridge}
		if physdev {
			in = []string{"-m", "physdev", "--physdev-in", q.Tap}
		}
	}
	target := func(num uint16) []string {
		t := []string{"-m", "comment", "--comment", "nettest", "-j", "NFQUEUE", "--queue-num", strconv.Itoa(int(num))}
		if q.Bypass {
			t = append(t, "--queue-bypass")
		}
		return t
	}
	var out []rule
	add := func(cmd string, num uint16, match ...string) {
		if num == 0 {
			return
		}
		args := append(append(append([]string{}, in...), match...), target(num)...)
		out = append(out, rule{cmd, args})
	}
	add("iptables", q.DHCP, "-p", "udp", "--dport", "67")
	add("ip6tables", q.RS, "-p", "icmpv6", "--icmpv6-type", "133")
	add("ip6tables", q.NS, "-p", "icmpv6", "--icmpv6-type", "135")
	add("ip6tables", q.DHCPv6, "-p", "udp", "--dport", "547")
	return out, table, chain, nil
}

// HasPhysdev reports whether the physdev match works in ns and bridged
// IPv4 and IPv6 traffic is passed to iptables there (br_netfilter with
// bridge-nf-call-ip{,6}tables = 1).
func HasPhysdev(ns *NS) bool {
	for _, k := range []string{"net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables"} {
		if v, err := ns.ReadSysctl(k); err != nil || v != "1" {
			return false
		}
	}
	_, err := ns.Output("iptables", "-t", "raw", "-C", "PREROUTING", "-m", "physdev", "--physdev-in", "nettest0", "-j", "ACCEPT")
	// -C on an absent rule fails with "does a matching rule exist";
	// a missing match fails differently.
	return err == nil || strings.Contains(err.Error(), "does a matching rule exist") || strings.Contains(err.Error(), "Bad rule")
}

// SteerQueues appends the NFQUEUE rules of q in ns and registers their
// removal.
func SteerQueues(t testing.TB, ns *NS, q Queues) {
	t.Helper()
	physdev := q.Bridge != "" && HasPhysdev(ns)
	if q.Bridge != "" && !physdev {
		t.Logf("netns %s: no physdev match; matching bridged packets with -i %s", ns, q.Bridge)
	}
	rules, table, chain, err := q.rules(physdev)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		ns.Run(t, append([]string{r.cmd, "-w", "-t", table, "-A", chain}, r.args...)...)
		t.Cleanup(func() {
			_, _ = ns.Output(append([]string{r.cmd, "-w", "-t", table, "-D", chain}, r.args...)...)
		})
	}
}
