// Package firewall owns diktyo's nftables state of VM NICs: the tables
// "inet diktyo", "bridge diktyo" and "arp diktyo" (shared maps, base chains,
// profile and queue chains) and one "netdev diktyo_<tap>" table per NIC. It
// turns a netplan.Filter into rules (Build, pure, rendered as nft text) and
// applies them over netlink (Firewall). It never flushes, lists into or
// edits anyone else's tables, and must never import other diktyo packages
// than netplan (no hostnet, binding, nfdhcpd, stores).
//
// # Design
//
// Per NIC, everything is in chains named nic_<tap> reached through O(1)
// dispatch, so adding or removing a NIC touches only that NIC's chains and
// map elements, never a shared rule list:
//
//   - netdev diktyo_<tap>, chain nic_<tap>, hook ingress on the tap
//     (priority -500): anti-spoofing and queue marks. The tap's ingress
//     sees every frame the VM sends before routing, bridging or Open
//     vSwitch (kernel datapath) touches it, so one chain covers all three
//     modes. One table per NIC because nf_tables checks a new netdev base
//     chain against all base chains of its table: with 1000 NICs in one
//     table a chain update took twice as long; with a table each it is
//     flat. Removing is add-table + delete-table in one batch, which works
//     whether or not the table (or the device) still exists.
//   - inet diktyo: "forward" does `oifname vmap @nics` (routed NICs →
//     nic_<tap> → jump protected/limited) and `meta mark vmap @profiles`
//     (bridged NICs, see below); "prerouting" (priority raw) does
//     `meta mark vmap @queues` → queue_<n>[_bypass]: clear the mark, then
//     NFQUEUE. Profile chains: protected (ct established/related, ICMP,
//     ICMPv6 incl. NDP, udp/tcp sport 53, else drop) and limited (tcp dport
//     22, 3389 + protected). Profiles apply to forwarded traffic only, like
//     snf-network's FORWARD rules: nfdhcpd's replies (AF_PACKET on the tap)
//     and the host's own NDP never meet them.
//   - bridge diktyo: "forward" and "output" (priority -200) do
//     `oifname vmap @nics` → nic_<tap>: the private-network MAC filter
//     (`ether saddr & MASK != PREFIX drop`, so broadcasts and ARP from other
//     networks never reach the VM) and the profile mark.
//   - arp diktyo: "output" does `oifname vmap @nics` → nic_<tap>:
//     `arp operation request arp saddr ip set GW` (routed NICs).
//
// Why marks: with br_netfilter the inet hooks see the bridge, not the tap,
// as iif/oif; this kernel has no conntrack in the bridge or netdev families
// (ct in them fails with EPROTO) and no NFQUEUE in the bridge family. So the
// tap's own chain marks the packet — 0xd1c00000|bypass<<16|queue at netdev
// ingress for DHCP (udp 67), DHCPv6 (udp 547), RS and NS; 0xd1d0000{1,2} in
// bridge forward for the protected/limited profile — and one constant rule
// in inet maps the mark to a shared chain. Routed NICs use the same queue
// marks, so steering has one path. Marks 0xd1c00000–0xd1dfffff are diktyo's.
//
// Queue verdicts are encoded in one place (queueExpr): the xt NFQUEUE target
// through nft_compat by default (this kernel lacks the native expression),
// or the native queue expression with Options.Queue = QueueNative.
//
// Idempotence without "destroy" (kernel 6.3+): a map element's verdict is
// always "jump nic_<tap>" (a function of the key), so adding an existing
// element is a no-op and add-then-delete removes one whether or not it
// existed; the same for chains and tables. Apply writes, in one batch: the
// NIC's chains (add, flush, rules), its elements, and destroys its objects
// in the families the Filter no longer needs (mode or profile change).
// Applying the same Filter twice yields the same ruleset; a failed batch
// changes nothing (nf_tables batches are atomic).
//
// # Anti-spoofing (all modes, when Filter.AntiSpoof)
//
// The VM may send only from its MAC, only ARP/IPv4/IPv6 (VLAN tags and other
// ethertypes are dropped), ARP only as Ethernet/IPv4 with its MAC and one of
// its IPv4 addresses (or 0.0.0.0 for RFC 5227 probes) as sender, IPv4 from
// its addresses or 0.0.0.0 to udp 67 (DHCP), IPv6 from its addresses, its
// EUI-64 link-local, or :: for DAD NS, RS and MLDv2 reports only. With
// LinkLocal6 any fe80::/64 source is allowed (stable-privacy and temporary
// link-locals); global temporary/privacy addresses inside the /64 are not,
// since routed mode only routes the EUI-64 /128. Never allowed: DHCP or
// DHCPv6 server traffic (udp sport 67/547), router advertisements, ICMP and
// ICMPv6 redirects. Without IPv4 addresses all IPv4 and ARP is dropped.
//
// Open vSwitch: anti-spoofing works (netdev ingress runs before the kernel
// datapath) but profiles, MAC filter and queue steering do not apply there
// (packets never reach the bridge/inet hooks).
package firewall
