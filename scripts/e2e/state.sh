# shellcheck shell=bash
# state.sh: Ganeti's view of an instance, and what each node and the pool
# hold for it (sourced).

# ganeti_nics INST: one line per NIC: "index mac ip network mode uuid",
# from gnt-instance list (its list fields print "['a', 'b']").
ganeti_nics() {
  G gnt-instance list --no-headers --separator='|' -o nic.macs,nic.ips,nic.networks.names,nic.modes,nic.uuids "$1" 2>/dev/null |
    /usr/bin/python3 -c '
import ast, sys
for line in sys.stdin:
    macs, ips, nets, modes, uuids = line.rstrip("\n").split("|")
    lst = lambda s: ast.literal_eval(s) if s.startswith("[") else [x for x in s.split(",") if x]
    for i, row in enumerate(zip(lst(macs), lst(ips), lst(nets), lst(modes), lst(uuids))):
        print(i, *row)'
}
ganeti_field() { G gnt-instance list --no-headers -o "$2" "$1" 2>/dev/null; }

# eui64 PREFIX/64 MAC: the SLAAC address (GRNET's mac2eui64), computed here
# independently of diktyo.
eui64() {
  /usr/bin/python3 -c '
import ipaddress, sys
net, mac = ipaddress.ip_network(sys.argv[1]), bytes.fromhex(sys.argv[2].replace(":", ""))
iid = bytes([mac[0] ^ 2]) + mac[1:3] + b"\xff\xfe" + mac[3:]
print(net[int.from_bytes(iid, "big")])' "$1" "$2"
}
net6_of() { case $1 in "$ROUTED") echo $ROUTED_NET6 ;; "$BRIDGED") echo $BRIDGED_NET6 ;; esac; }
uplink_of() { if [ "$1" = "$N1" ]; then echo gnt0; else echo eth0; fi; }

# node_records NODE: "tap instance uuid" of every diktyo-ifup record.
node_records() { on "$1" diktyo-ifup show --json | jq -r '(. // [])[] | "\(.nic.tap) \(.nic.instance) \(.nic.uuid)"' | sort; }
# node_nft_taps NODE: tap names in the elements of diktyo's nftables tables.
node_nft_taps() {
  on "$1" nft list ruleset 2>/dev/null | awk '/^table .* diktyo/{t=1} /^}/{t=0} t' |
    grep -o '"tap[0-9]*"' | tr -d '"' | sort -u
}
# node_bindings NODE: "tap ip mac" of every nfdhcpd binding file.
node_bindings() {
  on "$1" sh -c 'cd /var/lib/nfdhcpd && for f in *; do [ -f "$f" ] || continue;
    echo "$f $(sed -n s/^IP=//p "$f") $(sed -n s/^MAC=//p "$f")"; done' | sort
}
node_proxy6() { on "$1" ip -6 neigh show proxy dev "$(uplink_of "$1")" | awk '{print $1}' | sort; }
node_mark_rules() { { on "$1" ip rule; on "$1" ip -6 rule; } | grep -c "fwmark 0xd1d1$(printf %04x $TABLE) lookup $TABLE"; }
node_iif_rules() { { on "$1" ip rule; on "$1" ip -6 rule; } | grep -c "iif $(uplink_of "$1") lookup $TABLE"; }

# words: the non-empty input lines, sorted, on one line.
words() { grep . | sort | paste -sd' '; }

# save_state LABEL: every node's state into the log directory.
save_state() {
  local node f=$E2E_OUT/state-$1.txt
  for node in $N1 $N2; do
    { echo "== $node"; on $node diktyo-ifup show; on $node ip -br link 2>/dev/null; on $node ip rule; on $node ip -6 rule
      on $node ip -6 neigh show proxy; on $node nft list table inet diktyo 2>/dev/null | grep elements
      node_bindings $node; } >> "$f" 2>&1
  done
  diktyo-ipam ip list $ROUTED >> "$f" 2>&1; diktyo-ipam ip list $BRIDGED >> "$f" 2>&1
}

# check_state STEP INST [INST...]: the pool holds exactly Ganeti's NIC
# addresses of each INST, and each node holds exactly the NICs of the
# instances running there (records, nft elements, binding files, proxy
# NDP entries, the mark rules), with nothing left of anything else.
check_state() {
  local step=$1 node inst pnode status; shift
  save_state "$(tr ' ' _ <<<"$step")"
  for inst in "$@"; do
    check_eq "$step: pool reservations of $inst = Ganeti's NIC addresses" \
      "$(ganeti_nics "$inst" | awk '{print $4, $3}' | words)" "$(pool_instance_ips "$inst" | words)"
  done
  for node in $N1 $N2; do
    local want_rec="" want_bind="" want_px="" routed=0 rec taps
    for inst in "$@"; do
      read -r pnode status <<<"$(G gnt-instance list --no-headers -o pnode,status "$inst" 2>/dev/null)"
      [ "$pnode" = "$node" ] && [ "$status" = running ] || continue
      while read -r _ mac ip net mode uuid; do
        want_rec+="$inst $uuid"$'\n'
        want_bind+="$ip $mac"$'\n'
        [ "$mode" = routed ] && { routed=1; want_px+="$(eui64 "$(net6_of "$net")" "$mac")"$'\n'; }
      done < <(ganeti_nics "$inst")
    done
    rec=$(node_records $node)
    check_eq "$step: $node: diktyo-ifup records (instance uuid)" "$(sort <<<"$want_rec" | words)" \
      "$(awk 'NF{print $2, $3}' <<<"$rec" | words)"
    taps=$(awk '{print $1}' <<<"$rec" | grep . | words)
    check_eq "$step: $node: taps in nftables elements = recorded taps" "$taps" "$(node_nft_taps $node | words)"
    check_eq "$step: $node: nfdhcpd binding files (ip mac)" "$(sort <<<"$want_bind" | words)" \
      "$(node_bindings $node | awk '{print $2, $3}' | words)"
    check_eq "$step: $node: binding files are the recorded taps" "$taps" "$(node_bindings $node | awk '{print $1}' | words)"
    check_eq "$step: $node: proxy NDP entries on $(uplink_of $node)" "$(sort <<<"$want_px" | words)" \
      "$(node_proxy6 $node | words)"
    check_eq "$step: $node: fwmark rules of table $TABLE (v4+v6)" "$((routed * 2))" "$(node_mark_rules $node)"
    check_eq "$step: $node: operator's iif rules still there (v4+v6)" 2 "$(node_iif_rules $node)"
    check_eq "$step: $node: no incoming migration left for diktyo-ifup watch" "" \
      "$(on $node sh -c 'ls /var/lib/diktyo/incoming 2>/dev/null' | words)"
  done
}
