#!/bin/bash
# diktyo-hook as Ganeti runs it, whole processes, side by side in one run
# with `diktyo-ipam ip allocate` on the same store and two starts of an
# empty Go program. Prints a Markdown section on stdout (for
# docs/BENCHMARKS.md, under the heading the caller gives it).
#
#   scripts/bench/hooks/run.sh > hooks.md
#
# Knobs: RUNS (default 300) ops; each op runs every case once, in turn.
set -euo pipefail
top=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$top"
runs=${RUNS:-300}
pin=(taskset -c 1)
[ "$(nproc)" -ge 2 ] || pin=()
cmd="go test -run '^\$' -bench HookProcess -benchtime ${runs}x ./hooks/"
raw=$("${pin[@]}" go test -run '^$' -bench HookProcess -benchtime "${runs}x" ./hooks/ 2>&1 | grep '^BenchmarkHookProcess' || true)
if [ -z "$raw" ]; then
	echo "(benchmark failed: $cmd)"
	exit 1
fi
metric() { awk -v m="$1" '{ for (i = 3; i < NF; i++) if ($(i+1) == m) print $i }' <<<"$raw"; }
echo "Every op runs, one after the other, each case as a whole process on the"
echo "master (start, config, environment, store lock, one transaction with two"
echo "fdatasyncs where it writes, exit): an instance-add pre hook (check and"
echo "claim the NIC's address), its post hook (reservations already the NIC"
echo "list), an instance-remove post hook (release; no NIC of the instance on"
echo "this node), \`diktyo-ipam ip allocate\` on the same /16, and two starts of an"
echo "empty Go program (the floor of two processes). Pinned to CPU 1, $runs ops:"
echo "\`$cmd\`"
echo
echo "| case | p50 |"
echo "|---|---|"
for c in instance-add-pre instance-add-post instance-remove-post diktyo-ipam-allocate empty-go-x2; do
	echo "| \`$c\` | $(metric "$c-p50-ms") ms |"
done
echo
echo "The slowest hook's p50 is $(metric hook/allocate) times the allocate's (the goal: at most 2)."
