// Package dhcp4 owns nfdhcpd's DHCPv4 responder core: a pure function from
// the IPv4 packet a VM sent (IP + UDP + BOOTP, as NFQUEUE delivers it), the
// frame's source MAC, the VM's binding and the configuration to a complete
// reply Ethernet frame (Ethernet + IPv4 + UDP + BOOTP) or a typed reason to
// drop the request.
//
// The hot path parses the request in place and appends the reply into a
// caller-provided buffer; it allocates nothing, opens no sockets, reads no
// clocks and keeps no package-level mutable state. It must never import
// socket, netlink, nftables or NFQUEUE packages, nor a DHCP library (tests
// may use github.com/insomniacslk/dhcp to cross-check replies).
//
// Decisions (RFC 2131/2132 and GRNET nfdhcpd semantics):
//   - Server identifier (option 54) and the reply's IPv4 source are
//     Config.ServerIP (GRNET's server_ip); when it is unset the binding's
//     IPv4 gateway is used; when both are unset the request is dropped with
//     ReasonServerConfig.
//   - Options 1, 3, 6, 51, 54, 58 and 59 are always sent (3 unless the
//     binding is Private or has no IPv4 gateway; 6 when configured;
//     51/58/59 not in an ACK to INFORM). Options 12, 15, 26, 28, 119 and
//     121 are sent only when the client lists them in its parameter request
//     list (55), or when the request has no option 55 at all, and when
//     there is something to say (26 needs the binding's MTU, 28 a subnet of
//     /30 or larger). Option 249 (Microsoft's pre-RFC 3442 routes) is sent
//     only when listed. Option 121 is also sent unasked when the gateway is
//     outside the client's subnet (routed /32 setups, no SUBNET): it then
//     holds a host route to the gateway and the default route, because an
//     RFC 3442 client ignores option 3 when 121 is present.
//   - An INFORM is answered without checking its ciaddr against the
//     binding (RFC 2131 4.3.5), unicast to ciaddr.
//   - Option 15 is Config.Domain, or when unset the part of the binding's
//     HOSTNAME after its first dot (as GRNET nfdhcpd does).
//   - A REQUEST whose server identifier is not ours means the client chose
//     another server's offer (RFC 2131 4.3.2): no reply, ReasonNotOurServer.
//     A REQUEST for an address (option 50, else ciaddr) other than the
//     binding's is NAKed (Result.Reason ReasonWrongAddress).
//   - The reply fits in max(576, option 57) bytes of IP datagram; optional
//     options that do not fit are left out. BOOTP replies are zero-padded to
//     300 bytes after the End option for old BOOTP clients.
//   - Option overload (52) is ignored: sname and file are never parsed for
//     options, and replies never use them. Only the first instance of
//     option 55 is used; options 50, 53, 54 and 57 must appear at most once.
//   - Relayed requests (giaddr != 0) are dropped (ReasonRelay): nfdhcpd only
//     answers VMs on their own tap. The request's IPv4 header and UDP
//     checksums are not verified: the kernel checked the IP header, and a
//     virtio sender may leave a partial UDP checksum.
package dhcp4
