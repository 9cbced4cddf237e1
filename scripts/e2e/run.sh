#!/bin/bash
# run.sh: diktyo end to end on a real two-node Ganeti 3.0.2 cluster with
# QEMU guests (issue 13). See README.md beside this file.
#   run.sh DEB...          the whole scenario, then clean up
#   E2E_KEEP=1 run.sh DEB... leave everything up (development); run.sh clean
#                          removes it. E2E_UNTIL=3 (or 4) stops after that step.
set -uo pipefail
DIR=$(cd "$(dirname "$0")" && pwd)
. "$DIR"/lib.sh
. "$DIR"/guest.sh
. "$DIR"/cluster.sh
. "$DIR"/uplink.sh
. "$DIR"/console.sh
. "$DIR"/state.sh
. "$DIR"/pings.sh
. "$DIR"/scenario.sh
. "$DIR"/cleanup.sh

# preflight: root, the tools, nothing left from an earlier run.
preflight() {
  local p missing=""
  [ "$(id -u)" = 0 ] || { echo "e2e: FAIL must run as root"; exit 1; }
  for p in ganeti qemu-system-x86 openssh-server socat iputils-ping busybox-static ndisc6; do
    dpkg-query -W -f='${Status}' $p 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  [ -z "$missing" ] || { echo "e2e: FAIL missing Debian packages:$missing (make e2e installs them)"; exit 1; }
  if [ -e /var/lib/ganeti/config.data ] || ip link show gnt0 >/dev/null 2>&1 || [ -e $E2E_RUN/cluster ]; then
    echo "e2e: FAIL a Ganeti cluster or gnt0 exists already (an earlier run? scripts/e2e/run.sh clean)"; exit 1
  fi
}

step1_cluster() {
  log "1. cluster, diktyo, nfdhcpd"
  local t0; t0=$(now)
  guest_build "$DIR" >"$E2E_OUT/guest-build.log" 2>&1 || { fail "1 guest build (see guest-build.log)"; return 1; }
  install_diktyo "$@" || return 1
  host_network && hosts_setup && sshd_start && dummy_os || { fail "1 host network, /etc/hosts, sshd"; return 1; }
  cluster_init || { fail "1 gnt-cluster init (see cluster-init.log)"; return 1; }
  node2_namespaces || { fail "1 node 2 namespaces"; return 1; }
  node2_add || { fail "1 gnt-node add (see node-add.log)"; return 1; }
  nfdhcpd_start
  watch_start
  measure "1 cluster bring-up took $(since "$t0") s"
}

main() {
  if [ "${1:-}" = clean ]; then E2E_OUT=${E2E_OUT%/*}/clean; mkdir -p "$E2E_OUT"; cleanup; exit 0; fi
  [ $# -gt 0 ] || { echo "usage: $0 DEB... | clean" >&2; exit 2; }
  preflight
  mkdir -p "$E2E_OUT" $E2E_RUN
  echo "e2e: logs in $E2E_OUT"
  [ -n "${E2E_KEEP:-}" ] || trap cleanup EXIT
  trap 'exit 130' INT TERM
  local t0; t0=$(now)
  if step1_cluster "$@" && step1_networks && step2_uplink && step3_instance; then
    [ "${E2E_UNTIL:-}" = 3 ] || step4_migrations
    [ -n "${E2E_UNTIL:-}" ] || step6_lifecycle
  else
    fail "setup did not complete: later steps not run"
  fi
  measure "whole scenario took $(since "$t0") s"
  [ -n "${E2E_KEEP:-}" ] || { trap - EXIT; cleanup; }
  echo "e2e: $E2E_OKS checks OK, $E2E_FAILS FAILED (logs in $E2E_OUT)"
  grep '^e2e: FAIL' "$E2E_OUT/results.txt" | cut -c1-200
  [ "$E2E_FAILS" = 0 ]
}

main "$@"
