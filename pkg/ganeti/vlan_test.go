package ganeti

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestParseVLAN(t *testing.T) {
	for _, c := range []struct {
		in    string
		want  VLAN
		canon string
	}{
		{"", VLAN{}, ""},
		{".10", VLAN{Access: 10}, ".10"},
		{":10:20", VLAN{Trunks: []int{10, 20}}, ":10:20"},
		{":10", VLAN{Trunks: []int{10}}, ":10"},
		{".10:20", VLAN{Access: 10, Trunks: []int{20}}, ".10:20"},
		{".1:2:4094", VLAN{Access: 1, Trunks: []int{2, 4094}}, ".1:2:4094"},
		{"10", VLAN{Access: 10}, ".10"},                             // Ganeti turns a bare ID into ".ID"
		{".010", VLAN{Access: 10}, ".10"},                           // Ganeti accepts leading zeros
		{":20:10:20", VLAN{Trunks: []int{20, 10, 20}}, ":20:10:20"}, // as given
	} {
		got, err := ParseVLAN(c.in)
		if err != nil {
			t.Errorf("ParseVLAN(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseVLAN(%q) = %+v, want %+v", c.in, got, c.want)
		}
		if s := got.String(); s != c.canon {
			t.Errorf("ParseVLAN(%q).String() = %q, want %q", c.in, s, c.canon)
		}
		if got.IsZero() != (c.in == "") || got.IsTrunk() != (len(c.want.Trunks) > 0) {
			t.Errorf("%q: IsZero %v IsTrunk %v", c.in, got.IsZero(), got.IsTrunk())
		}
		if err := got.Validate(); err != nil {
			t.Errorf("%q: Validate: %v", c.in, err)
		}
	}
}

func TestParseVLANErrors(t *testing.T) {
	for _, c := range []struct{ in, msg string }{
		// Ganeti's own rejects (test_cmdlib_instance.py testVLanFormat)
		{".pinky", `invalid VLAN ".pinky": VLAN ID "pinky" is not a number`},
		{":bunny", `invalid VLAN ":bunny": VLAN ID "bunny" is not a number`},
		{":1:pinky", `invalid VLAN ":1:pinky": VLAN ID "pinky" is not a number`},
		{"bunny", `invalid VLAN "bunny": want .ID, :ID[:ID...], .ID:ID[:ID...] or ID`},
		{".", `invalid VLAN ".": empty VLAN ID`},
		{":", `invalid VLAN ":": empty VLAN ID`},
		{".10:", `invalid VLAN ".10:": empty VLAN ID`},
		{"::10", `invalid VLAN "::10": empty VLAN ID`},
		{".10::20", `invalid VLAN ".10::20": empty VLAN ID`},
		{":10:", `invalid VLAN ":10:": empty VLAN ID`},
		{".0", `invalid VLAN ".0": VLAN ID 0 out of range 1-4094`},
		{":4095", `invalid VLAN ":4095": VLAN ID 4095 out of range 1-4094`},
		{".99999999999999999999", `invalid VLAN ".99999999999999999999": VLAN ID 99999999999999999999 out of range 1-4094`},
		{".-1", `invalid VLAN ".-1": VLAN ID "-1" is not a number`},
		{". 10", `invalid VLAN ". 10": VLAN ID " 10" is not a number`},
		{"10.", `invalid VLAN "10.": want .ID, :ID[:ID...], .ID:ID[:ID...] or ID`},
		{"None", `invalid VLAN "None": want .ID, :ID[:ID...], .ID:ID[:ID...] or ID`},
		{".１", `invalid VLAN ".１": VLAN ID "１" is not a number`}, // fullwidth digit
	} {
		v, err := ParseVLAN(c.in)
		if err == nil {
			t.Errorf("ParseVLAN(%q) = %+v, want an error", c.in, v)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseVLAN(%q): %v does not wrap ErrInvalid", c.in, err)
		}
		if err.Error() != c.msg {
			t.Errorf("ParseVLAN(%q):\n got %q\nwant %q", c.in, err, c.msg)
		}
	}
	if err := (VLAN{Trunks: []int{5000}}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("Validate of VLAN 5000 = %v", err)
	}
	if err := (VLAN{Access: -3}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("Validate of VLAN -3 = %v", err)
	}
}

func TestVLANJSON(t *testing.T) {
	type S struct {
		V VLAN `json:"v,omitzero"`
	}
	for _, c := range []struct {
		v    VLAN
		json string
	}{{VLAN{}, `{}`}, {VLAN{Access: 7, Trunks: []int{8}}, `{"v":".7:8"}`}} {
		b, err := json.Marshal(S{c.v})
		if err != nil || string(b) != c.json {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", c.v, b, err, c.json)
		}
		var s S
		if err := json.Unmarshal(b, &s); err != nil || !reflect.DeepEqual(s.V, c.v) {
			t.Errorf("Unmarshal(%s) = %+v, %v", b, s.V, err)
		}
	}
	var s S
	if err := json.Unmarshal([]byte(`{"v":".x"}`), &s); !errors.Is(err, ErrInvalid) {
		t.Errorf("Unmarshal of a bad VLAN: %v", err)
	}
}
