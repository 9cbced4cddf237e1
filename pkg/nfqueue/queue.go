package nfqueue

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Defaults applied by Open to zero Config fields.
const (
	DefaultCopyRange  = 0xffff
	DefaultReadBuffer = 4 << 20
	DefaultTimeout    = 5 * time.Second
)

// Handler decides the fate of one packet. It runs on the Serve goroutine, one
// packet at a time; p and its slices are valid only until it returns. It
// returns Accept, Drop or Repeat, or Pending when it will give the verdict
// itself later with Queue.SetVerdict or Queue.SetVerdictBatch.
type Handler func(p *Packet) Verdict

// Config says which queue to bind and how.
type Config struct {
	// Queue is the queue number (the iptables --queue-num).
	Queue uint16
	// NetNS is an open file descriptor of the network namespace to bind the
	// queue in; 0 means the namespace of the calling thread. Queues are per
	// namespace and the socket stays in the one it was created in.
	NetNS int
	// CopyRange is how many bytes of each packet the kernel copies;
	// 0 means DefaultCopyRange (all of it).
	CopyRange uint32
	// MaxLen is the queue length (NFQA_CFG_QUEUE_MAXLEN); 0 keeps the
	// kernel's default of 1024.
	MaxLen uint32
	// FailOpen makes the kernel accept, instead of drop, packets that find
	// the queue full (NFQA_CFG_F_FAIL_OPEN).
	FailOpen bool
	// GSO asks for GSO packets unsegmented (NFQA_CFG_F_GSO).
	GSO bool
	// ReadBuffer is the socket receive buffer in bytes (SO_RCVBUFFORCE, falling
	// back to SO_RCVBUF); 0 means DefaultReadBuffer.
	ReadBuffer int
	// PanicVerdict is given to a packet whose handler panicked (default Drop).
	PanicVerdict Verdict
	// ErrorVerdict is given to a packet whose message could not be parsed but
	// whose id is known (default Drop).
	ErrorVerdict Verdict
	// Timeout bounds each configuration exchange with the kernel and the wait
	// of Close for Serve to stop; 0 means DefaultTimeout.
	Timeout time.Duration
	// LegacyPFBind sends PF_UNBIND/PF_BIND for AF_INET and AF_INET6 before
	// binding, as kernels before 3.8 need. On those kernels PF_UNBIND detaches
	// every queue user of the family, so it is off by default; newer kernels
	// ignore both commands.
	LegacyPFBind bool
	// Logger receives errors, panics and dropped messages; nil discards them.
	Logger *slog.Logger
}

// Stats are the counters of a Queue since Open.
type Stats struct {
	// Received counts packet messages read from the kernel.
	Received uint64
	// Accepted, Dropped and Repeated count single verdicts sent.
	Accepted, Dropped, Repeated uint64
	// Batches counts batch verdicts sent.
	Batches uint64
	// Pending counts packets a handler kept for a later verdict.
	Pending uint64
	// Panics counts handler panics (each answered with Config.PanicVerdict).
	Panics uint64
	// ParseErrors counts malformed messages.
	ParseErrors uint64
	// Unanswerable counts malformed packet messages without a packet id, which
	// no verdict can reach.
	Unanswerable uint64
	// VerdictErrors counts verdicts that could not be sent or that the kernel
	// refused (for example an id that had already been given a verdict).
	VerdictErrors uint64
	// ReceiveErrors counts receive errors Serve survived (ENOBUFS).
	ReceiveErrors uint64
}

type counters struct {
	received, accepted, dropped, repeated, batches, pending      atomic.Uint64
	panics, parseErrors, unanswerable, verdictErrors, recvErrors atomic.Uint64
}

// Queue is one bound netfilter queue. Serve, SetVerdict, SetVerdictBatch,
// Stats and Close may be called from any goroutine.
type Queue struct {
	num          uint16
	conn         *netlink.Conn
	rc           syscall.RawConn
	log          *slog.Logger
	timeout      time.Duration
	panicVerdict Verdict
	errorVerdict Verdict

	closed atomic.Bool
	// slot is held by the running Serve, and for good by Close: the receive
	// state below belongs to its holder (to Open before it exists).
	slot chan struct{}

	buf     []byte
	from    unix.RawSockaddrNetlink
	fromLen uint32
	rn      int
	rerr    error
	readFn  func(fd uintptr) bool
	pkt     Packet
	pending [][]byte // packet messages read while waiting for a config ack
	seq     uint32

	wmu     sync.Mutex // guards the fields below
	wbuf    [verdictMarkMsgLen]byte
	wmsg    []byte
	werr    error
	writeFn func(fd uintptr) bool

	stats              counters
	panicLog, errorLog limiter
}

// Open binds queue cfg.Queue and configures it: bind, then queue length and
// flags, then copy mode COPY_PACKET (the kernel drops packets of a bound
// queue until the copy mode is set). It fails with ErrQueueBusy when another
// socket holds the queue.
func Open(cfg Config) (*Queue, error) {
	if cfg.CopyRange == 0 || cfg.CopyRange > DefaultCopyRange {
		cfg.CopyRange = DefaultCopyRange
	}
	if cfg.ReadBuffer <= 0 {
		cfg.ReadBuffer = DefaultReadBuffer
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if !cfg.PanicVerdict.valid() || !cfg.ErrorVerdict.valid() {
		return nil, fmt.Errorf("queue %d: panic verdict %v / error verdict %v: must be accept, drop or repeat", cfg.Queue, cfg.PanicVerdict, cfg.ErrorVerdict)
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: cfg.NetNS})
	if err != nil {
		return nil, fmt.Errorf("queue %d: open netfilter netlink socket: %w", cfg.Queue, err)
	}
	q := &Queue{
		num:          cfg.Queue,
		conn:         c,
		log:          cfg.Logger,
		timeout:      cfg.Timeout,
		panicVerdict: cfg.PanicVerdict,
		errorVerdict: cfg.ErrorVerdict,
		slot:         make(chan struct{}, 1),
		buf:          make([]byte, int(cfg.CopyRange)+4096),
	}
	q.readFn = q.read
	q.writeFn = q.write
	ok := false
	defer func() {
		if !ok {
			_ = c.Close() // the kernel unbinds the queue of a closed socket
		}
	}()
	if err := c.SetOption(netlink.NoENOBUFS, true); err != nil {
		return nil, fmt.Errorf("queue %d: set NETLINK_NO_ENOBUFS: %w", q.num, err)
	}
	if err := c.SetReadBuffer(cfg.ReadBuffer); err != nil {
		q.log.Warn("nfqueue: cannot set receive buffer", "queue", q.num, "bytes", cfg.ReadBuffer, "err", err)
	}
	if q.rc, err = c.SyscallConn(); err != nil {
		return nil, fmt.Errorf("queue %d: raw socket: %w", q.num, err)
	}
	if cfg.LegacyPFBind {
		for _, pf := range []uint16{unix.AF_INET, unix.AF_INET6} {
			for _, cmd := range []uint8{cfgCmdPFUnbind, cfgCmdPFBind} {
				if err := q.request(cmdAttr(cmd, pf)); err != nil {
					q.log.Debug("nfqueue: legacy pf command failed", "queue", q.num, "pf", pf, "cmd", cmd, "err", err)
				}
			}
		}
	}
	if err := q.request(cmdAttr(cfgCmdBind, unix.AF_UNSPEC)); err != nil {
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("queue %d: bind: %w (%w)", q.num, ErrQueueBusy, err)
		}
		return nil, fmt.Errorf("queue %d: bind: %w", q.num, err)
	}
	var attrs []configAttr
	if cfg.MaxLen > 0 {
		attrs = append(attrs, be32Attr(nfqaCfgMaxLen, cfg.MaxLen))
	}
	var flags uint32
	if cfg.FailOpen {
		flags |= cfgFlagFailOpen
	}
	if cfg.GSO {
		flags |= cfgFlagGSO
	}
	if flags != 0 {
		attrs = append(attrs, be32Attr(nfqaCfgFlags, flags), be32Attr(nfqaCfgMask, flags))
	}
	if len(attrs) > 0 {
		if err := q.request(attrs...); err != nil {
			return nil, fmt.Errorf("queue %d: set length %d and flags %#x: %w", q.num, cfg.MaxLen, flags, err)
		}
	}
	if err := q.request(paramsAttr(cfg.CopyRange)); err != nil {
		return nil, fmt.Errorf("queue %d: set copy mode packet, range %d: %w", q.num, cfg.CopyRange, err)
	}
	ok = true
	return q, nil
}

// Num returns the queue number.
func (q *Queue) Num() uint16 { return q.num }

// Stats returns a snapshot of the counters.
func (q *Queue) Stats() Stats {
	s := &q.stats
	return Stats{
		Received: s.received.Load(), Accepted: s.accepted.Load(), Dropped: s.dropped.Load(),
		Repeated: s.repeated.Load(), Batches: s.batches.Load(), Pending: s.pending.Load(),
		Panics: s.panics.Load(), ParseErrors: s.parseErrors.Load(), Unanswerable: s.unanswerable.Load(),
		VerdictErrors: s.verdictErrors.Load(), ReceiveErrors: s.recvErrors.Load(),
	}
}

// Serve reads queued packets and gives each the verdict its handler returns
// (Config.PanicVerdict if the handler panics, Config.ErrorVerdict if the
// message is malformed) until ctx is done, when it returns ctx.Err(), or the
// Queue is closed, when it returns ErrClosed. Only one Serve runs at a time.
func (q *Queue) Serve(ctx context.Context, h Handler) error {
	if h == nil {
		return fmt.Errorf("queue %d: serve: nil handler", q.num)
	}
	select {
	case q.slot <- struct{}{}:
	default:
		return fmt.Errorf("queue %d: %w", q.num, ErrServing)
	}
	defer func() { <-q.slot }()
	if q.closed.Load() {
		return fmt.Errorf("queue %d: %w", q.num, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		// A deadline in the past wakes the blocked read and fails every later one.
		_ = q.conn.SetReadDeadline(time.Unix(1, 0))
		close(fired)
	})
	defer func() {
		if !stop() {
			<-fired
		}
		if !q.closed.Load() {
			_ = q.conn.SetReadDeadline(time.Time{})
		}
	}()
	for len(q.pending) > 0 {
		m := q.pending[0]
		q.pending = q.pending[1:]
		q.dispatch(m, false, h)
	}
	q.pending = nil
	for {
		n, err := q.recv()
		if err != nil {
			switch {
			case q.closed.Load():
				return fmt.Errorf("queue %d: %w", q.num, ErrClosed)
			case ctx.Err() != nil:
				return ctx.Err()
			case errors.Is(err, unix.ENOBUFS):
				// The kernel counted the lost packets as dropped (or accepted
				// them with FailOpen): none of them awaits a verdict.
				q.stats.recvErrors.Add(1)
				q.logLimited(&q.errorLog, "nfqueue: receive buffer overrun", "err", err)
				continue
			}
			return fmt.Errorf("queue %d: receive: %w", q.num, err)
		}
		if q.from.Pid != 0 {
			continue // not from the kernel
		}
		q.dispatch(q.buf[:min(n, len(q.buf))], n > len(q.buf), h)
	}
}

// SetVerdict gives packet id the verdict v; for packets a Handler returned
// Pending for.
func (q *Queue) SetVerdict(id uint32, v Verdict) error {
	return q.send(id, v, false, false, 0)
}

// SetVerdictMark gives packet id the verdict v and sets its mark.
func (q *Queue) SetVerdictMark(id uint32, v Verdict, mark uint32) error {
	return q.send(id, v, false, true, mark)
}

// SetVerdictBatch gives every outstanding packet with an id <= id the
// verdict v (NFQNL_MSG_VERDICT_BATCH).
func (q *Queue) SetVerdictBatch(id uint32, v Verdict) error {
	return q.send(id, v, true, false, 0)
}

// Close stops a running Serve (waiting at most Config.Timeout), unbinds the
// queue and closes the socket. Packets still awaiting a verdict are dropped by
// the kernel. Close is idempotent.
func (q *Queue) Close() error {
	if q.closed.Swap(true) {
		return nil
	}
	_ = q.conn.SetReadDeadline(time.Unix(1, 0))
	t := time.NewTimer(q.timeout)
	defer t.Stop()
	var err error
	select {
	case q.slot <- struct{}{}: // held for good: no Serve may start again
		_ = q.conn.SetReadDeadline(time.Time{})
		if uerr := q.request(cmdAttr(cfgCmdUnbind, unix.AF_UNSPEC)); uerr != nil && !errors.Is(uerr, unix.ENODEV) {
			err = fmt.Errorf("queue %d: unbind: %w", q.num, uerr)
		}
	case <-t.C:
		err = fmt.Errorf("queue %d: close: Serve did not stop within %v", q.num, q.timeout)
	}
	if cerr := q.conn.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("queue %d: close socket: %w", q.num, cerr)
	}
	return err
}

// dispatch handles every netlink message in one receive.
func (q *Queue) dispatch(b []byte, truncated bool, h Handler) {
	for len(b) >= nlmsgHdrLen {
		msg, rest, typ, ok := nextMsg(b)
		if !ok {
			q.stats.parseErrors.Add(1)
			q.logLimited(&q.errorLog, "nfqueue: bad netlink header", "len", len(b))
			return
		}
		switch typ {
		case msgPacket:
			q.handlePacket(msg, h)
		case unix.NLMSG_ERROR:
			if errno, _, ok := nlmsgErrno(msg); ok && errno != 0 {
				q.stats.verdictErrors.Add(1)
				q.logLimited(&q.errorLog, "nfqueue: kernel refused a verdict", "err", errno)
			}
		}
		b = rest
	}
	if truncated {
		q.logLimited(&q.errorLog, "nfqueue: message larger than receive buffer", "buffer", len(q.buf))
	}
}

func (q *Queue) handlePacket(msg []byte, h Handler) {
	q.stats.received.Add(1)
	p := &q.pkt
	if err := ParsePacket(msg, p); err != nil {
		q.stats.parseErrors.Add(1)
		if !p.hasID {
			q.stats.unanswerable.Add(1)
			q.logLimited(&q.errorLog, "nfqueue: packet message without id", "err", err)
			return
		}
		q.logLimited(&q.errorLog, "nfqueue: malformed packet message", "id", p.ID, "err", err, "verdict", q.errorVerdict)
		_ = q.send(p.ID, q.errorVerdict, false, false, 0)
		return
	}
	v := q.call(h, p)
	if v == Pending {
		q.stats.pending.Add(1)
		return
	}
	if !v.valid() {
		q.logLimited(&q.errorLog, "nfqueue: handler returned an invalid verdict", "id", p.ID, "verdict", v, "using", q.errorVerdict)
		v, p.setMark = q.errorVerdict, false
	}
	_ = q.send(p.ID, v, false, p.setMark, p.verdictMark)
}

// call runs the handler, turning a panic into Config.PanicVerdict.
func (q *Queue) call(h Handler, p *Packet) (v Verdict) {
	defer func() {
		if r := recover(); r != nil {
			q.stats.panics.Add(1)
			q.logLimited(&q.panicLog, "nfqueue: handler panic", "id", p.ID, "panic", r, "verdict", q.panicVerdict, "stack", string(debug.Stack()))
			v, p.setMark = q.panicVerdict, false
		}
	}()
	return h(p)
}

func (q *Queue) send(id uint32, v Verdict, batch, setMark bool, mark uint32) error {
	if !v.valid() {
		return fmt.Errorf("queue %d: packet %d: cannot send verdict %v", q.num, id, v)
	}
	if q.closed.Load() {
		return fmt.Errorf("queue %d: packet %d: %w", q.num, id, ErrClosed)
	}
	q.wmu.Lock()
	q.wmsg = appendVerdict(q.wbuf[:0], q.num, id, v, batch, setMark, mark)
	q.werr = nil
	err := q.rc.Write(q.writeFn)
	if err == nil {
		err = q.werr
	}
	q.wmu.Unlock()
	if err != nil {
		q.stats.verdictErrors.Add(1)
		q.logLimited(&q.errorLog, "nfqueue: cannot send verdict", "id", id, "verdict", v, "err", err)
		return fmt.Errorf("queue %d: packet %d: send verdict %v: %w", q.num, id, v, err)
	}
	switch {
	case batch:
		q.stats.batches.Add(1)
	case v == Accept:
		q.stats.accepted.Add(1)
	case v == Drop:
		q.stats.dropped.Add(1)
	case v == Repeat:
		q.stats.repeated.Add(1)
	}
	return nil
}

// write sends q.wmsg. A netlink send to the kernel is processed within the
// system call, so it never waits for the socket to become writable.
func (q *Queue) write(fd uintptr) bool {
	for {
		_, err := unix.Write(int(fd), q.wmsg)
		if err == unix.EINTR {
			continue
		}
		q.werr = err
		return true
	}
}

// recv reads one datagram into q.buf, waiting in the runtime poller (and so
// obeying the read deadline). n > len(q.buf) means the datagram was cut.
func (q *Queue) recv() (n int, err error) {
	q.rn, q.rerr = 0, nil
	if err := q.rc.Read(q.readFn); err != nil {
		return 0, err
	}
	return q.rn, q.rerr
}

// read is recvfrom(2) without the Sockaddr allocation of unix.Recvfrom.
func (q *Queue) read(fd uintptr) bool {
	for {
		q.fromLen = unix.SizeofSockaddrNetlink
		n, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd,
			uintptr(unsafe.Pointer(&q.buf[0])), uintptr(len(q.buf)),
			unix.MSG_TRUNC|unix.MSG_DONTWAIT,
			uintptr(unsafe.Pointer(&q.from)), uintptr(unsafe.Pointer(&q.fromLen)))
		switch e {
		case 0:
			q.rn = int(n)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		q.rerr = e
		return true
	}
}

// request sends one acknowledged config message and waits, at most q.timeout,
// for its answer. Packet messages read meanwhile are kept for Serve. It runs
// only while no Serve reads the socket.
func (q *Queue) request(attrs ...configAttr) error {
	q.seq++
	seq := q.seq
	msg := appendConfig(nil, q.num, seq, attrs...)
	var werr error
	if err := q.rc.Write(func(fd uintptr) bool {
		_, werr = unix.Write(int(fd), msg)
		return true
	}); err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	if err := q.conn.SetReadDeadline(time.Now().Add(q.timeout)); err != nil {
		return err
	}
	defer func() { _ = q.conn.SetReadDeadline(time.Time{}) }()
	for {
		n, err := q.recv()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("no answer within %v: %w", q.timeout, err)
			}
			if errors.Is(err, unix.ENOBUFS) {
				continue
			}
			return err
		}
		if q.from.Pid != 0 {
			continue
		}
		b := q.buf[:min(n, len(q.buf))]
		for len(b) >= nlmsgHdrLen {
			m, rest, typ, ok := nextMsg(b)
			if !ok {
				break
			}
			switch typ {
			case unix.NLMSG_ERROR:
				if errno, s, ok := nlmsgErrno(m); ok && s == seq {
					if errno == 0 {
						return nil
					}
					return errno
				}
			case msgPacket:
				q.pending = append(q.pending, bytes.Clone(m))
			}
			b = rest
		}
	}
}

// nextMsg splits the first netlink message off b. A message longer than b (a
// cut receive) is returned whole, for ParsePacket to report.
func nextMsg(b []byte) (msg, rest []byte, typ uint16, ok bool) {
	if len(b) < nlmsgHdrLen {
		return nil, nil, 0, false
	}
	l := int(binary.NativeEndian.Uint32(b[0:4]))
	if l < nlmsgHdrLen {
		return nil, nil, 0, false
	}
	typ = binary.NativeEndian.Uint16(b[4:6])
	if l >= len(b) {
		return b, nil, typ, true
	}
	a := align4(l)
	if a >= len(b) {
		return b[:l], nil, typ, true
	}
	return b[:l], b[a:], typ, true
}

// limiter lets through one log line per second and counts the rest, so that
// a flood of bad packets cannot fill the log.
type limiter struct {
	next       atomic.Int64
	suppressed atomic.Uint64
}

func (q *Queue) logLimited(l *limiter, msg string, args ...any) {
	now := time.Now().UnixNano()
	next := l.next.Load()
	if now < next || !l.next.CompareAndSwap(next, now+int64(time.Second)) {
		l.suppressed.Add(1)
		return
	}
	args = append(args, "queue", q.num)
	if n := l.suppressed.Swap(0); n > 0 {
		args = append(args, "suppressed", n)
	}
	q.log.Error(msg, args...)
}
