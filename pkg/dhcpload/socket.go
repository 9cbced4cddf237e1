package dhcpload

import (
	"errors"
	"fmt"
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Classic BPF opcodes used by the receive filters.
const (
	bpfLdHAbs = unix.BPF_LD | unix.BPF_H | unix.BPF_ABS
	bpfLdBAbs = unix.BPF_LD | unix.BPF_B | unix.BPF_ABS
	bpfLdHInd = unix.BPF_LD | unix.BPF_H | unix.BPF_IND
	bpfLdxMsh = unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH
	bpfJeq    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfJset   = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	bpfRet    = unix.BPF_RET | unix.BPF_K
	bpfAccept = 0x40000
)

// filterDHCP4 accepts unfragmented IPv4 UDP to port 68.
var filterDHCP4 = [...]unix.SockFilter{
	{Code: bpfLdHAbs, K: 12},
	{Code: bpfJeq, Jt: 0, Jf: 8, K: etherIPv4},
	{Code: bpfLdBAbs, K: ethLen + 9},
	{Code: bpfJeq, Jt: 0, Jf: 6, K: udpProto},
	{Code: bpfLdHAbs, K: ethLen + 6},
	{Code: bpfJset, Jt: 4, Jf: 0, K: 0x1fff},
	{Code: bpfLdxMsh, K: ethLen},
	{Code: bpfLdHInd, K: ethLen + 2},
	{Code: bpfJeq, Jt: 0, Jf: 1, K: dhcp4Client},
	{Code: bpfRet, K: bpfAccept},
	{Code: bpfRet, K: 0},
}

// filterNDP accepts ICMPv6 router and neighbour advertisements.
var filterNDP = [...]unix.SockFilter{
	{Code: bpfLdHAbs, K: 12},
	{Code: bpfJeq, Jt: 0, Jf: 6, K: etherIPv6},
	{Code: bpfLdBAbs, K: ethLen + 6},
	{Code: bpfJeq, Jt: 0, Jf: 4, K: icmp6Proto},
	{Code: bpfLdBAbs, K: ethLen + ip6Len},
	{Code: bpfJeq, Jt: 1, Jf: 0, K: typeRA},
	{Code: bpfJeq, Jt: 0, Jf: 1, K: typeNA},
	{Code: bpfRet, K: bpfAccept},
	{Code: bpfRet, K: 0},
}

// filterDHCP6 accepts IPv6 UDP to port 546.
var filterDHCP6 = [...]unix.SockFilter{
	{Code: bpfLdHAbs, K: 12},
	{Code: bpfJeq, Jt: 0, Jf: 5, K: etherIPv6},
	{Code: bpfLdBAbs, K: ethLen + 6},
	{Code: bpfJeq, Jt: 0, Jf: 3, K: udpProto},
	{Code: bpfLdHAbs, K: ethLen + ip6Len + 2},
	{Code: bpfJeq, Jt: 0, Jf: 1, K: dhcp6Client},
	{Code: bpfRet, K: bpfAccept},
	{Code: bpfRet, K: 0},
}

// batchSize is how many frames one recvmmsg or sendmmsg moves at most.
//
// Both go through RawSyscall: the load runs on one locked thread and a
// receive blocks for at most the socket's receive timeout, so telling the
// scheduler about the syscall only costs a P hand-off to another thread
// and futex wake-ups per packet, which at 100k packets/s dominated the
// generator's own CPU time.
const batchSize = 64

// frameIO is where the load's frames go and its replies come from: an
// AF_PACKET socket on the VM side of a veth, or the tap device itself.
type frameIO interface {
	frameSink
	// recv waits (up to the receive timeout, or not at all when nonblock)
	// for at least one frame and returns how many are ready; a timeout is
	// 0 frames and no error.
	recv(nonblock bool) (int, error)
	// frame returns the i-th frame of the last recv, nil if unusable.
	frame(i int) []byte
	// waitReadable waits up to d for a frame to arrive.
	waitReadable(d time.Duration) error
	// drops returns the frames the kernel dropped since the last call.
	drops() uint64
	Close() error
}

// packetSock is a blocking AF_PACKET socket bound to one interface and
// EtherType, with preallocated recvmmsg/sendmmsg vectors.
type packetSock struct {
	fd    int
	fds   [1]unix.PollFd
	ts    unix.Timespec
	rbuf  []byte
	rmsgs [batchSize]unix.Mmsghdr
	riov  [batchSize]unix.Iovec
	smsgs [batchSize]unix.Mmsghdr
	siov  [batchSize]unix.Iovec
	nsend int
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openPacketSock opens a raw packet socket on ifname receiving frames of
// EtherType proto that pass filter. Receives time out after rcvTimeout.
func openPacketSock(ifname string, proto uint16, filter []unix.SockFilter, rcvTimeout time.Duration) (_ *packetSock, err error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	// Protocol 0 receives nothing until bind, so no frame slips past the
	// filter attached in between.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("packet socket on %s: %w", ifname, err)
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
		}
	}()
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		return nil, fmt.Errorf("packet socket on %s: attach filter: %w", ifname, err)
	}
	const bufBytes = 8 << 20
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, bufBytes) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, bufBytes)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, bufBytes) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, bufBytes)
	}
	tv := unix.NsecToTimeval(rcvTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, fmt.Errorf("packet socket on %s: receive timeout: %w", ifname, err)
	}
	// Only sockets bound to ETH_P_ALL see outgoing frames; ask anyway, the
	// option is missing on old kernels.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	sa := unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: ifi.Index}
	if err := unix.Bind(fd, &sa); err != nil {
		return nil, fmt.Errorf("packet socket on %s: bind: %w", ifname, err)
	}
	s := &packetSock{fd: fd, rbuf: make([]byte, batchSize*maxFrameSize)}
	for i := range s.rmsgs {
		s.riov[i].Base = &s.rbuf[i*maxFrameSize]
		s.riov[i].SetLen(maxFrameSize)
		s.rmsgs[i].Hdr.Iov = &s.riov[i]
		s.rmsgs[i].Hdr.SetIovlen(1)
		s.smsgs[i].Hdr.Iov = &s.siov[i]
		s.smsgs[i].Hdr.SetIovlen(1)
	}
	return s, nil
}

// Close closes the socket.
func (s *packetSock) Close() error { return unix.Close(s.fd) }

// recv receives a batch with one recvmmsg.
func (s *packetSock) recv(nonblock bool) (int, error) {
	flags := uintptr(unix.MSG_WAITFORONE)
	if nonblock {
		flags = unix.MSG_DONTWAIT
	}
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(s.fd),
			uintptr(unsafe.Pointer(&s.rmsgs[0])), batchSize, flags, 0, 0)
		switch e {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, nil
		}
		return 0, fmt.Errorf("recvmmsg: %w", e)
	}
}

// frame returns the i-th frame of the last recv; nil when truncated.
func (s *packetSock) frame(i int) []byte {
	if s.rmsgs[i].Hdr.Flags&unix.MSG_TRUNC != 0 {
		return nil
	}
	off := i * maxFrameSize
	return s.rbuf[off : off+int(s.rmsgs[i].Len)]
}

// queue adds f to the next send batch, flushing when the batch is full.
// f must stay unchanged until flush.
func (s *packetSock) queue(f []byte) (failed int) {
	if s.nsend == batchSize {
		failed = s.flush()
	}
	s.siov[s.nsend].Base = &f[0]
	s.siov[s.nsend].SetLen(len(f))
	s.nsend++
	return failed
}

// flush sends the queued frames and returns how many could not be sent.
func (s *packetSock) flush() (failed int) {
	msgs := s.smsgs[:s.nsend]
	for len(msgs) > 0 {
		n, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(s.fd),
			uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			// The first frame failed: count it and go on with the rest.
			n = 1
			failed++
		}
		msgs = msgs[n:]
	}
	s.nsend = 0
	return failed
}

// waitReadable waits up to d for a frame to arrive.
func (s *packetSock) waitReadable(d time.Duration) error {
	return pollIn(s.fd, d, &s.fds, &s.ts)
}

// pollIn waits up to d for fd to become readable, with caller-owned
// ppoll arguments so nothing escapes per call.
func pollIn(fd int, d time.Duration, fds *[1]unix.PollFd, ts *unix.Timespec) error {
	fds[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	*ts = unix.NsecToTimespec(max(d, 0).Nanoseconds())
	_, err := unix.Ppoll(fds[:], ts, nil)
	if err != nil && !errors.Is(err, unix.EINTR) {
		return fmt.Errorf("ppoll: %w", err)
	}
	return nil
}

// drops returns the frames the kernel dropped for lack of socket buffer
// since the last call (PACKET_STATISTICS resets on read).
func (s *packetSock) drops() uint64 {
	st, err := unix.GetsockoptTpacketStats(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0
	}
	return uint64(st.Drops)
}

// unsafePointer returns the address of b's first byte for a raw syscall.
func unsafePointer(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }
