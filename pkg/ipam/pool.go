// Package ipam owns diktyo's cluster-wide IP pool: networks (IPv4 /8 to /30,
// optional IPv6 /64, MAC prefix, allocation ranges, per-node-group
// connections), address reservations by owner (an instance NIC) or external,
// allocation with a round-robin cursor, MAC generation (EUI-64 addresses are pkg/eui64),
// consistency checks and a lossless JSON export.
//
// All pool logic lives here, on top of a dumb transactional key-value Store
// (bbolt file, etcd, in-memory fake), so stores stay interchangeable. This
// package must never import netlink, nftables, sockets or a concrete store.
package ipam

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sort"
)

// Pool is the IP pool kept in a Store.
type Pool struct {
	store Store
	rand  func() uint64
}

// Option configures a Pool.
type Option func(*Pool)

// WithRand sets the random source used for MAC generation (tests).
func WithRand(r *rand.Rand) Option { return func(p *Pool) { p.rand = r.Uint64 } }

// New returns a pool kept in store.
func New(store Store, opts ...Option) *Pool {
	p := &Pool{store: store, rand: rand.Uint64}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Update runs fn in one read-write transaction: everything fn does is
// committed together, or nothing if fn (or the commit) fails. Batch many
// operations into one Update for speed.
func (p *Pool) Update(ctx context.Context, fn func(*Txn) error) error {
	return p.store.Update(ctx, func(tx StoreTx) error {
		t := &Txn{tx: tx, pool: p, write: true, nets: map[string]*poolState{}}
		if err := fn(t); err != nil {
			return err
		}
		return t.flush()
	})
}

// View runs fn in one read-only transaction.
func (p *Pool) View(ctx context.Context, fn func(*Txn) error) error {
	return p.store.View(ctx, func(tx StoreTx) error {
		return fn(&Txn{tx: tx, pool: p, nets: map[string]*poolState{}})
	})
}

// Txn is one transaction on the pool. It caches the networks and bitmap
// chunks it touches and writes them back once, at commit.
type Txn struct {
	tx    StoreTx
	pool  *Pool
	write bool
	nets  map[string]*poolState // nil value: known absent
}

func netKey(name string) []byte { return []byte("n/" + name) }

func recKey(name string, ip netip.Addr) []byte {
	b := ip.As4()
	return append([]byte("o/"+name+"/"), b[:]...)
}

func idxKey(inst, name string, ip netip.Addr) []byte {
	b := ip.As4()
	return append([]byte("i/"+inst+"\x00"+name+"/"), b[:]...)
}

func macKey(mac net.HardwareAddr) []byte { return append([]byte("m/"), mac...) }

func macIdxKey(inst string, mac net.HardwareAddr) []byte {
	return append([]byte("j/"+inst+"\x00"), mac...)
}

// state loads the pool state of network name.
func (t *Txn) state(name string) (*poolState, error) {
	if s, ok := t.nets[name]; ok {
		if s == nil {
			return nil, fmt.Errorf("network %s: %w", name, ErrNotFound)
		}
		return s, nil
	}
	raw, err := t.tx.Get(netKey(name))
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", name, err)
	}
	if raw == nil {
		t.nets[name] = nil
		return nil, fmt.Errorf("network %s: %w", name, ErrNotFound)
	}
	def, err := unmarshalNetwork(raw)
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", name, err)
	}
	s := newPoolState(def)
	if s.size > 0 {
		raw, err := t.tx.Get(stateKey(name))
		if err != nil {
			return nil, fmt.Errorf("network %s: %w", name, err)
		}
		if raw == nil {
			return nil, fmt.Errorf("network %s: %w: pool state missing", name, ErrInvalid)
		}
		if err := s.decodeState(raw); err != nil {
			return nil, err
		}
	}
	t.nets[name] = s
	return s, nil
}

// chunk returns chunk c of s, loading it on first use.
func (t *Txn) chunk(s *poolState, c uint32) ([]uint64, error) {
	if w, ok := s.chunks[c]; ok {
		return w, nil
	}
	w := make([]uint64, s.chunkLen(c))
	raw, err := t.tx.Get(chunkKey(s.def.Name, c))
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", s.def.Name, err)
	}
	if raw != nil {
		if err := decodeChunk(w, raw); err != nil {
			return nil, fmt.Errorf("network %s: chunk %d: %w", s.def.Name, c, err)
		}
	}
	s.chunks[c] = w
	return w, nil
}

func (t *Txn) isSet(s *poolState, off uint32) (bool, error) {
	w, err := t.chunk(s, off/chunkBits)
	if err != nil {
		return false, err
	}
	i := off % chunkBits
	return w[i/64]&(1<<(i%64)) != 0, nil
}

// setBit marks off taken (v) or free (!v); it must change the bit.
func (t *Txn) setBit(s *poolState, off uint32, v bool) error {
	c := off / chunkBits
	w, err := t.chunk(s, c)
	if err != nil {
		return err
	}
	i := off % chunkBits
	bit := uint64(1) << (i % 64)
	if (w[i/64]&bit != 0) == v {
		return fmt.Errorf("network %s: offset %d: %w: bitmap already %v", s.def.Name, off, ErrInvalid, v)
	}
	w[i/64] ^= bit
	d := uint32(1)
	if !v {
		d = ^uint32(0) // -1
	}
	s.reserved += d
	if s.eligible(off) {
		s.used[c] += d
	}
	s.dirty[c] = true
	s.changed = true
	return nil
}

// flush writes back every changed pool.
func (t *Txn) flush() error {
	for name, s := range t.nets {
		if s == nil || !s.changed {
			continue
		}
		for c := range s.dirty {
			w := s.chunks[c]
			var err error
			if allZero(w) {
				err = t.tx.Delete(chunkKey(name, c))
			} else {
				err = t.tx.Put(chunkKey(name, c), encodeChunk(w))
			}
			if err != nil {
				return fmt.Errorf("network %s: write bitmap: %w", name, err)
			}
		}
		clear(s.dirty)
		if s.size > 0 {
			if err := t.tx.Put(stateKey(name), s.encodeState()); err != nil {
				return fmt.Errorf("network %s: write pool state: %w", name, err)
			}
		}
		s.changed = false
	}
	return nil
}

func (t *Txn) mustWrite() error {
	if !t.write {
		return ErrReadOnly
	}
	return nil
}

// Network returns a copy of the definition of network name.
func (t *Txn) Network(name string) (*Network, error) {
	s, err := t.state(name)
	if err != nil {
		return nil, err
	}
	return s.def.Clone(), nil
}

// Networks returns all network definitions, sorted by name.
func (t *Txn) Networks() ([]*Network, error) {
	var out []*Network
	err := t.tx.Scan([]byte("n/"), func(k, v []byte) error {
		n, err := unmarshalNetwork(v)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		out = append(out, n)
		return nil
	})
	return out, err
}

// AddOptions are the optional parts of AddNetwork.
type AddOptions struct {
	// AllowOverlap permits an IPv4 subnet that overlaps another network's.
	AllowOverlap bool
	// Reserved are addresses reserved externally from the start.
	Reserved []netip.Addr
}

// AddNetwork creates a network.
func (t *Txn) AddNetwork(n Network, opts AddOptions) error {
	if err := t.mustWrite(); err != nil {
		return err
	}
	def := n.Clone()
	if err := def.Validate(); err != nil {
		return err
	}
	if _, err := t.state(def.Name); err == nil {
		return fmt.Errorf("network %s: %w", def.Name, ErrExists)
	} else if !isNotFound(err) {
		return err
	}
	if !opts.AllowOverlap {
		if err := t.checkOverlap(def); err != nil {
			return err
		}
	}
	if err := t.putDef(def); err != nil {
		return err
	}
	s := newPoolState(def)
	t.nets[def.Name] = s
	if s.size > 0 {
		for _, off := range s.systemOffsets() {
			if err := t.setBit(s, off, true); err != nil {
				return err
			}
		}
		s.changed = true
	}
	for _, ip := range opts.Reserved {
		if err := t.ReserveExternal(def.Name, ip); err != nil {
			return err
		}
	}
	return nil
}

func isNotFound(err error) bool { return err != nil && errorsIs(err, ErrNotFound) }

func (t *Txn) checkOverlap(def *Network) error {
	if !def.Subnet.IsValid() {
		return nil
	}
	nets, err := t.Networks()
	if err != nil {
		return err
	}
	for _, o := range nets {
		if o.Name != def.Name && overlaps(o.Subnet, def.Subnet) {
			return fmt.Errorf("network %s: subnet %v: %w %s (%v); allow it explicitly if intended", def.Name, def.Subnet, ErrOverlap, o.Name, o.Subnet)
		}
	}
	return nil
}

func (t *Txn) putDef(def *Network) error {
	b, err := marshalNetwork(def)
	if err != nil {
		return fmt.Errorf("network %s: %w", def.Name, err)
	}
	if err := t.tx.Put(netKey(def.Name), b); err != nil {
		return fmt.Errorf("network %s: %w", def.Name, err)
	}
	return nil
}

// ModifyNetwork changes a network's definition through fn. The IPv4 subnet
// and the name cannot change here (use RenameNetwork). A new gateway must be
// free; the old one is released. Changed ranges take effect at once.
func (t *Txn) ModifyNetwork(name string, fn func(*Network) error) error {
	if err := t.mustWrite(); err != nil {
		return err
	}
	s, err := t.state(name)
	if err != nil {
		return err
	}
	def := s.def.Clone()
	if err := fn(def); err != nil {
		return fmt.Errorf("network %s: %w", name, err)
	}
	if def.Name != name {
		return fmt.Errorf("network %s: %w: use rename to change the name", name, ErrInvalid)
	}
	if def.Subnet != s.def.Subnet {
		return fmt.Errorf("network %s: %w: the IPv4 subnet of a network cannot change; create a new network", name, ErrInvalid)
	}
	if err := def.Validate(); err != nil {
		return err
	}
	if p := def.MACPrefix; p != s.def.MACPrefix && !p.IsZero() {
		if n, err := t.countMACsOutside(name, p); err != nil {
			return err
		} else if n > 0 {
			return fmt.Errorf("network %s: MAC prefix %s: %w: %d reserved MACs are outside it; release them first", name, p, ErrInUse, n)
		}
	}
	if def.Gateway == s.def.Gateway && slices.Equal(def.Ranges, s.def.Ranges) {
		s.def = def // the pool is unaffected
		return t.putDef(def)
	}
	if s.size > 0 && def.Gateway != s.def.Gateway {
		if def.Gateway.IsValid() {
			off, _ := def.Offset(def.Gateway)
			h, err := t.holding(s, off)
			if err != nil {
				return err
			}
			if h.Kind != "" {
				return &HeldError{Network: name, IP: def.Gateway, Holder: h, err: ErrConflict}
			}
		}
	}
	return t.rebuild(s, def)
}

// countMACsOutside counts the MACs reserved in network name that are not
// inside prefix p.
func (t *Txn) countMACsOutside(name string, p MACPrefix) (int, error) {
	n := 0
	err := t.tx.Scan([]byte("m/"), func(k, v []byte) error {
		var r macRecord
		if err := r.unmarshal(v); err == nil && r.Network == name && !p.Contains(net.HardwareAddr(k[2:])) {
			n++
		}
		return nil
	})
	return n, err
}

// rebuild replaces the definition of s by def, moving the gateway bit and
// recounting the eligible counters (ranges or gateway changed).
func (t *Txn) rebuild(s *poolState, def *Network) error {
	if err := t.putDef(def); err != nil {
		return err
	}
	ns := newPoolState(def)
	if s.size == 0 {
		t.nets[def.Name] = ns
		return nil
	}
	ns.cursor = s.cursor
	// Carry over the bitmap: load every chunk once.
	for c := range uint32(len(s.used)) {
		w, err := t.chunk(s, c)
		if err != nil {
			return err
		}
		ns.chunks[c] = w
		ns.dirty[c] = true
	}
	ns.reserved = s.reserved
	ns.changed = true
	// Old gateway (if it was only a gateway) becomes free, new one taken.
	if s.gw != noOffset && s.gw != ns.gw {
		if raw, err := t.tx.Get(recKey(def.Name, def.AddrAt(s.gw))); err != nil {
			return err
		} else if raw == nil {
			if err := clearRaw(ns, s.gw); err != nil {
				return err
			}
		}
	}
	if ns.gw != noOffset && ns.gw != s.gw {
		if err := setRaw(ns, ns.gw); err != nil {
			return err
		}
	}
	ns.recount()
	t.nets[def.Name] = ns
	return nil
}

func setRaw(s *poolState, off uint32) error {
	c, i := off/chunkBits, off%chunkBits
	w := s.chunks[c]
	if w[i/64]&(1<<(i%64)) == 0 {
		w[i/64] |= 1 << (i % 64)
		s.reserved++
	}
	s.dirty[c] = true
	return nil
}

func clearRaw(s *poolState, off uint32) error {
	c, i := off/chunkBits, off%chunkBits
	w := s.chunks[c]
	if w[i/64]&(1<<(i%64)) != 0 {
		w[i/64] &^= 1 << (i % 64)
		s.reserved--
	}
	s.dirty[c] = true
	return nil
}

// recount recomputes the per-chunk eligible counters from loaded chunks.
func (s *poolState) recount() {
	for c := range uint32(len(s.used)) {
		w := s.chunks[c]
		var n uint32
		for i, word := range w {
			n += uint32(popcountWord(word & s.eligMask(c*chunkWords+uint32(i))))
		}
		s.used[c] = n
	}
}

// RemoveNetwork deletes a network and all its reservations. It refuses
// while instances hold addresses or MACs in it, unless force is set.
func (t *Txn) RemoveNetwork(name string, force bool) error {
	if err := t.mustWrite(); err != nil {
		return err
	}
	hs, err := t.Holdings(name)
	if err != nil {
		return err
	}
	var inUse []string
	for _, h := range hs {
		if h.Kind == KindInstance {
			inUse = append(inUse, h.Owner.Instance)
		}
	}
	if len(inUse) > 0 && !force {
		slices.Sort(inUse)
		inUse = slices.Compact(inUse)
		return fmt.Errorf("network %s: %w by %d instance(s): %s", name, ErrInUse, len(inUse), joinMax(inUse, 5))
	}
	for _, h := range hs {
		if err := t.dropHolding(h); err != nil {
			return err
		}
	}
	if err := t.deletePrefix([]byte("b/" + name + "/")); err != nil {
		return err
	}
	for _, k := range [][]byte{stateKey(name), netKey(name)} {
		if err := t.tx.Delete(k); err != nil {
			return fmt.Errorf("network %s: %w", name, err)
		}
	}
	t.nets[name] = nil
	return nil
}

// dropHolding deletes the records (not the bit) of an instance, external or
// MAC holding.
func (t *Txn) dropHolding(h Holding) error {
	if h.MAC != "" {
		mac, _ := net.ParseMAC(h.MAC)
		if err := t.tx.Delete(macKey(mac)); err != nil {
			return err
		}
		return t.tx.Delete(macIdxKey(h.Owner.Instance, mac))
	}
	switch h.Kind {
	case KindInstance:
		if err := t.tx.Delete(idxKey(h.Owner.Instance, h.Network, h.IP)); err != nil {
			return err
		}
		fallthrough
	case KindExternal:
		return t.tx.Delete(recKey(h.Network, h.IP))
	}
	return nil
}

func (t *Txn) deletePrefix(prefix []byte) error {
	var keys [][]byte
	if err := t.tx.Scan(prefix, func(k, _ []byte) error {
		keys = append(keys, bytes.Clone(k))
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := t.tx.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// RenameNetwork renames a network, keeping its pool and reservations.
func (t *Txn) RenameNetwork(old, newName string) error {
	if err := t.mustWrite(); err != nil {
		return err
	}
	if err := ValidName("network", newName); err != nil {
		return err
	}
	s, err := t.state(old)
	if err != nil {
		return err
	}
	if _, err := t.state(newName); err == nil {
		return fmt.Errorf("rename %s to %s: %w", old, newName, ErrExists)
	} else if !isNotFound(err) {
		return err
	}
	if err := t.flush(); err != nil {
		return err
	}
	hs, err := t.Holdings(old)
	if err != nil {
		return err
	}
	def := s.def.Clone()
	def.Name = newName
	if err := t.putDef(def); err != nil {
		return err
	}
	// Move bitmap chunks and state.
	type kv struct{ k, v []byte }
	var moves []kv
	if err := t.tx.Scan([]byte("b/"+old+"/"), func(k, v []byte) error {
		moves = append(moves, kv{bytes.Clone(k), bytes.Clone(v)})
		return nil
	}); err != nil {
		return err
	}
	for _, m := range moves {
		nk := append([]byte("b/"+newName+"/"), m.k[len("b/"+old+"/"):]...)
		if err := t.tx.Put(nk, m.v); err != nil {
			return err
		}
		if err := t.tx.Delete(m.k); err != nil {
			return err
		}
	}
	if raw, err := t.tx.Get(stateKey(old)); err != nil {
		return err
	} else if raw != nil {
		if err := t.tx.Put(stateKey(newName), bytes.Clone(raw)); err != nil {
			return err
		}
	}
	for _, h := range hs {
		if h.Kind != KindInstance && h.Kind != KindExternal && h.MAC == "" {
			continue
		}
		if err := t.dropHolding(h); err != nil {
			return err
		}
		h.Network = newName
		if err := t.putHolding(h); err != nil {
			return err
		}
	}
	for _, k := range [][]byte{stateKey(old), netKey(old)} {
		if err := t.tx.Delete(k); err != nil {
			return err
		}
	}
	delete(t.nets, old)
	delete(t.nets, newName)
	t.nets[old] = nil
	return nil
}

// putHolding writes the records of an instance, external or MAC holding.
func (t *Txn) putHolding(h Holding) error {
	if h.MAC != "" {
		mac, err := net.ParseMAC(h.MAC)
		if err != nil {
			return fmt.Errorf("MAC %q: %w", h.MAC, ErrInvalid)
		}
		b := macRecord{Network: h.Network, Instance: h.Owner.Instance, NIC: h.Owner.NIC}.marshal()
		if err := t.tx.Put(macKey(mac), b); err != nil {
			return err
		}
		return t.tx.Put(macIdxKey(h.Owner.Instance, mac), nil)
	}
	b := record{Kind: h.Kind, Instance: h.Owner.Instance, NIC: h.Owner.NIC}.marshal()
	if err := t.tx.Put(recKey(h.Network, h.IP), b); err != nil {
		return err
	}
	if h.Kind == KindInstance {
		return t.tx.Put(idxKey(h.Owner.Instance, h.Network, h.IP), nil)
	}
	return nil
}

// Connect records how node group group reaches the network.
func (t *Txn) Connect(name, group string, c Connection) error {
	return t.ModifyNetwork(name, func(n *Network) error {
		if n.Connections == nil {
			n.Connections = map[string]Connection{}
		}
		n.Connections[group] = c
		return nil
	})
}

// Disconnect forgets node group group's connection; it is an error if
// there is none.
func (t *Txn) Disconnect(name, group string) error {
	return t.ModifyNetwork(name, func(n *Network) error {
		if _, ok := n.Connections[group]; !ok {
			return fmt.Errorf("group %s: %w: not connected", group, ErrNotFound)
		}
		delete(n.Connections, group)
		return nil
	})
}

// FindNetworks returns the networks connected (in any node group) through
// link whose IPv4 subnet contains ip; a zero ip matches any network on link.
func (t *Txn) FindNetworks(link string, ip netip.Addr) ([]*Network, error) {
	nets, err := t.Networks()
	if err != nil {
		return nil, err
	}
	var out []*Network
	for _, n := range nets {
		onLink := false
		for _, c := range n.Connections {
			onLink = onLink || c.Link == link
		}
		if onLink && (!ip.IsValid() || n.Subnet.Contains(ip)) {
			out = append(out, n)
		}
	}
	return out, nil
}

func joinMax(s []string, n int) string {
	if len(s) <= n {
		return fmt.Sprint(s)
	}
	return fmt.Sprintf("%v and %d more", s[:n], len(s)-n)
}

// sortHoldings orders holdings by network, then address, then MAC.
func sortHoldings(hs []Holding) {
	sort.SliceStable(hs, func(i, j int) bool {
		a, b := hs[i], hs[j]
		if a.Network != b.Network {
			return a.Network < b.Network
		}
		if c := a.IP.Compare(b.IP); c != 0 {
			return c < 0
		}
		return a.MAC < b.MAC
	})
}
