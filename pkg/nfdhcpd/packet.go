package nfdhcpd

// sender sends complete Ethernet frames out of an interface. The daemon
// uses an afpacket.Socket (non-blocking sends); tests use a recorder.
type sender interface {
	Send(ifindex int, frame []byte) error
}
