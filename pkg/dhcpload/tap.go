package dhcpload

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// tapDev is the VM's end of a tap device, opened the way QEMU opens it:
// frames written are frames the VM sends, frames read are what the host
// sends to the VM. Replies then leave the server through the real tap
// transmit path, and no VM-side network stack runs in the server's context
// (with a veth, the peer's receive path is charged to the sender).
type tapDev struct {
	fd    int
	rbuf  []byte
	rlen  [batchSize]int
	n     int
	sendq [batchSize][]byte
	nsend int
	fds   [1]unix.PollFd
	ts    unix.Timespec
	tmo   time.Duration
}

// openTap attaches to the existing tap device name (IFF_TAP|IFF_NO_PI,
// non-blocking). The tap gets its carrier while the fd is open.
func openTap(name string, rcvTimeout time.Duration) (_ *tapDev, err error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("tap %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
		}
	}()
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return nil, fmt.Errorf("tap %s: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return nil, fmt.Errorf("tap %s: TUNSETIFF: %w", name, err)
	}
	if err := waitOperUp(name, tapSettle); err != nil {
		return nil, err
	}
	return &tapDev{fd: fd, rbuf: make([]byte, batchSize*maxFrameSize), tmo: rcvTimeout}, nil
}

// tapSettle bounds the wait for a tap's carrier.
const tapSettle = 3 * time.Second

// waitOperUp waits up to d for the interface to be running (operstate
// up): the kernel activates the tap's queueing discipline from its link
// watch, up to a second after the carrier appears, and frames the host
// sends before that are dropped. It asks with SIOCGIFFLAGS in the calling
// thread's namespace (sysfs may belong to another one).
func waitOperUp(name string, d time.Duration) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("tap %s: %w", name, err)
	}
	defer unix.Close(fd)
	deadline := time.Now().Add(d)
	for {
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			return fmt.Errorf("tap %s: %w", name, err)
		}
		err = unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr)
		if err == nil && ifr.Uint16()&unix.IFF_RUNNING != 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tap %s: not running after %v (is it up?): %v", name, d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (t *tapDev) Close() error { return unix.Close(t.fd) }

func (t *tapDev) queue(f []byte) (failed int) {
	if t.nsend == batchSize {
		failed = t.flush()
	}
	t.sendq[t.nsend] = f
	t.nsend++
	return failed
}

// flush writes the queued frames, one write each (a tap takes one frame
// per write).
func (t *tapDev) flush() (failed int) {
	for i := range t.nsend {
		f := t.sendq[i]
		for {
			_, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(t.fd), uintptr(unsafePointer(f)), uintptr(len(f)))
			if e == unix.EINTR {
				continue
			}
			if e != 0 {
				failed++
			}
			break
		}
		t.sendq[i] = nil
	}
	t.nsend = 0
	return failed
}

// recv reads what is queued, up to batchSize frames; unless nonblock it
// first waits up to the receive timeout for one.
func (t *tapDev) recv(nonblock bool) (int, error) {
	if !nonblock {
		if err := pollIn(t.fd, t.tmo, &t.fds, &t.ts); err != nil {
			return 0, err
		}
	}
	t.n = 0
	for t.n < batchSize {
		off := t.n * maxFrameSize
		n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(t.fd), uintptr(unsafePointer(t.rbuf[off:])), maxFrameSize)
		switch e {
		case 0:
			t.rlen[t.n] = int(n)
			t.n++
			continue
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return t.n, nil
		}
		return t.n, fmt.Errorf("tap read: %w", e)
	}
	return t.n, nil
}

func (t *tapDev) frame(i int) []byte {
	off := i * maxFrameSize
	return t.rbuf[off : off+t.rlen[i]]
}

func (t *tapDev) waitReadable(d time.Duration) error { return pollIn(t.fd, d, &t.fds, &t.ts) }

// drops is not known for a tap (its transmit queue drops show in the
// interface's statistics).
func (t *tapDev) drops() uint64 { return 0 }
