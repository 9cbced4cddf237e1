package dhcp4

import (
	"encoding/binary"
	"slices"

	"github.com/diktyo/diktyo/pkg/inetsum"
)

// BuildRequest appends to dst the Ethernet frame a VM's DHCP client sends
// for m: from m.CHAddr to ff:ff:ff:ff:ff:ff, IPv4 from m.CIAddr (0.0.0.0
// when unset) port 68 to 255.255.255.255 port 67, with options 53, 50, 54,
// 57 and 55 as set in m (55 when non-nil, at most 255 codes; 57 when
// non-zero), padded to 300
// bytes of BOOTP. It is meant for tests and load generators; the IPv4
// packet starts at offset 14, as ParseRequest expects it.
func BuildRequest(dst []byte, m *Message) []byte {
	prl := m.ParamRequest
	if len(prl) > 255 {
		prl = prl[:255]
	}
	n := offOpts + 3 + 6 + 6 + 4 + 2 + len(prl) + 1
	n = max(n, offBOOTP+minBOOTPLen)
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	f := dst[start:]
	clear(f)

	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:12], m.CHAddr[:])
	f[12], f[13] = 0x08, 0x00

	bp := f[offBOOTP:]
	bp[0], bp[1], bp[2] = 1, 1, 6
	binary.BigEndian.PutUint32(bp[4:8], m.XID)
	binary.BigEndian.PutUint16(bp[8:10], m.Secs)
	binary.BigEndian.PutUint16(bp[10:12], m.Flags)
	var ci, gi [4]byte
	if m.CIAddr.Is4() {
		ci = m.CIAddr.As4()
	}
	if m.GIAddr.Is4() {
		gi = m.GIAddr.As4()
	}
	copy(bp[12:16], ci[:])
	copy(bp[24:28], gi[:])
	copy(bp[28:34], m.CHAddr[:])
	binary.BigEndian.PutUint32(bp[bootpHdrLen:optionsOff], magicCookie)

	o := offOpts
	f[o], f[o+1], f[o+2] = optMessageType, 1, byte(m.Type)
	o += 3
	if m.RequestedIP.Is4() {
		a := m.RequestedIP.As4()
		f[o], f[o+1] = optRequestedIP, 4
		o += 2 + copy(f[o+2:], a[:])
	}
	if m.ServerID.Is4() {
		a := m.ServerID.As4()
		f[o], f[o+1] = optServerID, 4
		o += 2 + copy(f[o+2:], a[:])
	}
	if m.MaxSize != 0 {
		f[o], f[o+1] = optMaxMsgSize, 2
		binary.BigEndian.PutUint16(f[o+2:], m.MaxSize)
		o += 4
	}
	if prl != nil {
		f[o], f[o+1] = optParamRequest, byte(len(prl))
		o += 2 + copy(f[o+2:], prl)
	}
	f[o] = optEnd

	putIPv4UDP(f[:n], 0, ci, [4]byte{255, 255, 255, 255}, clientPort, serverPort)
	return dst
}

// putIPv4UDP writes the IPv4 header (no options, TTL 64, the DF bit when
// df is 0x40) and the UDP header, checksums included, of the datagram
// that fills f from offIP to its end.
func putIPv4UDP(f []byte, df byte, src, dst [4]byte, sport, dport uint16) {
	ih := f[offIP:offUDP]
	ih[0], ih[1] = 0x45, 0
	binary.BigEndian.PutUint16(ih[2:4], uint16(len(f)-offIP))
	ih[4], ih[5] = 0, 0
	ih[6], ih[7] = df, 0
	ih[8], ih[9] = 64, 17 // TTL, UDP
	ih[10], ih[11] = 0, 0
	copy(ih[12:16], src[:])
	copy(ih[16:20], dst[:])
	binary.BigEndian.PutUint16(ih[10:12], inetsum.Checksum(inetsum.Add(0, ih)))

	// UDP, checksum over the pseudo header.
	uh := f[offUDP:]
	ulen := uint16(len(f) - offUDP)
	binary.BigEndian.PutUint16(uh[0:2], sport)
	binary.BigEndian.PutUint16(uh[2:4], dport)
	binary.BigEndian.PutUint16(uh[4:6], ulen)
	uh[6], uh[7] = 0, 0
	ps := uint64(binary.BigEndian.Uint32(ih[12:16])) + uint64(binary.BigEndian.Uint32(ih[16:20])) +
		17 + uint64(ulen)
	cs := inetsum.Checksum(inetsum.Add(ps, uh))
	if cs == 0 {
		cs = 0xffff
	}
	binary.BigEndian.PutUint16(uh[6:8], cs)
}
