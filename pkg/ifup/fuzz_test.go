package ifup

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// FuzzDecodeRecord: state files are read from disk, where a crash, a full
// disk or an operator may leave anything. The codec must never panic, must
// accept exactly what encoding/json (the pre-codec reader, json.Unmarshal
// into the record) accepts and decode it to a deep-equal record, and must
// write what it read back as encoding/json would.
func FuzzDecodeRecord(f *testing.F) {
	if data, err := os.ReadFile(fixture); err == nil {
		f.Add(data)
	}
	for _, rec := range testRecords(f) {
		if b, err := encodeRecord(&rec); err == nil {
			f.Add(b)
		}
		if b, err := json.Marshal(refOf(&rec)); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		`null`, `{}`, `{"plan":null}`, `{"PLAN":{"NIC":{"TAP":"t"}},"Version":1}`, `{"plan":{"binding":"INDEV=t\nMAC=aa:00:00:00:00:01\nHOSTNAME=h\n"},"nic":{"tap":"t"}}`,
		`{"plan":{"host":{"rules":[{"table":1},{"table":2}]}},"plan":{"host":{"rules":[{"iif":"x"}]}}}`,
		`{"host_applied":null}`, `{"host_applied":[1,{"a":"<\u2028>"}]}`, `{"updated":"2026-11-27T15:38:01+05:30"}`,
		`{"plan":{"filter":{"mac":[1,2,3],"queues":{"dhcp":65535},"mac_filter":null}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeRecord(data)
		want, wantErr := refDecode(data)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%q: codec %v, encoding/json %v", data, err, wantErr)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", data, got, want)
		}
		enc, err := encodeRecord(&got)
		ref, refErr := refEncode(&want)
		if (err != nil) != (refErr != nil) || err == nil && !bytes.Equal(enc, ref) {
			t.Fatalf("%q: re-encoded (%v)\n%s\nencoding/json (%v)\n%s", data, err, enc, refErr, ref)
		}
	})
}
