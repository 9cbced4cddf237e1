package nfdhcpd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sender sends complete Ethernet frames out of an interface. The daemon
// uses packetSocket; tests use a recorder.
type sender interface {
	Send(ifindex int, frame []byte) error
}

// ErrShortFrame is returned when asked to send less than an Ethernet header.
var ErrShortFrame = errors.New("frame shorter than an Ethernet header")

// packetSocket is the one AF_PACKET socket every reply leaves from. Its
// protocol is 0, so the kernel queues nothing on it. It also answers the
// interface ioctls (name → ifindex, name → MAC) that need no netlink dump.
type packetSocket struct {
	fd int
}

func openPacketSocket() (*packetSocket, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open AF_PACKET socket: %w", err)
	}
	return &packetSocket{fd: fd}, nil
}

func (s *packetSocket) Close() error { return unix.Close(s.fd) }

// Send writes frame (Ethernet header included) to ifindex without
// blocking: a full socket buffer is an error (EAGAIN), not a stall of the
// queue. It allocates nothing.
func (s *packetSocket) Send(ifindex int, frame []byte) error {
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
		uintptr(unsafe.Pointer(&frame[0])), uintptr(len(frame)), unix.MSG_DONTWAIT,
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

func (s *packetSocket) ioctl(name string, req uint, ifr *ifreq) error {
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
func (s *packetSocket) Index(name string) (int, error) {
	var ifr ifreq
	if err := s.ioctl(name, unix.SIOCGIFINDEX, &ifr); err != nil {
		return 0, err
	}
	return int(int32(binary.NativeEndian.Uint32(ifr.data[:4]))), nil
}

// HardwareAddr returns the Ethernet MAC of the interface named name
// (SIOCGIFHWADDR).
func (s *packetSocket) HardwareAddr(name string) ([6]byte, error) {
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
