// Package ovsflow owns the OpenFlow flows diktyo writes for an Open vSwitch
// NIC: it turns the guard of a port (netplan.OVSPort.Guard) into the flow
// specifications that ovs-ofctl reads, for the frames the VM sends into
// the switch. It is pure (no exec, no sockets) and must never import other
// diktyo packages than netplan and ipam (EUI-64); pkg/hostnet runs
// ovs-ofctl with its output.
//
// # Why flows
//
// Open vSwitch's userspace datapath reads a port through an AF_PACKET
// socket, which sees a frame before the netfilter ingress hook of the
// device, so a netdev ingress chain on the tap filters nothing there (it
// does with the kernel datapath). Flows work with both datapaths, and Open
// vSwitch parses what anti-spoofing needs: ARP sender fields, IPv4/IPv6
// sources, UDP ports, ICMP types and the neighbour discovery target and
// link-layer options (nd_target, nd_sll, nd_tll).
//
// # The flows of one port
//
// Every flow is in table 0, matches in_port=TAP and carries the NIC's
// cookie (Cookie: 0xd1d1 in the top 16 bits, 48 bits of the FNV-1a hash of
// the tap name), so that `ovs-ofctl del-flows BR cookie=C/-1` removes
// exactly one NIC's flows, whatever its configuration was. An up writes
// them with one `ovs-ofctl --bundle add-flows BR -` whose input (Input)
// first deletes the cookie's flows: the change is atomic.
//
// Frames that pass set bit 0 of register 13 and are resubmitted to table 0,
// where diktyo's flows (which all require that bit clear) no longer match:
// the operator's own flows then decide, as if diktyo's were not there (the
// stock `priority=0 actions=NORMAL` switches them). Frames that fail are
// dropped by a catch-all flow of the port below the allows. Priorities
// (all above OpenFlow's default 32768, so a port's frames meet diktyo's
// flows first):
//
//	40050  drops: DHCP server (udp sport 67), ICMP redirect, DHCPv6 server
//	       (udp sport 547), router advertisement, ICMPv6 redirect, NS whose
//	       options Open vSwitch found invalid (nd_target ::)
//	40045  nfdhcpd steering (see below)
//	40040  neighbour discovery: NA only for one of the VM's own addresses
//	       (its EUI-64 addresses and EUI-64 link-local, never any other
//	       fe80::) with no target link-layer option or the VM's MAC; NS
//	       with no source link-layer option or the VM's MAC (from ::, for
//	       duplicate address detection, with none); RS from the VM's
//	       sources or ::
//	40030  every other NS, NA and RS: drop
//	40010  allows: ARP with the VM's MAC as sender and one of its IPv4
//	       addresses (or 0.0.0.0) as sender address; IPv4 from its
//	       addresses, or 0.0.0.0 to udp 67; IPv6 from its addresses and
//	       link-local (any fe80::/64 with LinkLocal6); MLDv2 reports from ::
//	40000  anything else from the port: drop
//
// All allows require the VM's MAC as Ethernet source. The allows mirror
// the bridged anti-spoofing of pkg/firewall. Open vSwitch cannot match the
// options of a router solicitation: its source link-layer option is not
// checked (with nfdhcpd steering, RS never reach the switch). Without
// AntiSpoof but with a MAC filter (private networks), only the MAC is
// checked.
//
// # nfdhcpd steering
//
// With Guard.Queues, untagged DHCP (udp dport 67), DHCPv6 (udp dport 547)
// and RS from the VM go to the bridge's local port only, never to the
// switch, and a copy of every NS the VM sends from an address (not
// duplicate address detection) goes there too (the NS itself is switched:
// the VM's neighbours answer for themselves; nfdhcpd answers for the
// router's link-local address). On the
// way the frame's destination MAC is replaced by SteerMAC of its queue
// mark (03:00 and the 32-bit mark, a locally administered group address,
// which the host stack accepts whatever the original destination was);
// pkg/firewall's constant rule in inet prerouting turns it back into the
// mark, and the mark into the NFQUEUE verdict. nfdhcpd finds the binding
// by the bridge (INDEV) and the frame's source MAC, and answers out of the
// tap. This needs the bridge's local interface up with IPv6 enabled; it
// works with both datapaths.
package ovsflow
