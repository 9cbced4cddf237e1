#!/bin/bash
# The demo's test (make test runs it): make demo must succeed and leave
# nothing behind, no process, network namespace, file or directory.
# Usage: check.sh (from the top of the tree, binaries built). Needs root.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "demo check: needs root" >&2; exit 1; }
state() {
	echo "== processes"; pgrep -a -f "$top/bin/" | grep -v "check.sh" || true
	echo "== namespaces"; ip netns list | grep dkdemo || true
	echo "== files"; ls -d /tmp/diktyo-demo.* /tmp/diktyo-wire.* /etc/netns/dkdemo-* 2>/dev/null || true
}
before=$(state)
out=$("$top/scripts/demo/demo.sh" 2>&1) || { echo "$out"; echo "demo check: make demo failed" >&2; exit 1; }
grep -q "the VM's lease is the address the pool allocated" <<<"$out" || { echo "$out"; echo "demo check: the lease was not checked" >&2; exit 1; }
after=$(state)
if [ "$before" != "$after" ]; then
	echo "demo check: make demo left something behind:" >&2
	diff <(echo "$before") <(echo "$after") >&2 || true
	exit 1
fi
echo "demo check: OK (the VM's lease matched the pool; nothing left behind)"
