#!/bin/bash
# Second half of make demo: a VM namespace gets wired and served. A "host"
# namespace holds a bridge and the host end of the VM's NIC (a veth named
# like a tap); diktyo-ifup wires it from a Ganeti-style environment built
# with an address allocated from the pool; nfdhcpd answers the VM's real
# DHCP client (udhcpc) from the binding file diktyo-ifup wrote.
# Usage: wire.sh DB (the demo's pool store). Needs root.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=$top/bin
db=$1
[ "$(id -u)" = 0 ] || { echo "demo: wiring a VM needs root; skipped"; exit 0; }
id=$$
host=dkdemo-h$id vm=dkdemo-v$id tap=tapdk$id br=brdk$id
work=$(mktemp -d /tmp/diktyo-wire.XXXXXX)
pidfile=$work/nfdhcpd.pid
cleanup() {
	# nfdhcpd's own pidfile: $! of a background "ip netns exec" need not
	# be the daemon.
	if [ -s "$pidfile" ]; then
		pid=$(cat "$pidfile")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	fi
	ip netns del "$vm" 2>/dev/null || true
	ip netns del "$host" 2>/dev/null || true
	rm -rf "/etc/netns/$vm" "$work"
}
trap cleanup EXIT
run() { echo "\$ $*"; "$@"; }
inhost() { ip netns exec "$host" "$@"; }

ipam() { "$bin/diktyo-ipam" --db "$db" "$@"; }
ipam network add --network=198.18.10.0/24 --gateway=198.18.10.1 \
	--mac-prefix=aa:00:02 --tags=nfdhcpd vmnet >/dev/null
ipam network connect --nic-parameters=mode=bridged,link="$br" vmnet default >/dev/null
mac=$(ipam mac generate --owner=vm1.example.org:0 vmnet)
addr=$(ipam ip allocate --owner=vm1.example.org:0 vmnet)
echo "pool: vm1.example.org NIC 0 gets $addr and MAC $mac"

ip netns add "$host"
ip netns add "$vm"
mkdir -p "/etc/netns/$vm" && : >"/etc/netns/$vm/resolv.conf"
inhost ip link set lo up
inhost ip link add "$br" type bridge
inhost ip link set "$br" up
inhost ip link add "$tap" type veth peer name eth0 netns "$vm"
ip netns exec "$vm" ip link set eth0 address "$mac"
ip netns exec "$vm" ip link set eth0 up
ip netns exec "$vm" ip link set lo up

# What Ganeti's kvm-ifup passes to /etc/ganeti/kvm-vif-bridge.
cat >"$work/nic.env" <<ENV
INSTANCE=vm1.example.org
INTERFACE=$tap
INTERFACE_INDEX=0
INTERFACE_UUID=6c1c3b8e-0f4e-4d7a-9a51-0d3f4b0e2a11
MAC=$mac
IP=$addr
MODE=bridged
LINK=$br
BRIDGE=$br
VLAN=
TAGS=
NETWORK_NAME=vmnet
NETWORK_SUBNET=198.18.10.0/24
NETWORK_GATEWAY=198.18.10.1
NETWORK_MAC_PREFIX=aa:00:02
NETWORK_TAGS=nfdhcpd
ENV
: >"$work/diktyo.conf"
mkdir -p "$work/state" "$work/bindings"
export DIKTYO_CONFIG=$work/diktyo.conf DIKTYO_STATE_DIR=$work/state NFDHCPD_STATE_DIR=$work/bindings
run inhost "$bin/diktyo-ifup" up --env "$work/nic.env"
echo "binding file written by diktyo-ifup:"
sed 's/^/    /' "$work/bindings/$tap"

cat >"$work/nfdhcpd.conf" <<CONF
[general]
datapath = $work/bindings
user = root
[dhcp]
enable_dhcp = yes
server_ip = 198.18.10.1
nameservers = 198.18.10.53
domain = example.org
[ipv6]
enable_ipv6 = no
CONF
ip netns exec "$host" "$bin/nfdhcpd" -f -c "$work/nfdhcpd.conf" --pidfile "$pidfile" >"$work/nfdhcpd.log" 2>&1 &
for _ in $(seq 50); do [ -s "$pidfile" ] && break; sleep 0.1; done
echo "\$ udhcpc -i eth0 (in the VM namespace)"
if ! ip netns exec "$vm" udhcpc -i eth0 -f -q -n -t 5 -T 2 -s /bin/true >"$work/udhcpc.log" 2>&1; then
	sed 's/^/    /' "$work/udhcpc.log"
	echo "demo: the VM got no lease; nfdhcpd said:"; cat "$work/nfdhcpd.log"; exit 1
fi
sed 's/^/    /' "$work/udhcpc.log"
# The lease must be exactly the address the pool allocated.
if ! grep -q "lease of $addr obtained" "$work/udhcpc.log"; then
	echo "demo: the VM's lease is not the allocated $addr"; exit 1
fi
echo "the VM's lease is the address the pool allocated: $addr"
grep -q "dhcp reply" "$work/nfdhcpd.log" && echo "nfdhcpd log:" && grep "dhcp reply" "$work/nfdhcpd.log" | sed 's/^/    /'
run inhost "$bin/diktyo-ifup" show
run inhost "$bin/diktyo-ifup" down "$tap"
echo "after down, diktyo's nftables tables:"
inhost nft list tables | sed 's/^/    /'
