# shellcheck shell=bash
# lib.sh: names, addresses and helpers shared by the e2e scripts (sourced).

# Names and paths. Everything this run creates is named e2e-* or gnt*.
E2E_RUN=/run/diktyo-e2e                 # pid files, FIFOs, saved state
E2E_CACHE=/var/cache/diktyo-e2e         # guest kernel + busybox (kept between runs)
E2E_N2DIR=/var/lib/diktyo-e2e-n2        # node 2's private state (bind-mounted)
E2E_OUT=${E2E_OUT:-/var/tmp/diktyo-e2e/$(date -u +%Y%m%dT%H%M%SZ)}
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Addresses: only the documentation and benchmark ranges TESTBED.md allows
# (never the machine's uplink or package-proxy ranges).
N1_IP=198.18.0.10   N1_IP6=2001:db8:ff::10
N2_IP=198.18.0.11   N2_IP6=2001:db8:ff::11
CLUSTER_IP=198.18.0.100
RT_IP=198.18.0.1    RT_IP6=2001:db8:ff::1          # router on the node segment
ROUTED_NET=198.18.100.0/24  ROUTED_GW=198.18.100.1
ROUTED_NET6=2001:db8:100::/64 ROUTED_GW6=2001:db8:100::1
BRIDGED_NET=198.51.100.0/24 BRIDGED_GW=198.51.100.1
BRIDGED_NET6=2001:db8::/64  BRIDGED_GW6=2001:db8::1
PEER_IP=198.51.100.250 PEER_IP6=2001:db8::250      # bridged peer (reserved in Ganeti)
TABLE=100

CLUSTER=cluster.ganeti.test
N1=$(hostname).ganeti.test
N2=n2.ganeti.test
NS_N2=e2e-n2 NS_RT=e2e-router NS_PEER=e2e-peer
ROUTED=e2e-routed BRIDGED=e2e-bridged
OS_NAME=e2e+default
INST=e2e1.ganeti.test INST_RENAMED=e2e1r.ganeti.test INST2=e2e2.ganeti.test

E2E_FAILS=0 E2E_OKS=0

log() { printf '\n### %s\n' "$*"; }
ok() { E2E_OKS=$((E2E_OKS + 1)); echo "e2e: OK $*" | tee -a "$E2E_OUT/results.txt"; }
fail() { E2E_FAILS=$((E2E_FAILS + 1)); echo "e2e: FAIL $*" | tee -a "$E2E_OUT/results.txt"; }
measure() { echo "e2e: MEASURE $*" | tee -a "$E2E_OUT/results.txt"; }
# check DESC CMD...: OK when CMD succeeds, FAIL (with its output) otherwise.
check() {
  local desc=$1 out; shift
  if out=$("$@" 2>&1); then ok "$desc"; else fail "$desc: $(tr '\n' ' ' <<<"$out" | cut -c1-400)"; return 1; fi
}
# check_eq DESC WANT GOT
check_eq() {
  if [ "$2" = "$3" ]; then ok "$1 ($3)"; else fail "$1: want '$2', got '$3'"; return 1; fi
}
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}'; }

# G runs a command with a clean environment: Ganeti daemons started by
# gnt-* inherit it, and kvm-ifup inherits noded's.
G() { env -i PATH=$PATH HOME=/root LANG=C.UTF-8 TERM=dumb "$@"; }
n2_holder() { cat $E2E_RUN/n2-holder.pid 2>/dev/null; }
n2_alive() { local p; p=$(n2_holder) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
# N2X runs a command on node 2 (its network, UTS and mount namespaces).
N2X() { G nsenter -t "$(n2_holder)" -n -u -m "$@"; }
# on NODE CMD...: run CMD on node 1 or node 2 (by Ganeti node name).
on() {
  local node=$1; shift
  case $node in "$N1") G "$@" ;; "$N2") N2X "$@" ;; *) echo "on: unknown node $node" >&2; return 2 ;; esac
}
# wait_for SECONDS CMD...: poll CMD every 0.2 s until it succeeds.
wait_for() {
  local t=$1 end; shift
  end=$(awk -v n="$EPOCHREALTIME" -v t="$t" 'BEGIN{printf "%.3f", n+t}')
  until "$@" >/dev/null 2>&1; do
    awk -v n="$EPOCHREALTIME" -v e="$end" 'BEGIN{exit !(n>e)}' && return 1
    sleep 0.2
  done
}
other_node() { if [ "$1" = "$N1" ]; then echo "$N2"; else echo "$N1"; fi; }
