#!/bin/bash
# make demo: runs diktyo's main job end to end on the embedded default
# store (a bbolt file) in a throwaway directory: the IP pool (create
# networks, connect them to a node group, allocate and reserve addresses
# the way Ganeti hooks do, show the pool map), then a VM namespace wired by
# diktyo-ifup and served by nfdhcpd with an address from that pool
# (wire.sh).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
ipam="$top/bin/diktyo-ipam"
work=$(mktemp -d /tmp/diktyo-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
export DIKTYO_IPAM_DB="$work/ipam.db"

run() { echo "\$ diktyo-ipam $*"; "$ipam" "$@"; }

run network add --network=198.51.100.0/24 --gateway=198.51.100.1 \
	--network6=2001:db8:100::/64 --gateway6=2001:db8:100::1 \
	--mac-prefix=aa:00:00 --add-reserved-ips=198.51.100.2,198.51.100.3 \
	--tags=nfdhcpd,public public
run network connect --nic-parameters=mode=routed,link=100 public default
run network add --network=10.0.0.0/8 --gateway=10.0.0.1 --mac-prefix=aa:00:01 big
declare -A addr
for vm in web1 web2 db1; do
	echo "\$ diktyo-ipam ip allocate --owner=$vm.example.org:0 public"
	addr[$vm]=$("$ipam" ip allocate --owner="$vm.example.org:0" public)
	echo "${addr[$vm]}"
done
run ip reserve --owner=mail.example.org:0 public 198.51.100.25
run ip allocate --owner=web1.example.org:1 big
run mac generate --owner=web1.example.org:0 public
run network list
run network info public
run ip lookup --owner=web1.example.org
run ip release --owner=web2.example.org:0 public "${addr[web2]}"
echo "# releasing another owner's address is refused (exit status 4):"
run ip release --owner=web2.example.org:0 public "${addr[web1]}" || echo "exit status $?"
run ip allocate --owner=web3.example.org:0 public
run check
echo
echo "== a VM gets wired and served"
"$top/scripts/demo/wire.sh" "$DIKTYO_IPAM_DB"
echo "demo: OK"
