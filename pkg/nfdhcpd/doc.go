// Package nfdhcpd is diktyo's nfdhcpd daemon: a drop-in for GRNET's
// nfdhcpd that answers the DHCPv4, router solicitation, neighbour
// solicitation and DHCPv6 packets netfilter queues to it from VM taps, with
// L2 frames sent straight out of the VM's tap.
//
// It owns the daemon's life: command line and configuration (GRNET's
// nfdhcpd.conf through pkg/nfdconf), the pidfile, daemonizing, the
// privilege drop, signals, logging (with per-tap rate limits), one NFQUEUE
// per enabled function, the AF_PACKET socket replies leave from, the tap
// MAC cache, the periodic router advertisement scheduler and the optional
// Prometheus endpoint. Answers themselves are computed by the pure packages
// pkg/dhcp4, pkg/ndp and pkg/dhcp6; bindings come from pkg/binding. It must
// never import nftables or rule-building code: which packets reach the
// queues is decided by whoever installs the queue rules (diktyo-ifup).
//
// Packet path: a queued packet is looked up in the binding table (routed:
// InDev is the tap; bridged: InDev is the bridge and PhysInDev the tap,
// see binding.Table.LookupEntry). A packet from a tap without a binding is
// ACCEPTed, as GRNET does. A packet from a known tap is always DROPped; when
// the responder produces a reply it is sent out of the tap through one
// AF_PACKET socket (protocol 0: it receives nothing), with the tap's own MAC
// as the server/router MAC. The path allocates nothing: each queue has its
// own buffers, the MAC cache is a copy-on-write map refreshed when the
// binding table changes, metrics use pre-resolved counters.
//
// Decisions:
//
//   - While nfdhcpd is down (crash, restart, upgrade), what happens to the
//     queued packets is decided by the queue rule: with the NFQUEUE bypass
//     flag (diktyo-ifup sets it with QUEUE_BYPASS=yes in /etc/default/diktyo) the
//     kernel accepts them and the host stack sees them (DHCP to port 67
//     finds no listener, RS/NS reach the host kernel); without it (GRNET's
//     behaviour, the default) they are dropped and VMs retry. The daemon
//     side follows the same switch: with queue_bypass = yes the queues are
//     opened fail-open (a full queue accepts instead of drops,
//     NFQA_CFG_F_FAIL_OPEN); with no they drop. Either way a VM gets no
//     answer while the daemon is away; clients retry.
//   - The DHCPv6 server DUID is a DUID-UUID (RFC 6355) made from the
//     host's /etc/machine-id (or /var/lib/dbus/machine-id): stable across
//     replies and restarts without any state of ours, and distinct per host.
//     Without a machine id it is the DUID-LL of a locally administered MAC
//     derived from the host name (stable while the name is).
//   - [ipv6] mode = dhcpv6 (stateful) is refused at start, as GRNET does:
//     only stateless DHCPv6 (Information-request) is answered.
//   - [dhcp] server_on_link = yes uses the binding's gateway as server
//     identifier (pkg/dhcp4's rule when server_ip is unset).
//   - The router lifetime advertised is max(1800 s, 3 × ra_period) capped
//     at 9000 s, and RDNSS/DNSSL lifetimes are 3 × ra_period, as GRNET.
//   - Privileges: after the queues, the AF_PACKET socket and the metrics
//     listener are open, the process switches to [general] user (all
//     threads) keeping only CAP_NET_ADMIN (verdicts and queue rebinding on
//     reload) and CAP_NET_RAW in its permitted and effective sets; the
//     bounding and ambient sets are cleared of everything else. This needs
//     a binary without cgo (CGO_ENABLED=0, as make build does): a cgo
//     binary cannot change capabilities of all threads and refuses to
//     start with a non-root user. user = root (or empty) keeps root, with
//     a warning.
//   - SIGHUP rereads the configuration (a bad file is logged and the old
//     one kept), rebuilds the responders, rebinds queues whose number or
//     enablement changed and rescans the binding directory. Changes of
//     pidfile, datapath, user and metrics_listen need a restart (logged).
//     A queue that cannot be bound on reload stops the daemon (exit 1), as
//     it would at start, rather than leave a function silently unserved.
//     SIGUSR1 logs the binding table; SIGTERM and SIGINT unbind the queues,
//     remove the pidfile and exit 0.
//   - Without -f the daemon re-executes itself in a new session with stdio
//     on /dev/null (Go cannot fork) and logs to syslog (facility daemon,
//     falling back to logdir/nfdhcpd.log when there is no syslog); the
//     parent exits 0 once the child has written its pidfile and is serving,
//     or prints the child's error and exits 1.
//   - Link changes (rtnetlink) that affect a binding's tap or INDEV (the
//     tap appears after its binding file, is deleted, renamed or changes
//     MAC) trigger a binding rescan, so no SIGHUP is needed for them.
//   - Log lines about one tap are rate limited per (tap, event) with a token
//     bucket, so a hostile VM cannot fill the disk; the first line after a
//     suppression says how many were suppressed.
package nfdhcpd
