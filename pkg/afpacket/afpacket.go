// Package afpacket is diktyo's one sender of raw Ethernet frames: an
// AF_PACKET socket of protocol 0 (the kernel queues nothing on it, so it
// never receives) that nfdhcpd's replies and diktyo-ifup's announcements
// (gratuitous ARP, unsolicited NA) leave from. It also answers the
// interface ioctls (name to ifindex, name to MAC) that need no netlink
// dump. dhcpload keeps its own batched, bound socket for load generation.
package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrShortFrame: asked to send less than an Ethernet header.
	ErrShortFrame = errors.New("frame shorter than an Ethernet header")
	// ErrNoMAC: the interface has no Ethernet MAC.
	ErrNoMAC = errors.New("no Ethernet MAC")
)

// Socket is an AF_PACKET socket of the network namespace it was opened
// in. Send and the ioctls may be called concurrently.
type Socket struct {
	fd    int
	flags int // of every sendto: MSG_DONTWAIT, or 0 with a send timeout
}

// Open opens a socket in the calling thread's network namespace. With
// sendTimeout 0 a send never blocks: a full socket buffer is an error
// (EAGAIN), not a stall (nfdhcpd must not stall its queues). A positive
// sendTimeout lets a send wait that long for buffer space (SO_SNDTIMEO).
func Open(sendTimeout time.Duration) (*Socket, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open AF_PACKET socket: %w", err)
	}
	s := &Socket{fd: fd, flags: unix.MSG_DONTWAIT}
	if sendTimeout > 0 {
		tv := unix.NsecToTimeval(sendTimeout.Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("AF_PACKET socket: send timeout: %w", err)
		}
		s.flags = 0
	}
	return s, nil
}

// Close closes the socket. Closing an AF_PACKET socket costs the kernel an
// RCU grace period (about 16 ms), also at process exit.
func (s *Socket) Close() error { return unix.Close(s.fd) }

// Send writes frame (Ethernet header included) to ifindex, addressed to
// the frame's destination MAC with its EtherType. It allocates nothing.
func (s *Socket) Send(ifindex int, frame []byte) error {
	if len(frame) < 14 {
		return ErrShortFrame
	}
	sa := unix.RawSockaddrLinklayer{
		Family:   unix.AF_PACKET,
		Protocol: binary.NativeEndian.Uint16(frame[12:14]), // network order, as stored
		Ifindex:  int32(ifindex),
		Halen:    6,
	}
	copy(sa.Addr[:], frame[:6])
	_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd),
		uintptr(unsafe.Pointer(&frame[0])), uintptr(len(frame)), uintptr(s.flags),
		uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	if e != 0 {
		return e
	}
	return nil
}

// ifreq is struct ifreq: a name and a 24-byte union.
type ifreq struct {
	name [unix.IFNAMSIZ]byte
	data [24]byte
}

func (s *Socket) ioctl(name string, req uint, ifr *ifreq) error {
	if name == "" || len(name) >= unix.IFNAMSIZ {
		return fmt.Errorf("interface %q: %w", name, unix.EINVAL)
	}
	copy(ifr.name[:], name)
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(s.fd), uintptr(req), uintptr(unsafe.Pointer(ifr)))
	if e != 0 {
		return fmt.Errorf("interface %s: %w", name, e)
	}
	return nil
}

// Index returns the ifindex of the interface named name (SIOCGIFINDEX).
func (s *Socket) Index(name string) (int, error) {
	var ifr ifreq
	if err := s.ioctl(name, unix.SIOCGIFINDEX, &ifr); err != nil {
		return 0, err
	}
	return int(int32(binary.NativeEndian.Uint32(ifr.data[:4]))), nil
}

// HardwareAddr returns the Ethernet MAC of the interface named name
// (SIOCGIFHWADDR); the error wraps ErrNoMAC for a non-Ethernet one.
func (s *Socket) HardwareAddr(name string) ([6]byte, error) {
	var ifr ifreq
	if err := s.ioctl(name, unix.SIOCGIFHWADDR, &ifr); err != nil {
		return [6]byte{}, err
	}
	// data is a struct sockaddr: family (ARPHRD_*), then the address.
	if fam := binary.NativeEndian.Uint16(ifr.data[:2]); fam != unix.ARPHRD_ETHER {
		return [6]byte{}, fmt.Errorf("interface %s: hardware type %d is not Ethernet: %w", name, fam, ErrNoMAC)
	}
	return [6]byte(ifr.data[2:8]), nil
}
