package dhcpload

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/diktyo/diktyo/pkg/dhcp4"
	"golang.org/x/sys/unix"
)

// runBPF interprets the classic BPF subset the filters use; out-of-bounds
// loads reject the packet, as in the kernel.
func runBPF(t *testing.T, prog []unix.SockFilter, pkt []byte) bool {
	t.Helper()
	var a, x uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case bpfLdHAbs, bpfLdHInd:
			off := int(in.K)
			if in.Code == bpfLdHInd {
				off += int(x)
			}
			if off+2 > len(pkt) {
				return false
			}
			a = uint32(binary.BigEndian.Uint16(pkt[off:]))
		case bpfLdBAbs:
			if int(in.K) >= len(pkt) {
				return false
			}
			a = uint32(pkt[in.K])
		case bpfLdxMsh:
			if int(in.K) >= len(pkt) {
				return false
			}
			x = uint32(pkt[in.K]&0x0f) * 4
		case bpfJeq, bpfJset:
			hit := a == in.K
			if in.Code == bpfJset {
				hit = a&in.K != 0
			}
			if hit {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case bpfRet:
			return in.K != 0
		default:
			t.Fatalf("opcode %#x not interpreted", in.Code)
		}
	}
	t.Fatal("program fell off its end")
	return false
}

func TestFilters(t *testing.T) {
	r := newResponder(t, false)
	mac := net.HardwareAddr(vmMAC[:])
	src := ndpSource(1, 1)
	cp := func(b []byte) []byte { return append([]byte(nil), b...) }
	discover := buildDHCP4(nil, dhcp4.TypeDiscover, vmMAC, 1, 0, nil, netip.Addr{}, netip.Addr{})
	offer := cp(r.answer(discover))
	rs := buildRS(nil, mac, src)
	ra := cp(r.answer(rs))
	ns := buildNS(nil, mac, src, routerLL)
	na := cp(r.answer(ns))
	ir := buildIR(nil, mac, src, 1, nil)
	reply := cp(r.answer(ir))
	optioned := cp(offer) // IPv4 header with options: IHL 6
	optioned = append(optioned[:ethLen+20], append([]byte{1, 1, 1, 0}, optioned[ethLen+20:]...)...)
	optioned[ethLen] = 0x46
	fragment := cp(offer)
	fragment[ethLen+7] = 1

	for _, tc := range []struct {
		name   string
		filter []unix.SockFilter
		accept [][]byte
		reject [][]byte
	}{
		{"dhcp4", filterDHCP4[:], [][]byte{offer, optioned}, [][]byte{discover, fragment, ra, reply, offer[:20]}},
		{"ndp", filterNDP[:], [][]byte{ra, na}, [][]byte{rs, ns, reply, offer, ra[:40]}},
		{"dhcp6", filterDHCP6[:], [][]byte{reply}, [][]byte{ir, ra, offer, reply[:40]}},
	} {
		for i, f := range tc.accept {
			if !runBPF(t, tc.filter, f) {
				t.Errorf("%s: frame %d rejected", tc.name, i)
			}
		}
		for i, f := range tc.reject {
			if runBPF(t, tc.filter, f) {
				t.Errorf("%s: frame %d accepted", tc.name, i)
			}
		}
	}
}
