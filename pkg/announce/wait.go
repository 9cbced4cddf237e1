package announce

import (
	"errors"
	"fmt"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Errors of WaitForVM.
var (
	// ErrTapGone: the tap disappeared (or went away before the wait
	// began): the VM does not run on this host.
	ErrTapGone = errors.New("tap gone")
	// ErrNoFrame: no frame from the VM within the wait.
	ErrNoFrame = errors.New("no frame from the VM")
)

// recheck is how often WaitForVM looks at the tap's counter and existence
// again while no frame arrives.
const recheck = time.Second

// WaitForVM returns once the VM behind the device ifindex (its tap) has
// sent a frame: at once when the tap's counters show one, delivered or
// dropped, else when the first frame arrives. Dropped ones count: a tap
// that is down drops what the VM sends, and on the target of a Ganeti
// live migration routed taps are set up only after the VM resumed there
// (its self-announcements met a tap still down). It returns ErrTapGone
// when the device does not exist or disappears, ErrNoFrame after wait.
// Frames the host sends on the tap do not count.
func WaitForVM(ifindex int, wait time.Duration) error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink handle: %w", err)
	}
	defer h.Close()
	if err := h.SetSocketTimeout(recheck); err != nil {
		return fmt.Errorf("netlink handle: %w", err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return fmt.Errorf("packet socket: %w", err)
	}
	defer unix.Close(fd)
	// Bound before the counter is read: a frame between the two is seen
	// by one or the other.
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		if errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO) {
			return fmt.Errorf("ifindex %d: %w", ifindex, ErrTapGone)
		}
		return fmt.Errorf("bind packet socket to ifindex %d: %w", ifindex, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return fmt.Errorf("packet socket: ignore outgoing: %w", err)
	}
	deadline := time.Now().Add(wait)
	buf := make([]byte, 64)
	for {
		switch rx, err := fromVM(h, ifindex); {
		case err != nil:
			return err
		case rx > 0:
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("ifindex %d: %w within %v", ifindex, ErrNoFrame, wait)
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, int(min(left, recheck)/time.Millisecond)+1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll packet socket: %w", err)
		}
		if n <= 0 {
			continue
		}
		_, from, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT|unix.MSG_TRUNC)
		switch {
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR), errors.Is(err, unix.ENETDOWN):
			continue // ENETDOWN: down or gone; the counter check tells which
		case err != nil:
			return fmt.Errorf("read packet socket: %w", err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		return nil
	}
}

// fromVM returns the frames the device has received, delivered or
// dropped; ErrTapGone when there is no such device.
func fromVM(h *netlink.Handle, ifindex int) (uint64, error) {
	l, err := h.LinkByIndex(ifindex)
	var nf netlink.LinkNotFoundError
	switch {
	case errors.As(err, &nf), errors.Is(err, unix.ENODEV):
		return 0, fmt.Errorf("ifindex %d: %w", ifindex, ErrTapGone)
	case err != nil:
		return 0, fmt.Errorf("read ifindex %d: %w", ifindex, err)
	}
	if s := l.Attrs().Statistics; s != nil {
		return s.RxPackets + s.RxDropped, nil
	}
	return 0, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
