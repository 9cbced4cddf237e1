#!/bin/bash
# The etcd part of make bench (scripts/bench/run.sh prints it under
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

# rows REGEX PRINT: runs the awk statements PRINT for every benchmark line
# whose name (without the -CPUS suffix) matches REGEX, with the name's
# '/'-separated parts in p[] and the metrics by unit in m[].
rows() {
	awk -v re="$1" 'function net(s) { return s == "slash8" ? "/8" : "/24" }
	/^Benchmark/ { name = $1; sub(/-[0-9]+$/, "", name); if (name !~ re) next
		split(name, p, "/"); delete m; for (i = 3; i < NF; i++) m[$(i+1)] = $i
		'"$2"' }' "$raw"
}

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
./scripts/bench/etcd/run.sh    # this section alone, as root; make bench runs it too
go test -run '^\$' -bench 'EtcdAllocate|EtcdCreate|EtcdClusters' -benchtime $n ./pkg/ipam/etcdstore/
go test -run '^\$' -bench 'ProcessAllocate' -benchtime 200x ./ipam/
\`\`\`

| store | network | allocators | allocations/s | p50 ms | p99 ms |
|---|---|---|---|---|---|
TEXT
rows '^BenchmarkEtcdAllocate/' 'a = p[4]; sub(/allocators=/, "", a)
	printf "| %s | %s | %d | %.0f | %.1f | %.1f |\n", p[2], net(p[3]), a, m["allocs/s"], m["p50-ms"], m["p99-ms"]'
echo
echo "Ganeti clusters sharing the etcd, each under its own prefix with one"
echo "allocator (its master's queue); they never conflict:"
echo
echo "| clusters | allocations/s, all together | p50 ms | p99 ms |"
echo "|---|---|---|---|"
rows '^BenchmarkEtcdClusters/' 'c = p[2]; sub(/clusters=/, "", c)
	printf "| %d | %.0f | %.1f | %.1f |\n", c, m["allocs/s"], m["p50-ms"], m["p99-ms"]'
echo
echo "Creating a network (one transaction; the removal that follows is not timed):"
echo
echo "| store | network | create ms |"
echo "|---|---|---|"
rows '^BenchmarkEtcdCreate/' 'printf "| %s | %s | %.2f |\n", p[2], net(p[3]), m["create-ms"]'
echo
echo "One \`diktyo-ipam ip allocate\` process (start, connect or lock, allocate, exit) in a /16:"
echo
echo "| store | p50 ms | p90 ms | p99 ms |"
echo "|---|---|---|---|"
rows '^BenchmarkProcessAllocate(Etcd)?/diktyo-ipam$' 'printf "| %s | %.1f | %.1f | %.1f |\n", ($1 ~ /Etcd/ ? "etcd3" : "bbolt"), m["p50-ms"], m["p90-ms"], m["p99-ms"]'
echo
echo "What these numbers mean for Ganeti clusters sharing one etcd, and where"
echo "it stops scaling: docs/etcd.md."
