package nettest

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/diktyo/diktyo/pkg/inetsum"
	"github.com/diktyo/diktyo/pkg/ip6frame"
)

var (
	testMAC = net.HardwareAddr{0xaa, 0, 0, 0, 0, 1}
	testLL  = netip.MustParseAddr("fe80::a800:ff:fe00:1")
)

// The frames are what the kernel and nfdhcpd's parsers accept: correct
// lengths, checksums and header chains.
func TestFrames(t *testing.T) {
	u := UDP4(BroadcastMAC, testMAC, netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("198.51.100.1"), 7, 68, 67, []byte("x"))
	if len(u) != 14+20+8+1 || binary.BigEndian.Uint16(u[12:]) != 0x0800 || inetsum.Fold(inetsum.Add(0, u[14:34])) != 0xffff ||
		binary.BigEndian.Uint16(u[18:]) != 7 || binary.BigEndian.Uint16(u[34+2:]) != 67 {
		t.Errorf("UDP4 % x", u)
	}
	if v := VLAN(u, 10); binary.BigEndian.Uint16(v[12:]) != 0x8100 || binary.BigEndian.Uint16(v[14:]) != 10 || !bytes.Equal(v[16:], u[12:]) {
		t.Errorf("VLAN % x", v)
	}

	target := netip.MustParseAddr("2001:db8::1")
	sn, snMAC := SolicitedNode(target)
	ns := ICMP6(snMAC, testMAC, testLL, sn, IP6Opts{FlowLabel: 0xd1d00}, NDTarget(NDNS, 0, target, NDOpt(OptSLL, testMAC)))
	ip := ns[14:]
	if sn.String() != "ff02::1:ff00:1" || ip[7] != 255 || binary.BigEndian.Uint32(ip[0:])&0xfffff != 0xd1d00 ||
		!ip6frame.VerifyChecksum(testLL, sn, 58, ip[40:]) || len(ip[40:]) != 32 {
		t.Errorf("NS % x", ns)
	}
	if bad := IP6(snMAC, testMAC, testLL, sn, 58, IP6Opts{BadChecksum: true}, NDTarget(NDNS, 0, target), 2); ip6frame.VerifyChecksum(testLL, sn, 58, bad[54:]) {
		t.Error("BadChecksum gave a good checksum")
	}
	hbh := ICMP6(AllNodesMAC, testMAC, testLL, AllNodes, IP6Opts{HopByHop: true}, NDTarget(NDNA, NAOverride, testLL))
	if hbh[14+6] != 0 || hbh[14+40] != 58 || !ip6frame.VerifyChecksum(testLL, AllNodes, 58, hbh[14+48:]) {
		t.Errorf("hop-by-hop NA % x", hbh)
	}

	msg := NDTarget(NDNA, NAOverride, testLL, NDOpt(OptTLL, testMAC))
	fr := Fragments6(AllNodesMAC, testMAC, testLL, AllNodes, 58, IP6Opts{HopLimit: 255, FlowLabel: 5}, msg, 2, 24, 9)
	first, second := fr[0][14:], fr[1][14:]
	whole := append(append([]byte(nil), first[48:]...), second[48:]...)
	if len(fr) != 2 || first[6] != 44 || first[40] != 58 || binary.BigEndian.Uint16(first[42:])&1 != 1 ||
		binary.BigEndian.Uint16(second[42:])>>3 != 3 || len(whole) != len(msg) || !ip6frame.VerifyChecksum(testLL, AllNodes, 58, whole) {
		t.Errorf("fragments % x / % x", fr[0], fr[1])
	}

	a := ARP(BroadcastMAC, testMAC, 1, testMAC, netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("198.51.100.1"), "m")
	if binary.BigEndian.Uint16(a[12:]) != 0x0806 || !bytes.HasSuffix(a, []byte(MarkerPrefix+"m")) || !bytes.Equal(a[14+8:14+14], testMAC) {
		t.Errorf("ARP % x", a)
	}
	if o := NDOpt(OptNonce, []byte("diktyo")); len(o) != 8 || o[1] != 1 {
		t.Errorf("nonce option % x", o)
	}
}
