// Package nfqueue is diktyo's NFQUEUE client: it binds one netfilter queue
// over a NETLINK_NETFILTER socket, hands every queued packet to a handler and
// gives each one exactly one verdict.
//
// It owns the queue socket, the nfnetlink_queue wire format (configuration,
// packet and verdict messages) and the reading of
// /proc/net/netfilter/nfnetlink_queue. Configuration uses
// github.com/mdlayher/netlink for the socket; the receive → parse → handler →
// verdict path runs on the raw file descriptor and allocates nothing per
// packet.
//
// It must never import other diktyo packages (it is a leaf below nfdhcpd),
// nftables or rule-building code: which traffic reaches a queue is the
// caller's business.
package nfqueue
