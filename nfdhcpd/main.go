// Command nfdhcpd answers the DHCPv4, router solicitation, neighbour
// solicitation and DHCPv6 packets netfilter queues to it from VM taps; a
// drop-in for GRNET's nfdhcpd (same configuration file, binding files and
// flags -c, -f, -d). All logic is in pkg/nfdhcpd (nfdhcpd.Run); see its
// documentation.
//
// Usage:
//
//	nfdhcpd [-c CONF] [-f] [-d] [--bindings DIR] [--pidfile PATH|none]
//	        [--user USER] [--metrics-listen HOST:PORT|none]
//	nfdhcpd --version
//
// $NFDHCPD_STATE_DIR overrides [general] datapath; flags override both.
//
// Running it in a network namespace (tests, e2e): the queues, the reply
// socket and the taps are those of the namespace the process starts in, so
// install the NFQUEUE rules in that namespace and start the daemon there.
// Queue in mangle PREROUTING, as GRNET does: router solicitations to
// ff02::2 reach INPUT only when the host forwards IPv6, and DHCPv6
// Information-Requests to ff02::1:2 never do.
//
//	ip netns exec HOST iptables -t mangle -A PREROUTING -i tap0 -p udp --dport 67 -j NFQUEUE --queue-num 42
//	ip netns exec HOST ip6tables -t mangle -A PREROUTING -i tap0 -p icmpv6 --icmpv6-type 133 -j NFQUEUE --queue-num 43
//	ip netns exec HOST ip6tables -t mangle -A PREROUTING -i tap0 -p icmpv6 --icmpv6-type 135 -j NFQUEUE --queue-num 44
//	ip netns exec HOST ip6tables -t mangle -A PREROUTING -i tap0 -p udp --dport 547 -j NFQUEUE --queue-num 45
//	ip netns exec HOST nfdhcpd -f -c CONF --bindings DIR --pidfile none --user root
//
// (bridged taps: match with -m physdev --physdev-in tap0.) diktyo-ifup
// installs the equivalent nftables rules for every NIC with the nfdhcpd
// tag. Use a pidfile per instance (or none) when several run at once.
// It logs to stderr with -f; stops cleanly on SIGTERM/SIGINT; SIGHUP
// reloads, SIGUSR1 logs the binding table. Exit status: 0 clean stop, 1
// configuration or runtime error (one line on stderr), 2 usage.
// Dropping privileges to a non-root user needs a CGO_ENABLED=0 build.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/diktyo/diktyo/pkg/nfdhcpd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := nfdhcpd.Run(ctx, os.Args, os.Environ(), os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
