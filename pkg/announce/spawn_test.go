package announce

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/nettest"
)

// childEnv makes the test binary, re-executed as the detached announcer,
// run Run on its arguments instead of the tests.
const childEnv = "ANNOUNCE_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := Run(os.Args[1:]); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child is the test binary as the announcer.
func child(extra ...string) Command {
	return Command{Path: "/proc/self/exe", Args: append([]string{"announce.test"}, extra...), Env: []string{childEnv + "=1"}}
}

func TestSpawnerCollects(t *testing.T) {
	s := NewSpawner(Command{Path: "/nonexistent/announcer"}, nil)
	frame := make([]byte, 60)
	for _, c := range []struct{ idx, n int }{{0, 60}, {-1, 60}, {1, 13}, {1, 0}} {
		if err := s.SendFrame(c.idx, frame[:c.n]); !errors.Is(err, ErrAnnounce) {
			t.Errorf("SendFrame(%d, %d bytes) = %v, want ErrAnnounce", c.idx, c.n, err)
		}
	}
	if err := s.SendFrame(3, make([]byte, 1515)); !errors.Is(err, ErrAnnounce) {
		t.Errorf("oversized frame: %v", err)
	}
	if err := s.SendFrame(3, frame); err != nil {
		t.Fatal(err)
	}
	if s.Pending() != 1 {
		t.Errorf("Pending = %d", s.Pending())
	}
	// A child that cannot start is an error; the frames are dropped.
	if err := s.SpawnAfter(7); err == nil {
		t.Error("SpawnAfter with a missing executable succeeded")
	}
	if s.Pending() != 0 {
		t.Errorf("Pending after SpawnAfter = %d", s.Pending())
	}
	if err := s.SpawnAfter(0); err != nil {
		t.Errorf("SpawnAfter with nothing pending: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.SendFrame(3, frame); !errors.Is(err, ErrAnnounce) {
		t.Errorf("SendFrame after Close = %v", err)
	}
}

func TestParse(t *testing.T) {
	f := "1:" + strings.Repeat("00", 60)
	for _, args := range [][]string{
		{"-count", "0", f},
		{"-count", "11", f},
		{"-interval", "-1s", f},
		{"-interval", "11s", f},
		{"-after-rx", "-1", f},
		{"-after-rx", "x", f},
		{"-wait", "-1s", f},
		{"-wait", "2h", f},
		{"-bogus"},
		{"1"},
		{"x:00"},
		{"0:" + strings.Repeat("00", 60)},
		{"1:" + strings.Repeat("00", 13)},
		{"1:" + strings.Repeat("00", 1515)},
		{"1:zz"},
	} {
		if _, err := parse(args); !errors.Is(err, ErrAnnounce) {
			t.Errorf("parse(%.40q) = %v, want ErrAnnounce", args, err)
		}
	}
	o, err := parse([]string{"-after-rx", "9", "-wait", "30s", "-count", "2", "-interval", "0", f, "2:" + strings.Repeat("ff", 14)})
	if err != nil || o.afterRx != 9 || o.wait != 30*time.Second || o.count != 2 || o.interval != 0 ||
		len(o.frames) != 2 || o.frames[1].ifindex != 2 || len(o.frames[1].data) != 14 {
		t.Errorf("parse = %+v, %v", o, err)
	}
	if o, err := parse([]string{f}); err != nil || o.afterRx != 0 || o.wait != DefaultWait || o.count != DefaultCount || o.interval != DefaultInterval {
		t.Errorf("defaults: %+v, %v", o, err)
	}
	if err := run(nil, &syslogger{}); err != nil {
		t.Errorf("no frames: %v", err)
	}
}

// quietVM is a host namespace and a VM namespace joined by a veth whose
// host end stands for the tap; the VM sends nothing by itself (IPv6 off).
type quietVM struct {
	host, vm *nettest.NS
	pair     nettest.Pair
}

func newQuietVM(t *testing.T, tap string) quietVM {
	t.Helper()
	q := quietVM{host: nettest.NewNS(t, "ann-h"), vm: nettest.NewNS(t, "ann-v")}
	for _, ns := range []*nettest.NS{q.host, q.vm} {
		ns.Sysctl(t, "net/ipv6/conf/all/disable_ipv6", "1")
		ns.Sysctl(t, "net/ipv6/conf/default/disable_ipv6", "1")
	}
	q.pair = nettest.Veth(t, q.host, tap, q.vm, "eth0")
	return q
}

// send sends one frame from the VM (VM's MAC to broadcast, a local
// experimental EtherType).
func (q quietVM) send(t *testing.T) { q.vm.SendBroadcastFrame(t, "eth0", q.pair.VM.MAC) }

// waitAsync runs WaitForVM in the host namespace and returns its result
// on a channel.
func (q quietVM) waitAsync(ifindex int, wait time.Duration) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- q.host.Do(func() error { return WaitForVM(ifindex, wait) }) }()
	return ch
}

// TestWaitForVM: the wait ends with the VM's first frame, at once once the
// tap has received one, never for what the host sends, with ErrTapGone
// when the tap disappears, and with ErrNoFrame after the wait.
func TestWaitForVM(t *testing.T) {
	nettest.RequireRoot(t)
	q := newQuietVM(t, "annw0")
	tap := q.pair.Host.Index

	if err := <-q.waitAsync(tap, 300*time.Millisecond); !errors.Is(err, ErrNoFrame) {
		t.Fatalf("silent VM: %v, want ErrNoFrame", err)
	}

	done := q.waitAsync(tap, time.Minute)
	// What the host sends on the tap is not the VM's.
	q.host.SendBroadcastFrame(t, "annw0", q.pair.Host.MAC)
	select {
	case err := <-done:
		t.Fatalf("returned before the VM sent anything: %v", err)
	case <-time.After(1500 * time.Millisecond): // past one recheck of the counter
	}
	q.send(t)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after the VM's frame: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no return after the VM's frame")
	}
	// The counter now says the VM runs here: no wait at all.
	if err := <-q.waitAsync(tap, time.Nanosecond); err != nil {
		t.Errorf("tap that has received: %v", err)
	}

	// A tap that goes away while waited for, and one that does not exist.
	q2 := newQuietVM(t, "annw1")
	done = q2.waitAsync(q2.pair.Host.Index, time.Minute)
	time.Sleep(300 * time.Millisecond)
	q2.host.Run(t, "ip", "link", "del", "annw1")
	select {
	case err := <-done:
		if !errors.Is(err, ErrTapGone) {
			t.Errorf("tap deleted: %v, want ErrTapGone", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no return after the tap was deleted")
	}
	if err := <-q2.waitAsync(q2.pair.Host.Index, time.Second); !errors.Is(err, ErrTapGone) {
		t.Errorf("missing ifindex: %v, want ErrTapGone", err)
	}
}

// TestSpawnAfter: a detached child told to wait for the VM sends its
// gratuitous ARP on the uplink only after the VM's first frame on the
// tap; without the wait it sends at once.
func TestSpawnAfter(t *testing.T) {
	nettest.RequireRoot(t)
	q := newQuietVM(t, "anns0")
	rtr := nettest.NewNS(t, "ann-r")
	up := nettest.Veth(t, q.host, "annu0", rtr, "rtr0")
	capture, err := rtr.Packet("rtr0", unix.ETH_P_ARP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { capture.Close() })
	vmIP := netip.MustParseAddr("198.51.100.9")
	garp := GratuitousARP(nil, up.Host.MAC, vmIP)
	arrived := func(within time.Duration) bool {
		t.Helper()
		seen, err := nettest.AwaitFrame(capture, within, func(f []byte) bool { return string(f) == string(garp) })
		if err != nil {
			t.Fatal(err)
		}
		return seen
	}

	s := NewSpawner(child("-count", "1"), q.host.Do)
	if err := s.SendFrame(up.Host.Index, garp); err != nil {
		t.Fatal(err)
	}
	if err := s.SpawnAfter(q.pair.Host.Index); err != nil {
		t.Fatal(err)
	}
	if arrived(1500 * time.Millisecond) {
		t.Fatal("announced before the VM sent a frame")
	}
	q.send(t)
	if !arrived(10 * time.Second) {
		t.Fatal("no announcement after the VM's frame")
	}

	// Without a tap to wait for: at once.
	if err := s.SendFrame(up.Host.Index, garp); err != nil {
		t.Fatal(err)
	}
	if err := s.SpawnAfter(0); err != nil {
		t.Fatal(err)
	}
	if !arrived(10 * time.Second) {
		t.Fatal("no announcement without a wait")
	}
}

// BenchmarkSpawn is the parent's cost of handing two frames to a detached
// announcer (fork, exec, return), from a namespace's thread. The children
// stay zombies until the test binary exits (ifup exits at once and init
// reaps them): run it with a fixed -benchtime such as 300x.
func BenchmarkSpawn(b *testing.B) {
	nettest.RequireRoot(b)
	ns := nettest.NewNS(b, "spawn")
	s := NewSpawner(child("-count", "1"), ns.Do)
	frame := GratuitousARP(nil, net.HardwareAddr{2, 0, 0, 0, 0, 1}, netip.MustParseAddr("198.51.100.1"))
	for b.Loop() {
		_ = s.SendFrame(1, frame)
		_ = s.SendFrame(1, frame)
		if err := s.SpawnAfter(0); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWaitForVMTapDown: a real tap that is down when the VM sends (as a
// Ganeti migration target's routed tap before its ifup) drops the frame;
// the dropped frame still shows that the VM runs here.
func TestWaitForVMTapDown(t *testing.T) {
	nettest.RequireRoot(t)
	ns := nettest.NewNS(t, "ann-t")
	ns.Run(t, "ip", "tuntap", "add", "dev", "annt0", "mode", "tap")
	var fd int
	err := ns.Do(func() error {
		var err error
		if fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0); err != nil {
			return err
		}
		ifr, err := unix.NewIfreq("annt0")
		if err != nil {
			return err
		}
		ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
		return unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
	})
	if err != nil {
		t.Fatalf("open tap: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	tap := ns.MustLink(t, "annt0").Index
	wait := func(d time.Duration) error { return ns.Do(func() error { return WaitForVM(tap, d) }) }
	if err := wait(300 * time.Millisecond); !errors.Is(err, ErrNoFrame) {
		t.Fatalf("before the VM sent: %v, want ErrNoFrame", err)
	}
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	frame := nettest.Ether(bcast, net.HardwareAddr{0xaa, 0, 0, 0, 0, 1}, 0x88b5, make([]byte, 46))
	if _, err := unix.Write(fd, frame); !errors.Is(err, unix.EIO) {
		t.Fatalf("write to a tap that is down: %v, want EIO", err)
	}
	if err := wait(time.Nanosecond); err != nil {
		t.Errorf("after a frame the down tap dropped: %v", err)
	}
}
