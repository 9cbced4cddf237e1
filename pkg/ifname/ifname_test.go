package ifname

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	for _, ok := range []string{"tap0", "t", "kvm-ifup.12_3", "br-grnet@vlan", "abcdefghijklmno", ".tap", "tap-", "ens3f0np0"} {
		if err := Validate(ok); err != nil {
			t.Errorf("Validate(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "abcdefghijklmnop", "tap/0", "tap:0", "tap 0", "tap\t0", "tap\n",
		"tap\x00", "tap\x7f", "täp", "tap\"", "tap'", "tap=1", "tap#", "tap\\", "tap$", "tap`", strings.Repeat("x", 200)} {
		err := Validate(bad)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%q) = %v, want ErrInvalid", bad, err)
		} else if len(err.Error()) > 100 {
			t.Errorf("Validate(%q): error %d bytes long", bad, len(err.Error()))
		}
	}
}

// FuzzValidate checks the rule against its definition byte by byte.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{"tap0", "..", "a:b", "abcdefghijklmnop", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := s != "" && len(s) <= MaxLen && s != "." && s != ".."
		for _, c := range []byte(s) {
			if c < '!' || c > '~' || strings.ContainsRune(forbidden, rune(c)) {
				want = false
			}
		}
		if got := Validate(s) == nil; got != want {
			t.Errorf("Validate(%q) ok = %v, want %v", s, got, want)
		}
	})
}
