package hostnet

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/diktyo/diktyo/pkg/afpacket"
)

// FrameSender sends a complete Ethernet frame out of a device.
type FrameSender interface {
	SendFrame(ifindex int, frame []byte) error
}

// packetSender sends through one afpacket.Socket, opened on first use by
// open (which picks the namespace). Closing the socket, also at process
// exit, costs the kernel an RCU grace period (~16 ms): SpawnSender keeps
// that off the caller's path.
type packetSender struct {
	open    func(func() error) error
	timeout time.Duration // bounds each send (0: a send never blocks)
	mu      sync.Mutex
	sock    *afpacket.Socket
}

// SendFrame sends frame on ifindex.
func (s *packetSender) SendFrame(ifindex int, frame []byte) error {
	if err := checkFrame(ifindex, frame); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sock == nil {
		err := s.open(func() error {
			var err error
			s.sock, err = afpacket.Open(s.timeout)
			return err
		})
		if err != nil {
			return err
		}
	}
	return s.sock.Send(ifindex, frame)
}

// Close closes the socket.
func (s *packetSender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sock == nil {
		return nil
	}
	err := s.sock.Close()
	s.sock = nil
	return err
}

// Ethernet and ARP constants of a gratuitous ARP.
const (
	etherTypeARP = 0x0806
	ethMinFrame  = 60 // without FCS; short frames are padded with zeros
)

// BuildGratuitousARP appends a gratuitous ARP request for ip from mac to
// broadcast (RFC 5227 announcement: sender and target protocol address
// both ip, target hardware address zero), padded to the Ethernet minimum.
// Upstream routers that already know ip update it to mac.
func BuildGratuitousARP(dst []byte, mac net.HardwareAddr, ip netip.Addr) []byte {
	start := len(dst)
	a4 := ip.As4()
	dst = append(dst, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff) // destination: broadcast
	dst = append(dst, mac[:6]...)                         // source
	dst = binary.BigEndian.AppendUint16(dst, etherTypeARP)
	dst = binary.BigEndian.AppendUint16(dst, 1)      // htype Ethernet
	dst = binary.BigEndian.AppendUint16(dst, 0x0800) // ptype IPv4
	dst = append(dst, 6, 4)                          // hlen, plen
	dst = binary.BigEndian.AppendUint16(dst, 1)      // op request
	dst = append(dst, mac[:6]...)                    // sender hardware address
	dst = append(dst, a4[:]...)                      // sender protocol address
	dst = append(dst, 0, 0, 0, 0, 0, 0)              // target hardware address
	dst = append(dst, a4[:]...)                      // target protocol address
	for len(dst)-start < ethMinFrame {
		dst = append(dst, 0)
	}
	return dst
}
