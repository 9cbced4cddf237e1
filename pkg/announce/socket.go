package announce

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/diktyo/diktyo/pkg/afpacket"
)

// ErrAnnounce: an announcement could not be collected or parsed.
var ErrAnnounce = errors.New("bad announcement")

// Sender sends (or collects) a complete Ethernet frame for a device.
type Sender interface {
	SendFrame(ifindex int, frame []byte) error
}

// Socket is the in-process Sender: one afpacket.Socket, opened on first
// use from within open (which picks the network namespace; nil: the
// calling thread's). It sends at once; it cannot wait for the VM.
type Socket struct {
	open    func(func() error) error
	timeout time.Duration
	mu      sync.Mutex
	sock    *afpacket.Socket
}

// NewSocket returns a Socket whose sends are bounded by timeout (0: a
// send never blocks), opened from within open.
func NewSocket(open func(func() error) error, timeout time.Duration) *Socket {
	if open == nil {
		open = func(f func() error) error { return f() }
	}
	return &Socket{open: open, timeout: timeout}
}

// SendFrame sends frame on ifindex.
func (s *Socket) SendFrame(ifindex int, frame []byte) error {
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
func (s *Socket) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sock == nil {
		return nil
	}
	err := s.sock.Close()
	s.sock = nil
	return err
}

// checkFrame accepts what Run accepts: an ifindex and an Ethernet frame
// without FCS.
func checkFrame(ifindex int, frame []byte) error {
	if ifindex <= 0 || ifindex > 1<<31-1 {
		return fmt.Errorf("%w: ifindex %d", ErrAnnounce, ifindex)
	}
	if len(frame) < 14 || len(frame) > 1514 {
		return fmt.Errorf("%w: frame of %d bytes (Ethernet: 14 to 1514)", ErrAnnounce, len(frame))
	}
	return nil
}
