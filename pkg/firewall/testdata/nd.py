# Test helper of the neighbour discovery tests (run with /usr/bin/python3,
# which has scapy):
#   nd.py IFACE KEY=VALUE... NAME...
# sends the named frames out of IFACE (the VM's eth0) and prints
# "NAME MARKER" for each. Keys: mac, ll, ip6, ip4 (the sender's own),
# dmac (destination MAC of unicast frames), vip6, vip4 (the victim's
# addresses), nstgt (the target of NS: an address of the receiver),
# gw6, gwll (the gateway's), other (another node's MAC).
# The marker tells the frames apart at the receiver: IPv6 frames carry it
# as their flow label, IPv4 frames as their IP id (NDP ignores both).
import sys
from socket import AF_INET6, inet_ntop, inet_pton
from scapy.all import (Ether, IP, IPv6, UDP, ICMPv6ND_NA, ICMPv6ND_NS,
                       ICMPv6ND_RS, ICMPv6NDOptDstLLAddr,
                       ICMPv6NDOptSrcLLAddr, ICMPv6NDOptMTU,
                       IPv6ExtHdrHopByHop, IPv6ExtHdrFragment, Raw,
                       in6_getnsma, sendp, conf)
conf.verb = 0

iface, args, names = sys.argv[1], {}, []
for a in sys.argv[2:]:
    k, eq, v = a.partition("=")
    if eq:
        args[k] = v
    else:
        names.append(a)
g = args.get


def sn(addr):
    """Solicited-node multicast address and MAC of addr."""
    a = in6_getnsma(inet_pton(AF_INET6, addr))
    return inet_ntop(AF_INET6, a), "33:33:" + ":".join("%02x" % b for b in a[12:])


NONCE = Raw(b"\x0e\x01" + b"diktyo")  # RFC 7527 nonce option, length 1
ALL_NODES = ("ff02::1", "33:33:00:00:00:01")
ALL_ROUTERS = ("ff02::2", "33:33:00:00:00:02")


def v6(src, dst, dmac, l4):
    return lambda fl: Ether(src=g("mac"), dst=dmac) / IPv6(src=src, dst=dst, hlim=255, fl=fl) / l4


def na(tgt, *opts, ext=None):
    l4 = ICMPv6ND_NA(tgt=tgt, R=0, S=0, O=1)
    for o in opts:
        l4 = l4 / o
    if ext is not None:
        l4 = ext / l4
    return v6(g("ll"), ALL_NODES[0], ALL_NODES[1], l4)


def na_fragmented(tgt, opt):
    """An NA in two fragments: the header and target (marked), then the
    option (unmarked: the receiver of the marker saw the first one)."""
    icmp = bytes((IPv6(src=g("ll"), dst=ALL_NODES[0]) / ICMPv6ND_NA(tgt=tgt, R=0, S=0, O=1) / opt)[ICMPv6ND_NA])

    def build(fl):
        frags = []
        for off, data, more, label in ((0, icmp[:24], 1, fl), (3, icmp[24:], 0, 0)):
            frags.append(Ether(src=g("mac"), dst=ALL_NODES[1]) /
                         IPv6(src=g("ll"), dst=ALL_NODES[0], hlim=255, fl=label) /
                         IPv6ExtHdrFragment(nh=58, offset=off, m=more, id=0xd1d1) / Raw(data))
        return frags
    return build


def ns(src, tgt, *opts):
    dst, dmac = sn(tgt)
    l4 = ICMPv6ND_NS(tgt=tgt)
    for o in opts:
        l4 = l4 / o
    return v6(src, dst, dmac, l4)


def rs(src, *opts):
    l4 = ICMPv6ND_RS()
    for o in opts:
        l4 = l4 / o
    return v6(src, ALL_ROUTERS[0], ALL_ROUTERS[1], l4)


def frames():
    own, other = ICMPv6NDOptDstLLAddr(lladdr=g("mac")), ICMPv6NDOptDstLLAddr(lladdr=g("other"))
    sown, sother = ICMPv6NDOptSrcLLAddr(lladdr=g("mac")), ICMPv6NDOptSrcLLAddr(lladdr=g("other"))
    udp = lambda sport, dport: UDP(sport=sport, dport=dport) / Raw(b"diktyo")
    return {
        # Spoofed: another node's address or MAC, or options no stack sends.
        "na-gw": na(g("gw6"), own),          # claims the gateway's address
        "na-gwll": na(g("gwll"), own),       # claims the gateway's link-local
        "na-vm": na(g("vip6"), own),         # claims another VM's address
        "na-gw-hbh": na(g("gw6"), own, ext=IPv6ExtHdrHopByHop()),
        "na-tlla-frag": na_fragmented(g("ip6"), other),  # TLLA in the 2nd fragment
        "na-tlla": na(g("ip6"), other),      # own address, another MAC
        "na-tlla-slla": na(g("ip6"), own, sown),
        "ns-slla": ns(g("ip6"), g("nstgt"), sother),
        "ns-mtu": ns(g("ip6"), g("nstgt"), ICMPv6NDOptMTU()),
        "ns-nonce-slla": ns(g("ip6"), g("nstgt"), NONCE, sown),
        "ns-slla-slla": ns(g("ip6"), g("nstgt"), sown, sown),
        "rs-slla": rs(g("ll"), sother),
        "rs-slla-mtu": rs(g("ll"), sown, ICMPv6NDOptMTU()),
        # From the router's link-local, with the VM's own MAC.
        "ns-gwll-src": ns(g("gwll"), g("nstgt"), sown),
        "na-gwll-src": v6(g("gwll"), ALL_NODES[0], ALL_NODES[1], ICMPv6ND_NA(tgt=g("ip6"), R=1, S=0, O=1) / own),
        # Legit forms of Linux, Windows and the BSDs.
        "na-own": na(g("ip6"), own),
        "na-ownll": na(g("ll"), own),
        "na-noopt": na(g("ip6")),
        "ns": ns(g("ip6"), g("nstgt"), sown),
        "ns-noopt": ns(g("ip6"), g("nstgt")),
        "ns-dad": ns("::", g("ip6"), NONCE),
        "ns-slla-nonce": ns(g("ip6"), g("nstgt"), sown, NONCE),
        "rs": rs(g("ll"), sown),
        "rs-dad": rs("::"),
        # DHCP server replies (spoofed) and plain UDP (legit), to the
        # victim directly (bridged) or through the host (routed).
        "dhcp6-server": v6(g("ip6"), g("vip6"), g("dmac"), udp(547, 546)),
        "udp6": v6(g("ip6"), g("vip6"), g("dmac"), udp(1234, 9999)),
        "dhcp-server": lambda id: Ether(src=g("mac"), dst=g("dmac")) / IP(src=g("ip4"), dst=g("vip4"), id=id) / udp(67, 68),
        "udp4": lambda id: Ether(src=g("mac"), dst=g("dmac")) / IP(src=g("ip4"), dst=g("vip4"), id=id) / udp(1234, 9999),
    }


V4 = ("dhcp-server", "udp4")
fs = frames()
for i, name in enumerate(names):
    marker = (0xd100 if name in V4 else 0xd1d00) + i
    sendp(fs[name](marker), iface=iface)
    print(name, marker, flush=True)
