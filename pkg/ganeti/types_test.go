package ganeti

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/diktyo/diktyo/pkg/mac"
)

func TestTags(t *testing.T) {
	a := ParseTags("routed nfdhcpd")
	b := ParseTags(" nfdhcpd\trouted  routed ")
	if !reflect.DeepEqual(a, b) {
		t.Errorf("%v != %v: tags are a set", a, b)
	}
	if !a.Has("routed") || !a.Has("nfdhcpd") || a.Has("rout") || a.Len() != 2 {
		t.Errorf("Has/Len wrong on %v", a)
	}
	if got := a.String(); got != "nfdhcpd routed" {
		t.Errorf("String() = %q", got)
	}
	assertEqual(t, "Sorted", a.Sorted(), []string{"nfdhcpd", "routed"})
	var none Tags
	if ParseTags("  ") != nil || NewTags() != nil || NewTags("") != nil || none.Has("x") || none.String() != "" || none.Sorted() != nil {
		t.Error("empty tag sets misbehave")
	}
	b2, err := json.Marshal(struct{ T, U Tags }{a, nil})
	if err != nil || string(b2) != `{"T":["nfdhcpd","routed"],"U":[]}` {
		t.Errorf("JSON = %s, %v", b2, err)
	}
	var back struct{ T, U Tags }
	if err := json.Unmarshal(b2, &back); err != nil || !reflect.DeepEqual(back.T, a) || back.U != nil {
		t.Errorf("JSON back = %+v, %v", back, err)
	}
}

func TestParseNICMode(t *testing.T) {
	for _, m := range []NICMode{ModeBridged, ModeRouted, ModeOpenvSwitch} {
		if got, err := ParseNICMode(string(m)); err != nil || got != m || !m.Valid() {
			t.Errorf("ParseNICMode(%q) = %q, %v", m, got, err)
		}
	}
	if _, err := ParseNICMode("ovs"); !errors.Is(err, ErrUnknownMode) || !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseNICMode(ovs) = %v", err)
	}
	if _, err := ParseNICMode(""); !errors.Is(err, ErrMissing) {
		t.Errorf("ParseNICMode(\"\") = %v", err)
	}
	if NICMode("x").Valid() {
		t.Error("x is valid")
	}
}

func TestMACPrefix(t *testing.T) {
	p, err := parseMACPrefix("AA:00:0f")
	if err != nil || !reflect.DeepEqual(p, mac.Addr{0xaa, 0, 0x0f}) || p.String() != "aa:00:0f" {
		t.Errorf("parseMACPrefix = %v, %v", p, err)
	}
	for _, bad := range []string{"aa:00", "aa-00-00", "aa:00:0g", "aa:00:00:00", "aaa:0:00"} {
		if _, err := parseMACPrefix(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("parseMACPrefix(%q) = %v", bad, err)
		}
	}
}

// The JSON form of the parsed values reads back to the same values.
func TestJSONRoundTrip(t *testing.T) {
	for _, name := range allFixtures(t) {
		var v, back any
		if isIfupFixture(name) {
			v, back = loadIfup(t, name), new(IfupEnv)
		} else {
			v, back = loadHook(t, name), new(HookEnv)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, back); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		assertEqual(t, name, back, v)
	}
	var n NIC
	if err := json.Unmarshal([]byte(`{"mac":"zz"}`), &n); !errors.Is(err, mac.ErrInvalid) {
		t.Errorf("bad MAC in JSON: %v", err)
	}
}
