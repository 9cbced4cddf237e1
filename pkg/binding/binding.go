// Package binding owns nfdhcpd binding files: the GRNET nfdhcpd format
// (KEY=VALUE lines named after the tap) that diktyo-ifup writes and nfdhcpd
// reads. It parses, writes atomically (temp file + rename), watches a binding
// directory and keeps an ifindex-keyed table that can be swapped while
// packets are being answered. It must never import netlink, nftables or
// packet-handling packages.
package binding

import (
	"bytes"
	"net"
	"net/netip"
	"slices"
)

// Binding is one VM NIC as nfdhcpd sees it. A zero netip.Addr / netip.Prefix
// or an empty string means "unset" (GRNET writes empty values for unset keys).
type Binding struct {
	// Tap is the tap (file) name the binding was read from, e.g. "tap5".
	Tap string
	// InDev is the device the VM's packets are queued on: the tap when
	// routed, the bridge when bridged.
	InDev    string
	IP       netip.Addr
	MAC      net.HardwareAddr
	Hostname string
	// Tags is the set of tags (space separated in the file), sorted.
	Tags     []string
	Gateway  netip.Addr
	Subnet   netip.Prefix
	Gateway6 netip.Addr
	Subnet6  netip.Prefix
	EUI64    netip.Addr
	// MTU is 0 when unset.
	MTU int
	// Private marks a NIC on a private network: no router option.
	Private bool
	// MACSpoof disables the chaddr == binding MAC check.
	MACSpoof bool
}

// Routed reports whether the NIC's packets arrive on the tap itself
// (INDEV is the tap); otherwise INDEV is a bridge the tap is a port of.
func (b *Binding) Routed() bool { return b.InDev == b.Tap }

// HasTag reports whether tag is one of the binding's tags.
func (b *Binding) HasTag(tag string) bool {
	_, ok := slices.BinarySearch(b.Tags, tag)
	return ok
}

// Clone returns a deep copy of b.
func (b *Binding) Clone() *Binding {
	c := *b
	c.MAC = slices.Clone(b.MAC)
	c.Tags = slices.Clone(b.Tags)
	return &c
}

// Equal reports whether a and b describe the same binding.
func (b *Binding) Equal(o *Binding) bool {
	if b == nil || o == nil {
		return b == o
	}
	return b.Tap == o.Tap && b.InDev == o.InDev && b.IP == o.IP &&
		bytes.Equal(b.MAC, o.MAC) && b.Hostname == o.Hostname &&
		slices.Equal(b.Tags, o.Tags) && b.Gateway == o.Gateway &&
		b.Subnet == o.Subnet && b.Gateway6 == o.Gateway6 &&
		b.Subnet6 == o.Subnet6 && b.EUI64 == o.EUI64 && b.MTU == o.MTU &&
		b.Private == o.Private && b.MACSpoof == o.MACSpoof
}
