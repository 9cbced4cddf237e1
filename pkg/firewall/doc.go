// Package firewall owns diktyo's nftables state of VM NICs: the tables
// "inet diktyo", "bridge diktyo" and "arp diktyo" (shared sets, maps and
// chains) and, for Open vSwitch NICs that filter traffic to the VM, one
// "netdev diktyo_<tap>" table per NIC. It turns a netplan.Filter into set elements (Build, pure,
// rendered as nft text) and applies them over netlink (Firewall). It never
// flushes, lists into or edits anyone else's tables, and must never import
// other diktyo packages than netplan (no hostnet, binding, nfdhcpd, stores).
//
// # Design: per-NIC state is set elements only
//
// Every rule is shared and constant (written by Init); a NIC is a handful
// of elements keyed by its tap name, so adding or removing one is a single
// small batch whose cost does not depend on the number of NICs:
//
//   - No per-NIC chains or tables: creating or deleting a chain with a hook
//     is the slowest nf_tables transaction there is (docs/PERFORMANCE.md
//     has the measurements behind these choices).
//   - No verdict-map elements per NIC: inserting a jump element makes
//     nf_tables re-validate every jump of the table at commit, which grows
//     with the number of NICs. Per-NIC data is in sets and in maps to plain
//     data (marks, addresses); constant rules look them up.
//   - No deletions on the hot path: a transaction that deletes anything
//     leaves work for an RCU grace period, and closing the netlink socket
//     then waits for it (the NETLINK_URELEASE notifier flushes nf_tables'
//     destroy work), about one grace period. Remove therefore gives the NIC's
//     elements a timeout of ExpireAfter instead of deleting them: they stop
//     matching when it passes (and are not listed by the kernel any more);
//     the sets' garbage collection frees them within about a second. Init
//     finds out whether the kernel can update an element's timeout (the
//     "expire_ok" set records it); where it cannot, Remove deletes.
//   - Apply writes elements with an explicit zero timeout ("permanent"),
//     which also revives an element that a Remove moments before set
//     expiring (down then up of the same tap). A map element that exists
//     with other data (a profile change, an earlier NIC's expiring
//     element) is replaced with destroy+add: the rare slow path.
//   - Only the last message of a batch asks for an acknowledgement (errors
//     are always reported): per-message acks tripled the batch's cost.
//
// The element hot path speaks nf_tables netlink itself (nlelem.go); Init,
// the shared chains and listing use google/nftables.
//
// # Tables
//
//   - inet diktyo, "prerouting" (priority raw, -300): routed taps in
//     @antispoof jump to "antispoof" (which jumps to "antispoof_nd" for
//     RS, NS and NA); DHCP, DHCPv6, RS and NS from taps in
//     @q_dhcp/@q_dhcpv6/@q_rs/@q_ns get the tap's queue mark (map lookup);
//     `meta mark vmap @queues` sends marked packets (routed, or bridged and
//     marked in bridge prerouting) to queue_<n>[_bypass]: clear the mark,
//     NFQUEUE. Last, routed taps in @route_mark get their table's route
//     mark (0xd1d10000 + table), by which one ip rule per table routes
//     them (pkg/hostnet). "forward": taps in @protected/@limited jump to
//     the profile chain; `meta mark vmap @profiles` does the same for
//     bridged taps marked in bridge forward. Profile chains: protected (ct
//     established/related, ICMP, ICMPv6 incl. NDP, udp/tcp sport 53, else
//     drop) and limited (tcp dport 22, 3389 + protected). Profiles apply
//     to forwarded traffic only, like snf-network's FORWARD rules.
//   - bridge diktyo, "prerouting" (-200, before br_netfilter): bridged taps
//     in @antispoof jump to "antispoof" (and on to "antispoof_nd"; or
//     @macspoof to "macspoof"), then
//     the queue marks; "forward" and "output": the private-network MAC
//     filter (`oifname @macfilter oifname . ether saddr & MASK !=
//     @vm_prefix drop`, so broadcasts and ARP from other networks never
//     reach the VM) and the profile marks.
//   - arp diktyo: "input" first gives ARP from a routed tap its table's
//     route mark (`meta mark set iifname map @route_mark`, the same
//     elements as the inet map): the kernel answers a request by proxy
//     ARP only if it can route to the target, and that lookup uses the
//     packet's mark, so without it the main table decides and a host
//     whose main table has no route to the VM's gateway never answers
//     (with PER_TAP_RULES the `iif` rules route it). Then it checks ARP
//     from routed taps in @antispoof. Init fills the arp map from the
//     inet one when it adds it to tables of an earlier version. "output"
//     rewrites the sender address of requests to a tap to its
//     gateway: `arp saddr ip set oifname map @arp_gw` (GRNET's arptables
//     mangle).
//
// Why marks: with br_netfilter the inet forward hook sees the bridge, not
// the tap, as oif; this kernel has no conntrack in the bridge or netdev
// families and no NFQUEUE in the bridge family. So the bridge chains mark
// the packet — 0xd1c00000|bypass<<16|queue for DHCP (udp 67), DHCPv6 (udp
// 547), RS and NS; 0xd1d0000{1,2} for the protected/limited profile — and
// constant inet rules map the mark to a shared chain. Marks 0xd1c00000 –
// 0xd1dfffff are diktyo's. (nft prints the data of mark maps byte-swapped
// on little-endian hosts: 0x6400d1d1 is 0xd1d10064.)
//
// Queue verdicts are encoded in one place (queueExpr): the xt NFQUEUE
// target through nft_compat by default (this kernel lacks the native
// expression), or the native queue expression with Options.Queue =
// QueueNative.
//
// # Anti-spoofing (all modes, when Filter.AntiSpoof)
//
// The VM may send only from its MAC (@vm_mac), only ARP/IPv4/IPv6 (bridged:
// VLAN tags and other ethertypes are dropped; routed taps have no L2 path
// for them), ARP only as Ethernet/IPv4 with its MAC and one of its IPv4
// addresses (or 0.0.0.0 for RFC 5227 probes) as sender, IPv4 from its
// addresses (@vm_ip4) or 0.0.0.0 to udp 67 (DHCP), IPv6 from its addresses
// and EUI-64 link-local (@vm_ip6), or :: for DAD NS, RS and MLDv2 reports
// only. With LinkLocal6 (@vm_ll6) any fe80::/64 source is allowed
// (stable-privacy and temporary link-locals); global temporary/privacy
// addresses inside the /64 are not, since routed mode only routes the
// EUI-64 /128. Never allowed: DHCP or DHCPv6 server traffic (udp sport
// 67/547), router advertisements, ICMP and ICMPv6 redirects.
//
// Neighbour discovery (routed and bridged taps: "antispoof_nd", constant
// rules on the same sets; Open vSwitch NICs: see below) may only announce
// the VM itself, so that it cannot make its neighbours
// or the host send another node's traffic to it: an NA's target must be
// in @vm_ip6, and link-layer address options must carry the VM's MAC.
// @vm_ip6 always holds the EUI-64 link-local, also with LinkLocal6: the
// NA target check accepts it but no other fe80::/64 address, or a VM
// could claim the router's link-local. A VM that uses another link-local
// (stable-privacy, random) may send from it, but its NAs for it are
// dropped; neighbours still learn it from the SLLA of its NS and RS.
// With LinkLocal6 the VM may send from any fe80::/64 address, and an NS
// from another node's link-local carrying the VM's own MAC makes its
// receivers map that link-local to the VM (Linux and the BSDs update the
// entry of an NS's source). The router's link-local is therefore never
// an allowed source (@router_ll6, Filter.RouterLL6: known where diktyo is
// the router, i.e. routed taps and networks whose router advertisements
// nfdhcpd sends). What this cannot stop: the link-local of a router
// outside diktyo, or of another VM using a random link-local; only
// LinkLocal6=false (the EUI-64 link-local is the only one allowed) closes
// that.
// Options are checked strictly, in the forms Linux, Windows and the BSDs
// send: NA at most one TLLA; NS none, SLLA, a nonce (RFC 7527, DAD from
// ::) or SLLA then nonce; RS none or SLLA. Fragmented NDP is dropped
// (RFC 6980; an option in a later fragment could not be checked, and
// Linux accepts a reassembled NA). The rules read the ICMPv6 message at
// nft's transport header, which is past any extension headers; an option
// that is absent is not checked (a load past the end of the packet ends
// the rule without a match).
//
// # Open vSwitch
//
// Frames switched by Open vSwitch never reach the bridge or inet hooks,
// and a netdev ingress chain on the tap does nothing on the userspace
// datapath (its AF_PACKET socket reads a frame before the ingress hook).
// So an Open vSwitch NIC is filtered in three places, none of them per-NIC
// set elements:
//
//   - From the VM: OpenFlow flows on the bridge (pkg/ovsflow, written by
//     pkg/hostnet after the port exists): the anti-spoofing above, with the
//     neighbour discovery checks (an NA's target must be the VM's EUI-64
//     address or EUI-64 link-local and its target link-layer option the
//     VM's MAC; an NS's source link-layer option the VM's MAC), on both
//     datapaths. Not checked there: the source link-layer option of a
//     router solicitation (Open vSwitch does not parse RS options).
//   - To the VM: an egress chain on the tap in a netdev table of its own,
//     "netdev diktyo_<tap>" (created and deleted with the NIC, the slow
//     path, and only for NICs that need it): the private network's MAC
//     filter (`ether saddr & MASK != PREFIX drop`, broadcasts and ARP
//     included) and the protected/limited profile. The egress hook sees
//     what Open vSwitch sends out of the tap with both datapaths. The
//     netdev family has no conntrack here, so the profile is snf-network's
//     stateless one: tcp segments other than connection requests (`tcp
//     flags & (fin|syn|rst|ack) != syn`), udp sport 53, ICMP and ICMPv6 in,
//     limited adds tcp dport 22 and 3389, other IPv4/IPv6 is dropped, other
//     ethertypes pass. Unlike the bridged profile, UDP replies other than
//     DNS (NTP, a DHCP server on the switch) are dropped, and TCP
//     segments without SYN pass whether or not the VM opened the
//     connection. Frames
//     from the tap's own MAC (Filter.TapMAC: nfdhcpd's replies and the
//     host's own) pass first, as they never cross the bridge of a bridged
//     NIC either. Tagged frames of trunk ports are not IP to the profile
//     and pass it (the MAC filter applies).
//   - nfdhcpd steering: the flows send the VM's untagged DHCP, DHCPv6 and
//     RS (and a copy of its NS) to the bridge's local port with the queue
//     mark in the destination MAC (03:00:MARK, see pkg/ovsflow); the
//     constant chain "ovs_steer" of inet diktyo (prerouting, raw) turns it
//     back into the mark and queues the packet through `meta mark vmap
//     @queues`. nfdhcpd finds the binding by INDEV (the bridge) and the
//     source MAC, and answers out of the tap. Apply checks that the chain
//     exists (ErrNotInitialized when tables of an older diktyo lack it).
//
// Remove deletes the tap's netdev table whatever it holds, so the ingress
// chain an older diktyo created for the NIC goes too.
package firewall
