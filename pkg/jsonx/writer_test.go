package jsonx

import (
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// writeAny writes the values encoding/json decodes into an any (and the
// types this package has writers for) with the Writer; map keys sorted as
// json.Marshal sorts them.
func writeAny(w *Writer, v any) {
	switch v := v.(type) {
	case nil:
		w.Null()
	case bool:
		w.Bool(v)
	case int:
		w.Int(int64(v))
	case uint16:
		w.Uint(uint64(v))
	case string:
		w.String(v)
	case []byte:
		w.Base64(v)
	case net.HardwareAddr:
		w.Base64(v)
	case netip.Addr:
		w.Addr(v)
	case netip.Prefix:
		w.Prefix(v)
	case time.Time:
		w.Time(v)
	case json.RawMessage:
		w.Raw(v)
	case []any:
		w.BeginArray()
		for _, e := range v {
			writeAny(w, e)
		}
		w.EndArray()
	case map[string]any:
		w.BeginObject()
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			w.Key(k)
			writeAny(w, v[k])
		}
		w.EndObject()
	default:
		panic("writeAny: unsupported type")
	}
}

// checkWrite asserts that the Writer writes v as json.Marshal and
// json.MarshalIndent (two indents) do, errors included.
func checkWrite(t *testing.T, v any) {
	t.Helper()
	for _, indent := range []string{"", "  ", "\t"} {
		var want []byte
		var wantErr error
		if indent == "" {
			want, wantErr = json.Marshal(v)
		} else {
			want, wantErr = json.MarshalIndent(v, "", indent)
		}
		w := NewWriter(nil, indent)
		writeAny(w, v)
		if (w.Err() != nil) != (wantErr != nil) {
			t.Fatalf("%#v indent %q: err %v, encoding/json %v", v, indent, w.Err(), wantErr)
		}
		if wantErr == nil && string(w.Bytes()) != string(want) {
			t.Fatalf("%#v indent %q:\n got %s\nwant %s", v, indent, w.Bytes(), want)
		}
	}
}

func TestWriterStrings(t *testing.T) {
	strs := []string{
		"", "plain", `<&>"\`, "vm1.example.org", "ελληνικά", "日本語", "emoji 😀",
		"\u2028\u2029", "a\u2028b", "\x00\x01\x1f\x7f", "\b\f\n\r\t", "\xff", "a\xc3", "\xed\xa0\x80",
		"\xef\xbf\xbd", "\xf4\x90\x80\x80", "<script>alert('x')</script>", "tab\there", "quote\"back\\slash/",
	}
	for b := range 256 {
		strs = append(strs, string([]byte{byte(b)}), "x"+string([]byte{byte(b)})+"y")
	}
	for r := rune(0x80); r < 0x3000; r += 7 {
		strs = append(strs, string(r))
	}
	for _, s := range strs {
		checkWrite(t, s)
		checkWrite(t, map[string]any{s: s})
	}
}

func TestWriterLayout(t *testing.T) {
	for _, v := range []any{
		nil, true, false, 0, -1, 1 << 40, uint16(65535), "s",
		[]any{}, map[string]any{}, []any{[]any{}}, []any{map[string]any{}},
		map[string]any{"a": []any{}, "b": map[string]any{}, "c": nil},
		[]any{1, "two", []any{3, []any{4}}, map[string]any{"five": 5}},
		map[string]any{"nested": map[string]any{"deeper": map[string]any{"list": []any{true, false, nil}}}},
		[]any{[]byte(nil), []byte{}, []byte{0xcc, 0x47, 0x52, 0x4e, 0x45, 0x54}, net.HardwareAddr{1, 2, 3}},
	} {
		checkWrite(t, v)
	}
}

func TestWriterText(t *testing.T) {
	loc := time.FixedZone("x", -(3*3600 + 30*60))
	for _, v := range []any{
		netip.Addr{}, netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("::ffff:198.18.0.1"), netip.MustParseAddr("fe80::1%eth0"),
		netip.MustParseAddr("fe80::1%<\"z\\ö\u2028>"),
		netip.Prefix{}, netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("2001:db8::/64"),
		netip.PrefixFrom(netip.MustParseAddr("198.18.0.1"), 40),
		time.Time{}, time.Date(2026, 11, 27, 15, 38, 1, 837222102, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 0, loc), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("y", 24*3600)),
	} {
		checkWrite(t, v)
		checkWrite(t, []any{v})
	}
}

func TestWriterRaw(t *testing.T) {
	for _, raw := range []string{
		`{}`, `[]`, ` { } `, "\n[\n]\n", `null`, `true`, `1.5e-3`, `-0`, `"s"`,
		`{"tap":{"name":"tb1","index":7,"prev_mac":"AjVt8t0Z"},"rules":[{"family":4},{"family":6}]}`,
		"{\n    \"a\" : [ 1 , 2 ,\t{ \"b\" : [ ] } ] ,\r\n \"c\":{}}",
		`{"html":"<&>","esc":"\u003c\n\"\\","sep":"` + "\u2028\u2029" + `"}`,
		"{\"bad utf8\":\"\xff\xfe\",\"\xc3\":1}",
		`[[[[[[]]]]]]`, `[{"a":{"b":[{}]}}]`,
		// invalid
		``, ` `, `{`, `{"a"}`, `{"a":}`, `[1,]`, `{"a":1,}`, `01`, `1.`, `"\x"`, "\"\x01\"", `nul`, `{} {}`, `[1 2]`,
		`{"a":1}x`, `"\u12G4"`, `tru`, `{1:2}`,
	} {
		checkWrite(t, json.RawMessage(raw))
		checkWrite(t, map[string]any{"raw": json.RawMessage(raw), "x": []any{json.RawMessage(raw)}})
	}
}

func TestWriterErrorSticks(t *testing.T) {
	w := NewWriter(nil, "")
	w.BeginArray()
	w.Raw([]byte(`{`))
	first := w.Err()
	w.Time(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))
	w.EndArray()
	var e *Error
	if !errors.As(w.Err(), &e) || w.Err() != first {
		t.Fatalf("err %v, want the first (%v)", w.Err(), first)
	}
}

func TestNeedsEscape(t *testing.T) {
	for b := range 256 {
		s := []byte{byte(b)}
		got := needsEscape(s)
		want := string(appendString(nil, s)) != `"`+string(s)+`"`
		if got && !want && b < utf8.RuneSelf || !got && want {
			t.Errorf("%#x: needsEscape %v, appendString changes it %v", b, got, want)
		}
	}
	if needsEscape([]byte("fe80::1%eth0")) || !needsEscape([]byte("a<b")) || !strings.Contains(string(appendString(nil, "a<b")), `\u003c`) {
		t.Error("needsEscape")
	}
}
