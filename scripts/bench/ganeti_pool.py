#!/usr/bin/python3
"""Ganeti 3.0's own AddressPool (ganeti.network) on the workload that
BenchmarkGanetiWorkload runs against diktyo's pool: create a /16, then
allocate at 0%, 50% and 99% fill. Prints one JSON object per measurement.

Usage: ganeti_pool.py GANETI_PYTHON_DIR [ops]
"""
import json
import sys
import time

sys.path.insert(0, sys.argv[1])
from ganeti import network  # noqa: E402

OPS = int(sys.argv[2]) if len(sys.argv) > 2 else 2000


class Net:
    """The fields of objects.Network that AddressPool reads and writes."""

    def __init__(self, cidr, gw):
        self.network = cidr
        self.gateway = gw
        self.network6 = None
        self.gateway6 = None
        self.reservations = None
        self.ext_reservations = None


def emit(**kw):
    kw["impl"] = "ganeti-3.0-AddressPool"
    print(json.dumps(kw), flush=True)


t0 = time.perf_counter()
for _ in range(20):
    net = Net("198.18.0.0/16", "198.18.0.1")
    network.AddressPool.InitializeNetwork(net)
emit(op="create /16", ns_per_op=(time.perf_counter() - t0) / 20 * 1e9)

for fill in (0, 50, 99):
    net = Net("198.18.0.0/16", "198.18.0.1")
    pool = network.AddressPool.InitializeNetwork(net)
    # Fill the pool the way Ganeti would: lowest free first.
    target = 65536 * fill // 100
    pool.reservations[3:target] = True
    pool.Update()
    t0 = time.perf_counter()
    for _ in range(OPS):
        a = pool.GetFreeAddress()  # reserve + write back, as LUs do
        pool.Release(a)
    dt = time.perf_counter() - t0
    emit(op="allocate+release /16 fill=%d%%" % fill, ns_per_op=dt / OPS * 1e9)
