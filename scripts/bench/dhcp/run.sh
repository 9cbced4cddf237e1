#!/bin/bash
# Side-by-side DHCP benchmark: nfdhcpd vs dnsmasq (vs Kea when installed),
# same topology, same load, one run. Prints a Markdown table on stdout (for
# docs/BENCHMARKS.md); progress and each run's full report go to stderr.
#
#   sudo scripts/bench/dhcp/run.sh > table.md
#
# Topologies (namespaces created here, removed on exit; TOPOLOGY picks):
#   veth: host ns with tap0 = host end of a veth (02:00:00:00:00:01,
#         198.51.100.1/24 for dnsmasq and Kea; nfdhcpd needs no address)
#         and the server pinned to CPU 0; VM ns with eth0 = the peer
#         (aa:00:00:5e:10:07, the binding's MAC) and dhcpload pinned to
#         CPU 1, sending VM-like raw frames over AF_PACKET. The veth runs
#         the VM side's receive path in the sender's context, so each
#         server is also charged for delivering its replies "into the VM".
#   tap:  host ns with a real tap0 (same MAC and address); dhcpload, in
#         the host ns on CPU 1, attaches to the tap's fd as QEMU does.
#         Replies take the production path (tun transmit, no VM stack).
# nfdhcpd gets its packets through NFQUEUE rules in the host namespace's
# mangle PREROUTING chain (queues 42-45, as GRNET installs them) and
# answers with frames sent out of tap0.
#
# Client MACs: every server gets the same load. "1 MAC" runs use only the
# binding's MAC with many xids in flight (a VM has one MAC; nfdhcpd only
# answers the binding's MAC). "N MACs" runs rotate over N MACs starting at
# the binding's; nfdhcpd then runs with MACSPOOF=1 in the binding (and
# offers the binding's IP to all), dnsmasq and Kea with one static
# reservation per MAC.
#
# Knobs (environment):
#   DURATION=10s WARMUP=1s  measured time and unmeasured warm-up per run
#   INFLIGHT="1 16"         closed-loop exchanges in flight
#   MANY_MACS=128           MAC count of the many-MAC run (0: skip it)
#   RATES=""                open-loop DORA rates (exchanges/s) to add, e.g. "10000 20000"
#   SERVERS="nfdhcpd dnsmasq kea"  (missing ones are skipped with a note)
#   TOPOLOGY="veth tap"     the topologies to run, in order (see above)
#   ROUNDS=1                repeat the whole sequence (servers interleaved);
#                           the table keeps the median run of each row
#   BUSY_POLL=1             add a 1-in-flight DORA run with dhcpload -busy-poll
#                           (latency without the generator's own wake-up)
#   RT=1                    run server and load SCHED_FIFO (chrt -f 10) so a
#                           busy shared machine does not preempt them
#   PROFILE=0               1: perf record both CPUs during each server's
#                           16-in-flight DORA run and print the top symbols of
#                           the server and of dhcpload to stderr
#   OUT=DIR                 keep reports (results.jsonl), server logs and
#                           profiles in DIR (default: a new /tmp/dhcpbench.*,
#                           kept; the built binaries are always removed)
set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-1s}
INFLIGHT=${INFLIGHT:-1 16}
MANY_MACS=${MANY_MACS:-128}
RATES=${RATES:-}
SERVERS=${SERVERS:-nfdhcpd dnsmasq kea}
RT=${RT:-1}
ROUNDS=${ROUNDS:-1}
TOPOLOGY=${TOPOLOGY:-veth tap}
BUSY_POLL=${BUSY_POLL:-1}
PROFILE=${PROFILE:-0}

[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (namespaces, raw sockets)" >&2; exit 1; }
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin

TMP=$(mktemp -d /tmp/dhcpbench.XXXXXX)
OUT=${OUT:-$TMP}
mkdir -p "$OUT"
H=dlb-h-$$
V=dlb-v-$$
SERVER_PID=
PERF_PID=
PERF_NAME=

log() { echo "run.sh: $*" >&2; }

cleanup() {
	set +e
	[ -n "$PERF_PID" ] && kill -INT "$PERF_PID" 2>/dev/null
	stop_server
	teardown_topology
	rm -rf "$TMP/bin"
	[ "$OUT" = "$TMP" ] || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CHRT=()
[ "$RT" = 1 ] && CHRT=(chrt -f 10)
hns() { ip netns exec "$H" "$@"; }
vns() { ip netns exec "$V" "$@"; }

# --- build -------------------------------------------------------------------
log "building in $ROOT"
mkdir -p "$TMP/bin"
(cd "$ROOT" && go build -o "$TMP/bin/dhcpload" ./nfdhcpd/dhcpload)
HAVE_NFDHCPD=0
if (cd "$ROOT" && go build -o "$TMP/bin/nfdhcpd" ./nfdhcpd) 2>"$OUT/nfdhcpd-build.log"; then
	HAVE_NFDHCPD=1
else
	log "nfdhcpd does not build (see $OUT/nfdhcpd-build.log): skipped"
fi

# --- topology ------------------------------------------------------------------
VM_MAC=aa:00:00:5e:10:07
VM_IP=198.51.100.23
TAP_MAC=02:00:00:00:00:01
ROUTER_LL=fe80::ff:fe00:1 # EUI-64 link-local of TAP_MAC
LOAD=()

# setup_topology veth|tap: the host namespace with tap0, and how dhcpload
# reaches it (LOAD): from eth0 in the VM namespace (veth), or attached to
# the tap's file descriptor as QEMU is (tap).
setup_topology() {
	ip netns add "$H"
	if [ "$1" = tap ]; then
		ip -n "$H" tuntap add dev tap0 mode tap
		ip -n "$H" link set tap0 address $TAP_MAC
		LOAD=(ip netns exec "$H" taskset -c 1 "${CHRT[@]}" "$TMP/bin/dhcpload" -tap -i tap0 -mac $VM_MAC)
	else
		ip netns add "$V"
		ip -n "$H" link add tap0 address $TAP_MAC type veth peer name eth0 address $VM_MAC netns "$V"
		vns sysctl -qw net.ipv6.conf.eth0.router_solicitations=0 net.ipv6.conf.eth0.accept_ra=0 \
			net.ipv6.conf.eth0.accept_dad=0
		ip -n "$V" link set lo up
		ip -n "$V" link set eth0 up
		LOAD=(ip netns exec "$V" taskset -c 1 "${CHRT[@]}" "$TMP/bin/dhcpload" -i eth0 -mac $VM_MAC)
	fi
	hns sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv6.conf.tap0.accept_dad=0
	ip -n "$H" addr add 198.51.100.1/24 dev tap0
	ip -n "$H" link set lo up
	ip -n "$H" link set tap0 up
}

teardown_topology() {
	ip netns del "$H" 2>/dev/null || true
	ip netns del "$V" 2>/dev/null || true
}

# nth_mac N: the binding's MAC plus N (last three bytes), as dhcpload -macs.
nth_mac() {
	local v=$((0x5e1007 + $1))
	printf 'aa:00:00:%02x:%02x:%02x' $((v >> 16 & 255)) $((v >> 8 & 255)) $((v & 255))
}
# nth_ip N: the address reserved for nth_mac N in many-MAC runs.
nth_ip() { echo "198.51.100.$((100 + $1))"; }
[ "$MANY_MACS" -le 128 ] || { log "MANY_MACS must be at most 128"; exit 1; }

# --- servers -------------------------------------------------------------------
# start_server NAME MACS: starts NAME in the host namespace on CPU 0 and sets
# SERVER_PID; MACS > 1 configures the many-MAC variant.
start_server() {
	local name=$1 macs=$2 d=$TMP/$1-$2
	rm -rf "$d"
	mkdir -p "$d"
	case $name in
	nfdhcpd)
		mkdir -p "$d/bindings"
		local spoof=
		[ "$macs" -gt 1 ] && spoof=1
		cat >"$d/bindings/tap0" <<-EOF
			INDEV=tap0
			IP=$VM_IP
			MAC=$VM_MAC
			HOSTNAME=vm23.example.org
			TAGS=""
			GATEWAY=198.51.100.1
			SUBNET=198.51.100.0/24
			GATEWAY6=2001:db8:100::1
			SUBNET6=2001:db8:100::/64
			EUI64=2001:db8:100:0:a800:ff:fe5e:1007
			PRIVATE=
			MTU=
			MACSPOOF=$spoof
		EOF
		cat >"$d/nfdhcpd.conf" <<-EOF
			[general]
			pidfile = $d/nfdhcpd.pid
			datapath = $d/bindings
			logdir = $d
			user = root

			[dhcp]
			enable_dhcp = yes
			lease_lifetime = 604800
			lease_renewal = 3600
			server_ip = 198.51.100.1
			dhcp_queue = 42
			nameservers = 198.51.100.53, 198.51.100.54
			domain = example.org

			[ipv6]
			enable_ipv6 = yes
			mode = auto
			ra_period = 300
			rs_queue = 43
			ns_queue = 44
			dhcpv6_queue = 45
			nameservers = 2001:db8:53::1, 2001:db8:53::2
			domains = example.org, example.net
		EOF
		hns iptables -t mangle -A PREROUTING -i tap0 -p udp --dport 67 -j NFQUEUE --queue-num 42
		hns ip6tables -t mangle -A PREROUTING -i tap0 -p ipv6-icmp --icmpv6-type router-solicitation -j NFQUEUE --queue-num 43
		hns ip6tables -t mangle -A PREROUTING -i tap0 -p ipv6-icmp --icmpv6-type neighbour-solicitation -j NFQUEUE --queue-num 44
		hns ip6tables -t mangle -A PREROUTING -i tap0 -p udp --dport 547 -j NFQUEUE --queue-num 45
		ip netns exec "$H" taskset -c 0 "${CHRT[@]}" "$TMP/bin/nfdhcpd" -f -c "$d/nfdhcpd.conf" --bindings "$d/bindings" \
			--pidfile none --user root --metrics-listen none >"$d/log" 2>&1 &
		SERVER_PID=$!
		;;
	dnsmasq)
		: >"$d/hosts"
		if [ "$macs" -gt 1 ]; then
			for ((i = 0; i < macs; i++)); do echo "$(nth_mac $i),$(nth_ip $i)" >>"$d/hosts"; done
		else
			echo "$VM_MAC,$VM_IP" >"$d/hosts"
		fi
		# --leasefile-ro: leases in memory only, like Kea's persist=false
		# and nfdhcpd (no state): compares the answer paths, not disks.
		ip netns exec "$H" taskset -c 0 "${CHRT[@]}" dnsmasq -k --conf-file=/dev/null --port=0 --no-resolv --no-hosts \
			--interface=tap0 --bind-interfaces --dhcp-range=198.51.100.10,198.51.100.99,255.255.255.0,7d \
			--dhcp-hostsfile="$d/hosts" --leasefile-ro --dhcp-authoritative --no-ping --quiet-dhcp \
			--dhcp-option=option:dns-server,198.51.100.53,198.51.100.54 --domain=example.org \
			--log-facility="$d/log" --pid-file= --user=root >>"$d/log" 2>&1 &
		SERVER_PID=$!
		;;
	kea)
		local res="" sep="" i
		if [ "$macs" -gt 1 ]; then
			for ((i = 0; i < macs; i++)); do
				res+="$sep{\"hw-address\": \"$(nth_mac $i)\", \"ip-address\": \"$(nth_ip $i)\"}"
				sep=", "
			done
		else
			res="{\"hw-address\": \"$VM_MAC\", \"ip-address\": \"$VM_IP\"}"
		fi
		cat >"$d/kea.json" <<-EOF
			{"Dhcp4": {
			  "interfaces-config": {"interfaces": ["tap0"], "dhcp-socket-type": "raw",
			    "service-sockets-max-retries": 100, "service-sockets-retry-wait-time": 100},
			  "lease-database": {"type": "memfile", "persist": false},
			  "valid-lifetime": 604800, "renew-timer": 3600, "rebind-timer": 529200,
			  "option-data": [
			    {"name": "domain-name-servers", "data": "198.51.100.53, 198.51.100.54"},
			    {"name": "domain-name", "data": "example.org"}],
			  "subnet4": [{"id": 1, "subnet": "198.51.100.0/24",
			    "pools": [{"pool": "198.51.100.10 - 198.51.100.99"}],
			    "option-data": [{"name": "routers", "data": "198.51.100.1"}],
			    "reservations": [$res]}],
			  "loggers": [{"name": "kea-dhcp4", "severity": "WARN",
			    "output_options": [{"output": "$d/log"}]}]
			}}
		EOF
		KEA_LOCKFILE_DIR=$d KEA_PIDFILE_DIR=$d ip netns exec "$H" taskset -c 0 "${CHRT[@]}" kea-dhcp4 -c "$d/kea.json" >"$d/out" 2>&1 &
		SERVER_PID=$!
		;;
	esac
	# Ready when a DORA completes (dhcpload fails when none does).
	local try
	for try in $(seq 40); do
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then
			log "$name exited at start; its log:"
			cat "$d"/log "$d"/out 2>/dev/null | tail -20 >&2
			SERVER_PID=
			return 1
		fi
		if "${LOAD[@]}" -macs "$macs" -duration 200ms -timeout 100ms >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.25
	done
	log "$name never answered; its log:"
	cat "$d"/log "$d"/out 2>/dev/null | tail -20 >&2
	stop_server
	return 1
}

stop_server() {
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null || true
		local i
		for i in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
		SERVER_PID=
	fi
	hns iptables -t mangle -F PREROUTING 2>/dev/null || true
	hns ip6tables -t mangle -F PREROUTING 2>/dev/null || true
}

# load SERVER MODE ARGS...: one measured run, report appended to results.
load() {
	local server=$1 mode=$2
	shift 2
	log "$server: $mode $*"
	if ! "${LOAD[@]}" -mode "$mode" -duration "$DURATION" \
		-warmup "$WARMUP" -pid "$SERVER_PID" -server "$server" -json-out "$OUT/results.jsonl" "$@" >&2; then
		log "$server: $mode $* failed"
	fi
}

# profile_start: with PROFILE=1, record both CPUs (server, load and the
# kernel work each does) during one run; profile_stop prints the top
# symbols per command.
profile_start() {
	[ "$PROFILE" = 1 ] || return 0
	# Above the benchmark's RT priority, or perf starves and records nothing.
	chrt -f 20 perf record -q -g -C 0,1 -o "$OUT/$1.perf" >/dev/null 2>&1 &
	PERF_PID=$!
	PERF_NAME=$1
}
profile_stop() {
	[ -n "$PERF_PID" ] || return 0
	kill -INT "$PERF_PID" 2>/dev/null || true
	wait "$PERF_PID" 2>/dev/null || true
	PERF_PID=
	# The server by thread ids (perf report --pid also shows other
	# processes' samples here); other tests may run an nfdhcpd too.
	local f="$OUT/$PERF_NAME.perf" sel tids
	tids=$(ls "/proc/$SERVER_PID/task" 2>/dev/null | paste -sd, -)
	for sel in "--tid $tids" "--comm dhcpload"; do
		log "profile during $PERF_NAME: perf report -i $f $sel --no-children --sort dso,sym"
		# shellcheck disable=SC2086
		perf report -i "$f" $sel --no-children -g none --percent-limit 0.5 --sort dso,sym 2>/dev/null |
			grep -v '^#' | grep '%' | head -40 >&2 || true
	done
}

# run_server SERVER: every load for one server.
run_server() {
	local server=$1 n r
	if start_server "$server" 1; then
		for n in $INFLIGHT; do
			[ "$n" = 16 ] && profile_start "$TOPO-$server-dora-16"
			load "$server" dora -inflight "$n"
			profile_stop
		done
		[ "$BUSY_POLL" = 1 ] && load "$server" dora -inflight 1 -busy-poll
		for r in $RATES; do load "$server" dora -rate "$r"; done
		if [ "$server" = nfdhcpd ]; then
			for n in $INFLIGHT; do
				load "$server" rs -inflight "$n"
				load "$server" ns -inflight "$n" -target "$ROUTER_LL"
				load "$server" dhcp6 -inflight "$n"
			done
		fi
		stop_server
	fi
	if [ "$MANY_MACS" -gt 1 ] && start_server "$server" "$MANY_MACS"; then
		load "$server" dora -inflight 16 -macs "$MANY_MACS"
		stop_server
	fi
}

PROFILE_ASKED=$PROFILE
for TOPO in $TOPOLOGY; do
	log "topology $TOPO"
	setup_topology "$TOPO"
	PROFILE=$PROFILE_ASKED
	for ((round = 1; round <= ROUNDS; round++)); do
		[ "$ROUNDS" -gt 1 ] && log "round $round of $ROUNDS"
		for server in $SERVERS; do
			case $server in
			nfdhcpd) [ "$HAVE_NFDHCPD" = 1 ] || continue ;;
			dnsmasq) command -v dnsmasq >/dev/null || { log "dnsmasq not installed: skipped"; continue; } ;;
			kea) command -v kea-dhcp4 >/dev/null || { log "kea-dhcp4 not installed: skipped"; continue; } ;;
			*) log "unknown server $server"; continue ;;
			esac
			run_server "$server"
		done
		PROFILE=0 # profile the first round only
	done
	teardown_topology
done

"$TMP/bin/dhcpload" -table "$OUT/results.jsonl"
log "reports: $OUT/results.jsonl"
