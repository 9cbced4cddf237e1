# shellcheck shell=bash
# scenario.sh: issue 13's steps, each checked (sourced).

step1_networks() {
  log "1. networks mirrored into the pool"
  G gnt-network add --network=$ROUTED_NET --gateway=$ROUTED_GW --network6=$ROUTED_NET6 \
    --gateway6=$ROUTED_GW6 --mac-prefix=aa:00:01 --tags=nfdhcpd $ROUTED >"$E2E_OUT/network.log" 2>&1 &&
  G gnt-network connect --nic-parameters=mode=routed,link=$TABLE $ROUTED default >>"$E2E_OUT/network.log" 2>&1 &&
  G gnt-network add --network=$BRIDGED_NET --gateway=$BRIDGED_GW --network6=$BRIDGED_NET6 \
    --gateway6=$BRIDGED_GW6 --mac-prefix=aa:00:00 --add-reserved-ips=$PEER_IP --tags=nfdhcpd $BRIDGED >>"$E2E_OUT/network.log" 2>&1 &&
  G gnt-network connect --nic-parameters=mode=bridged,link=gntbr0 $BRIDGED default >>"$E2E_OUT/network.log" 2>&1 ||
    { fail "1 gnt-network add/connect: $(tail -3 "$E2E_OUT/network.log" | tr '\n' ' ')"; return 1; }
  diktyo-ipam network list -o json > "$E2E_OUT/pool-networks.json" 2>&1
  pool_network_is $ROUTED $ROUTED_NET $ROUTED_GW $ROUTED_NET6 $ROUTED_GW6 routed $TABLE
  pool_network_is $BRIDGED $BRIDGED_NET $BRIDGED_GW $BRIDGED_NET6 $BRIDGED_GW6 bridged gntbr0
  check "1 pool holds the bridged peer's external reservation" pool_has_ip $BRIDGED $PEER_IP
}

# pool_network_is NAME NET GW NET6 GW6 MODE LINK: diktyo-ipam's view.
pool_network_is() {
  local info; info=$(diktyo-ipam network info -o json "$1" 2>&1)
  echo "$info" > "$E2E_OUT/pool-network-$1.json"
  check_eq "1 pool network $1 (network gateway network6 gateway6 tags mode link)" \
    "$2 $3 $4 $5 nfdhcpd $6 $7" "$(jq -r '.[0] | [.network, .gateway, .network6, .gateway6, (.tags|join(",")), .group_list[0].mode, .group_list[0].link] | join(" ")' <<<"$info" 2>&1)"
}

# pool_has_ip NET IP: IP is taken in the pool network NET.
pool_has_ip() { diktyo-ipam ip list --no-headers -o ip "$1" | grep -qx "$2"; }

# pool_instance_ips INST: "network ip" of every reservation of INST, sorted.
pool_instance_ips() {
  local n
  for n in $ROUTED $BRIDGED; do
    diktyo-ipam ip list -o json $n | jq -r --arg i "$1" '.[] | select(.instance == $i) | "\(.network) \(.ip)"'
  done | sort
}

step2_uplink() {
  log "2. routed uplink: router, nodes' tables and rules, bridged peer"
  router_up && peer_up || { fail "2 router/peer namespaces"; return 1; }
  node_uplink $N1 gnt0
  node_uplink $N2 eth0
  uplink_check
}

# guest_nic_ok STEP INST MARK: after MARK, the console shows each of
# Ganeti's NICs with its DHCP address (from udhcpc) and the EUI-64 SLAAC
# address; prints nothing, checks.
guest_nic_ok() {
  local step=$1 inst=$2 mark=$3 lines idx mac ip net mode uuid ifc v6
  lines=$(console_since "$inst" "$mark")
  while read -r idx mac ip net mode uuid; do
    ifc=$(awk -v m="mac=$mac" '$1=="E2E-ADDR" && $3==m {print $2}' <<<"$lines" | tail -1)
    [ -n "$ifc" ] || { fail "$step: guest shows no NIC with MAC $mac (NIC $idx)"; continue; }
    check_eq "$step: NIC $idx ($net, $ifc): DHCP address = Ganeti's" "$ip" \
      "$(awk -v i="interface=$ifc" '$1=="E2E-UDHCPC" && $2=="event=bound" && $3==i {sub("ip=","",$4); print $4}' <<<"$lines" | tail -1)"
    v6=$(eui64 "$(net6_of "$net")" "$mac")
    check "$step: NIC $idx ($net, $ifc): SLAAC address = EUI-64 $v6" \
      grep -q "^E2E-ADDR $ifc mac=$mac v4=$ip/[0-9]*, v6=.*$v6/64" <<<"$lines"
  done < <(ganeti_nics "$inst")
}

# guest_pings_ok STEP INST MARK: the boot report's gateway pings.
guest_pings_ok() {
  local step=$1 lines g; lines=$(console_since "$2" "$3")
  for g in $ROUTED_GW $BRIDGED_GW; do
    check "$step: guest pings IPv4 gateway $g" grep -q "^E2E-PING $g ok" <<<"$lines"
  done
  for g in $ROUTED_GW6 $BRIDGED_GW6; do
    check "$step: guest pings IPv6 gateway $g" grep -q "^E2E-PING6 $g ok" <<<"$lines"
  done
}

# guest_boot_ok STEP INST MARK T0: wait for the boot report, then check it.
guest_boot_ok() {
  local step=$1 inst=$2 mark=$3 t0=$4 t
  if ! console_wait "$inst" "$mark" 120 '^E2E-READY'; then
    fail "$step: guest did not report E2E-READY within 120 s (see $(serial_log "$inst"))"; return 1
  fi
  t=$(tail -n +"$((mark + 1))" "$(serial_log "$inst")" | awk -v t0="$t0" '$2=="E2E-UDHCPC" && $3=="event=bound" {printf "%.1f ", $1-t0}')
  measure "$step: DHCP leases bound ${t}s after the start command"
  guest_nic_ok "$step" "$inst" "$mark"
  guest_pings_ok "$step" "$inst" "$mark"
}

step3_instance() {
  log "3. instance with a routed and a bridged NIC"
  local t0 mark
  t0=$(now)
  G gnt-instance add -H kvm -t diskless -o $OS_NAME --no-install --no-name-check --no-ip-check \
    -B memory=128M,vcpus=1 --net 0:network=$ROUTED,ip=pool --net 1:network=$BRIDGED,ip=pool \
    -n $N1 $INST >"$E2E_OUT/instance-add.log" 2>&1 ||
    { fail "3 gnt-instance add: $(tail -2 "$E2E_OUT/instance-add.log" | tr '\n' ' ')"; return 1; }
  measure "3 gnt-instance add took $(since "$t0") s"
  console_attach $INST $N1
  mark=$(console_mark $INST); t0=$(now)
  G gnt-instance startup $INST >"$E2E_OUT/instance-startup.log" 2>&1 ||
    { fail "3 gnt-instance startup: $(tail -2 "$E2E_OUT/instance-startup.log" | tr '\n' ' ')"; return 1; }
  measure "3 gnt-instance startup returned after $(since "$t0") s"
  guest_boot_ok "3" $INST "$mark" "$t0" || return 1
  check_state "3 after start" $INST
  outside_pings_ok "3"
}

# outside_pings_ok STEP: the router reaches the guest's routed addresses
# (v4, v6) and the bridged peer its bridged address.
outside_pings_ok() {
  local r4 r6 b4
  read -r r4 r6 b4 <<<"$(guest_addrs $INST)"
  check "$1: router pings the guest's routed IPv4 $r4" ip netns exec $NS_RT ping -c 2 -W 2 "$r4"
  check "$1: router pings the guest's routed IPv6 $r6" ip netns exec $NS_RT ping -6 -c 2 -W 2 "$r6"
  check "$1: bridged peer pings the guest's bridged IPv4 $b4" ip netns exec $NS_PEER ping -c 2 -W 2 "$b4"
}

# guest_addrs INST: "routed-v4 routed-v6 bridged-v4" of NICs 0 and 1.
guest_addrs() {
  local r4 r6 b4
  while read -r idx mac ip net _; do
    case $idx in 0) r4=$ip; r6=$(eui64 "$(net6_of "$net")" "$mac") ;; 1) b4=$ip ;; esac
  done < <(ganeti_nics "$1")
  echo "$r4 $r6 $b4"
}

# migrate_once LABEL TARGET: live migration with pings across it, then the
# checks of the new primary (state, console, gateways, renewals).
migrate_once() {
  local label=$1 target=$2 t0 mark
  pingers_start "$label"
  # what the router hears (ARP, NDP) across the switch-over, as evidence
  ip netns exec $NS_RT timeout 120 tcpdump -tt -i up0 -n -e -l 'arp or icmp6' > "$E2E_OUT/router-$label.txt" 2>&1 &
  local dump=$!
  target_console "$label" "$target" 2>/dev/null &
  local tcon=$!
  sleep 2
  t0=$(now)
  if ! G gnt-instance migrate -f $INST </dev/null >"$E2E_OUT/migrate-$label.log" 2>&1; then
    fail "4 $label: gnt-instance migrate: $(tail -2 "$E2E_OUT/migrate-$label.log" | tr '\n' ' ')"
  fi
  measure "4 $label: gnt-instance migrate took $(since "$t0") s"
  { kill_tree $tcon; wait $tcon; } 2>/dev/null
  echo "$target" > $E2E_RUN/console-$INST.node
  sleep 4
  pingers_stop "$label" "$t0"
  if guest_booted_since $INST "$t0"; then
    # Seen in 4 of 23 runs (3 of the 4 through .ci/run), after a migration:
    # the guest's kernel oopses on the target right after it resumes
    # (corrupted memory or virtio rings: most likely QEMU's software
    # emulation missing pages the guest dirtied during the migration)
    # and the guest boots again, every path silent, the bridged one too.
    # A sample of QEMU, not of the network: not judged, and step 4 runs
    # the migrations again.
    local oops
    oops=$(grep -m1 -o -e 'general protection fault.*' -e 'BUG: .*' -e 'Kernel panic.*' -e 'is not a head.*' \
      "$E2E_OUT/serial-$label-target.log" | cut -c1-100)
    measure "4 $label: the guest booted again on the target after the migration (a new E2E-BOOT on its console; its kernel on the target: ${oops:-no message}): losses not judged, the migrations are repeated"
    touch $E2E_RUN/migration-reboot
  else
    pings_judge "$label"
  fi
  kill_tree $dump
  announce_times "$label" "$t0"
  { echo "# router's neighbours after $label"; ip -n $NS_RT neigh; ip -n $NS_RT -6 neigh; } >> "$E2E_OUT/router-$label.txt"
  outside_pings_ok "4 after $label"
  check_eq "4 $label: Ganeti's primary" "$target" "$(ganeti_field $INST pnode)"
  check_state "4 after $label" $INST
  mark=$(console_mark $INST)
  check "4 $label: guest pings the routed IPv6 gateway from the new node" \
    grep -q "^E2E-PING6 $ROUTED_GW6 ok" <<<"$(console_cmd $INST 20 ping6 $ROUTED_GW6)"
  renew_ok "5 $label" "$target"
}

# announce_times LABEL T0: when the router heard the first gratuitous ARP
# and unsolicited NA for the guest's routed addresses, after T0.
announce_times() {
  local r4 r6 f=$E2E_OUT/router-$1.txt
  read -r r4 r6 _ <<<"$(guest_addrs $INST)"
  measure "4 $1: the router heard the first gratuitous ARP for $r4 at $(awk -v t0="$2" -v m="who-has $r4 tell $r4," \
    'index($0, m) {printf "+%.1f s", $1 - t0; f=1; exit} END{if (!f) printf "never"}' "$f"), the first unsolicited NA for it at $(awk -v t0="$2" -v m="neighbor advertisement, tgt is $r6," \
    'index($0, m) && / > ff02::1:/ {printf "+%.1f s", $1 - t0; f=1; exit} END{if (!f) printf "never"}' "$f") (after the migrate command)"
}

# renew_ok STEP NODE: force a renew of each NIC from the console; the guest
# must get the same address, from NODE's nfdhcpd.
renew_ok() {
  local step=$1 node=$2 idx mac ip net ifc mark logmark t0 got
  logmark=$(on "$node" sh -c 'wc -l < /var/log/nfdhcpd/nfdhcpd.log')
  # the DHCP frames on the node, as evidence when a renewal misbehaves
  on "$node" timeout 60 tcpdump -i any -n -e -vv -l 'udp port 67 or udp port 68' \
    > "$E2E_OUT/dhcp-$(tr ' ' _ <<<"$step").txt" 2>&1 &
  local dump=$!
  sleep 1
  while read -r idx mac ip net _; do
    ifc=$(guest_ifc $INST "$mac")
    mark=$(console_mark $INST); t0=$(now)
    console_cmd $INST 10 renew "$ifc" >/dev/null
    if console_wait $INST "$mark" 20 "^E2E-UDHCPC event=(renew|bound) interface=$ifc "; then
      got=$(console_since $INST "$mark" | awk -v i="interface=$ifc" '$1=="E2E-UDHCPC" && $3==i {sub("ip=","",$4); print $4}' | tail -1)
      check_eq "$step: NIC $idx ($ifc) renewed its lease, same address" "$ip" "$got"
      measure "$step: NIC $idx renewal took $(tail -n +"$((mark + 1))" "$(serial_log $INST)" | awk -v t0="$t0" -v i="interface=$ifc" '$2=="E2E-UDHCPC" && $4==i {printf "%.2f", $1-t0; exit}') s"
    else
      fail "$step: NIC $idx ($ifc): no udhcpc renew event within 20 s"
    fi
  done < <(ganeti_nics $INST)
  kill_tree $dump
  on "$node" tail -n +"$((logmark + 1))" /var/log/nfdhcpd/nfdhcpd.log > "$E2E_OUT/nfdhcpd-$(tr ' ' _ <<<"$step").log"
  while read -r idx mac ip net _; do
    check "$step: $node's nfdhcpd acked NIC $idx's renewal ($ip)" \
      grep -q "request=REQUEST reply=ack ip=$ip mac=$mac" "$E2E_OUT/nfdhcpd-$(tr ' ' _ <<<"$step").log"
  done < <(ganeti_nics $INST)
}

# guest_ifc INST MAC: the guest's interface name of MAC (latest report).
guest_ifc() { awk -v m="mac=$2" '$2=="E2E-ADDR" && $4==m {i=$3} $2=="E2E-NIC" && $4==m {i=$3} END{print i}' "$(serial_log "$1")"; }

# target_console LABEL NODE: the guest's serial console on the target
# from the moment its incoming QEMU listens until the migrate command
# returns (killed then; the reader loop attaches after), into
# serial-LABEL-target.log: what the guest prints right after it resumes
# there, which the reader loop would miss (socat's connection log:
# serial-LABEL-target.socat).
target_console() {
  local sock=/run/ganeti/kvm-hypervisor/ctrl/$INST.serial
  while :; do
    on "$2" socat -d -d -u UNIX-CONNECT:"$sock" STDOUT 2>>"$E2E_OUT/serial-$1-target.socat"
    sleep 0.2
  done | while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "${l%$'\r'}"; done > "$E2E_OUT/serial-$1-target.log"
}

# guest_booted_since INST T0: the guest's console shows a boot after T0.
guest_booted_since() { awk -v t0="$2" '$2=="E2E-BOOT" && $1 > t0 {f=1} END{exit !f}' "$(serial_log "$1")"; }

step4_migrations() {
  log "4+5. live migration to node 2 and back, pinged every 0.2 s; renewals"
  local again="" round
  for round in 1 2 3; do
    rm -f $E2E_RUN/migration-reboot
    migrate_once to-n2$again $N2
    migrate_once back-to-n1$again $N1
    [ -e $E2E_RUN/migration-reboot ] || return 0
    again=-again$round
  done
  fail "4 the guest booted again after a migration in each of 3 rounds: no round measured"
}

# gnt STEP LOGNAME CMD...: run a gnt-* command, FAIL with its last lines.
gnt() {
  local step=$1 name=$2 t0; shift 2
  t0=$(now)
  if G "$@" </dev/null >"$E2E_OUT/$name.log" 2>&1; then
    measure "$step: $* took $(since "$t0") s"
  else
    fail "$step: $*: $(tail -3 "$E2E_OUT/$name.log" | tr '\n' ' ')"; return 1
  fi
}

# restart_ok STEP NODE CMD...: a command that (re)starts the guest on NODE;
# the guest must boot again with Ganeti's addresses.
restart_ok() {
  local step=$1 node=$2 mark t0; shift 2
  echo "$node" > $E2E_RUN/console-$INST.node
  mark=$(console_mark $INST); t0=$(now)
  gnt "$step" "$(tr ' ' _ <<<"$step")" "$@" || return 1
  guest_boot_ok "$step" $INST "$mark" "$t0"
  check_state "$step" $INST
  outside_pings_ok "$step"
}

step6_hotplug() {
  local mark n ip ifc
  mark=$(console_mark $INST)
  gnt "6 NIC hot-add" hot-add gnt-instance modify --hotplug --net add:network=$ROUTED,ip=pool $INST || return 1
  read -r _ mac ip _ <<<"$(ganeti_nics $INST | awk '$1==2')"
  if console_wait $INST "$mark" 40 "^E2E-UDHCPC event=bound .* ip=$ip "; then
    ifc=$(guest_ifc $INST "$mac")
    ok "6 hot-added NIC 2 ($ifc) got Ganeti's address $ip by DHCP"
  else
    fail "6 hot-added NIC 2 got no lease of $ip within 40 s"
  fi
  check_state "6 after NIC hot-add" $INST
  gnt "6 NIC hot-remove" hot-remove gnt-instance modify --hotplug --net 2:remove $INST
  n=$(ganeti_nics $INST | wc -l)
  check_eq "6 Ganeti's NIC count after hot-remove" 2 "$n"
  check_state "6 after NIC hot-remove" $INST
}

step6_rename() {
  gnt "6 stop" stop gnt-instance shutdown $INST || return 1
  check_state "6 after stop" $INST
  gnt "6 rename" rename gnt-instance rename --force --no-ip-check --no-name-check $INST $INST_RENAMED || return 1
  check_eq "6 the pool holds no reservation of the old name" "" "$(pool_instance_ips $INST | words)"
  console_detach $INST
  mv "$(serial_log $INST)" "$(serial_log $INST_RENAMED)"
  INST=$INST_RENAMED
  check_state "6 after rename" $INST
  console_attach $INST "$(ganeti_field $INST pnode)"
  restart_ok "6 start after rename" "$(ganeti_field $INST pnode)" gnt-instance startup $INST
}

step6_lifecycle() {
  log "6. hot-add/remove, rename, reboots, failover, stop, remove"
  step6_hotplug
  step6_rename
  restart_ok "6 soft reboot" "$(ganeti_field $INST pnode)" gnt-instance reboot --type=soft $INST
  restart_ok "6 hard reboot" "$(ganeti_field $INST pnode)" gnt-instance reboot --type=hard $INST
  local target; target=$(other_node "$(ganeti_field $INST pnode)")
  restart_ok "6 failover" "$target" gnt-instance failover -f $INST
  check_eq "6 failover: Ganeti's primary" "$target" "$(ganeti_field $INST pnode)"
  step7_conflict
  gnt "6 stop" stop2 gnt-instance shutdown $INST
  check_state "6 after the last stop" $INST
  console_detach $INST
  gnt "6 remove" remove gnt-instance remove -f $INST
  check_state "6 after remove" $INST
  nothing_left
}

# nothing_left: no instance state on any node, no reservation in the pool.
nothing_left() {
  local node
  check_eq "6 the pool holds nothing of the instance" "" "$(pool_instance_ips $INST | words)"
  for node in $N1 $N2; do
    check_eq "6 $node: no diktyo-ifup record left" "" "$(node_records $node | words)"
    check_eq "6 $node: no tap in diktyo's nftables elements" "" "$(node_nft_taps $node | words)"
    check_eq "6 $node: no nfdhcpd binding file left" "" "$(node_bindings $node | words)"
    check_eq "6 $node: no proxy NDP entry left" "" "$(node_proxy6 $node | words)"
    check_eq "6 $node: no tap link left" "" "$(on $node ip -o link show 2>/dev/null | awk -F': ' '$2 ~ /^tap/ {print $2}' | words)"
    check_eq "6 $node: no table $TABLE route of a VM left" "" "$(on $node ip route show table $TABLE 2>/dev/null | grep -v '^default' | words)"
  done
}

# add_second IP [OPTION...]: try to add a second instance whose routed NIC
# asks for IP; prints the job's output.
add_second() {
  local ip=$1; shift
  G gnt-instance add -H kvm -t diskless -o $OS_NAME --no-install --no-name-check --no-ip-check \
    "$@" -B memory=128M,vcpus=1 --net 0:network=$ROUTED,ip="$ip" -n $N1 $INST2 </dev/null 2>&1
}
inst2_absent() { test "$(G gnt-instance list --no-headers -o name $INST2 2>/dev/null)" = ""; }

step7_conflict() {
  log "7. an address already held is refused by diktyo's pre hook"
  local held out extra=198.18.100.200
  held=$(ganeti_nics $INST | awk '$1==0 {print $3}')
  out=$(add_second "$held" --no-conflicts-check)
  echo "$out" > "$E2E_OUT/conflict-held.log"
  check "7 instance add with $INST's address $held fails" inst2_absent
  # Ganeti refuses an address its own network holds before any hook runs,
  # even with --no-conflicts-check: diktyo's hook is not reached.
  check "7 Ganeti itself refuses $held (held in its network): 'already in use'" \
    grep -q "IP address $held already in use" <<<"$out"
  diktyo-ipam ip reserve --owner=outside:0 $ROUTED $extra >/dev/null
  out=$(add_second $extra)
  echo "$out" > "$E2E_OUT/conflict-pool-only.log"
  check "7 instance add with $extra, reserved only in diktyo's pool, fails" inst2_absent
  check "7 the job log has diktyo-hook's refusal naming $extra and its holder outside:0" \
    grep -Eq "diktyo-hook: .*refused: $INST2 NIC 0: $extra in $ROUTED is held by outside" <<<"$out"
  diktyo-ipam ip release --owner=outside:0 $ROUTED $extra >/dev/null
  check_eq "7 the pool holds nothing of $INST2" "" "$(pool_instance_ips $INST2 | words)"
}
