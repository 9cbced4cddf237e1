package inetsum

import (
	"encoding/binary"
	"testing"
)

// RFC 1071 section 3's example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
func TestRFC1071(t *testing.T) {
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Fold(Add(0, b)); got != 0xddf2 {
		t.Fatalf("Fold(Add) = %#x, want 0xddf2", got)
	}
	if got := Checksum(Add(0, b)); got != ^uint16(0xddf2) {
		t.Fatalf("Checksum = %#x", got)
	}
}

// An IPv4 header with its checksum stored verifies; an odd length pads
// with zero; sums can be split anywhere on even boundaries.
func TestProperties(t *testing.T) {
	hdr := []byte{0x45, 0, 0, 0x54, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, 198, 51, 100, 1, 198, 51, 100, 2}
	binary.BigEndian.PutUint16(hdr[10:], Checksum(Add(0, hdr)))
	if Fold(Add(0, hdr)) != 0xffff {
		t.Fatal("a header with its checksum does not verify")
	}
	if Add(0, []byte{1, 2, 3}) != Add(0, []byte{1, 2, 3, 0}) {
		t.Fatal("odd length is not zero-padded")
	}
	for i := 0; i <= len(hdr); i += 2 {
		if Fold(Add(Add(0, hdr[:i]), hdr[i:])) != 0xffff {
			t.Fatalf("split at %d differs", i)
		}
	}
}

// FuzzAdd compares Add with the plain 16-bit definition.
func FuzzAdd(f *testing.F) {
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var ref uint32
		for i := 0; i < len(b); i += 2 {
			w := uint32(b[i]) << 8
			if i+1 < len(b) {
				w |= uint32(b[i+1])
			}
			ref += w
			ref = ref&0xffff + ref>>16
		}
		if got := Fold(Add(0, b)); got != uint16(ref) && !(got == 0xffff && ref == 0) && !(got == 0 && ref == 0xffff) {
			t.Fatalf("Fold(Add(%x)) = %#x, want %#x", b, got, ref)
		}
	})
}
