package ipam

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"sort"
)

// The IPv4 pool of a network is a bitmap (1 = not free) split into chunks of
// chunkBits addresses, each stored under its own key, so that one allocation
// rewrites one 4 KiB chunk and a /8 is 512 chunks (2 MiB). A chunk that is all
// zero is not stored at all, so creating a /8 writes almost nothing.
//
// Next to the bitmap, the pool state keeps per chunk how many eligible
// addresses (inside the allocation ranges, not network/broadcast/gateway) are
// taken, so allocation skips full chunks without reading them and costs the
// same whether the pool is empty or 99% full.
const (
	chunkBits  = 1 << 15
	chunkWords = chunkBits / 64
)

// poolState is the decoded "s/<name>" record plus the chunks loaded in this
// transaction.
type poolState struct {
	def      *Network
	size     uint32
	gw       uint32 // offset of the gateway, or noOffset
	rng      [][2]uint32
	cursor   uint32
	reserved uint32   // set bits, all kinds
	used     []uint32 // per chunk: set bits at eligible offsets
	elig     []uint32 // per chunk: eligible offsets (derived, not stored)
	chunks   map[uint32][]uint64
	dirty    map[uint32]bool
	changed  bool
}

const noOffset = ^uint32(0)

func numChunks(size uint32) uint32 { return (size + chunkBits - 1) / chunkBits }

// chunkLen is the number of words of chunk c.
func (s *poolState) chunkLen(c uint32) int {
	lo := c * chunkBits
	n := s.size - lo
	if n > chunkBits {
		n = chunkBits
	}
	return int((n + 63) / 64)
}

// newPoolState prepares the derived fields of a network's pool.
func newPoolState(def *Network) *poolState {
	s := &poolState{def: def, size: def.Size(), gw: noOffset,
		chunks: map[uint32][]uint64{}, dirty: map[uint32]bool{}}
	if off, ok := def.Offset(def.Gateway); ok {
		s.gw = off
	}
	for _, r := range def.Ranges {
		lo, _ := def.Offset(r.First)
		hi, _ := def.Offset(r.Last)
		s.rng = append(s.rng, [2]uint32{lo, hi})
	}
	n := numChunks(s.size)
	s.used = make([]uint32, n)
	s.elig = make([]uint32, n)
	for c := range n {
		s.elig[c] = s.countEligible(c*chunkBits, min(c*chunkBits+chunkBits, s.size))
	}
	return s
}

// isSystem reports offsets never handed out: network, broadcast, gateway.
func (s *poolState) isSystem(off uint32) bool {
	return off == 0 || off == s.size-1 || off == s.gw
}

// systemKind names the system offset off, or "" if it is not one.
func (s *poolState) systemKind(off uint32) Kind {
	switch {
	case off == 0:
		return KindNetwork
	case off == s.size-1:
		return KindBroadcast
	case off == s.gw:
		return KindGateway
	}
	return ""
}

// systemOffsets lists the distinct system offsets.
func (s *poolState) systemOffsets() []uint32 {
	if s.gw == noOffset || s.gw == 0 || s.gw == s.size-1 {
		return []uint32{0, s.size - 1}
	}
	return []uint32{0, s.size - 1, s.gw}
}

func (s *poolState) inRanges(off uint32) bool {
	if len(s.rng) == 0 {
		return true
	}
	i := sort.Search(len(s.rng), func(i int) bool { return s.rng[i][1] >= off })
	return i < len(s.rng) && s.rng[i][0] <= off
}

func (s *poolState) eligible(off uint32) bool { return !s.isSystem(off) && s.inRanges(off) }

// countEligible counts eligible offsets in [lo, hi).
func (s *poolState) countEligible(lo, hi uint32) uint32 {
	var n uint32
	if len(s.rng) == 0 {
		n = hi - lo
	} else {
		for _, r := range s.rng {
			a, b := max(r[0], lo), min(r[1]+1, hi)
			if a < b {
				n += b - a
			}
		}
	}
	for _, off := range s.systemOffsets() {
		if off >= lo && off < hi && s.inRanges(off) {
			n--
		}
	}
	return n
}

// eligMask returns the eligible offsets of bitmap word w as bits.
func (s *poolState) eligMask(w uint32) uint64 {
	base := w * 64
	var m uint64
	if len(s.rng) == 0 {
		m = ^uint64(0)
	} else {
		i := sort.Search(len(s.rng), func(i int) bool { return s.rng[i][1] >= base })
		for ; i < len(s.rng) && s.rng[i][0] <= base+63; i++ {
			a, b := max(s.rng[i][0], base)-base, min(s.rng[i][1], base+63)-base
			m |= maskRange(a, b)
		}
	}
	if s.size-base < 64 {
		m &= uint64(1)<<(s.size-base) - 1
	}
	for _, off := range s.systemOffsets() {
		if off >= base && off-base < 64 {
			m &^= uint64(1) << (off - base)
		}
	}
	return m
}

// maskRange returns a word with bits a..b (inclusive) set.
func maskRange(a, b uint32) uint64 {
	hi := ^uint64(0)
	if b < 63 {
		hi = uint64(1)<<(b+1) - 1
	}
	return hi &^ (uint64(1)<<a - 1)
}

func chunkKey(name string, c uint32) []byte {
	k := make([]byte, 0, 2+len(name)+1+4)
	k = append(k, "b/"...)
	k = append(k, name...)
	k = append(k, '/')
	return binary.BigEndian.AppendUint32(k, c)
}

func stateKey(name string) []byte { return []byte("s/" + name) }

// encodeState renders the stored part of the pool state.
func (s *poolState) encodeState() []byte {
	b := make([]byte, 0, 13+4*len(s.used))
	b = append(b, 1)
	b = binary.LittleEndian.AppendUint32(b, s.cursor)
	b = binary.LittleEndian.AppendUint32(b, s.reserved)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.used)))
	for _, u := range s.used {
		b = binary.LittleEndian.AppendUint32(b, u)
	}
	return b
}

func (s *poolState) decodeState(b []byte) error {
	if len(b) < 13 || b[0] != 1 {
		return fmt.Errorf("pool state of %s: %w: bad header", s.def.Name, ErrInvalid)
	}
	s.cursor = binary.LittleEndian.Uint32(b[1:])
	s.reserved = binary.LittleEndian.Uint32(b[5:])
	n := binary.LittleEndian.Uint32(b[9:])
	if n != uint32(len(s.used)) || len(b) != 13+4*int(n) {
		return fmt.Errorf("pool state of %s: %w: %d chunks recorded, subnet has %d", s.def.Name, ErrInvalid, n, len(s.used))
	}
	for i := range s.used {
		s.used[i] = binary.LittleEndian.Uint32(b[13+4*i:])
	}
	return nil
}

func encodeChunk(words []uint64) []byte {
	b := make([]byte, 0, 8*len(words))
	for _, w := range words {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	return b
}

func decodeChunk(dst []uint64, b []byte) error {
	if len(b) != 8*len(dst) {
		return fmt.Errorf("%w: bitmap chunk has %d bytes, want %d", ErrInvalid, len(b), 8*len(dst))
	}
	for i := range dst {
		dst[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return nil
}

func allZero(words []uint64) bool {
	for _, w := range words {
		if w != 0 {
			return false
		}
	}
	return true
}

func popcount(words []uint64) uint32 {
	var n int
	for _, w := range words {
		n += bits.OnesCount64(w)
	}
	return uint32(n)
}
