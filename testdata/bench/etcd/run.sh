#!/bin/bash
# The etcd part of make bench (testdata/bench/run.sh prints it under
# "## etcd"): the pool on a three-member etcd cluster next to the bbolt
# file, in the same run. Needs root (the members run in mount namespaces
# of their own). Not pinned: the members and the load share the vCPUs.
set -euo pipefail
cd "$(dirname "$0")/../../.."
n=${ETCD_BENCHTIME:-400x}
export PATH=$PATH:/usr/local/go/bin
raw=$(mktemp /tmp/diktyo-bench-etcd.XXXXXX)
trap 'rm -f "$raw"' EXIT

go test -run '^$' -bench 'EtcdAllocate|EtcdCreate|EtcdClusters' -benchtime "$n" ./pkg/ipam/etcdstore/ >"$raw" 2>&1 || true
go test -run '^$' -bench 'ProcessAllocate' -benchtime 200x ./ipam/ >>"$raw" 2>&1 || true
grep -E '^(FAIL|--- FAIL|panic)' "$raw" && { echo; echo '```'; tail -30 "$raw"; echo '```'; }

cat <<TEXT
Measured $(date -u +%Y-%m-%d), load average at the end $(cut -d' ' -f1-3 /proc/loadavg).
Three etcd 3.7.3 members (embedded in the test binary, one process each,
fsync on, loopback, heartbeat 100 ms) against the bbolt file (fsync on),
same run. Allocators are hook processes of one node: on etcd each has a
Store of its own, and they queue on the node's lock file as deployed
(\`etcd3\`) or, without it, conflict and retry as writers on different
hosts do (\`etcd3-nolock\`); on bbolt they share one file. One op is an
allocation committed, then its release committed; latencies are those of
the allocations, waiting for the lock included.

\`\`\`
./testdata/bench/etcd/run.sh    # this section alone, as root; make bench runs it too
go test -run '^\$' -bench 'EtcdAllocate|EtcdCreate|EtcdClusters' -benchtime $n ./pkg/ipam/etcdstore/
go test -run '^\$' -bench 'ProcessAllocate' -benchtime 200x ./ipam/
\`\`\`

| store | network | allocators | allocations/s | p50 ms | p99 ms |
|---|---|---|---|---|---|
TEXT
awk '/^BenchmarkEtcdAllocate\// {
	split($1, p, "/"); sub(/-[0-9]+$/, "", p[4]); sub(/allocators=/, "", p[4])
	for (i = 3; i < NF; i++) { if ($(i+1) == "allocs/s") r = $i; if ($(i+1) == "p50-ms") a = $i; if ($(i+1) == "p99-ms") z = $i }
	net = p[3] == "slash8" ? "/8" : "/24"
	printf "| %s | %s | %d | %.0f | %.1f | %.1f |\n", p[2], net, p[4], r, a, z
}' "$raw"
echo
echo "Ganeti clusters sharing the etcd, each under its own prefix with one"
echo "allocator (its master's queue); they never conflict:"
echo
echo "| clusters | allocations/s, all together | p50 ms | p99 ms |"
echo "|---|---|---|---|"
awk '/^BenchmarkEtcdClusters\// {
	split($1, p, "="); sub(/-[0-9]+$/, "", p[2])
	for (i = 3; i < NF; i++) { if ($(i+1) == "allocs/s") r = $i; if ($(i+1) == "p50-ms") a = $i; if ($(i+1) == "p99-ms") z = $i }
	printf "| %d | %.0f | %.1f | %.1f |\n", p[2], r, a, z
}' "$raw"
echo
echo "Creating a network (one transaction; the removal that follows is not timed):"
echo
echo "| store | network | create ms |"
echo "|---|---|---|"
awk '/^BenchmarkEtcdCreate\// {
	split($1, p, "/"); sub(/-[0-9]+$/, "", p[3])
	for (i = 3; i < NF; i++) if ($(i+1) == "create-ms") c = $i
	printf "| %s | %s | %.2f |\n", p[2], p[3] == "slash8" ? "/8" : "/24", c
}' "$raw"
echo
echo "One \`diktyo-ipam ip allocate\` process (start, connect or lock, allocate, exit) in a /16:"
echo
echo "| store | p50 ms | p90 ms | p99 ms |"
echo "|---|---|---|---|"
awk '$1 ~ /^BenchmarkProcessAllocate(Etcd)?\/diktyo-ipam-[0-9]+$/ {
	for (i = 3; i < NF; i++) { if ($(i+1) == "p50-ms") a = $i; if ($(i+1) == "p90-ms") m = $i; if ($(i+1) == "p99-ms") z = $i }
	printf "| %s | %.1f | %.1f | %.1f |\n", ($1 ~ /Etcd/ ? "etcd3" : "bbolt"), a, m, z
}' "$raw"
echo
echo "What these numbers mean for Ganeti clusters sharing one etcd, and where"
echo "it stops scaling: docs/etcd.md."
