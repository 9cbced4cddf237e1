// Package dhcpload owns diktyo's DHCP/NDP load generator: it behaves like
// the VMs behind one tap, sending raw Ethernet frames over an AF_PACKET
// socket on the VM side of a veth (DHCPv4 from 0.0.0.0:68 to
// 255.255.255.255:67, no relay), and measures how a responder on the host
// side (nfdhcpd, dnsmasq, Kea) keeps up.
//
// Modes: full DHCPv4 DORA exchanges (DISCOVER→OFFER, REQUEST→ACK), RS→RA,
// NS→NA and DHCPv6 Information-request→Reply. The load is closed loop (a
// fixed number of exchanges in flight, each completed one starting the
// next) or open loop (exchanges started at a fixed rate), for a fixed
// duration after a warm-up. Replies are matched to requests by xid
// (DHCPv4), by the reply's destination address, which encodes the slot and
// sequence of the solicitation (NDP), or by transaction id (DHCPv6); late
// and unmatched replies are counted, never mistaken for answers.
//
// A Report holds exchanges/s, latency percentiles per full exchange and
// per message, timeouts and errors, and the server's CPU time per exchange
// read from /proc/PID/stat before and after the measurement.
//
// The hot path (build, send, receive, match, record) allocates nothing:
// frames are built into per-slot buffers, batches go through sendmmsg and
// recvmmsg on preallocated buffers and latencies land in fixed-size
// histograms. Everything except the socket and /proc readers is pure and
// unit-tested. The package builds frames with pkg/dhcp4, pkg/ndp and
// pkg/dhcp6 and must never import the daemon, NFQUEUE or netlink code.
package dhcpload
