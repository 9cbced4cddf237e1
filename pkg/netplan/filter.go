package netplan

import (
	"net/netip"

	"github.com/diktyo/diktyo/pkg/mac"
)

// Filter is the nftables input of one NIC, applied by pkg/firewall.
type Filter struct {
	Tap  string `json:"tap"`
	Mode Mode   `json:"mode"`
	// Bridge is the bridge the tap is in (bridged mode), for queue steering.
	Bridge string   `json:"bridge,omitempty"`
	MAC    mac.Addr `json:"mac"`
	// TapMAC (openvswitch) is the tap's own MAC: frames the host itself
	// sends out of the tap (nfdhcpd's replies) come from it, and pass the
	// filter of traffic to the VM (MAC filter, profile).
	TapMAC mac.Addr `json:"tap_mac,omitempty"`

	// AntiSpoof: the VM may send only from MAC, from IPv4 and from IPv6
	// (plus link-local as LinkLocal6 says), and never DHCP server replies
	// (udp sport 67/547) or router advertisements.
	AntiSpoof bool         `json:"anti_spoof"`
	IPv4      []netip.Addr `json:"ipv4,omitempty"`
	IPv6      []netip.Addr `json:"ipv6,omitempty"`
	// LinkLocal6 allows any fe80::/64 source (stable-privacy and temporary
	// link-locals), not only the EUI-64 one.
	LinkLocal6 bool `json:"link_local6"`
	// RouterLL6 is the link-local address of the VM's IPv6 router, which
	// the VM may never send from, even with LinkLocal6: an NS from it
	// carrying the VM's MAC would make its neighbours send their routed
	// traffic to the VM. It is known where diktyo is the router: routed
	// taps (fe80::EUI-64 of TAP_CONSTANT_MAC) and networks whose router
	// advertisements nfdhcpd sends (fe80::EUI-64 of the bridge's MAC).
	RouterLL6 netip.Addr `json:"router_ll6,omitzero"`

	// Profile is the snf-network firewall profile of traffic to the VM.
	Profile Profile `json:"profile,omitempty"`

	// MACFilter isolates private networks sharing a bridge: frames to the
	// tap only from MACs that match Prefix under Mask.
	MACFilter *MACFilter `json:"mac_filter,omitempty"`

	// ARPGateway (routed): ARP requests sent to the VM carry this address
	// as sender, as GRNET did with arptables mangle.
	ARPGateway netip.Addr `json:"arp_gateway,omitzero"`

	// Queues steers DHCP, DHCPv6, RS and NS from the tap to nfdhcpd.
	Queues *Queues `json:"queues,omitempty"`

	// RouteMark (routed, shared table rule): packets from the tap get this
	// mark, which the table's rule (netplan.Rule.Mark) routes by.
	RouteMark uint32 `json:"route_mark,omitempty"`
}

// Profile is an snf-network firewall profile.
type Profile string

// Firewall profiles (instance tag synnefo:network:<nic>:<profile>).
const (
	ProfileNone        Profile = ""
	ProfileProtected   Profile = "protected"   // established/related + ICMP + DNS replies
	ProfileLimited     Profile = "limited"     // protected + ssh 22 + rdp 3389 in
	ProfileUnprotected Profile = "unprotected" // everything
)

// MACFilter is a MAC prefix under a mask.
type MACFilter struct {
	Prefix mac.Addr `json:"prefix"`
	Mask   mac.Addr `json:"mask"`
}

// Queues are nfdhcpd's NFQUEUE numbers; Bypass accepts packets while
// nothing is bound to a queue.
type Queues struct {
	DHCP   uint16 `json:"dhcp"`
	DHCPv6 uint16 `json:"dhcpv6"`
	RS     uint16 `json:"rs"`
	NS     uint16 `json:"ns"`
	Bypass bool   `json:"bypass"`
}
