// Package inetsum is the Internet checksum (RFC 1071) of diktyo's frame
// builders and parsers (IPv4 headers, UDP over IPv4, ICMPv6 and UDP over
// IPv6): one implementation, pure, importing only encoding/binary.
package inetsum

import "encoding/binary"

// Add adds b, read as big-endian 16-bit words (an odd last byte padded
// with a zero byte), to the running sum acc. Sums of up to 2^48 bytes do
// not overflow, so callers fold once at the end.
func Add(acc uint64, b []byte) uint64 {
	for len(b) >= 8 {
		acc += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	for len(b) >= 2 {
		acc += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	return acc
}

// Fold folds a sum to its 16-bit one's complement form: 0xffff for data
// (checksum field included) that is correct.
func Fold(acc uint64) uint16 {
	for acc > 0xffff {
		acc = acc&0xffff + acc>>16
	}
	return uint16(acc)
}

// Checksum is the value to store in a checksum field (zeroed while
// summing): the complement of Fold(acc).
func Checksum(acc uint64) uint16 { return ^Fold(acc) }
