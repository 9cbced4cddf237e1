package dhcp4

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/golden"
)

var optionNames = map[byte]string{
	1: "subnet mask", 3: "router", 6: "domain name servers", 12: "host name",
	15: "domain name", 26: "interface MTU", 28: "broadcast address",
	51: "lease time", 53: "message type", 54: "server identifier",
	58: "renewal time T1", 59: "rebinding time T2", 119: "domain search",
	121: "classless static routes", 249: "MS classless static routes",
}

// annotate renders a reply frame as hex, one field per line with a
// comment, in the style of insomniacslk/dhcp's test vectors.
func annotate(f []byte) string {
	var sb strings.Builder
	line := func(b []byte, format string, args ...any) {
		fmt.Fprintf(&sb, "%-48s # %s\n", spaced(b), fmt.Sprintf(format, args...))
	}
	block := func(b []byte, what string) {
		for i := 0; i < len(b); i += 16 {
			c := b[i:min(i+16, len(b))]
			if i == 0 {
				line(c, "%s (%d bytes)", what, len(b))
			} else {
				fmt.Fprintf(&sb, "%s\n", spaced(c))
			}
		}
	}
	ip4 := func(b []byte) string { return netip.AddrFrom4([4]byte(b)).String() }
	sb.WriteString("# Ethernet\n")
	line(f[0:6], "destination %v", net.HardwareAddr(f[0:6]))
	line(f[6:12], "source %v", net.HardwareAddr(f[6:12]))
	line(f[12:14], "ethertype IPv4")
	sb.WriteString("# IPv4\n")
	ih := f[offIP:]
	line(ih[0:1], "version 4, IHL 5")
	line(ih[1:2], "TOS")
	line(ih[2:4], "total length %d", binary.BigEndian.Uint16(ih[2:]))
	line(ih[4:6], "identification")
	line(ih[6:8], "flags DF, fragment offset 0")
	line(ih[8:9], "TTL %d", ih[8])
	line(ih[9:10], "protocol UDP")
	line(ih[10:12], "header checksum")
	line(ih[12:16], "source %s", ip4(ih[12:16]))
	line(ih[16:20], "destination %s", ip4(ih[16:20]))
	sb.WriteString("# UDP\n")
	u := f[offUDP:]
	line(u[0:2], "source port %d", binary.BigEndian.Uint16(u))
	line(u[2:4], "destination port %d", binary.BigEndian.Uint16(u[2:]))
	line(u[4:6], "length %d", binary.BigEndian.Uint16(u[4:]))
	line(u[6:8], "checksum")
	sb.WriteString("# BOOTP\n")
	bp := f[offBOOTP:]
	line(bp[0:1], "op BOOTREPLY")
	line(bp[1:2], "htype Ethernet")
	line(bp[2:3], "hlen 6")
	line(bp[3:4], "hops")
	line(bp[4:8], "xid")
	line(bp[8:10], "secs")
	line(bp[10:12], "flags %#04x", binary.BigEndian.Uint16(bp[10:]))
	line(bp[12:16], "ciaddr %s", ip4(bp[12:16]))
	line(bp[16:20], "yiaddr %s", ip4(bp[16:20]))
	line(bp[20:24], "siaddr %s", ip4(bp[20:24]))
	line(bp[24:28], "giaddr %s", ip4(bp[24:28]))
	line(bp[28:34], "chaddr %v", net.HardwareAddr(bp[28:34]))
	line(bp[34:44], "chaddr padding")
	block(bp[44:108], "sname")
	block(bp[108:236], "file")
	line(bp[236:240], "magic cookie")
	sb.WriteString("# options\n")
	o := bp[optionsOff:]
	i := 0
	for i < len(o) && o[i] != optEnd {
		n := int(o[i+1])
		opt := o[i : i+2+n]
		v := opt[2:]
		desc := fmt.Sprintf("option %d %s", o[i], optionNames[o[i]])
		switch o[i] {
		case 53:
			desc += ": " + MessageType(v[0]).String()
		case 1, 3, 6, 28, 54:
			for j := 0; j+4 <= n; j += 4 {
				desc += " " + ip4(v[j:j+4])
			}
		case 51, 58, 59:
			desc += fmt.Sprintf(": %ds", binary.BigEndian.Uint32(v))
		case 26:
			desc += fmt.Sprintf(": %d", binary.BigEndian.Uint16(v))
		case 12, 15:
			desc += fmt.Sprintf(": %q", v)
		}
		for j := 0; j < len(opt); j += 16 {
			c := opt[j:min(j+16, len(opt))]
			if j == 0 {
				line(c, "%s", desc)
			} else {
				fmt.Fprintf(&sb, "%s\n", spaced(c))
			}
		}
		i += 2 + n
	}
	line(o[i:i+1], "end")
	if rest := o[i+1:]; len(rest) > 0 {
		block(rest, "padding")
	}
	return sb.String()
}

func spaced(b []byte) string {
	s := make([]string, len(b))
	for i, c := range b {
		s[i] = fmt.Sprintf("%02x", c)
	}
	return strings.Join(s, " ")
}

// unannotate parses annotate's output back into bytes.
func unannotate(t *testing.T, s string) []byte {
	t.Helper()
	var out []byte
	for l := range strings.Lines(s) {
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		b, err := hex.DecodeString(strings.Join(strings.Fields(l), ""))
		if err != nil {
			t.Fatalf("bad golden line %q: %v", l, err)
		}
		out = append(out, b...)
	}
	return out
}

func TestGolden(t *testing.T) {
	private := func(b *binding.Binding) { b.Private = true }
	routed32 := func(b *binding.Binding) { b.Subnet = netip.MustParsePrefix("198.18.100.77/32") }
	tests := []struct {
		name string
		msg  Message
		bind func(*binding.Binding)
	}{
		{"offer", discover(0x3903f326), nil},
		{"offer-broadcast", func() Message { m := discover(0x3903f326); m.Flags = FlagBroadcast; return m }(), nil},
		{"ack", request(0x3903f327), nil},
		{"ack-renew", Message{Type: TypeRequest, XID: 0x3903f328, CHAddr: vmMAC, CIAddr: vmIP, ParamRequest: dhclientPRL}, nil},
		{"nak", func() Message {
			m := request(0x3903f329)
			m.RequestedIP = netip.MustParseAddr("198.18.100.78")
			return m
		}(), nil},
		{"inform-ack", Message{Type: TypeInform, XID: 0x3903f32a, CHAddr: vmMAC, CIAddr: vmIP, ParamRequest: dhclientPRL}, nil},
		{"offer-private", discover(0x3903f32b), private},
		{"offer-routed32", discover(0x3903f32c), routed32},
	}
	r := mustResponder(t, testConfig())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := testBinding()
			if tc.bind != nil {
				tc.bind(b)
			}
			frame, res := r.Handle(nil, Request{Packet: packetOf(tc.msg), SrcMAC: vmMAC[:]}, b)
			if !res.Kind.Replied() {
				t.Fatalf("no reply: %v/%v", res.Kind, res.Reason)
			}
			checkFrame(t, frame)
			got := annotate(frame)
			if !bytes.Equal(unannotate(t, got), frame) {
				t.Fatalf("annotate does not cover the frame")
			}
			path := filepath.Join("testdata", tc.name+".golden")
			if golden.Update() {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(unannotate(t, string(want)), frame) {
				t.Errorf("reply differs from %s; got:\n%s", path, got)
			}
		})
	}
}
