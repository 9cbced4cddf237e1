package jsonx

import (
	"encoding/json"
	"testing"
)

// FuzzRaw: any input is valid JSON for Skip exactly when encoding/json
// says so, and Raw re-lays it out byte for byte as encoding/json does with
// a json.RawMessage, compact and indented.
func FuzzRaw(f *testing.F) {
	for _, s := range []string{
		`{"a":[1,2,{"b":null}],"c":"<\u2028>"}`, `[]`, `"\ud83d\ude00"`, `-0.5e+3`, "{\n \"x\" : true }\n",
		`{"a":1,}`, `[1 2]`, "\"\xff\"", `{"tap":{"name":"tb1","index":7,"prev_mac":"AjVt8t0Z"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := decodeWith(string(data), (*Reader).Skip)
		if valid := json.Valid(data); (err == nil) != valid {
			t.Fatalf("%q: Skip %v, json.Valid %v", data, err, valid)
		}
		for _, indent := range []string{"", "  "} {
			var want []byte
			var wantErr error
			if indent == "" {
				want, wantErr = json.Marshal(json.RawMessage(data))
			} else {
				want, wantErr = json.MarshalIndent(json.RawMessage(data), "", indent)
			}
			w := NewWriter(nil, indent)
			w.Raw(data)
			if (w.Err() != nil) != (wantErr != nil) || wantErr == nil && string(w.Bytes()) != string(want) {
				t.Fatalf("%q indent %q:\n got %s (%v)\nwant %s (%v)", data, indent, w.Bytes(), w.Err(), want, wantErr)
			}
		}
	})
}

// FuzzString: strings are written as encoding/json writes them, and any
// input decodes into a string as with encoding/json.
func FuzzString(f *testing.F) {
	for _, s := range []string{`"a\u00e9\ud83d\ude00"`, "\"\xff<&>\u2028\"", `"\ud800\udc00\udc00"`, `"\"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		w := NewWriter(nil, "")
		w.StringBytes(data)
		if want, _ := json.Marshal(string(data)); string(w.Bytes()) != string(want) {
			t.Fatalf("%q: wrote %s, encoding/json %s", data, w.Bytes(), want)
		}
		var got, want string
		err := decodeWith(string(data), func(r *Reader) error { return r.String(&got) })
		wantErr := json.Unmarshal(data, &want)
		if (err != nil) != (wantErr != nil) || err == nil && got != want {
			t.Fatalf("%q: decoded %q (%v), encoding/json %q (%v)", data, got, err, want, wantErr)
		}
	})
}
