package ifup

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/diktyo/diktyo/pkg/hostnet"
)

// BenchmarkRecord encodes and decodes the fixture (a routed NIC's complete
// record) with the codec and, for comparison, with encoding/json as
// diktyo-ifup did before (reflection, Plan's old MarshalJSON and
// UnmarshalJSON). These are warm numbers; in diktyo-ifup every process is
// cold, and encoding/json's first call also builds its type caches.
func BenchmarkRecord(b *testing.B) {
	data, err := os.ReadFile(fixture)
	if err != nil {
		b.Fatal(err)
	}
	rec, err := decodeRecord(data)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode/jsonx", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encodeRecord(&rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode/encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		ref := refOf(&rec)
		for b.Loop() {
			if _, err := json.MarshalIndent(ref, "", "  "); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/jsonx", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeRecord(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var ref refRecord
			if err := json.Unmarshal(data, &ref); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("applied/jsonx", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a, err := decodeApplied(rec.HostApplied)
			if err != nil {
				b.Fatal(err)
			}
			encodeApplied(&a)
		}
	})
	b.Run("applied/encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var a hostnet.Applied
			if err := json.Unmarshal(rec.HostApplied, &a); err != nil {
				b.Fatal(err)
			}
			if _, err := json.Marshal(&a); err != nil {
				b.Fatal(err)
			}
		}
	})
}
