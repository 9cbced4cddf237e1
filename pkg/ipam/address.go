package ipam

import (
	"errors"
	"fmt"
	"math/bits"
	"net"
	"net/netip"
)

var errorsIs = errors.Is

func popcountWord(w uint64) int { return bits.OnesCount64(w) }

// ipv4State returns the pool of a network that has an IPv4 subnet.
func (t *Txn) ipv4State(name string) (*poolState, error) {
	s, err := t.state(name)
	if err != nil {
		return nil, err
	}
	if s.size == 0 {
		return nil, fmt.Errorf("network %s: %w", name, ErrNoIPv4)
	}
	return s, nil
}

func (t *Txn) offset(s *poolState, ip netip.Addr) (uint32, error) {
	off, ok := s.def.Offset(ip)
	if !ok {
		return 0, fmt.Errorf("%v: %w %s (%v)", ip, ErrOutOfNetwork, s.def.Name, s.def.Subnet)
	}
	return off, nil
}

// holding says who holds offset off of s; Kind "" means free.
func (t *Txn) holding(s *poolState, off uint32) (Holding, error) {
	ip := s.def.AddrAt(off)
	h := Holding{Network: s.def.Name, IP: ip}
	raw, err := t.tx.Get(recKey(s.def.Name, ip))
	if err != nil {
		return h, fmt.Errorf("network %s: %w", s.def.Name, err)
	}
	if raw != nil {
		var r record
		if err := r.unmarshal(raw); err != nil {
			return h, fmt.Errorf("network %s: %v: %w: bad reservation record", s.def.Name, ip, ErrInvalid)
		}
		h.Kind, h.Owner = r.Kind, Owner{Instance: r.Instance, NIC: r.NIC}
		return h, nil
	}
	if k := s.systemKind(off); k != "" {
		h.Kind = k
	}
	return h, nil
}

// Reserve reserves ip in network name for owner. It fails with a
// *HeldError (errors.Is ErrConflict) naming the holder if ip is taken, even
// by the same owner, so callers notice double reservations; use Lookup first
// for "ensure" semantics.
func (t *Txn) Reserve(name string, ip netip.Addr, owner Owner) error {
	if err := owner.Validate(); err != nil {
		return err
	}
	return t.reserve(name, ip, Holding{Kind: KindInstance, Owner: owner})
}

// ReserveExternal marks ip in network name as used outside diktyo.
func (t *Txn) ReserveExternal(name string, ip netip.Addr) error {
	return t.reserve(name, ip, Holding{Kind: KindExternal})
}

// locate finds ip in network name for a write: its pool, offset and
// current holder.
func (t *Txn) locate(name string, ip netip.Addr) (*poolState, uint32, Holding, error) {
	if err := t.mustWrite(); err != nil {
		return nil, 0, Holding{}, err
	}
	s, err := t.ipv4State(name)
	if err != nil {
		return nil, 0, Holding{}, err
	}
	off, err := t.offset(s, ip)
	if err != nil {
		return nil, 0, Holding{}, err
	}
	h, err := t.holding(s, off)
	return s, off, h, err
}

func (t *Txn) reserve(name string, ip netip.Addr, h Holding) error {
	s, off, cur, err := t.locate(name, ip)
	if err != nil {
		return err
	}
	if cur.Kind != "" {
		return &HeldError{Network: name, IP: ip, Holder: cur, err: ErrConflict}
	}
	if err := t.setBit(s, off, true); err != nil {
		return err
	}
	h.Network, h.IP = name, ip
	return t.putHolding(h)
}

// Allocate reserves the next free address of network name for owner,
// starting at the network's round-robin cursor and drawing only from its
// allocation ranges, if any.
func (t *Txn) Allocate(name string, owner Owner) (netip.Addr, error) {
	if err := t.mustWrite(); err != nil {
		return netip.Addr{}, err
	}
	if err := owner.Validate(); err != nil {
		return netip.Addr{}, err
	}
	s, err := t.ipv4State(name)
	if err != nil {
		return netip.Addr{}, err
	}
	off, err := t.findFree(s)
	if err != nil {
		return netip.Addr{}, err
	}
	if err := t.setBit(s, off, true); err != nil {
		return netip.Addr{}, err
	}
	s.cursor = off + 1
	if s.cursor >= s.size {
		s.cursor = 0
	}
	ip := s.def.AddrAt(off)
	if err := t.putHolding(Holding{Network: name, IP: ip, Kind: KindInstance, Owner: owner}); err != nil {
		return netip.Addr{}, err
	}
	return ip, nil
}

// findFree returns the first free eligible offset at or after the cursor,
// wrapping around. Full chunks are skipped by their counters, so the cost
// does not depend on how full the pool is.
func (t *Txn) findFree(s *poolState) (uint32, error) {
	nch := uint32(len(s.used))
	start := s.cursor
	if start >= s.size {
		start = 0
	}
	c0 := start / chunkBits
	for i := uint32(0); i <= nch; i++ {
		c := (c0 + i) % nch
		if s.elig[c] <= s.used[c] {
			continue
		}
		lo, hi := c*chunkBits, min(c*chunkBits+chunkBits, s.size)
		if i == 0 {
			lo = start
		}
		if i == nch {
			hi = start
		}
		w, err := t.chunk(s, c)
		if err != nil {
			return 0, err
		}
		for wi := lo / 64; wi*64 < hi; wi++ {
			free := ^w[wi-c*chunkWords] & s.eligMask(wi)
			if base := wi * 64; base < lo {
				free &= ^uint64(0) << (lo - base)
			}
			if end := wi*64 + 64; end > hi {
				free &= uint64(1)<<(hi-wi*64) - 1
			}
			if free != 0 {
				return wi*64 + uint32(bits.TrailingZeros64(free)), nil
			}
		}
	}
	return 0, fmt.Errorf("network %s: %w", s.def.Name, ErrExhausted)
}

// Release frees ip in network name. With a non-nil owner it is idempotent
// for that owner (already free is success) and refuses, with a *HeldError
// (errors.Is ErrNotOwner), to free an address held by anyone else. A nil
// owner frees any instance or external reservation (admin use). Network,
// broadcast and gateway addresses are never released.
func (t *Txn) Release(name string, ip netip.Addr, owner *Owner) error {
	s, off, h, err := t.locate(name, ip)
	if err != nil {
		return err
	}
	switch {
	case h.Kind == "":
		return nil
	case h.Kind != KindInstance && h.Kind != KindExternal:
		return &HeldError{Network: name, IP: ip, Holder: h, err: ErrNotOwner}
	case owner != nil && (h.Kind != KindInstance || !owner.Matches(h.Owner)):
		return &HeldError{Network: name, IP: ip, Holder: h, err: ErrNotOwner}
	}
	if err := t.dropHolding(h); err != nil {
		return err
	}
	return t.setBit(s, off, false)
}

// Lookup returns, for every network whose subnet contains ip, who holds ip
// there (Kind "" when it is free).
func (t *Txn) Lookup(ip netip.Addr) ([]Holding, error) {
	nets, err := t.Networks()
	if err != nil {
		return nil, err
	}
	var out []Holding
	for _, n := range nets {
		if !n.Subnet.Contains(ip) {
			continue
		}
		s, err := t.state(n.Name)
		if err != nil {
			return nil, err
		}
		off, _ := n.Offset(ip)
		h, err := t.holding(s, off)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// ByOwner returns every address and MAC held by owner (an instance, or one
// NIC of it when owner.NIC is set), sorted.
func (t *Txn) ByOwner(owner Owner) ([]Holding, error) {
	if err := owner.Validate(); err != nil {
		return nil, err
	}
	var out []Holding
	pfx := []byte("i/" + owner.Instance + "\x00")
	err := t.tx.Scan(pfx, func(k, _ []byte) error {
		head, tail, ok := splitKey(k[len(pfx):], 4)
		if !ok {
			return fmt.Errorf("owner index %q: %w", k, ErrInvalid)
		}
		out = append(out, Holding{Network: string(head), IP: netip.AddrFrom4([4]byte(tail))})
		return nil
	})
	if err != nil {
		return nil, err
	}
	res := out[:0]
	for _, h := range out {
		s, err := t.state(h.Network)
		if err != nil {
			return nil, err
		}
		off, ok := s.def.Offset(h.IP)
		if !ok {
			return nil, fmt.Errorf("owner index: %v: %w %s", h.IP, ErrOutOfNetwork, h.Network)
		}
		h, err = t.holding(s, off)
		if err != nil {
			return nil, err
		}
		if h.Kind == KindInstance && owner.Matches(h.Owner) {
			res = append(res, h)
		}
	}
	macs, err := t.macsOf(owner)
	if err != nil {
		return nil, err
	}
	res = append(res, macs...)
	sortHoldings(res)
	return res, nil
}

// Holdings lists every taken address of network name (system, external,
// instance) and every MAC reserved in it, sorted.
func (t *Txn) Holdings(name string) ([]Holding, error) {
	s, err := t.state(name)
	if err != nil {
		return nil, err
	}
	var out []Holding
	if s.size > 0 {
		err = t.ForEachTaken(name, func(off uint32) error {
			h, err := t.holding(s, off)
			if err != nil {
				return err
			}
			if h.Kind == "" {
				return fmt.Errorf("network %s: %v: %w: bit set without a reservation", name, h.IP, ErrInvalid)
			}
			out = append(out, h)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	err = t.tx.Scan([]byte("m/"), func(k, v []byte) error {
		var r macRecord
		if err := r.unmarshal(v); err != nil || len(k) != 8 {
			return fmt.Errorf("MAC record %x: %w", k, ErrInvalid)
		}
		if r.Network == name {
			out = append(out, Holding{Network: name, MAC: net.HardwareAddr(k[2:]).String(), Kind: KindInstance,
				Owner: Owner{Instance: r.Instance, NIC: r.NIC}})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortHoldings(out)
	return out, nil
}

// ForEachTaken calls fn with the offset of every taken address of network
// name, in order. It reads each non-empty bitmap chunk once.
func (t *Txn) ForEachTaken(name string, fn func(off uint32) error) error {
	s, err := t.ipv4State(name)
	if err != nil {
		return err
	}
	for c := range uint32(len(s.used)) {
		w, err := t.chunk(s, c)
		if err != nil {
			return err
		}
		for i, word := range w {
			for word != 0 {
				b := uint32(bits.TrailingZeros64(word))
				word &= word - 1
				if err := fn(c*chunkBits + uint32(i)*64 + b); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// IsTaken reports whether ip is taken in network name.
func (t *Txn) IsTaken(name string, ip netip.Addr) (bool, error) {
	s, err := t.ipv4State(name)
	if err != nil {
		return false, err
	}
	off, err := t.offset(s, ip)
	if err != nil {
		return false, err
	}
	return t.isSet(s, off)
}

// Stats summarises a network's pool.
type Stats struct {
	Size     uint32 `json:"size"`
	Taken    uint32 `json:"taken"`
	Free     uint32 `json:"free"`
	Eligible uint32 `json:"eligible"` // free addresses automatic allocation may hand out
	Cursor   uint32 `json:"cursor"`
}

// Stats returns the counters of network name (zero for IPv6-only).
func (t *Txn) Stats(name string) (Stats, error) {
	s, err := t.state(name)
	if err != nil {
		return Stats{}, err
	}
	st := Stats{Size: s.size, Taken: s.reserved, Free: s.size - s.reserved, Cursor: s.cursor}
	for c := range s.used {
		st.Eligible += s.elig[c] - s.used[c]
	}
	return st, nil
}

// ReleaseOwner releases everything owner holds (addresses and MACs, in all
// networks) and returns what it released.
func (t *Txn) ReleaseOwner(owner Owner) ([]Holding, error) {
	if err := t.mustWrite(); err != nil {
		return nil, err
	}
	hs, err := t.ByOwner(owner)
	if err != nil {
		return nil, err
	}
	for _, h := range hs {
		if h.MAC != "" {
			if err := t.dropHolding(h); err != nil {
				return nil, err
			}
			continue
		}
		o := h.Owner
		if err := t.Release(h.Network, h.IP, &o); err != nil {
			return nil, err
		}
	}
	return hs, nil
}

// Reassign moves everything held by from (an instance, or one NIC of it) to
// to: the instance becomes to.Instance and, if to.NIC is set, the NIC
// becomes to.NIC. It serves instance renames and NICs moved between
// instances, and returns the holdings as they are now.
func (t *Txn) Reassign(from, to Owner) ([]Holding, error) {
	if err := t.mustWrite(); err != nil {
		return nil, err
	}
	if err := to.Validate(); err != nil {
		return nil, err
	}
	hs, err := t.ByOwner(from)
	if err != nil {
		return nil, err
	}
	out := make([]Holding, 0, len(hs))
	for _, h := range hs {
		if err := t.dropHolding(h); err != nil {
			return nil, err
		}
		h.Owner.Instance = to.Instance
		if to.NIC != "" {
			h.Owner.NIC = to.NIC
		}
		if err := t.putHolding(h); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}
