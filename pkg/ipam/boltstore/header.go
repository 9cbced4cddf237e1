package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// The layout of a bbolt meta page (go.etcd.io/bbolt/internal/common): a
// 16-byte page header, then magic, version, page size, flags, root bucket
// (root pgid, sequence), freelist pgid, high-water pgid, txid and an
// FNV-64a checksum of the preceding 56 bytes, all in native byte order.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	metaSize       = 64
	noFreelist     = ^uint64(0)
)

// boltMeta is the part of a bbolt meta page that checkFile needs.
type boltMeta struct {
	pageSize uint32
	freelist uint64
	pgid     uint64 // high-water mark: pages [0, pgid) exist
	txid     uint64
}

var (
	errNotBolt  = errors.New("not a bbolt file")
	errVersion  = errors.New("unsupported bbolt version")
	errChecksum = errors.New("meta page checksum mismatch")
)

// parseMeta decodes and validates the meta page at the start of buf.
func parseMeta(buf []byte) (boltMeta, error) {
	if len(buf) < pageHeaderSize+metaSize {
		return boltMeta{}, errNotBolt
	}
	m := buf[pageHeaderSize : pageHeaderSize+metaSize]
	le := binary.NativeEndian
	if le.Uint32(m[0:]) != boltMagic {
		return boltMeta{}, errNotBolt
	}
	if le.Uint32(m[4:]) != boltVersion {
		return boltMeta{}, errVersion
	}
	h := fnv.New64a()
	_, _ = h.Write(m[:56])
	if h.Sum64() != le.Uint64(m[56:]) {
		return boltMeta{}, errChecksum
	}
	return boltMeta{
		pageSize: le.Uint32(m[8:]),
		freelist: le.Uint64(m[32:]),
		pgid:     le.Uint64(m[40:]),
		txid:     le.Uint64(m[48:]),
	}, nil
}

// readMeta reads the meta page at off; a short read is not a meta page.
func readMeta(f *os.File, off int64) (boltMeta, error) {
	buf := make([]byte, pageHeaderSize+metaSize)
	if _, err := f.ReadAt(buf, off); err != nil {
		if errors.Is(err, io.EOF) {
			return boltMeta{}, errNotBolt
		}
		return boltMeta{}, err
	}
	return parseMeta(buf)
}

// checkFile reads the two meta pages of a non-empty file, without writing,
// and returns the current one. It fails for anything bbolt would refuse
// (not bbolt, wrong version, both checksums bad) and also for a truncated
// file, whose pages bbolt would read past the end of the file (a SIGBUS
// through its memory map) and which it could then write to.
func checkFile(f *os.File, size int64) (boltMeta, error) {
	m0, err0 := readMeta(f, 0)
	var m1 boltMeta
	err1 := errNotBolt
	if err0 == nil {
		m1, err1 = readMeta(f, int64(m0.pageSize))
	} else {
		// Find the second meta page as bbolt does: try each page size.
		for ps := int64(1024); ps <= 16<<20 && ps < size; ps <<= 1 {
			if m1, err1 = readMeta(f, ps); err1 == nil && int64(m1.pageSize) == ps {
				break
			}
			if err1 == nil {
				err1 = errNotBolt
			}
		}
	}
	var m boltMeta
	switch {
	case err0 == nil && err1 == nil:
		m = m0
		if m1.txid > m0.txid {
			m = m1
		}
	case err0 == nil:
		m = m0
	case err1 == nil:
		m = m1
	default:
		for _, err := range []error{err0, err1} {
			if !errors.Is(err, errNotBolt) && !errors.Is(err, errVersion) && !errors.Is(err, errChecksum) {
				return boltMeta{}, fmt.Errorf("read meta page: %w", err)
			}
		}
		if errors.Is(err0, errNotBolt) {
			return boltMeta{}, err1
		}
		return boltMeta{}, err0
	}
	ps := uint64(m.pageSize)
	if ps < 512 || ps&(ps-1) != 0 {
		return boltMeta{}, fmt.Errorf("%w: page size %d", errNotBolt, ps)
	}
	if need := m.pgid * ps; m.pgid < 2 || need > uint64(size) || need/ps != m.pgid {
		return boltMeta{}, fmt.Errorf("truncated: %d pages of %d bytes need %d bytes, file has %d", m.pgid, ps, need, size)
	}
	return m, nil
}
