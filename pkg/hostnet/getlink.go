package hostnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// linkReader reads one device at a time with RTM_GETLINK on a socket of
// its own, asking the kernel to leave out the statistics
// (RTEXT_FILTER_SKIP_STATS): most of a full answer is counters the kernel
// sums over every CPU, and diktyo-ifup reads a device several times per
// NIC. Its methods may be called from several goroutines.
type linkReader struct {
	mu  sync.Mutex
	fd  int
	seq uint32
	buf []byte
}

// rtextFilterSkipStats is RTEXT_FILTER_SKIP_STATS of linux/rtnetlink.h.
const rtextFilterSkipStats = 1 << 3

// nlaTypeMask is NLA_TYPE_MASK: an attribute type without the nested and
// byte-order flags.
const nlaTypeMask = 0x3fff

// linkMsgBuf holds the largest RTM_NEWLINK answer without statistics.
const linkMsgBuf = 32 << 10

// openLinkReader opens the socket in the calling thread's network
// namespace; timeout bounds each request's send and receive.
func openLinkReader(timeout time.Duration) (*linkReader, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	tv := unix.NsecToTimeval(timeout.Nanoseconds())
	err = errors.Join(
		unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}),
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv),
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv))
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	return &linkReader{fd: fd, buf: make([]byte, linkMsgBuf)}, nil
}

// Close closes the socket.
func (r *linkReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fd < 0 {
		return nil
	}
	err := unix.Close(r.fd)
	r.fd = -1
	return err
}

// get returns the device named name, or of index when name is "". A
// missing device is an error matching unix.ENODEV. The Link is a
// *netlink.GenericLink with Index, Name, HardwareAddr, MTU, MasterIndex,
// Flags and RawFlags set and Type() as the netlink package names it
// ("device" for no kind, "tuntap" for tun).
func (r *linkReader) get(name string, index int) (netlink.Link, error) {
	var li linkInfo
	err := r.roundTrip("RTM_GETLINK", func(b []byte, seq uint32) []byte {
		return buildGetLink(b, seq, name, index)
	}, func(b []byte, seq uint32) (bool, error) {
		var found bool
		var err error
		li, found, err = parseLinkAnswer(b, seq)
		return found, err
	})
	if err != nil {
		return nil, err
	}
	return li.link(), nil
}

// roundTrip sends the request build appends to its buffer and receives
// datagrams until parse finds the answer to it (parse reports found).
func (r *linkReader) roundTrip(what string, build func(b []byte, seq uint32) []byte, parse func(b []byte, seq uint32) (bool, error)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fd < 0 {
		return errors.New("netlink socket closed")
	}
	r.seq++
	req := build(r.buf[:0], r.seq)
	if err := unix.Sendto(r.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	for {
		n, _, err := unix.Recvfrom(r.fd, r.buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				err = fmt.Errorf("%w (timed out)", err)
			}
			return fmt.Errorf("%s: %w", what, err)
		}
		found, err := parse(r.buf[:n], r.seq)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if found {
			return nil
		}
	}
}

// buildGetLink appends an RTM_GETLINK request for name (or index) to b.
func buildGetLink(b []byte, seq uint32, name string, index int) []byte {
	ne := binary.NativeEndian
	b = ne.AppendUint32(b, 0) // length, set below
	b = ne.AppendUint16(b, unix.RTM_GETLINK)
	b = ne.AppendUint16(b, unix.NLM_F_REQUEST)
	b = ne.AppendUint32(b, seq)
	b = ne.AppendUint32(b, 0)
	// ifinfomsg: family, pad, type, index, flags, change
	b = append(b, unix.AF_UNSPEC, 0, 0, 0)
	b = ne.AppendUint32(b, uint32(int32(index)))
	b = ne.AppendUint32(b, 0)
	b = ne.AppendUint32(b, 0)
	b = appendAttr(b, unix.IFLA_EXT_MASK, ne.AppendUint32(nil, rtextFilterSkipStats))
	if name != "" {
		b = appendAttr(b, unix.IFLA_IFNAME, append([]byte(name), 0))
	}
	ne.PutUint32(b[0:4], uint32(len(b)))
	return b
}

func appendAttr(b []byte, typ uint16, data []byte) []byte {
	ne := binary.NativeEndian
	b = ne.AppendUint16(b, uint16(unix.SizeofRtAttr+len(data)))
	b = ne.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// linkInfo is what diktyo reads of a device.
type linkInfo struct {
	Index  int
	Flags  uint32 // IFF_*
	Name   string
	MAC    net.HardwareAddr
	MTU    int
	Master int
	Kind   string // IFLA_INFO_KIND, "" for none
}

func (li linkInfo) link() netlink.Link {
	kind := li.Kind
	switch kind {
	case "":
		kind = "device"
	case "tun":
		kind = "tuntap"
	}
	return &netlink.GenericLink{LinkType: kind, LinkAttrs: netlink.LinkAttrs{
		Index: li.Index, Name: li.Name, HardwareAddr: li.MAC, MTU: li.MTU,
		MasterIndex: li.Master, Flags: netFlags(li.Flags), RawFlags: li.Flags,
	}}
}

func netFlags(raw uint32) net.Flags {
	var f net.Flags
	for _, m := range []struct {
		iff  uint32
		flag net.Flags
	}{{unix.IFF_UP, net.FlagUp}, {unix.IFF_BROADCAST, net.FlagBroadcast}, {unix.IFF_LOOPBACK, net.FlagLoopback},
		{unix.IFF_POINTOPOINT, net.FlagPointToPoint}, {unix.IFF_MULTICAST, net.FlagMulticast}, {unix.IFF_RUNNING, net.FlagRunning}} {
		if raw&m.iff != 0 {
			f |= m.flag
		}
	}
	return f
}

// errBadMsg: a netlink answer that does not parse.
var errBadMsg = errors.New("malformed netlink message")

// parseLinkAnswer looks in one datagram for the answer to request seq:
// found is false when the datagram holds only other messages (a stale
// answer to an earlier request), an NLMSG_ERROR answer is returned as its
// errno.
func parseLinkAnswer(b []byte, seq uint32) (li linkInfo, found bool, err error) {
	data, found, err := findAnswer(b, seq, unix.RTM_NEWLINK, "a device")
	if found && err == nil {
		li, err = parseLink(data)
	}
	return li, found, err
}

// findAnswer looks in one datagram for the answer to request seq, a
// message of type want (what names it in errors), and returns its body.
// found is false when the datagram holds only other messages; an
// NLMSG_ERROR answer is returned as its errno.
func findAnswer(b []byte, seq uint32, want uint16, what string) (data []byte, found bool, err error) {
	ne := binary.NativeEndian
	for len(b) > 0 {
		if len(b) < unix.NLMSG_HDRLEN {
			return nil, false, fmt.Errorf("%w: %d bytes of header", errBadMsg, len(b))
		}
		l := int(ne.Uint32(b[0:4]))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return nil, false, fmt.Errorf("%w: length %d of %d", errBadMsg, l, len(b))
		}
		typ, mseq, data := ne.Uint16(b[4:6]), ne.Uint32(b[8:12]), b[unix.NLMSG_HDRLEN:l]
		b = b[min(len(b), (l+3)&^3):]
		if mseq != seq {
			continue
		}
		switch typ {
		case unix.NLMSG_ERROR:
			if len(data) < 4 {
				return nil, true, fmt.Errorf("%w: short error", errBadMsg)
			}
			if e := -int32(ne.Uint32(data[0:4])); e > 0 {
				return nil, true, unix.Errno(e)
			}
			return nil, true, fmt.Errorf("%w: acknowledgement instead of %s", errBadMsg, what)
		case want:
			return data, true, nil
		}
	}
	return nil, false, nil
}

// parseLink parses the body of an RTM_NEWLINK message.
func parseLink(b []byte) (linkInfo, error) {
	ne := binary.NativeEndian
	var li linkInfo
	if len(b) < unix.SizeofIfInfomsg {
		return li, fmt.Errorf("%w: short ifinfomsg", errBadMsg)
	}
	li.Index = int(int32(ne.Uint32(b[4:8])))
	li.Flags = ne.Uint32(b[8:12])
	err := walkAttrs(b[unix.SizeofIfInfomsg:], func(typ uint16, v []byte) error {
		switch typ {
		case unix.IFLA_IFNAME:
			li.Name = cString(v)
		case unix.IFLA_ADDRESS:
			// All zeros (lo) is no address, as the netlink package has it.
			if slices.ContainsFunc(v, func(c byte) bool { return c != 0 }) {
				li.MAC = append(net.HardwareAddr(nil), v...)
			}
		case unix.IFLA_MTU, unix.IFLA_MASTER:
			if len(v) < 4 {
				return fmt.Errorf("%w: attribute %d of %d bytes", errBadMsg, typ, len(v))
			}
			if typ == unix.IFLA_MTU {
				li.MTU = int(ne.Uint32(v))
			} else {
				li.Master = int(ne.Uint32(v))
			}
		case unix.IFLA_LINKINFO:
			return walkAttrs(v, func(typ uint16, v []byte) error {
				if typ == unix.IFLA_INFO_KIND {
					li.Kind = cString(v)
				}
				return nil
			})
		}
		return nil
	})
	return li, err
}

// walkAttrs calls f with the type (without the nested and byte-order
// flags) and value of each netlink attribute in b.
func walkAttrs(b []byte, f func(typ uint16, v []byte) error) error {
	ne := binary.NativeEndian
	for len(b) >= unix.SizeofRtAttr {
		l := int(ne.Uint16(b[0:2]))
		if l < unix.SizeofRtAttr || l > len(b) {
			return fmt.Errorf("%w: attribute length %d of %d", errBadMsg, l, len(b))
		}
		if err := f(ne.Uint16(b[2:4])&nlaTypeMask, b[unix.SizeofRtAttr:l]); err != nil {
			return err
		}
		b = b[min(len(b), (l+3)&^3):]
	}
	return nil
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
