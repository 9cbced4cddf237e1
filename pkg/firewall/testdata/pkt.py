# Test helper (run with /usr/bin/python3, which has scapy):
#   pkt.py sniff IFACE SECONDS   prints the marker of every test frame seen
#                                until the "end" frame (or SECONDS)
#   pkt.py send IFACE NAME...    sends the named test frames
# Every frame carries "diktyo:<name>" so the sniffer can tell them apart.
import sys, time
from scapy.all import (Ether, IP, IPv6, UDP, ARP, Dot1Q, ICMPv6ND_RA, Raw,
                       sendp, sniff, conf)
conf.verb = 0


def frames(mac, ip, ll):
    m = lambda n: Raw(b"diktyo:" + n.encode())
    bc = "ff:ff:ff:ff:ff:ff"
    return {
        "end": Ether(src=mac, dst=bc) / IP(src=ip, dst="198.18.0.250") / UDP(sport=1234, dport=9999) / m("end"),
        "legit": Ether(src=mac, dst=bc) / IP(src=ip, dst="198.18.0.250") / UDP(sport=1234, dport=9999) / m("legit"),
        "legit6": Ether(src=mac, dst="33:33:00:00:00:01") / IPv6(src=ll, dst="ff02::1") / UDP(sport=1234, dport=9999) / m("legit6"),
        "spoof-ip": Ether(src=mac, dst=bc) / IP(src="198.18.0.99", dst="198.18.0.250") / UDP(sport=1234, dport=9999) / m("spoof-ip"),
        "spoof-mac": Ether(src="aa:10:00:00:00:99", dst=bc) / IP(src=ip, dst="198.18.0.250") / UDP(sport=1234, dport=9999) / m("spoof-mac"),
        "spoof-ip6": Ether(src=mac, dst="33:33:00:00:00:01") / IPv6(src="2001:db8::99", dst="ff02::1") / UDP(sport=1234, dport=9999) / m("spoof-ip6"),
        "dhcp-server": Ether(src=mac, dst=bc) / IP(src=ip, dst="255.255.255.255") / UDP(sport=67, dport=68) / m("dhcp-server"),
        "ra": Ether(src=mac, dst="33:33:00:00:00:01") / IPv6(src=ll, dst="ff02::1") / ICMPv6ND_RA() / m("ra"),
        "vlan": Ether(src=mac, dst=bc) / Dot1Q(vlan=10) / IP(src=ip, dst="198.18.0.250") / UDP(sport=1234, dport=9999) / m("vlan"),
        "arp-spoof": Ether(src=mac, dst=bc) / ARP(op=1, hwsrc=mac, psrc="198.18.0.99", pdst="198.18.0.250") / m("arp-spoof"),
        "arp": Ether(src=mac, dst=bc) / ARP(op=1, hwsrc=mac, psrc=ip, pdst="198.18.0.250") / m("arp"),
    }

if sys.argv[1] == "sniff":
    iface, secs = sys.argv[2], float(sys.argv[3])
    seen = []
    def cb(p):
        b = bytes(p)
        i = b.find(b"diktyo:")
        if i >= 0:
            seen.append(b[i + 7:].split(b"\0")[0].decode(errors="replace"))
    # Stop at the "end" frame (sent last, always legit) or after secs.
    sniff(iface=iface, timeout=secs, prn=cb, store=False,
          started_callback=lambda: print("ready", flush=True),
          stop_filter=lambda p: b"diktyo:end" in bytes(p))
    for s in sorted(set(seen)):
        print(s)
else:
    iface, mac, ip, ll = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
    fs = frames(mac, ip, ll)
    for name in sys.argv[6:]:
        sendp(fs[name], iface=iface)
