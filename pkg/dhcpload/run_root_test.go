package dhcpload

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/nettest"
)

// serveFrames answers every frame arriving on ifname (opened inside ns)
// with r until ctx ends, like a responder on the host side of the tap.
func serveFrames(t *testing.T, ctx context.Context, ns *nettest.NS, ifname string, r *responder) {
	t.Helper()
	var fd int
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
		tv := unix.NsecToTimeval(int64(20 * time.Millisecond))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	if err != nil {
		t.Fatalf("responder socket on %s: %v", ifname, err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, maxFrameSize)
		for ctx.Err() == nil {
			n, err := unix.Read(fd, buf)
			if err != nil || n < ethLen+40 {
				continue
			}
			if reply := r.answer(buf[:n]); reply != nil {
				_, _ = unix.Write(fd, reply)
			}
		}
	}()
	t.Cleanup(func() {
		wg.Wait()
		unix.Close(fd)
	})
}

func TestRunVeth(t *testing.T) {
	nettest.RequireRoot(t)
	host := nettest.NewNS(t, "dlh")
	vm := nettest.NewNS(t, "dlv")
	pair := nettest.Veth(t, host, "tapdl0", vm, "eth0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := newResponder(t, true) // MACSPOOF: the veth's MAC is random
	serveFrames(t, ctx, host, "tapdl0", r)
	for _, cfg := range []Config{
		{Mode: ModeDORA, InFlight: 1},
		{Mode: ModeDORA, InFlight: 8, MACs: 3},
		{Mode: ModeDORA, Rate: 2000},
		{Mode: ModeRS, InFlight: 4},
		{Mode: ModeNS, InFlight: 4, Target: routerLL},
		{Mode: ModeDHCP6, InFlight: 4, BusyPoll: true},
	} {
		cfg.Interface = "eth0"
		cfg.Duration, cfg.Warmup, cfg.Timeout = 300*time.Millisecond, 50*time.Millisecond, 200*time.Millisecond
		cfg.ServerPID = os.Getpid()
		var rep *Report
		err := vm.Do(func() error {
			var err error
			rep, err = Run(ctx, cfg)
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", cfg.Mode, err)
		}
		// Unmatched replies may occur: the VM side's kernel solicits
		// routers on its own when the link comes up.
		if rep.Exchanges < 20 || rep.Full.Count != rep.Exchanges {
			t.Errorf("%s (%s): %+v", cfg.Mode, pair.VM.MAC, rep)
		}
		if rep.ServerCPUSeconds <= 0 {
			t.Errorf("%s: no server CPU measured", cfg.Mode)
		}
	}
}

func TestRunTap(t *testing.T) {
	nettest.RequireRoot(t)
	host := nettest.NewNS(t, "dlt")
	host.Run(t, "ip", "tuntap", "add", "dev", "tapdl1", "mode", "tap")
	host.Run(t, "ip", "link", "set", "tapdl1", "up")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := newResponder(t, false)
	serveFrames(t, ctx, host, "tapdl1", r)
	cfg := Config{Mode: ModeDORA, Interface: "tapdl1", Tap: true, MAC: net.HardwareAddr(vmMAC[:]), InFlight: 4,
		Duration: 300 * time.Millisecond, Timeout: 200 * time.Millisecond}
	var rep *Report
	err := host.Do(func() error {
		var err error
		rep, err = Run(ctx, cfg)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Exchanges < 20 || rep.Timeouts != 0 || !rep.Tap {
		t.Errorf("%+v", rep)
	}
}

func TestRunNoServer(t *testing.T) {
	nettest.RequireRoot(t)
	host := nettest.NewNS(t, "dln")
	vm := nettest.NewNS(t, "dlm")
	nettest.Veth(t, host, "tapdl2", vm, "eth0")
	cfg := Config{Mode: ModeDORA, Interface: "eth0", InFlight: 2, Duration: 200 * time.Millisecond, Timeout: 50 * time.Millisecond}
	var rep *Report
	err := vm.Do(func() error {
		var err error
		rep, err = Run(context.Background(), cfg)
		return err
	})
	if !errors.Is(err, ErrNoAnswer) || rep == nil || rep.Timeouts == 0 {
		t.Errorf("err %v, report %+v", err, rep)
	}
}
