package nettest

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Taps is a VM NIC made of two real TAP devices, one per namespace, with
// frames copied between them by two goroutines: the host tap has carrier
// exactly while the pair is open, as a QEMU tap has while QEMU holds it.
type Taps struct {
	Pair
	host, vm *os.File
	wg       sync.WaitGroup
	once     sync.Once
	// Copied counts frames copied host→VM and VM→host.
	toVM, toHost atomic.Uint64
}

// TapPair creates tapName (IFF_TAP|IFF_NO_PI) in hostNS and vmIfName in
// vmNS, both up, and starts copying frames between them. Cleanup closes the
// pair, which removes both devices (they are not persistent).
func TapPair(t testing.TB, hostNS *NS, tapName string, vmNS *NS, vmIfName string) *Taps {
	t.Helper()
	RequireRoot(t)
	p := &Taps{}
	var err error
	if p.host, err = openTap(hostNS, tapName); err != nil {
		t.Fatal(err)
	}
	if p.vm, err = openTap(vmNS, vmIfName); err != nil {
		_ = p.host.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Logf("tap pair %s: %v", tapName, err)
		}
	})
	p.Host = hostNS.MustLink(t, tapName)
	p.VM = vmNS.MustLink(t, vmIfName)
	p.Host.Up(t)
	p.VM.Up(t)
	p.wg.Add(2)
	go p.copy(p.vm, p.host, &p.toVM)
	go p.copy(p.host, p.vm, &p.toHost)
	return p
}

// openTap opens /dev/net/tun inside ns (the device is created in the
// namespace of the thread that opens it) and attaches a TAP named name.
func openTap(ns *NS, name string) (*os.File, error) {
	var f *os.File
	err := ns.Do(func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			unix.Close(fd)
			return fmt.Errorf("tap %s: %w", name, err)
		}
		ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("tap %s: TUNSETIFF: %w", name, err)
		}
		// Non-blocking: the runtime poller then serves Read, and Close
		// interrupts a pending Read.
		f = os.NewFile(uintptr(fd), "tap:"+name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("netns %s: %w", ns, err)
	}
	return f, nil
}

// copy moves frames from src to dst until src is closed. Write errors (the
// other side down, for example) lose the frame, as a wire would.
func (p *Taps) copy(dst, src *os.File, n *atomic.Uint64) {
	defer p.wg.Done()
	buf := make([]byte, 65536)
	for {
		k, err := src.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			// EIO while a tap is down, EAGAIN races: keep going, but
			// do not spin.
			if errors.Is(err, unix.EBADFD) {
				return
			}
			time.Sleep(time.Millisecond)
			continue
		}
		// Counted before the write, so that whoever sees the frame's
		// effect (a reply) also sees it counted.
		n.Add(1)
		if _, err := dst.Write(buf[:k]); err != nil {
			n.Add(^uint64(0))
		}
	}
}

// Frames returns how many frames were copied to the VM and to the host.
func (p *Taps) Frames() (toVM, toHost uint64) { return p.toVM.Load(), p.toHost.Load() }

// Close stops copying and closes both TAPs (which removes them; the host
// tap loses carrier). It is idempotent and waits at most 10 s.
func (p *Taps) Close() error {
	var err error
	p.once.Do(func() {
		err = errors.Join(p.host.Close(), p.vm.Close())
		done := make(chan struct{})
		go func() { p.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			err = errors.Join(err, errors.New("copy goroutines did not stop within 10s"))
		}
	})
	return err
}
