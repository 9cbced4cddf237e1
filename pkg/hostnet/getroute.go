package hostnet

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// fibRoute is the FIB entry the kernel names for a route lookup with
// RTM_F_FIB_MATCH (ip route get fibmatch).
type fibRoute struct {
	Table  int
	DstLen int
	Type   uint8 // RTN_*
	// OIF is the device of the route, or of a multipath route's first hop.
	OIF int
}

// lookupMarked returns the FIB entry a packet to dst with mark would be
// routed by (ip route get fibmatch DST mark MARK), through the policy
// rules as for a packet the host sends.
//
// Why not vishvananda/netlink's RouteGetWithOptions (FIBMatch, Mark): it
// always sets RTM_F_LOOKUP_TABLE, which the kernel refuses for IPv6 on a
// strict-checking socket (and IPv4 then names the main table unless the
// flag is set, so the two families need different flags); and it opens a
// socket per call, where this request runs on the reader's socket that
// Facts already holds.
func (r *linkReader) lookupMarked(dst netip.Addr, mark uint32) (fibRoute, error) {
	var fr fibRoute
	err := r.roundTrip("RTM_GETROUTE", func(b []byte, seq uint32) []byte {
		return buildGetRoute(b, seq, dst, mark)
	}, func(b []byte, seq uint32) (bool, error) {
		data, found, err := findAnswer(b, seq, unix.RTM_NEWROUTE, "a route")
		if found && err == nil {
			fr, err = parseRoute(data)
		}
		return found, err
	})
	return fr, err
}

// buildGetRoute appends an RTM_GETROUTE request with RTM_F_FIB_MATCH for
// dst and mark to b.
func buildGetRoute(b []byte, seq uint32, dst netip.Addr, mark uint32) []byte {
	ne := binary.NativeEndian
	fam := byte(unix.AF_INET)
	if dst.Is6() {
		fam = unix.AF_INET6
	}
	b = ne.AppendUint32(b, 0) // length, set below
	b = ne.AppendUint16(b, unix.RTM_GETROUTE)
	b = ne.AppendUint16(b, unix.NLM_F_REQUEST)
	b = ne.AppendUint32(b, seq)
	b = ne.AppendUint32(b, 0)
	// rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
	b = append(b, fam, byte(dst.BitLen()), 0, 0, 0, 0, 0, 0)
	flags := uint32(unix.RTM_F_FIB_MATCH)
	if fam == unix.AF_INET {
		// IPv4 names the main table unless asked for the one it used;
		// IPv6 always names it and refuses the flag on strict sockets.
		flags |= unix.RTM_F_LOOKUP_TABLE
	}
	b = ne.AppendUint32(b, flags)
	b = appendAttr(b, unix.RTA_DST, dst.AsSlice())
	b = appendAttr(b, unix.RTA_MARK, ne.AppendUint32(nil, mark))
	ne.PutUint32(b[0:4], uint32(len(b)))
	return b
}

// parseRoute parses the body of an RTM_NEWROUTE message.
func parseRoute(b []byte) (fibRoute, error) {
	ne := binary.NativeEndian
	var fr fibRoute
	if len(b) < unix.SizeofRtMsg {
		return fr, fmt.Errorf("%w: short rtmsg", errBadMsg)
	}
	fr.DstLen, fr.Table, fr.Type = int(b[1]), int(b[4]), b[7]
	err := walkAttrs(b[unix.SizeofRtMsg:], func(typ uint16, v []byte) error {
		switch typ {
		case unix.RTA_TABLE, unix.RTA_OIF:
			if len(v) < 4 {
				return fmt.Errorf("%w: attribute %d of %d bytes", errBadMsg, typ, len(v))
			}
			if typ == unix.RTA_TABLE {
				fr.Table = int(ne.Uint32(v))
			} else {
				fr.OIF = int(ne.Uint32(v))
			}
		case unix.RTA_MULTIPATH:
			// struct rtnexthop: len u16, flags u8, hops u8, ifindex s32
			if fr.OIF == 0 && len(v) >= 8 {
				fr.OIF = int(int32(ne.Uint32(v[4:8])))
			}
		}
		return nil
	})
	return fr, err
}
