package mac

import (
	"encoding/json"
	"errors"
	"net"
	"testing"
)

func TestText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Addr
	}{
		{"aa:00:00:0d:f1:78", Addr{0xaa, 0, 0, 0x0d, 0xf1, 0x78}},
		{"AA:00:00:0D:F1:78", Addr{0xaa, 0, 0, 0x0d, 0xf1, 0x78}},
		{"aa:00:00", Addr{0xaa, 0, 0}},
		{"", nil},
		// base64, as encoding/json wrote net.HardwareAddr.
		{"zEdSTkVU", Addr{0xcc, 0x47, 0x52, 0x4e, 0x45, 0x54}},
		{"qgAAAA==", Addr{0xaa, 0, 0, 0}},
	} {
		var a Addr
		if err := a.UnmarshalText([]byte(tc.in)); err != nil || a.String() != tc.want.String() || (a == nil) != (tc.want == nil) {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", tc.in, a, err, tc.want)
		}
	}
	for _, bad := range []string{"a", "aa:0", "aa:00:0g", "aa-00-00", "aa::00:00", "zEdSTkV", "zEdSTkV!", ":aa:00"} {
		var a Addr
		if err := a.UnmarshalText([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("UnmarshalText(%q) = %v, %v; want ErrInvalid", bad, a, err)
		}
	}
}

// TestJSON: a MAC prints as text, none as "", and both read back; a
// net.HardwareAddr's encoding/json form reads as the same MAC.
func TestJSON(t *testing.T) {
	type rec struct {
		M Addr `json:"m"`
		O Addr `json:"o,omitempty"`
	}
	hw := net.HardwareAddr{0xcc, 0x47, 0x52, 0x4e, 0x45, 0x54}
	b, err := json.Marshal(rec{M: Addr(hw)})
	if err != nil || string(b) != `{"m":"cc:47:52:4e:45:54"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	b, _ = json.Marshal(rec{})
	if string(b) != `{"m":""}` {
		t.Fatalf("Marshal(zero) = %s", b)
	}
	old, _ := json.Marshal(struct {
		M net.HardwareAddr `json:"m"`
	}{hw})
	for _, in := range []string{`{"m":"cc:47:52:4e:45:54"}`, string(old)} {
		var r rec
		if err := json.Unmarshal([]byte(in), &r); err != nil || r.M.String() != hw.String() {
			t.Fatalf("Unmarshal(%s) = %v, %v", in, r.M, err)
		}
	}
	var r rec
	if err := json.Unmarshal([]byte(`{"m":null,"o":""}`), &r); err != nil || r.M != nil || r.O != nil {
		t.Fatalf("Unmarshal(null, \"\") = %+v, %v", r, err)
	}
	if r.M.HardwareAddr().String() != net.HardwareAddr(nil).String() {
		t.Fatal("HardwareAddr of none")
	}
}
