package binding

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diktyo/diktyo/pkg/golden"
)

// dump renders every field of b, one per line, for golden files.
func dump(b *Binding) string {
	return fmt.Sprintf("Tap: %s\nInDev: %s\nIP: %v\nMAC: %v\nHostname: %q\nTags: %q\n"+
		"Gateway: %v\nSubnet: %v\nGateway6: %v\nSubnet6: %v\nEUI64: %v\nMTU: %d\n"+
		"Private: %v\nMACSpoof: %v\nRouted: %v\n",
		b.Tap, b.InDev, b.IP, b.MAC, b.Hostname, b.Tags, b.Gateway, b.Subnet,
		b.Gateway6, b.Subnet6, b.EUI64, b.MTU, b.Private, b.MACSpoof, b.Routed())
}

// goldenFile checks got against testdata (pkg/golden).
func goldenFile(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", "golden", name), got)
}

// TestSamples parses GRNET-format samples (copied from shared/formats) and
// checks the parsed fields and Marshal output against golden files.
func TestSamples(t *testing.T) {
	for _, tap := range []string{"tap5", "tap7", "tap9"} {
		t.Run(tap, func(t *testing.T) {
			b, err := ReadFile(filepath.Join("testdata", tap))
			if err != nil {
				t.Fatal(err)
			}
			goldenFile(t, tap+".parsed", []byte(dump(b)))
			out := b.Marshal()
			goldenFile(t, tap+".marshal", out)
			b2, err := Parse(tap, bytes.NewReader(out))
			if err != nil {
				t.Fatalf("reparse: %v", err)
			}
			if !b.Equal(b2) {
				t.Errorf("round trip differs:\n%s\n%s", dump(b), dump(b2))
			}
		})
	}
}

const base = "INDEV=tap1\nMAC=aa:00:00:00:00:01\nHOSTNAME=vm1\n"

func TestParseValues(t *testing.T) {
	tests := []struct {
		name, in string
		check    func(*Binding) bool
	}{
		{"minimal", base, func(b *Binding) bool { return b.Routed() && !b.IP.IsValid() && b.MTU == 0 }},
		{"quoted double", base + `TAGS="b a b"`, func(b *Binding) bool { return strings.Join(b.Tags, ",") == "a,b" }},
		{"quoted single", base + `HOSTNAME='vm2'`, func(b *Binding) bool { return b.Hostname == "vm2" }},
		{"empty tags", base + `TAGS=""`, func(b *Binding) bool { return b.Tags == nil }},
		{"empty MTU", base + "MTU=", func(b *Binding) bool { return b.MTU == 0 }},
		{"MTU", base + "MTU=9000", func(b *Binding) bool { return b.MTU == 9000 }},
		{"MTU min", base + "MTU=68", func(b *Binding) bool { return b.MTU == 68 }},
		{"MTU max", base + "MTU=65535", func(b *Binding) bool { return b.MTU == 65535 }},
		{"comments and blanks", "# c\n\n  \n" + base + "  # indented comment\n", func(b *Binding) bool { return b.InDev == "tap1" }},
		{"CRLF", strings.ReplaceAll(base, "\n", "\r\n"), func(b *Binding) bool { return b.Hostname == "vm1" }},
		{"no final newline", strings.TrimSuffix(base, "\n"), func(b *Binding) bool { return b.Hostname == "vm1" }},
		{"spaces around =", base + "IP = 198.51.100.2 ", func(b *Binding) bool { return b.IP == netip.MustParseAddr("198.51.100.2") }},
		{"unknown key", base + "FOO=bar\nlowercase=1", func(b *Binding) bool { return true }},
		{"last wins", base + "IP=198.51.100.2\nIP=198.51.100.3", func(b *Binding) bool { return b.IP == netip.MustParseAddr("198.51.100.3") }},
		{"MAC upper", "INDEV=tap1\nMAC=AA:00:00:00:00:0B\nHOSTNAME=h", func(b *Binding) bool { return b.MAC.String() == "aa:00:00:00:00:0b" }},
		{"bridged", base + "INDEV=br0", func(b *Binding) bool { return !b.Routed() }},
		{"gateway in subnet", base + "GATEWAY=198.51.100.1\nSUBNET=198.51.100.0/24", func(b *Binding) bool { return b.Gateway.IsValid() }},
		{"gateway without subnet", base + "GATEWAY=198.51.100.1", func(b *Binding) bool { return b.Gateway.IsValid() }},
		{"v6", base + "GATEWAY6=2001:db8::1\nSUBNET6=2001:db8::/64\nEUI64=2001:db8::a800:ff:fe00:1", func(b *Binding) bool { return b.EUI64.IsValid() }},
		{"EUI64 without SUBNET6", base + "EUI64=2001:db8::1", func(b *Binding) bool { return b.EUI64.IsValid() }},
		{"hostname fqdn", base + "HOSTNAME=vm.example.org", func(b *Binding) bool { return b.Hostname == "vm.example.org" }},
		{"value with =", base + "FOO=a=b", func(b *Binding) bool { return true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Parse("tap1", strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(b) {
				t.Errorf("unexpected result:\n%s", dump(b))
			}
		})
	}
}

func TestTruthy(t *testing.T) {
	for v, want := range map[string]bool{
		"1": true, "yes": true, "true": true, "True": true, "x": true, "2": true,
		"": false, "0": false, "no": false, "NO": false, "false": false, "off": false,
	} {
		b, err := Parse("tap1", strings.NewReader(base+"PRIVATE="+v+"\nMACSPOOF="+v))
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		if b.Private != want || b.MACSpoof != want {
			t.Errorf("%q: Private=%v MACSpoof=%v, want %v", v, b.Private, b.MACSpoof, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, tap, in string
		want          error
		msg           string // substring of the message
	}{
		{"no MAC", "tap1", "INDEV=tap1\nHOSTNAME=h", ErrMissing, "binding tap1: MAC: required key missing"},
		{"empty MAC", "tap1", "INDEV=tap1\nMAC=\nHOSTNAME=h", ErrMissing, "MAC"},
		{"no INDEV", "tap1", "MAC=aa:00:00:00:00:01\nHOSTNAME=h", ErrMissing, "INDEV"},
		{"no HOSTNAME", "tap1", "INDEV=tap1\nMAC=aa:00:00:00:00:01", ErrMissing, "HOSTNAME"},
		{"bad MAC", "tap1", base + "MAC=zz", ErrInvalid, "line 4: MAC"},
		{"8-byte MAC", "tap1", base + "MAC=aa:00:00:00:00:00:00:01", ErrInvalid, "6-byte"},
		{"multicast MAC", "tap1", base + "MAC=01:00:5e:00:00:01", ErrInvalid, "multicast"},
		{"zero MAC", "tap1", base + "MAC=00:00:00:00:00:00", ErrInvalid, "zero"},
		{"IPv6 IP", "tap1", base + "IP=2001:db8::1", ErrInvalid, "line 4: IP: invalid value: \"2001:db8::1\" is not an IPv4"},
		{"mapped IP", "tap1", base + "IP=::ffff:198.51.100.1", ErrInvalid, "not an IPv4"},
		{"bad IP", "tap1", base + "IP=198.51.100", ErrInvalid, "not an IP address"},
		{"v6 gateway as GATEWAY", "tap1", base + "GATEWAY=2001:db8::1", ErrInvalid, "GATEWAY"},
		{"v4 GATEWAY6", "tap1", base + "GATEWAY6=198.51.100.1", ErrInvalid, "not an IPv6"},
		{"zone", "tap1", base + "GATEWAY6=fe80::1%eth0", ErrInvalid, "zone"},
		{"gateway outside", "tap1", base + "GATEWAY=198.51.101.1\nSUBNET=198.51.100.0/24", ErrInvalid, "line 4: GATEWAY: invalid value: 198.51.101.1 is outside SUBNET"},
		{"subnet host bits", "tap1", base + "SUBNET=198.51.100.1/24", ErrInvalid, "host bits"},
		{"subnet v6", "tap1", base + "SUBNET=2001:db8::/64", ErrInvalid, "IPv4 prefix"},
		{"subnet6 /48", "tap1", base + "SUBNET6=2001:db8::/48", ErrInvalid, "/64"},
		{"subnet6 v4", "tap1", base + "SUBNET6=198.51.100.0/24", ErrInvalid, "IPv6 prefix"},
		{"subnet6 no len", "tap1", base + "SUBNET6=2001:db8::", ErrInvalid, "CIDR"},
		{"eui64 outside", "tap1", base + "SUBNET6=2001:db8::/64\nEUI64=2001:db8:1::1", ErrInvalid, "line 5: EUI64"},
		{"MTU low", "tap1", base + "MTU=67", ErrInvalid, "68..65535"},
		{"MTU high", "tap1", base + "MTU=65536", ErrInvalid, "68..65535"},
		{"MTU sign", "tap1", base + "MTU=+1500", ErrInvalid, "not a number"},
		{"MTU text", "tap1", base + "MTU=big", ErrInvalid, "line 4: MTU"},
		{"MTU huge", "tap1", base + "MTU=99999999999999999999999", ErrInvalid, "MTU"},
		{"hostname control", "tap1", base + "HOSTNAME=a\x01b", ErrInvalid, "HOSTNAME"},
		{"hostname space", "tap1", base + "HOSTNAME='a b'", ErrInvalid, "HOSTNAME"},
		{"hostname long", "tap1", base + "HOSTNAME=" + strings.Repeat("a", 254), ErrInvalid, "longer"},
		{"hostname utf8", "tap1", base + "HOSTNAME=a\xffb", ErrInvalid, "UTF-8"},
		{"INDEV slash", "tap1", base + "INDEV=../x", ErrTapName, "INDEV"},
		{"INDEV long", "tap1", base + "INDEV=abcdefghijklmnop", ErrTapName, "INDEV"},
		{"no =", "tap1", base + "garbage", ErrSyntax, "line 4"},
		{"open quote", "tap1", base + `TAGS="a b`, ErrSyntax, "line 4: TAGS"},
		{"lone quote", "tap1", base + `TAGS="`, ErrSyntax, "unterminated"},
		{"tag with quote", "tap1", base + `TAGS='a"b'`, ErrInvalid, "tag"},
		{"bad tap", "../etc", base, ErrTapName, "invalid tap name"},
		{"empty tap", "", base, ErrTapName, "invalid tap name"},
		{"too large", "tap1", base + strings.Repeat("#\n", MaxFileSize), ErrTooLarge, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Parse(tt.tap, strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("no error; got\n%s", dump(b))
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("error %q is not %v", err, tt.want)
			}
			var be *Error
			if !errors.As(err, &be) || be.Tap != tt.tap {
				t.Errorf("error %q is not a *Error naming the tap", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	good, err := ReadFile("testdata/tap5")
	if err != nil {
		t.Fatal(err)
	}
	if err := good.Validate(); err != nil {
		t.Fatalf("sample: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*Binding)
		want   error
	}{
		{"no tap", func(b *Binding) { b.Tap = "" }, ErrTapName},
		{"short MAC", func(b *Binding) { b.MAC = b.MAC[:4] }, ErrInvalid},
		{"no MAC", func(b *Binding) { b.MAC = nil }, ErrMissing},
		{"v6 IP", func(b *Binding) { b.IP = netip.MustParseAddr("2001:db8::1") }, ErrInvalid},
		{"unsorted tags", func(b *Binding) { b.Tags = []string{"b", "a"} }, ErrInvalid},
		{"space tag", func(b *Binding) { b.Tags = []string{"a b"} }, ErrInvalid},
		{"empty tag", func(b *Binding) { b.Tags = []string{""} }, ErrInvalid},
		{"MTU", func(b *Binding) { b.MTU = 10 }, ErrInvalid},
		{"subnet6 /56", func(b *Binding) { b.Subnet6 = netip.MustParsePrefix("2001:db8::/56") }, ErrInvalid},
		{"subnet unmasked", func(b *Binding) { b.Subnet = netip.MustParsePrefix("198.18.100.7/24") }, ErrInvalid},
		{"hostname", func(b *Binding) { b.Hostname = "a=b" }, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := good.Clone()
			tt.mutate(b)
			if err := b.Validate(); !errors.Is(err, tt.want) {
				t.Errorf("Validate() = %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, tap := range []string{"tap5", "tap7", "tap9"} {
		data, err := os.ReadFile(filepath.Join("testdata", tap))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(base + "TAGS='x y'\nMTU=1500\nPRIVATE=no\nMACSPOOF=yes\n"))
	f.Add([]byte(base + "SUBNET6=2001:db8::/64\nEUI64=2001:db8::1\nGATEWAY6=fe80::1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Parse("tap1", bytes.NewReader(data))
		if err != nil {
			return
		}
		if err := b.Validate(); err != nil {
			t.Fatalf("parsed binding does not validate: %v\n%q", err, data)
		}
		out := b.Marshal()
		b2, err := Parse("tap1", bytes.NewReader(out))
		if err != nil {
			t.Fatalf("reparse of %q: %v", out, err)
		}
		if !b.Equal(b2) {
			t.Fatalf("round trip differs:\n%s\n%s", dump(b), dump(b2))
		}
		if out2 := b2.Marshal(); !bytes.Equal(out, out2) {
			t.Fatalf("marshal not stable:\n%s\n%s", out, out2)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile("testdata/tap5")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("tap5", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
