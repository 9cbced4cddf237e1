# Baseline for diktyo-ifup's benchmark: the commands GRNET's
# gnt-networking (common.sh, kvm-ifup-custom, kvm-ifdown-custom) issues for
# one NIC, in the same order, with ip, iptables, ip6tables, ebtables and
# arptables. Written for diktyo (not GRNET's code): logging, DNS, the
# per-service hook files and the python mac2eui64 helper are left out (the
# EUI-64 is computed in bash, which favours the baseline), as is the
# runlocked wrapper around ebtables.
#
# Environment: Ganeti's kvm-ifup variables; STATE_DIR and
# NFDHCPD_STATE_DIR; NO_GARP=1 skips the two arping runs (each waits one
# second for replies, as iputils arping -c1 does).

: ${STATE_DIR:=/var/lib/gnt-networking}
: ${NFDHCPD_STATE_DIR:=/var/lib/nfdhcpd}
: ${MAC_MASK:=ff:ff:f0:00:00:00}
: ${TAP_CONSTANT_MAC:=cc:47:52:4e:45:54}
: ${IP_LESS_ROUTED_TAG:=ip-less-routed}
: ${MAC_FILTERED_TAG:=private-filtered}
: ${NFDHCPD_TAG:=nfdhcpd}

try() { "$@" >/dev/null 2>&1 || true; }

mac2eui64() {
  local mac=$1 prefix=${2%%/*}
  local IFS=:
  set -- $mac
  local b0=$(( 0x$1 ^ 2 ))
  printf '%s%x:%x:%x:%x\n' "${prefix%::*}::" $(( (b0 << 8) | 0x$2 )) $(( (0x$3 << 8) | 0xff )) \
    $(( 0xfe00 | 0x$4 )) $(( (0x$5 << 8) | 0x$6 ))
}

get_info() {
  if [ "$MODE" = routed ]; then TABLE=$LINK; INDEV=$INTERFACE; BRIDGE=
  else TABLE=; INDEV=$LINK; BRIDGE=$LINK; fi
  FROM=FROM${INTERFACE^^}; FROM=${FROM//-/_}
  TO=TO${INTERFACE^^}; TO=${TO//-/_}
  EUI64=
  [ -n "$NETWORK_SUBNET6" ] && EUI64=$(mac2eui64 "$MAC" "$NETWORK_SUBNET6")
  UPLINK=; UPLINK6=
  if [ -n "$TABLE" ]; then
    UPLINK=$(ip route list table $TABLE | grep "default via" | awk '{print $5}')
    UPLINK6=$(ip -6 route list table $TABLE | grep "default via" | awk '{print $5}')
  fi
}

clear_routed_ipv4() {
  arptables -D OUTPUT -o $INTERFACE --opcode request -j mangle
  while ip rule del dev $INTERFACE; do :; done
  iptables -D FORWARD -i $INTERFACE -p udp --dport 67 -j DROP
  iptables -t filter -S FORWARD | grep -w -- $INTERFACE | sed -e 's/-A/-D/' | xargs -r -L1 iptables
}

clear_routed_ipv6() {
  while ip -6 rule del dev $INTERFACE; do :; done
  ip6tables -t filter -S FORWARD | grep -w -- $INTERFACE | sed -e 's/-A/-D/' | xargs -r -L1 ip6tables
}

delete_neighbor_proxy() {
  [ -z "$EUI64" -o -z "$UPLINK6" ] && return
  ip -6 neigh del proxy $EUI64 dev $UPLINK6
}

clear_ebtables() {
  ebtables -D FORWARD -i $INTERFACE -j $FROM
  ebtables -D INPUT -i $INTERFACE -j $FROM
  ebtables -D FORWARD -o $INTERFACE -j $TO
  ebtables -D OUTPUT -o $INTERFACE -j $TO
  ebtables -X $FROM
  ebtables -X $TO
}

clear_nfdhcpd() { rm -f $NFDHCPD_STATE_DIR/$INTERFACE; }

# snf-network's service hook: the firewall profile chains.
clear_firewall_service() {
  for chain in protected unprotected limited; do
    iptables -D FORWARD -o $INTERFACE -j $chain
    ip6tables -D FORWARD -o $INTERFACE -j $chain
  done
}

clear_statefile() { rm -f $STATE_DIR/$INTERFACE; }

write_statefile() {
  cat > $STATE_DIR/$INTERFACE <<EOS
INSTANCE=$INSTANCE
IP=$IP
EUI64=$EUI64
LINK=$LINK
NETWORK_NAME=$NETWORK_NAME
INTERFACE=$INTERFACE
NETWORK_TAGS="$NETWORK_TAGS"
TAGS="$TAGS"
EOS
}

save() { echo "$@" >> $STATE_DIR/$INTERFACE; "$@"; }

setup_routed_ipv4() {
  [ -z "$INTERFACE" -o -z "$NETWORK_GATEWAY" -o -z "$IP" -o -z "$TABLE" ] && return
  save arptables -A OUTPUT -o $INTERFACE --opcode request -j mangle --mangle-ip-s "$NETWORK_GATEWAY"
  save ip rule add dev $INTERFACE table $TABLE
  save ip route replace $IP proto static dev $INTERFACE table $TABLE
  save iptables -A FORWARD -i $INTERFACE ! -s $IP -j DROP -m comment --comment "gnt-networking_routed"
  echo 1 > /proc/sys/net/ipv4/conf/$INTERFACE/proxy_arp
}

setup_routed_ipv6() {
  [ -z "$EUI64" -o -z "$TABLE" -o -z "$INTERFACE" -o -z "$UPLINK6" ] && return
  save ip -6 rule add dev $INTERFACE table $TABLE
  save ip -6 ro replace $EUI64/128 dev $INTERFACE table $TABLE
  save ip -6 neigh add proxy $EUI64 dev $UPLINK6
  echo 0 > /proc/sys/net/ipv6/conf/$INTERFACE/proxy_ndp
  save ip6tables -A FORWARD -i $INTERFACE ! -s $EUI64 -j DROP -m comment --comment "gnt-networking_routed"
  # ndsend (unsolicited NA) is not packaged for Debian 12: skipped.
}

# snf-network's post_setup_routed: the firewall profile from the tags.
post_setup_routed() {
  local chain=
  for tag in $TAGS; do
    tag=${tag#synnefo:network:$INTERFACE_INDEX:}
    tag=${tag#synnefo:network:$INTERFACE_UUID:}
    case $tag in protected|unprotected|limited) chain=$tag ;; esac
  done
  if [ -n "$chain" ]; then
    save iptables -A FORWARD -o $INTERFACE -j $chain
    save ip6tables -A FORWARD -o $INTERFACE -j $chain
  fi
}

send_garp() {
  [ -z "$IP" -o -z "$UPLINK" -o -n "$NO_GARP" ] && return
  echo 1 > /proc/sys/net/ipv4/ip_nonlocal_bind
  save arping -U -c1 -I $UPLINK $IP
  save arping -A -c1 -I $UPLINK $IP
  echo 0 > /proc/sys/net/ipv4/ip_nonlocal_bind
}

setup_ebtables() {
  save ebtables -N $FROM -P RETURN
  save ebtables -A FORWARD -i $INTERFACE -j $FROM
  save ebtables -A INPUT -i $INTERFACE -j $FROM
  save ebtables -N $TO -P RETURN
  save ebtables -A FORWARD -o $INTERFACE -j $TO
  save ebtables -A OUTPUT -o $INTERFACE -j $TO
  save ebtables -A $FROM -s ! $MAC -j DROP
  save ebtables -A $TO -s ! $MAC/$MAC_MASK -j DROP
}

setup_nfdhcpd() {
  umask 022
  cat > "$NFDHCPD_STATE_DIR/$INTERFACE" <<EOS
INDEV=$INDEV
IP=$IP
MAC=$MAC
HOSTNAME=$INSTANCE
TAGS="$TAGS"
GATEWAY=$NETWORK_GATEWAY
SUBNET=$NETWORK_SUBNET
GATEWAY6=$NETWORK_GATEWAY6
SUBNET6=$NETWORK_SUBNET6
EUI64=$EUI64
EOS
}
