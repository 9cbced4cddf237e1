package afpacket

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/nettest"
)

// TestSocket: in a throwaway namespace, the ioctls name the host end of a
// veth pair, and a frame sent on it (with and without a send timeout)
// arrives byte for byte at the peer.
func TestSocket(t *testing.T) {
	nettest.RequireRoot(t)
	host, vm := nettest.NewNS(t, "afp-h"), nettest.NewNS(t, "afp-v")
	pair := nettest.Veth(t, host, "afp0", vm, "eth0")
	capture, err := vm.Packet("eth0", unix.ETH_P_ALL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { capture.Close() })

	for _, timeout := range []time.Duration{0, time.Second} {
		var s *Socket
		if err := host.Do(func() error { s, err = Open(timeout); return err }); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if i, err := s.Index("afp0"); err != nil || i != pair.Host.Index {
			t.Errorf("Index = %d, %v; want %d", i, err, pair.Host.Index)
		}
		if m, err := s.HardwareAddr("afp0"); err != nil || !bytes.Equal(m[:], pair.Host.MAC) {
			t.Errorf("HardwareAddr = %v, %v; want %v", m, err, pair.Host.MAC)
		}
		if _, err := s.HardwareAddr("lo"); !errors.Is(err, ErrNoMAC) {
			t.Errorf("HardwareAddr(lo) = %v, want ErrNoMAC", err)
		}
		if _, err := s.Index("nosuch0"); err == nil {
			t.Error("Index of a missing interface succeeded")
		}
		if err := s.Send(pair.Host.Index, make([]byte, 13)); !errors.Is(err, ErrShortFrame) {
			t.Errorf("Send of 13 bytes = %v, want ErrShortFrame", err)
		}

		frame := append(append(append([]byte{}, pair.VM.MAC...), pair.Host.MAC...), 0x88, 0xb5) // local experimental EtherType
		frame = append(frame, []byte("diktyo afpacket test, timeout "+timeout.String())...)
		for len(frame) < 60 {
			frame = append(frame, 0)
		}
		if err := s.Send(pair.Host.Index, frame); err != nil {
			t.Fatalf("Send (timeout %v): %v", timeout, err)
		}
		if err := capture.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2048)
		for {
			n, _, err := capture.ReadFrom(buf)
			if err != nil {
				t.Fatalf("no frame arrived (timeout %v): %v", timeout, err)
			}
			if bytes.Equal(buf[:n], frame) {
				break
			}
		}
	}
}
