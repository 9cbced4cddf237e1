package ipam

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sort"
)

// Check verifies every invariant of the pool and returns one line per
// problem (none means consistent): definitions valid, bitmap counters equal
// to the bitmaps, cursors in range, system addresses taken, every taken
// address explained by exactly one reservation and every reservation inside
// its network and marked taken, owner and MAC indexes matching their
// records, no stray keys.
func (t *Txn) Check() ([]string, error) {
	var probs []string
	add := func(format string, a ...any) { probs = append(probs, fmt.Sprintf(format, a...)) }

	nets, err := t.Networks()
	if err != nil {
		return nil, err
	}
	known := map[string]*poolState{}
	for _, n := range nets {
		v := n.Clone()
		if err := v.Validate(); err != nil {
			add("network %s: invalid definition: %v", n.Name, err)
			continue
		}
		s, err := t.state(n.Name)
		if err != nil {
			add("network %s: %v", n.Name, err)
			continue
		}
		known[n.Name] = s
		if s.size > 0 {
			t.checkPool(s, add)
		}
	}

	// Stray state and chunk keys.
	err = t.tx.Scan([]byte("s/"), func(k, _ []byte) error {
		if name := string(k[2:]); known[name] == nil {
			add("pool state %q without a network", name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = t.tx.Scan([]byte("b/"), func(k, _ []byte) error {
		head, tail, ok := splitKey(k[2:], 4)
		if !ok {
			add("bad bitmap key %q", k)
			return nil
		}
		s := known[string(head)]
		if s == nil || s.size == 0 {
			add("bitmap chunk %q without an IPv4 network", k)
		} else if c := binary.BigEndian.Uint32(tail); c >= uint32(len(s.used)) {
			add("network %s: bitmap chunk %d beyond the subnet", s.def.Name, c)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	// Reservation records against bitmaps and the owner index.
	err = t.tx.Scan([]byte("o/"), func(k, v []byte) error {
		head, tail, ok := splitKey(k[2:], 4)
		if !ok {
			add("bad reservation key %q", k)
			return nil
		}
		name, ip := string(head), netip.AddrFrom4([4]byte(tail))
		var r record
		if err := r.unmarshal(v); err != nil {
			add("network %s: %v: bad reservation record", name, ip)
			return nil
		}
		s := known[name]
		if s == nil || s.size == 0 {
			add("reservation of %v in unknown network %s", ip, name)
			return nil
		}
		off, ok := s.def.Offset(ip)
		if !ok {
			add("network %s: reservation of %v outside %v", name, ip, s.def.Subnet)
			return nil
		}
		if set, err := t.isSet(s, off); err != nil {
			return err
		} else if !set {
			add("network %s: %v reserved (%s) but free in the bitmap", name, ip, r.Kind)
		}
		if s.isSystem(off) {
			add("network %s: %v is the %s address but reserved (%s)", name, ip, s.systemKind(off), r.Kind)
		}
		switch r.Kind {
		case KindInstance:
			if raw, err := t.tx.Get(idxKey(r.Instance, name, ip)); err != nil {
				return err
			} else if raw == nil {
				add("network %s: %v held by %s but missing from the owner index", name, ip, Owner{r.Instance, r.NIC})
			}
		case KindExternal:
		default:
			add("network %s: %v: unknown reservation kind %q", name, ip, r.Kind)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = t.tx.Scan([]byte("i/"), func(k, _ []byte) error {
		head, tail, ok := splitKey(k[2:], 4)
		z := bytes.IndexByte(head, 0)
		if !ok || z < 0 {
			add("bad owner index key %q", k)
			return nil
		}
		inst, name, ip := string(head[:z]), string(head[z+1:]), netip.AddrFrom4([4]byte(tail))
		raw, err := t.tx.Get(recKey(name, ip))
		if err != nil {
			return err
		}
		var r record
		if raw == nil || r.unmarshal(raw) != nil || r.Kind != KindInstance || r.Instance != inst {
			add("owner index says %s holds %v in %s, but the reservation disagrees", inst, ip, name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	// MACs.
	err = t.tx.Scan([]byte("m/"), func(k, v []byte) error {
		if len(k) != 8 {
			add("bad MAC key %q", k)
			return nil
		}
		mac := net.HardwareAddr(k[2:])
		var r macRecord
		if err := r.unmarshal(v); err != nil {
			add("MAC %v: bad record", mac)
			return nil
		}
		s := known[r.Network]
		if s == nil {
			add("MAC %v held in unknown network %s", mac, r.Network)
		} else if p := s.def.MACPrefix; !p.IsZero() && !p.Contains(mac) {
			add("MAC %v outside the prefix %s of %s", mac, p, r.Network)
		}
		if raw, err := t.tx.Get(macIdxKey(r.Instance, mac)); err != nil {
			return err
		} else if raw == nil {
			add("MAC %v held by %s but missing from the owner index", mac, r.Instance)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = t.tx.Scan([]byte("j/"), func(k, _ []byte) error {
		rest := k[2:]
		z := bytes.IndexByte(rest, 0)
		if z < 0 || len(rest)-z-1 != 6 {
			add("bad MAC index key %q", k)
			return nil
		}
		inst, mac := string(rest[:z]), net.HardwareAddr(rest[z+1:])
		h, ok, err := t.macHolding(mac)
		if err != nil {
			return err
		}
		if !ok || h.Owner.Instance != inst {
			add("MAC index says %s holds %v, but the MAC record disagrees", inst, mac)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(probs)
	return probs, nil
}

// checkPool verifies one network's bitmap against its counters.
func (t *Txn) checkPool(s *poolState, add func(string, ...any)) {
	name := s.def.Name
	if s.cursor >= s.size {
		add("network %s: cursor %d outside the pool of %d addresses", name, s.cursor, s.size)
	}
	var total uint32
	for c := range uint32(len(s.used)) {
		w, err := t.chunk(s, c)
		if err != nil {
			add("network %s: %v", name, err)
			return
		}
		total += popcount(w)
		var used uint32
		for i, word := range w {
			used += uint32(popcountWord(word & s.eligMask(c*chunkWords+uint32(i))))
		}
		if used != s.used[c] {
			add("network %s: chunk %d: counter says %d eligible taken, bitmap has %d", name, c, s.used[c], used)
		}
		if used > s.elig[c] {
			add("network %s: chunk %d: %d taken of %d eligible", name, c, used, s.elig[c])
		}
	}
	if total != s.reserved {
		add("network %s: counter says %d taken, bitmap has %d", name, s.reserved, total)
	}
	for _, off := range s.systemOffsets() {
		if set, err := t.isSet(s, off); err == nil && !set {
			add("network %s: %s address %v not marked taken", name, s.systemKind(off), s.def.AddrAt(off))
		}
	}
	// Every taken address must be explained.
	_ = t.ForEachTaken(name, func(off uint32) error {
		if s.isSystem(off) {
			return nil
		}
		raw, err := t.tx.Get(recKey(name, s.def.AddrAt(off)))
		if err != nil {
			return err
		}
		if raw == nil {
			add("network %s: %v taken in the bitmap without a reservation", name, s.def.AddrAt(off))
		}
		return nil
	})
}

// splitKey splits "<head>/<n bytes>" (the tail is binary and may contain
// '/').
func splitKey(rest []byte, n int) (head, tail []byte, ok bool) {
	if len(rest) < n+1 || rest[len(rest)-n-1] != '/' {
		return nil, nil, false
	}
	return rest[:len(rest)-n-1], rest[len(rest)-n:], true
}
