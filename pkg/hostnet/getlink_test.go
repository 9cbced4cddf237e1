package hostnet

import (
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/nettest"
)

// newLinkMsg builds a netlink datagram of one message.
func newLinkMsg(typ uint16, seq uint32, body []byte) []byte {
	ne := binary.NativeEndian
	b := ne.AppendUint32(nil, uint32(unix.NLMSG_HDRLEN+len(body)))
	b = ne.AppendUint16(b, typ)
	b = ne.AppendUint16(b, 0)
	b = ne.AppendUint32(b, seq)
	b = ne.AppendUint32(b, 0)
	b = append(b, body...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func ifinfo(index int32, flags uint32, attrs ...[]byte) []byte {
	ne := binary.NativeEndian
	b := []byte{unix.AF_UNSPEC, 0, 1, 0}
	b = ne.AppendUint32(b, uint32(index))
	b = ne.AppendUint32(b, flags)
	b = ne.AppendUint32(b, 0)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

func attr(typ uint16, v []byte) []byte { return appendAttr(nil, typ, v) }

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func TestParseLinkAnswer(t *testing.T) {
	mac := net.HardwareAddr{0xcc, 0x47, 0x52, 0x4e, 0x45, 0x54}
	full := ifinfo(7, unix.IFF_UP|unix.IFF_BROADCAST|unix.IFF_RUNNING,
		attr(unix.IFLA_IFNAME, []byte("tap0\x00")), attr(unix.IFLA_ADDRESS, mac),
		attr(unix.IFLA_MTU, u32(9000)), attr(unix.IFLA_MASTER, u32(3)),
		attr(unix.IFLA_LINKINFO|unix.NLA_F_NESTED, attr(unix.IFLA_INFO_KIND, []byte("tun\x00"))))
	errMsg := func(errno unix.Errno) []byte {
		e := -int32(errno)
		return append(u32(uint32(e)), make([]byte, unix.NLMSG_HDRLEN)...)
	}
	for _, tc := range []struct {
		name      string
		in        []byte
		want      linkInfo
		found     bool
		err       error
		wantLink  bool
		wantFlags net.Flags
	}{
		{name: "device", in: newLinkMsg(unix.RTM_NEWLINK, 5, full), found: true, wantLink: true,
			want:      linkInfo{Index: 7, Flags: unix.IFF_UP | unix.IFF_BROADCAST | unix.IFF_RUNNING, Name: "tap0", MAC: mac, MTU: 9000, Master: 3, Kind: "tun"},
			wantFlags: net.FlagUp | net.FlagBroadcast | net.FlagRunning},
		{name: "stale answer first", in: append(newLinkMsg(unix.NLMSG_ERROR, 4, errMsg(0)), newLinkMsg(unix.RTM_NEWLINK, 5, full)...),
			found: true, wantLink: true,
			want:      linkInfo{Index: 7, Flags: unix.IFF_UP | unix.IFF_BROADCAST | unix.IFF_RUNNING, Name: "tap0", MAC: mac, MTU: 9000, Master: 3, Kind: "tun"},
			wantFlags: net.FlagUp | net.FlagBroadcast | net.FlagRunning},
		{name: "only stale", in: newLinkMsg(unix.RTM_NEWLINK, 4, full)},
		{name: "no such device", in: newLinkMsg(unix.NLMSG_ERROR, 5, errMsg(unix.ENODEV)), found: true, err: unix.ENODEV},
		{name: "ack", in: newLinkMsg(unix.NLMSG_ERROR, 5, errMsg(0)), found: true, err: errBadMsg},
		{name: "short error", in: newLinkMsg(unix.NLMSG_ERROR, 5, []byte{1}), found: true, err: errBadMsg},
		{name: "short header", in: []byte{1, 2, 3}, err: errBadMsg},
		{name: "length past end", in: newLinkMsg(unix.RTM_NEWLINK, 5, full)[:40], err: errBadMsg},
		{name: "short ifinfomsg", in: newLinkMsg(unix.RTM_NEWLINK, 5, []byte{0, 0, 0}), found: true, err: errBadMsg},
		{name: "short MTU", in: newLinkMsg(unix.RTM_NEWLINK, 5, ifinfo(1, 0, attr(unix.IFLA_MTU, []byte{1}))), found: true, err: errBadMsg},
		{name: "bad attribute length", in: newLinkMsg(unix.RTM_NEWLINK, 5, append(ifinfo(1, 0), 0xff, 0, 1, 0)), found: true, err: errBadMsg},
	} {
		t.Run(tc.name, func(t *testing.T) {
			li, found, err := parseLinkAnswer(tc.in, 5)
			if found != tc.found || !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("found %v err %v, want %v %v", found, err, tc.found, tc.err)
			}
			if !tc.wantLink {
				return
			}
			if li.Index != tc.want.Index || li.Flags != tc.want.Flags || li.Name != tc.want.Name ||
				!slices.Equal(li.MAC, tc.want.MAC) || li.MTU != tc.want.MTU || li.Master != tc.want.Master || li.Kind != tc.want.Kind {
				t.Fatalf("got %+v, want %+v", li, tc.want)
			}
			l := li.link()
			if l.Type() != "tuntap" || l.Attrs().Flags != tc.wantFlags || l.Attrs().Index != 7 {
				t.Fatalf("link %s %+v", l.Type(), *l.Attrs())
			}
		})
	}
}

func FuzzParseLinkAnswer(f *testing.F) {
	f.Add(newLinkMsg(unix.RTM_NEWLINK, 1, ifinfo(2, 1, attr(unix.IFLA_IFNAME, []byte("eth0\x00")),
		attr(unix.IFLA_LINKINFO, attr(unix.IFLA_INFO_KIND, []byte("veth\x00"))))))
	errno := -int32(unix.ENODEV)
	f.Add(newLinkMsg(unix.NLMSG_ERROR, 1, u32(uint32(errno))))
	f.Fuzz(func(t *testing.T, b []byte) {
		li, found, err := parseLinkAnswer(b, 1)
		if err == nil && found {
			_ = li.link()
		}
	})
}

func TestBuildGetLink(t *testing.T) {
	b := buildGetLink(nil, 9, "tap0", 0)
	ne := binary.NativeEndian
	if int(ne.Uint32(b)) != len(b) || ne.Uint16(b[4:]) != unix.RTM_GETLINK || ne.Uint32(b[8:]) != 9 || len(b)%4 != 0 {
		t.Fatalf("header of %x", b)
	}
	var kinds []uint16
	var name string
	var mask uint32
	if err := walkAttrs(b[unix.NLMSG_HDRLEN+unix.SizeofIfInfomsg:], func(typ uint16, v []byte) error {
		kinds = append(kinds, typ)
		switch typ {
		case unix.IFLA_IFNAME:
			name = cString(v)
		case unix.IFLA_EXT_MASK:
			mask = ne.Uint32(v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if name != "tap0" || mask != rtextFilterSkipStats || len(kinds) != 2 {
		t.Fatalf("attributes %v name %q mask %d", kinds, name, mask)
	}
	b = buildGetLink(nil, 1, "", 42)
	if idx := int32(ne.Uint32(b[unix.NLMSG_HDRLEN+4:])); idx != 42 {
		t.Fatalf("index %d", idx)
	}
}

// The link reader sees devices as the netlink package does.
func TestLinkReaderMatchesNetlink(t *testing.T) {
	needRoot(t)
	ns := newNS(t, "lr")
	other := newNS(t, "lro")
	ns.ip(t, "link", "add", "br-lr", "type", "bridge")
	nettest.VethDown(t, ns.NS, "ve-lr", other.NS, "eth0")
	ns.ip(t, "link", "set", "ve-lr", "master", "br-lr", "mtu", "1400", "up")
	ns.ip(t, "tuntap", "add", "dev", "tap-lr", "mode", "tap")
	ns.ip(t, "link", "set", "tap-lr", "address", "cc:47:52:4e:45:54")
	runner, err := StartNetNS(ns.h, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer runner.Close()
	var lr *linkReader
	if err := runner.Run(func() (err error) { lr, err = openLinkReader(5 * time.Second); return err }); err != nil {
		t.Fatal(err)
	}
	defer lr.Close()
	h, err := netlink.NewHandleAt(ns.h)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, name := range []string{"lo", "br-lr", "ve-lr", "tap-lr"} {
		want, err := h.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, by := range []string{"name", "index"} {
			var got netlink.Link
			if by == "name" {
				got, err = lr.get(name, 0)
			} else {
				got, err = lr.get("", want.Attrs().Index)
			}
			if err != nil {
				t.Fatalf("%s by %s: %v", name, by, err)
			}
			g, w := got.Attrs(), want.Attrs()
			if got.Type() != want.Type() || g.Index != w.Index || g.Name != w.Name || !slices.Equal(g.HardwareAddr, w.HardwareAddr) ||
				g.MTU != w.MTU || g.MasterIndex != w.MasterIndex || g.Flags != w.Flags || g.RawFlags != w.RawFlags {
				t.Errorf("%s by %s: got %s %+v\nwant %s %+v", name, by, got.Type(), *g, want.Type(), *w)
			}
		}
	}
	if _, err := lr.get("nonexistent0", 0); !errors.Is(err, unix.ENODEV) {
		t.Fatalf("missing device: %v, want ENODEV", err)
	}
	if _, err := lr.get("", 1<<30); !errors.Is(err, unix.ENODEV) {
		t.Fatalf("missing index: %v, want ENODEV", err)
	}
	lr.Close()
	if _, err := lr.get("lo", 0); err == nil {
		t.Fatal("get after Close succeeded")
	}
}
