# shellcheck shell=bash
# uplink.sh: the upstream router, the bridged peer and each node's part of
# the routed network, as README "Routed NICs: what the host must provide"
# says (sourced).

# sysctl_set NAME VALUE: set a sysctl of the root namespace, saving the
# old value once for sysctl_restore.
sysctl_set() {
  local old; old=$(sysctl -n "$1")
  grep -q "^$1=" $E2E_RUN/sysctl.orig 2>/dev/null || echo "$1=$old" >> $E2E_RUN/sysctl.orig
  sysctl -qw "$1=$2"
}

# router_up: namespace e2e-router with one leg on the node segment (gnt0:
# node-segment addresses plus the routed network's gateways) and one on the
# instance bridge (the bridged network's gateways). It has no route to any
# VM or node beyond its connected prefixes: it reaches VMs only through
# the nodes' proxy ARP/NDP answers.
router_up() {
  ip netns add $NS_RT
  ip netns exec $NS_RT sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  ip link add e2erta type veth peer name e2ertb
  ip link set e2ertb netns $NS_RT
  ip link set e2erta master gnt0 up
  ip -n $NS_RT link set e2ertb name up0
  ip -n $NS_RT addr add $RT_IP/24 dev up0
  ip -n $NS_RT addr add $ROUTED_GW/24 dev up0
  ip -n $NS_RT -6 addr add $RT_IP6/64 dev up0 nodad
  ip -n $NS_RT -6 addr add $ROUTED_GW6/64 dev up0 nodad
  ip link add e2ertc type veth peer name e2ertd
  ip link set e2ertd netns $NS_RT
  ip link set e2ertc master gntbr0 up
  ip -n $NS_RT link set e2ertd name br0
  ip -n $NS_RT addr add $BRIDGED_GW/24 dev br0
  ip -n $NS_RT -6 addr add $BRIDGED_GW6/64 dev br0 nodad
  ip -n $NS_RT link set lo up
  ip -n $NS_RT link set up0 up
  ip -n $NS_RT link set br0 up
}

# peer_up: a host on the instance bridge, in the bridged network.
peer_up() {
  ip netns add $NS_PEER
  ip link add e2epa type veth peer name e2epb
  ip link set e2epb netns $NS_PEER
  ip link set e2epa master gntbr0 up
  ip -n $NS_PEER link set e2epb name eth0
  ip -n $NS_PEER link set lo up
  ip -n $NS_PEER addr add $PEER_IP/24 dev eth0
  ip -n $NS_PEER -6 addr add $PEER_IP6/64 dev eth0 nodad
  ip -n $NS_PEER link set eth0 up
  ip -n $NS_PEER route add default via $BRIDGED_GW
}

# node_uplink NODE DEV: table 100's default routes via the router, the
# iif rules, proxy ARP/NDP and forwarding on the uplink, IPv6 forwarding.
node_uplink() {
  local node=$1 dev=$2 set=sysctl_set
  [ "$node" = "$N2" ] && set="N2X sysctl -qw"
  on "$node" ip route add default via $RT_IP dev "$dev" table $TABLE
  on "$node" ip -6 route add default via $RT_IP6 dev "$dev" table $TABLE
  on "$node" ip rule add iif "$dev" lookup $TABLE
  on "$node" ip -6 rule add iif "$dev" lookup $TABLE
  if [ "$node" = "$N2" ]; then
    N2X sysctl -qw net.ipv4.conf."$dev".forwarding=1 net.ipv4.conf."$dev".proxy_arp=1 \
      net.ipv6.conf."$dev".proxy_ndp=1 net.ipv6.conf.all.forwarding=1
  else
    sysctl -qw net.ipv4.conf."$dev".forwarding=1 net.ipv4.conf."$dev".proxy_arp=1 net.ipv6.conf."$dev".proxy_ndp=1
    # eth0's own value first: restoring "all" resets every device's
    sysctl_set net.ipv6.conf.eth0.forwarding "$(sysctl -n net.ipv6.conf.eth0.forwarding)"
    sysctl_set net.ipv6.conf.all.forwarding 1
  fi
  check "2 $node: table $TABLE default routes via the router on $dev (v4, v6)" table_defaults "$node"
}

table_defaults() {
  on "$1" ip route show table $TABLE default | grep -q "via $RT_IP " &&
    on "$1" ip -6 route show table $TABLE default | grep -q "via $RT_IP6 "
}

# uplink_check: the router reaches both nodes, and has no route beyond its
# connected prefixes.
uplink_check() {
  check "2 router pings node 1" ip netns exec $NS_RT ping -c 1 -W 2 $N1_IP
  check "2 router pings node 2" ip netns exec $NS_RT ping -c 1 -W 2 $N2_IP
  check "2 router pings node 2 over IPv6" ip netns exec $NS_RT ping -6 -c 1 -W 2 $N2_IP6
  check "2 router has only connected routes" test -z "$(ip -n $NS_RT route | grep -v 'proto kernel'; ip -n $NS_RT -6 route | grep -v -e 'proto kernel' -e '^multicast' -e '^fe80')"
  check "2 bridged peer pings the router" ip netns exec $NS_PEER ping -c 1 -W 2 $BRIDGED_GW
}
