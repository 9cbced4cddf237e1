package jsonx

import (
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// decodeWith decodes in with dec, checking that nothing but white space
// follows.
func decodeWith(in string, dec func(r *Reader) error) error {
	r := NewReader([]byte(in))
	if err := dec(r); err != nil {
		return err
	}
	return r.End()
}

// checkDecode asserts that dec accepts in exactly when json.Unmarshal into
// a T does, and that both decode the same value into a T holding start.
func checkDecode[T any](t *testing.T, in string, start T, dec func(r *Reader, p *T) error) {
	t.Helper()
	got, want := start, start
	err := decodeWith(in, func(r *Reader) error { return dec(r, &got) })
	wantErr := json.Unmarshal([]byte(in), &want)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%q into %T: err %v, encoding/json %v", in, want, err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q into %T: got %#v, encoding/json %#v", in, want, got, want)
	}
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || e.Offset < 0 || e.Offset > len(in) {
			t.Fatalf("%q: error %v has no offset in the input", in, err)
		}
	}
}

func TestReaderStrings(t *testing.T) {
	for _, in := range []string{
		`""`, `"plain"`, `"\"\\\/\b\f\n\r\t"`, `"\u0041\u00e9\u4e2d"`, `"\u003c\u0026\u003e"`,
		`"\ud83d\ude00"`, `"\uD83D\uDE00"`, `"\ud83d"`, `"\ude00"`, `"\ud83d\u0041"`, `"\ud83dx"`,
		`"\ud83d\ud83d\ude00"`, `"\ude00\ud83d"`, `"\u0000"`, "\"\xff\xfe\"", "\"a\xc3\"", "\"\xed\xa0\x80\"",
		"\"ελληνικά\"", "\"\u2028\"", "\"\x7f\"", `" spaced "`, "  \"ws\"\n",
		// errors
		`"`, `"abc`, `"\`, `"\x"`, `"\u12"`, `"\u12G4"`, "\"\x01\"", "\"\n\"", `'s'`, `1`, `true`, `{}`, `[]`,
		`"a" "b"`, `"\'"`,
	} {
		checkDecode(t, in, "old", (*Reader).String)
	}
}

func TestReaderInts(t *testing.T) {
	ints := []string{
		`0`, `-0`, `7`, `-7`, ` 42 `, `null`, `9223372036854775807`, `9223372036854775808`,
		`-9223372036854775808`, `-9223372036854775809`, `18446744073709551615`, `18446744073709551616`,
		`99999999999999999999999`, `65535`, `65536`, `255`, `256`, `-1`,
		`1.0`, `1e3`, `1E3`, `0.5`, `-0.0`, `1e+2`, `01`, `-`, `1.`, `.5`, `+1`, `1e`, `"5"`, `true`, `[]`, `{}`, `0x10`, `NaN`,
	}
	for _, in := range ints {
		checkDecode(t, in, 11, (*Reader).Int)
		checkDecode(t, in, uint16(11), (*Reader).Uint16)
		checkDecode(t, in, uint8(11), (*Reader).Uint8)
	}
}

func TestReaderBool(t *testing.T) {
	for _, in := range []string{`true`, `false`, `null`, ` true `, `True`, `tru`, `truex`, `1`, `"true"`, `nul`, `nulll`} {
		checkDecode(t, in, true, (*Reader).Bool)
		checkDecode(t, in, false, (*Reader).Bool)
	}
}

func TestReaderBytes(t *testing.T) {
	for _, in := range []string{
		`"zEdSTkVU"`, `""`, `null`, `"AQID"`, `"AQI="`, `"AQ=="`, `"AQ"`, `"A"`, `"!!!!"`, `"zEdS\nTkVU"`,
		`"zEdS\r\nTkVU"`, `"zEdS TkVU"`, `"\u007aEdSTkVU"`, `[1,2,255]`, `[]`, `[256]`, `[-1]`, `[1.5]`, `[null,1]`,
		`["a"]`, `[1,]`, `{}`, `1`, `"AQJ="`,
	} {
		checkDecode(t, in, []byte{9, 9}, (*Reader).Bytes)
		checkDecode(t, in, []byte(nil), (*Reader).Bytes)
	}
}

func TestReaderText(t *testing.T) {
	v4 := netip.MustParseAddr("198.18.0.9")
	for _, in := range []string{
		`"198.18.0.1"`, `"2001:db8::1"`, `"fe80::1%eth0"`, `"::ffff:198.18.0.1"`, `""`, `null`,
		`"198.18.0.256"`, `"198.18.0.1/32"`, `"x"`, `1`, `{}`, `"2001:db8::1\u0000"`, `"\u0031\u0039\u0038.18.0.1"`,
	} {
		checkDecode(t, in, v4, (*Reader).Addr)
	}
	p := netip.MustParsePrefix("198.18.0.0/15")
	for _, in := range []string{
		`"198.18.1.3/32"`, `"2001:db8::/64"`, `"2001:db8::1/128"`, `""`, `null`, `"198.18.0.1"`, `"198.18.0.0/33"`,
		`"fe80::1%eth0/64"`, `[]`, `"198.18.0.1/32 "`,
	} {
		checkDecode(t, in, p, (*Reader).Prefix)
	}
	now := time.Date(2026, 11, 27, 15, 38, 1, 837222102, time.UTC)
	for _, in := range []string{
		`"2026-11-27T15:38:01.837222102Z"`, `"2026-11-27T15:38:01Z"`, `"2026-11-27T15:38:01+02:00"`, `null`,
		`"2026-11-27T15:38:01.837222102z"`, `"2026-11-27 15:38:01Z"`, `"2026\u002d11-27T15:38:01Z"`, `""`, `1`,
		`"2026-11-27T15:38:01+24:00"`, `"10000-01-01T00:00:00Z"`, `{}`, `[]`, `true`,
	} {
		checkDecode(t, in, now, (*Reader).Time)
	}
}

func TestReaderRaw(t *testing.T) {
	for _, in := range []string{
		`{"a": [1, 2]}`, ` [ ] `, `null`, `"s"`, `1.5e3`, "{\n  \"x\": {}\n}\n", `{`, `{"a":1}}`, ``,
	} {
		checkDecode(t, in, json.RawMessage("old"), func(r *Reader, p *json.RawMessage) error { return r.Raw((*[]byte)(p)) })
	}
}

// point is a struct decoded with Object, Slice and Ptr, to compare with
// encoding/json's struct decoding.
type point struct {
	Name  string   `json:"name"`
	X     int      `json:"x"`
	Kind  string   `json:"kind"`
	Long  string   `json:"long_s"`
	Tags  []string `json:"tags"`
	Next  *point   `json:"next"`
	Items []point  `json:"items"`
	Upper string   `json:"Upper"`
	Lower string   `json:"upper"`
}

func (p *point) decode(r *Reader) error {
	return r.Object([]string{"name", "x", "kind", "long_s", "tags", "next", "items", "Upper", "upper"}, func(i int) error {
		switch i {
		case 0:
			return r.String(&p.Name)
		case 1:
			return r.Int(&p.X)
		case 2:
			return r.String(&p.Kind)
		case 3:
			return r.String(&p.Long)
		case 4:
			return Slice(r, &p.Tags, func(s *string, r *Reader) error { return r.String(s) })
		case 5:
			return Ptr(r, &p.Next, (*point).decode)
		case 6:
			return Slice(r, &p.Items, (*point).decode)
		case 7:
			return r.String(&p.Upper)
		default:
			return r.String(&p.Lower)
		}
	})
}

func TestReaderObject(t *testing.T) {
	inputs := []string{
		`{}`, `null`, `{"name":"a","x":1}`, ` { "name" : "a" , "x" : 1 } `,
		`{"NAME":"a","X":2}`, `{"Name":"a","nAmE":"b"}`, `{"n\u0061me":"esc"}`,
		"{\"\u212aind\":\"kelvin\"}", "{\"lon\u017f_s\":\"long s\"}", `{"LONG_S":"x"}`,
		`{"Upper":"exact U","upper":"exact u"}`, `{"UPPER":"fold"}`, `{"uPPER":"fold"}`,
		`{"unknown":{"deep":[1,{"x":[]}]},"name":"n"}`, `{"name":"a","name":"b"}`, `{"x":1,"x":null}`,
		`{"tags":["a","b"],"tags":["c"]}`, `{"tags":[]}`, `{"tags":null}`, `{"tags":["a",null]}`,
		`{"next":{"name":"n1"},"next":{"x":5}}`, `{"next":null}`, `{"next":{"next":{"next":{}}}}`,
		`{"items":[{"name":"a","x":1},{"name":"b"}],"items":[{"x":2}],"items":[{},{},{"kind":"k"}]}`,
		`{"items":[{"name":"a"}],"items":[],"items":[{"x":1}]}`,
		"{\"\xff\":1,\"name\":\"\xff\"}",
		// errors
		`{`, `{"name"`, `{"name":`, `{"name":"a"`, `{"name":"a",}`, `{,}`, `{"name" "a"}`, `{name:"a"}`,
		`{"x":"1"}`, `{"x":1.5}`, `{"tags":"a"}`, `{"tags":[1]}`, `{"next":[]}`, `{"items":{}}`, `[]`, `"s"`, `1`,
		`{"unknown":[1,}`, `{"unknown":tru}`, `{"unknown":"\q"}`, `{"name":"a"}}`, `{"name":"a"} x`, `{"a":1 "b":2}`,
	}
	for _, in := range inputs {
		dec := func(r *Reader, p *point) error { return p.decode(r) }
		checkDecode(t, in, point{Name: "start", Tags: []string{"s"}}, dec)
		checkDecode(t, in, point{}, dec)
	}
}

func TestReaderDepth(t *testing.T) {
	for _, n := range []int{1, 100, MaxDepth - 1, MaxDepth, MaxDepth + 1} {
		for _, open := range []string{"[", `{"a":`} {
			closer := "]"
			if open != "[" {
				closer = "}"
			}
			in := strings.Repeat(open, n) + strings.Repeat(closer, n)
			err := decodeWith(in, (*Reader).Skip)
			if (err == nil) != json.Valid([]byte(in)) {
				t.Errorf("depth %d %s: err %v, json.Valid %v", n, open, err, json.Valid([]byte(in)))
			}
		}
	}
}

func TestReaderErrorOffsets(t *testing.T) {
	for _, tc := range []struct {
		in     string
		offset int
	}{
		{`{"x": 1.5}`, 6},
		{`{"x": "1"}`, 6},
		{`{"x": 1 "y"}`, 8},
		{`{"x": 99999999999999999999}`, 6},
		{`{"name": "a\q"}`, 12},
		{`{"name": "ab`, 12},
		{`{"tags": [1]}`, 10},
		{`  {"next": x}`, 11},
	} {
		err := decodeWith(tc.in, (&point{}).decode)
		var e *Error
		if !errors.As(err, &e) || e.Offset != tc.offset {
			t.Errorf("%q: %v, want an error at offset %d", tc.in, err, tc.offset)
		}
	}
}

func TestReaderWrap(t *testing.T) {
	cause := errors.New("cause")
	err := NewReader(nil).Wrap(3, "bad thing", cause)
	if !errors.Is(err, cause) || err.Error() != "json at offset 3: bad thing: cause" {
		t.Fatalf("%v", err)
	}
	r := NewReader([]byte(` null 1`))
	if !r.Null() || r.Offset() != 5 || r.Null() {
		t.Fatal("Null")
	}
}
