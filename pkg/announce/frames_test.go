package announce

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
)

func TestGratuitousARP(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
	got := GratuitousARP([]byte{0xee}, mac, netip.MustParseAddr("198.51.100.7"))
	want := []byte{
		0xee,                               // caller's prefix, kept
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // destination: broadcast
		0x02, 0x11, 0x22, 0x33, 0x44, 0x55, // source: uplink MAC
		0x08, 0x06, // EtherType ARP
		0x00, 0x01, // htype Ethernet
		0x08, 0x00, // ptype IPv4
		0x06, 0x04, // hlen, plen
		0x00, 0x01, // op request (RFC 5227 announcement)
		0x02, 0x11, 0x22, 0x33, 0x44, 0x55, // sender MAC
		198, 51, 100, 7, // sender IP: the VM's
		0, 0, 0, 0, 0, 0, // target MAC: zero
		198, 51, 100, 7, // target IP: the VM's
	}
	want = append(want, make([]byte, 18)...) // padding to 60 bytes
	if !bytes.Equal(got, want) {
		t.Errorf("frame\n got %x\nwant %x", got, want)
	}
	if testing.AllocsPerRun(100, func() { GratuitousARP(got[:0], mac, netip.MustParseAddr("198.51.100.7")) }) != 0 {
		t.Error("allocates with a large enough buffer")
	}
}
