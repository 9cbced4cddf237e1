package nfqueue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// Kernel constants from include/uapi/linux/netfilter/nfnetlink_queue.h and
// nfnetlink.h. They are unexported: callers use the typed values below.
const (
	nlmsgHdrLen = 16 // struct nlmsghdr
	nfgenLen    = 4  // struct nfgenmsg
	nlaHdrLen   = 4  // struct nlattr

	nfnlSubsysQueue = 3

	nfqnlMsgPacket       = 0
	nfqnlMsgVerdict      = 1
	nfqnlMsgConfig       = 2
	nfqnlMsgVerdictBatch = 3

	msgPacket       = nfnlSubsysQueue<<8 | nfqnlMsgPacket
	msgVerdict      = nfnlSubsysQueue<<8 | nfqnlMsgVerdict
	msgConfig       = nfnlSubsysQueue<<8 | nfqnlMsgConfig
	msgVerdictBatch = nfnlSubsysQueue<<8 | nfqnlMsgVerdictBatch

	nfqaPacketHdr   = 1
	nfqaVerdictHdr  = 2
	nfqaMark        = 3
	nfqaTimestamp   = 4
	nfqaIfIndexIn   = 5
	nfqaIfIndexOut  = 6
	nfqaIfPhysIn    = 7
	nfqaIfPhysOut   = 8
	nfqaHWAddr      = 9
	nfqaPayload     = 10
	nfqaCapLen      = 13
	nfqaSkbInfo     = 14
	nlaTypeMask     = 0x3fff
	nfqaCfgCmd      = 1
	nfqaCfgParams   = 2
	nfqaCfgMaxLen   = 3
	nfqaCfgMask     = 4
	nfqaCfgFlags    = 5
	cfgCmdBind      = 1
	cfgCmdUnbind    = 2
	cfgCmdPFBind    = 3
	cfgCmdPFUnbind  = 4
	copyModePacket  = 2
	cfgFlagFailOpen = 0x01
	cfgFlagGSO      = 0x04

	verdictMsgLen     = nlmsgHdrLen + nfgenLen + nlaHdrLen + 8
	verdictMarkMsgLen = verdictMsgLen + nlaHdrLen + 4
)

// Sentinel errors for what callers test with errors.Is.
var (
	// ErrMalformed marks a netlink message that is not a well-formed
	// nfnetlink_queue packet message.
	ErrMalformed = errors.New("malformed nfqueue message")
	// ErrQueueBusy is returned by Open when another socket has bound the queue
	// (the kernel answers EPERM).
	ErrQueueBusy = errors.New("queue is bound by another socket")
	// ErrClosed is returned by operations on a closed Queue.
	ErrClosed = errors.New("queue closed")
	// ErrServing is returned by Serve when another Serve call is running.
	ErrServing = errors.New("queue is already being served")
)

// Verdict is what the kernel does with a queued packet. The values are the
// kernel's NF_* verdicts, except Pending.
type Verdict uint32

// Verdicts a Handler returns.
const (
	// Drop discards the packet (NF_DROP).
	Drop Verdict = 0
	// Accept lets the packet continue through the stack (NF_ACCEPT).
	Accept Verdict = 1
	// Repeat re-runs the netfilter hook from its start (NF_REPEAT); set a
	// mark with Packet.SetVerdictMark so that the rule does not queue the
	// packet again.
	Repeat Verdict = 4
	// Pending is returned by a Handler that keeps the packet and will give it
	// a verdict later with Queue.SetVerdict or Queue.SetVerdictBatch. It is
	// never sent to the kernel.
	Pending Verdict = 0xffffffff
)

// String names the verdict.
func (v Verdict) String() string {
	switch v {
	case Drop:
		return "drop"
	case Accept:
		return "accept"
	case Repeat:
		return "repeat"
	case Pending:
		return "pending"
	}
	return fmt.Sprintf("verdict(%d)", uint32(v))
}

// valid reports whether v may be sent to the kernel.
func (v Verdict) valid() bool { return v == Drop || v == Accept || v == Repeat }

// SkbInfo is the NFQA_SKB_INFO bit set.
type SkbInfo uint32

// NFQA_SKB_INFO bits.
const (
	// SkbCsumNotReady: the checksum is partial (offloaded, not yet filled in).
	SkbCsumNotReady SkbInfo = 1 << 0
	// SkbGSO: the packet is a GSO aggregate (only with Config.GSO).
	SkbGSO SkbInfo = 1 << 1
	// SkbCsumNotVerified: the kernel has not verified the checksum; frames
	// from taps and veths arrive like this.
	SkbCsumNotVerified SkbInfo = 1 << 2
)

// Packet is one queued packet. Slices alias the receive buffer: they are valid
// only during the Handler call; copy what must outlive it.
type Packet struct {
	// Queue is the queue number the packet arrived on.
	Queue uint16
	// ID is the kernel's packet id, the key of the verdict.
	ID uint32
	// HWProtocol is the ethertype of the packet (0x0800, 0x86dd).
	HWProtocol uint16
	// Hook is the netfilter hook (NF_INET_PRE_ROUTING=0, LOCAL_IN=1,
	// FORWARD=2, LOCAL_OUT=3, POST_ROUTING=4).
	Hook uint8
	// Mark is the packet mark (0 when the kernel sent none).
	Mark uint32
	// InDev, OutDev, PhysInDev and PhysOutDev are interface indexes, 0 when
	// absent. PhysInDev is the bridge port of bridged traffic (the tap).
	InDev, OutDev, PhysInDev, PhysOutDev uint32
	// HWAddr is the source link-layer address (NFQA_HWADDR), nil when absent.
	HWAddr net.HardwareAddr
	// Payload is the L3 packet, cut to the copy range.
	Payload []byte
	// CapLen is the original length when Payload was cut, else 0.
	CapLen uint32
	// SkbInfo carries checksum and GSO flags.
	SkbInfo SkbInfo

	hasID       bool
	setMark     bool
	verdictMark uint32
}

// SetVerdictMark makes the verdict for p also set the packet mark to mark.
func (p *Packet) SetVerdictMark(mark uint32) {
	p.setMark = true
	p.verdictMark = mark
}

func align4(n int) int { return (n + 3) &^ 3 }

func malformed(what string) error { return fmt.Errorf("%w: %s", ErrMalformed, what) }

// Pre-built errors keep the parse path allocation-free even on bad input.
var (
	errShortHeader = malformed("short netlink header")
	errBadLength   = malformed("netlink length out of range")
	errNotPacket   = malformed("not an NFQNL_MSG_PACKET")
	errShortAttr   = malformed("attribute overruns message")
	errAttrSize    = malformed("attribute has a wrong size")
	errHWAddr      = malformed("hardware address length out of range")
	errNoHeader    = malformed("no NFQA_PACKET_HDR")
	errTruncated   = malformed("message truncated by receive buffer")
)

// ParsePacket parses one netlink message of type NFQNL_MSG_PACKET (netlink
// header included) into p, which it resets first. Slices in p alias msg.
// msg may be shorter than the header's length (a receive cut by MSG_TRUNC):
// ParsePacket then fails with ErrMalformed but still fills p.ID when the
// packet header was present, so the caller can give a verdict.
func ParsePacket(msg []byte, p *Packet) error {
	*p = Packet{}
	if len(msg) < nlmsgHdrLen+nfgenLen {
		return errShortHeader
	}
	l := int(binary.NativeEndian.Uint32(msg[0:4]))
	if l < nlmsgHdrLen+nfgenLen {
		return errBadLength
	}
	if binary.NativeEndian.Uint16(msg[4:6]) != msgPacket {
		return errNotPacket
	}
	truncated := l > len(msg)
	if !truncated {
		msg = msg[:l]
	}
	p.Queue = binary.BigEndian.Uint16(msg[nlmsgHdrLen+2:])
	err := parseAttrs(msg[nlmsgHdrLen+nfgenLen:], p)
	if err == nil && !p.hasID {
		err = errNoHeader
	}
	if err == nil && truncated {
		err = errTruncated
	}
	return err
}

// HasID reports whether the last ParsePacket into p found a packet id, even if
// it failed.
func (p *Packet) HasID() bool { return p.hasID }

func parseAttrs(b []byte, p *Packet) error {
	for len(b) >= nlaHdrLen {
		al := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) & nlaTypeMask
		if al < nlaHdrLen || al > len(b) {
			return errShortAttr
		}
		v := b[nlaHdrLen:al]
		switch typ {
		case nfqaPacketHdr:
			// struct nfqnl_msg_packet_hdr { __be32 packet_id; __be16 hw_protocol; __u8 hook; } __packed
			if len(v) < 7 {
				return errAttrSize
			}
			p.ID = binary.BigEndian.Uint32(v[0:4])
			p.HWProtocol = binary.BigEndian.Uint16(v[4:6])
			p.Hook = v[6]
			p.hasID = true
		case nfqaMark, nfqaIfIndexIn, nfqaIfIndexOut, nfqaIfPhysIn, nfqaIfPhysOut, nfqaCapLen, nfqaSkbInfo:
			if len(v) < 4 {
				return errAttrSize
			}
			u := binary.BigEndian.Uint32(v[0:4])
			switch typ {
			case nfqaMark:
				p.Mark = u
			case nfqaIfIndexIn:
				p.InDev = u
			case nfqaIfIndexOut:
				p.OutDev = u
			case nfqaIfPhysIn:
				p.PhysInDev = u
			case nfqaIfPhysOut:
				p.PhysOutDev = u
			case nfqaCapLen:
				p.CapLen = u
			case nfqaSkbInfo:
				p.SkbInfo = SkbInfo(u)
			}
		case nfqaHWAddr:
			// struct nfqnl_msg_packet_hw { __be16 hw_addrlen; __u16 _pad; __u8 hw_addr[8]; }
			if len(v) < 4 {
				return errAttrSize
			}
			n := int(binary.BigEndian.Uint16(v[0:2]))
			if n > 8 || 4+n > len(v) {
				return errHWAddr
			}
			p.HWAddr = net.HardwareAddr(v[4 : 4+n : 4+n])
		case nfqaPayload:
			p.Payload = v[:len(v):len(v)]
		}
		if a := align4(al); a < len(b) {
			b = b[a:]
		} else {
			b = nil
		}
	}
	if len(b) != 0 {
		return errShortAttr
	}
	return nil
}

// appendVerdict appends an NFQNL_MSG_VERDICT (or, with batch,
// NFQNL_MSG_VERDICT_BATCH: every id <= id) message for queue to b.
func appendVerdict(b []byte, queue uint16, id uint32, v Verdict, batch, setMark bool, mark uint32) []byte {
	typ, l := uint16(msgVerdict), verdictMsgLen
	if batch {
		typ = msgVerdictBatch
	}
	if setMark {
		l = verdictMarkMsgLen
	}
	b = binary.NativeEndian.AppendUint32(b, uint32(l))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, unix.NLM_F_REQUEST)
	b = binary.NativeEndian.AppendUint32(b, 0) // seq
	b = binary.NativeEndian.AppendUint32(b, 0) // portid
	b = append(b, unix.AF_UNSPEC, unix.NFNETLINK_V0)
	b = binary.BigEndian.AppendUint16(b, queue)
	b = binary.NativeEndian.AppendUint16(b, nlaHdrLen+8)
	b = binary.NativeEndian.AppendUint16(b, nfqaVerdictHdr)
	b = binary.BigEndian.AppendUint32(b, uint32(v))
	b = binary.BigEndian.AppendUint32(b, id)
	if setMark {
		b = binary.NativeEndian.AppendUint16(b, nlaHdrLen+4)
		b = binary.NativeEndian.AppendUint16(b, nfqaMark)
		b = binary.BigEndian.AppendUint32(b, mark)
	}
	return b
}

// configAttr is one attribute of an NFQNL_MSG_CONFIG message.
type configAttr struct {
	typ  uint16
	data []byte
}

func cmdAttr(cmd uint8, pf uint16) configAttr {
	// struct nfqnl_msg_config_cmd { __u8 command; __u8 _pad; __be16 pf; }
	return configAttr{nfqaCfgCmd, []byte{cmd, 0, byte(pf >> 8), byte(pf)}}
}

func be32Attr(typ uint16, v uint32) configAttr {
	return configAttr{typ, binary.BigEndian.AppendUint32(nil, v)}
}

func paramsAttr(copyRange uint32) configAttr {
	// struct nfqnl_msg_config_params { __be32 copy_range; __u8 copy_mode; } __packed
	return configAttr{nfqaCfgParams, append(binary.BigEndian.AppendUint32(nil, copyRange), copyModePacket)}
}

// appendConfig appends an acknowledged NFQNL_MSG_CONFIG request.
func appendConfig(b []byte, queue uint16, seq uint32, attrs ...configAttr) []byte {
	start := len(b)
	b = binary.NativeEndian.AppendUint32(b, 0) // length, patched below
	b = binary.NativeEndian.AppendUint16(b, msgConfig)
	b = binary.NativeEndian.AppendUint16(b, unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = append(b, unix.AF_UNSPEC, unix.NFNETLINK_V0)
	b = binary.BigEndian.AppendUint16(b, queue)
	for _, a := range attrs {
		b = binary.NativeEndian.AppendUint16(b, uint16(nlaHdrLen+len(a.data)))
		b = binary.NativeEndian.AppendUint16(b, a.typ)
		b = append(b, a.data...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	binary.NativeEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

// nlmsgErrno returns the errno of an NLMSG_ERROR message (0 for an ack) and
// the sequence number of the request it answers.
func nlmsgErrno(msg []byte) (errno unix.Errno, seq uint32, ok bool) {
	if len(msg) < nlmsgHdrLen+4 {
		return 0, 0, false
	}
	// The kernel copies the request's sequence number into the error header.
	seq = binary.NativeEndian.Uint32(msg[8:12])
	e := int32(binary.NativeEndian.Uint32(msg[nlmsgHdrLen:]))
	return unix.Errno(-e), seq, true
}
