package ifup

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeRecord: state files are read from disk, where a crash, a full
// disk or an operator may leave anything. Decoding must never panic, and
// a record that decodes must encode and decode again to the same record.
func FuzzDecodeRecord(f *testing.F) {
	files, _ := filepath.Glob("testdata/record-*.json")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		`null`, `{}`, `{"plan":null}`, `{"version":2,"nic":{"tap":"t"},"plan":{"host":{"tap":{"name":"t"},"ovs":{"bridge":"b"}},"filter":{"anti_spoof":true}}}`,
		`{"plan":{"binding":"INDEV=t\nMAC=aa:00:00:00:00:01\nHOSTNAME=h\n","host":{"tap":{"name":"t"}}},"nic":{"tap":"t"}}`,
		`{"version":1,"host_applied":{"tap":{"prev_mac":"zEdSTkVU"}}}`, `{"plan":{"filter":{"mac":"aa:00:00:00:00:01","mac_filter":null}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeRecord(data)
		if err != nil {
			return
		}
		enc, err := encodeRecord(&r)
		if err != nil {
			return // e.g. a time encoding/json cannot write back
		}
		back, err := decodeRecord(enc)
		if err != nil {
			t.Fatalf("%q: re-encoded record does not decode: %v\n%s", data, err, enc)
		}
		if !back.Plan.Equal(r.Plan) || back.NIC != r.NIC || back.TapIndex != r.TapIndex || back.Complete != r.Complete ||
			!bytes.Equal(back.HostApplied, r.HostApplied) || !back.Updated.Equal(r.Updated) {
			t.Fatalf("%q: round trip\n got %+v\nwant %+v", data, back, r)
		}
	})
}
