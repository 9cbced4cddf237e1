package ip6frame

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
)

// Annotate renders an Ethernet frame carrying IPv6 with ICMPv6 neighbour
// discovery or UDP/DHCPv6 as hex, one field per line with a "# field"
// comment, for golden files and debugging. ParseAnnotated reads it back.
// Unknown or truncated parts are dumped as raw bytes.
func Annotate(frame []byte) string {
	a := &annotator{b: frame}
	a.field(6, "eth dst")
	a.field(6, "eth src")
	a.field(2, "ethertype")
	a.field(4, "ipv6 version, traffic class, flow label")
	a.field(2, "ipv6 payload length")
	proto := a.peek(0)
	a.field(1, "ipv6 next header")
	a.field(1, "ipv6 hop limit")
	a.addr("ipv6 src")
	a.addr("ipv6 dst")
	switch proto {
	case ProtoICMPv6:
		a.icmp()
	case ProtoUDP:
		a.field(2, "udp src port")
		a.field(2, "udp dst port")
		a.field(2, "udp length")
		a.field(2, "udp checksum")
		a.dhcpv6()
	}
	a.rest("trailing bytes")
	return a.sb.String()
}

// ParseAnnotated returns the bytes of Annotate's output (or any hex text
// with "#" comments).
func ParseAnnotated(s string) ([]byte, error) {
	var out []byte
	for i, line := range strings.Split(s, "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		for _, f := range strings.Fields(line) {
			b, err := hex.DecodeString(f)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", i+1, err)
			}
			out = append(out, b...)
		}
	}
	return out, nil
}

type annotator struct {
	b   []byte
	off int
	sb  strings.Builder
}

func (a *annotator) left() int { return len(a.b) - a.off }

func (a *annotator) peek(i int) byte {
	if a.off+i < len(a.b) {
		return a.b[a.off+i]
	}
	return 0
}

func (a *annotator) field(n int, label string) []byte {
	if n > a.left() {
		n = a.left()
	}
	if n == 0 {
		return nil
	}
	v := a.b[a.off : a.off+n]
	for i := 0; i < len(v); i += 16 {
		chunk := v[i:min(i+16, len(v))]
		parts := make([]string, len(chunk))
		for j, c := range chunk {
			parts[j] = fmt.Sprintf("%02x", c)
		}
		a.sb.WriteString(strings.Join(parts, " "))
		if i == 0 {
			a.sb.WriteString("  # " + label)
		}
		a.sb.WriteByte('\n')
	}
	a.off += n
	return v
}

func (a *annotator) addr(label string) {
	if a.left() < 16 {
		a.field(a.left(), label)
		return
	}
	ip := netip.AddrFrom16([16]byte(a.b[a.off : a.off+16]))
	a.field(16, label+" "+ip.String())
}

func (a *annotator) rest(label string) { a.field(a.left(), label) }

func (a *annotator) icmp() {
	typ := a.peek(0)
	a.field(1, fmt.Sprintf("icmpv6 type %d", typ))
	a.field(1, "icmpv6 code")
	a.field(2, "icmpv6 checksum")
	switch typ {
	case 133:
		a.field(4, "rs reserved")
	case 134:
		a.field(1, "ra cur hop limit")
		a.field(1, "ra flags (M 0x80, O 0x40)")
		a.field(2, "ra router lifetime")
		a.field(4, "ra reachable time")
		a.field(4, "ra retrans timer")
	case 135:
		a.field(4, "ns reserved")
		a.addr("ns target")
	case 136:
		a.field(4, "na flags (R 0x80, S 0x40, O 0x20)")
		a.addr("na target")
	default:
		return
	}
	for a.left() >= 2 {
		typ, n := a.peek(0), int(a.peek(1))*8
		if n == 0 || n > a.left() {
			return
		}
		end := a.off + n
		a.field(1, fmt.Sprintf("option type %d", typ))
		a.field(1, fmt.Sprintf("option length %d (×8)", n/8))
		switch typ {
		case 1, 2:
			a.field(6, "link-layer address")
		case 3:
			a.field(1, "prefix length")
			a.field(1, "prefix flags (L 0x80, A 0x40)")
			a.field(4, "valid lifetime")
			a.field(4, "preferred lifetime")
			a.field(4, "reserved")
			a.addr("prefix")
		case 5:
			a.field(2, "reserved")
			a.field(4, "mtu")
		case 25, 31:
			a.field(2, "reserved")
			a.field(4, "lifetime")
			if typ == 25 {
				for a.off+16 <= end {
					a.addr("nameserver")
				}
			} else {
				a.names(end, "search domain")
			}
		}
		a.field(end-a.off, "padding")
	}
}

// names annotates uncompressed DNS names up to end; zero bytes after the
// last name are left for padding.
func (a *annotator) names(end int, label string) {
	for a.off < end && a.b[a.off] != 0 {
		var name []string
		i := a.off
		for i < end && a.b[i] != 0 {
			l := int(a.b[i])
			if i+1+l > end {
				return
			}
			name = append(name, string(a.b[i+1:i+1+l]))
			i += 1 + l
		}
		if i >= end {
			return
		}
		a.field(i+1-a.off, label+" "+strings.Join(name, "."))
	}
}

func (a *annotator) dhcpv6() {
	if a.left() < 4 {
		return
	}
	a.field(1, fmt.Sprintf("dhcpv6 msg-type %d", a.peek(0)))
	a.field(3, "dhcpv6 transaction-id")
	for a.left() >= 4 {
		code := binary.BigEndian.Uint16(a.b[a.off:])
		n := int(binary.BigEndian.Uint16(a.b[a.off+2:]))
		if n > a.left()-4 {
			return
		}
		a.field(2, fmt.Sprintf("option code %d", code))
		a.field(2, "option length")
		end := a.off + n
		switch code {
		case 23:
			for a.off+16 <= end {
				a.addr("nameserver")
			}
		case 24:
			a.names(end, "search domain")
		}
		a.field(end-a.off, "option data")
	}
}
