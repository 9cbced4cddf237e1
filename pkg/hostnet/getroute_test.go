package hostnet

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// rtmsg is an rtmsg body with the given fields and attributes.
func rtmsg(dstLen, table, typ byte, attrs ...[]byte) []byte {
	b := []byte{unix.AF_INET, dstLen, 0, 0, table, unix.RTPROT_BOOT, unix.RT_SCOPE_UNIVERSE, typ}
	b = binary.NativeEndian.AppendUint32(b, 0)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

func TestParseRouteAnswer(t *testing.T) {
	unreach := -int32(unix.ENETUNREACH)
	hop := func(index int32) []byte { // struct rtnexthop
		b := binary.NativeEndian.AppendUint16(nil, 8)
		b = append(b, 0, 0)
		return binary.NativeEndian.AppendUint32(b, uint32(index))
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want fibRoute
		err  error
	}{
		{"default", newLinkMsg(unix.RTM_NEWROUTE, 3, rtmsg(0, 100, unix.RTN_UNICAST,
			attr(unix.RTA_TABLE, u32(100)), attr(unix.RTA_OIF, u32(4)))),
			fibRoute{Table: 100, Type: unix.RTN_UNICAST, OIF: 4}, nil},
		{"table beyond 255", newLinkMsg(unix.RTM_NEWROUTE, 3, rtmsg(0, unix.RT_TABLE_COMPAT, unix.RTN_UNICAST,
			attr(unix.RTA_TABLE, u32(1000)), attr(unix.RTA_OIF, u32(4)))),
			fibRoute{Table: 1000, Type: unix.RTN_UNICAST, OIF: 4}, nil},
		{"multipath", newLinkMsg(unix.RTM_NEWROUTE, 3, rtmsg(0, 100, unix.RTN_UNICAST,
			attr(unix.RTA_MULTIPATH, append(hop(6), hop(7)...)))),
			fibRoute{Table: 100, Type: unix.RTN_UNICAST, OIF: 6}, nil},
		{"host route", newLinkMsg(unix.RTM_NEWROUTE, 3, rtmsg(32, 100, unix.RTN_UNICAST, attr(unix.RTA_OIF, u32(9)))),
			fibRoute{Table: 100, DstLen: 32, Type: unix.RTN_UNICAST, OIF: 9}, nil},
		{"unreachable", newLinkMsg(unix.NLMSG_ERROR, 3, u32(uint32(unreach))), fibRoute{}, unix.ENETUNREACH},
		{"short oif", newLinkMsg(unix.RTM_NEWROUTE, 3, rtmsg(0, 100, unix.RTN_UNICAST, attr(unix.RTA_OIF, []byte{1}))), fibRoute{}, errBadMsg},
		{"short rtmsg", newLinkMsg(unix.RTM_NEWROUTE, 3, []byte{2, 0}), fibRoute{}, errBadMsg},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, found, err := findAnswer(tc.in, 3, unix.RTM_NEWROUTE, "a route")
			var got fibRoute
			if found && err == nil {
				got, err = parseRoute(data)
			}
			if !found || !errors.Is(err, tc.err) || (tc.err == nil && got != tc.want) {
				t.Fatalf("got %+v found %v err %v, want %+v err %v", got, found, err, tc.want, tc.err)
			}
		})
	}
	if _, found, err := findAnswer(newLinkMsg(unix.RTM_NEWROUTE, 2, rtmsg(0, 1, 1)), 3, unix.RTM_NEWROUTE, "a route"); found || err != nil {
		t.Fatalf("an answer to another request: found %v err %v", found, err)
	}
}

func FuzzParseRoute(f *testing.F) {
	f.Add(rtmsg(0, 100, unix.RTN_UNICAST, attr(unix.RTA_TABLE, u32(100)), attr(unix.RTA_OIF, u32(4))))
	f.Add(rtmsg(0, 100, unix.RTN_UNICAST, attr(unix.RTA_MULTIPATH, []byte{8, 0, 0, 0, 6, 0, 0, 0})))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := parseRoute(b); err != nil && !errors.Is(err, errBadMsg) {
			t.Fatalf("error %v does not match errBadMsg", err)
		}
	})
}

func TestBuildGetRoute(t *testing.T) {
	ne := binary.NativeEndian
	for _, tc := range []struct {
		dst   string
		fam   byte
		flags uint32
	}{
		{"240.0.0.1", unix.AF_INET, unix.RTM_F_FIB_MATCH | unix.RTM_F_LOOKUP_TABLE},
		{"100::", unix.AF_INET6, unix.RTM_F_FIB_MATCH},
	} {
		dst := netip.MustParseAddr(tc.dst)
		b := buildGetRoute(nil, 5, dst, 0xd1d10064)
		if int(ne.Uint32(b)) != len(b) || ne.Uint16(b[4:]) != unix.RTM_GETROUTE || ne.Uint32(b[8:]) != 5 || len(b)%4 != 0 {
			t.Fatalf("%s: header of %x", tc.dst, b)
		}
		m := b[unix.NLMSG_HDRLEN:]
		if m[0] != tc.fam || int(m[1]) != dst.BitLen() || ne.Uint32(m[8:]) != tc.flags {
			t.Fatalf("%s: rtmsg %x", tc.dst, m[:unix.SizeofRtMsg])
		}
		var gotDst netip.Addr
		var mark uint32
		if err := walkAttrs(m[unix.SizeofRtMsg:], func(typ uint16, v []byte) error {
			switch typ {
			case unix.RTA_DST:
				gotDst, _ = netip.AddrFromSlice(v)
			case unix.RTA_MARK:
				mark = ne.Uint32(v)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if gotDst != dst || mark != 0xd1d10064 {
			t.Fatalf("%s: attributes dst %s mark %#x", tc.dst, gotDst, mark)
		}
	}
}
