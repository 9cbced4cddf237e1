package ipam

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
)

// Dump is the JSON export of a whole pool. Export followed by Import gives
// back the same pool, and exporting again gives the same bytes.
type Dump struct {
	Schema   int           `json:"schema"`
	Networks []NetworkDump `json:"networks"`
}

// NetworkDump is one network with its reservations.
type NetworkDump struct {
	Network
	Cursor       uint32        `json:"cursor"`
	Reservations []Reservation `json:"reservations"`
	MACs         []MACHolding  `json:"macs"`
}

// Reservation is one instance or external reservation in a dump.
type Reservation struct {
	IP    netip.Addr `json:"ip"`
	Kind  Kind       `json:"kind"`
	Owner Owner      `json:"owner,omitzero"`
}

// MACHolding is one MAC reservation in a dump.
type MACHolding struct {
	MAC   string `json:"mac"`
	Owner Owner  `json:"owner"`
}

// Export returns the whole pool.
func (t *Txn) Export() (*Dump, error) {
	d := &Dump{Schema: SchemaVersion, Networks: []NetworkDump{}}
	nets, err := t.Networks()
	if err != nil {
		return nil, err
	}
	for _, n := range nets {
		s, err := t.state(n.Name)
		if err != nil {
			return nil, err
		}
		nd := NetworkDump{Network: *s.def.Clone(), Cursor: s.cursor, Reservations: []Reservation{}, MACs: []MACHolding{}}
		hs, err := t.Holdings(n.Name)
		if err != nil {
			return nil, err
		}
		for _, h := range hs {
			switch {
			case h.MAC != "":
				nd.MACs = append(nd.MACs, MACHolding{MAC: h.MAC, Owner: h.Owner})
			case h.Kind == KindInstance || h.Kind == KindExternal:
				nd.Reservations = append(nd.Reservations, Reservation{IP: h.IP, Kind: h.Kind, Owner: h.Owner})
			}
		}
		d.Networks = append(d.Networks, nd)
	}
	return d, nil
}

// WriteJSON writes the dump as indented JSON.
func (d *Dump) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// MaxDumpSize bounds what ReadDump accepts.
const MaxDumpSize = 1 << 30

// ReadDump parses a JSON export strictly (unknown fields are errors).
func ReadDump(r io.Reader) (*Dump, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxDumpSize+1))
	if err != nil {
		return nil, fmt.Errorf("read dump: %w", err)
	}
	if len(b) > MaxDumpSize {
		return nil, fmt.Errorf("read dump: %w: larger than %d bytes", ErrInvalid, MaxDumpSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var d Dump
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("read dump: %w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("read dump: %w: trailing data", ErrInvalid)
	}
	if d.Schema < 1 {
		return nil, fmt.Errorf("read dump: %w: schema %d", ErrInvalid, d.Schema)
	}
	if d.Schema > SchemaVersion {
		return nil, fmt.Errorf("read dump: schema %d, this program knows %d: %w", d.Schema, SchemaVersion, ErrSchemaTooNew)
	}
	return &d, nil
}

// Import loads a dump. Without replace it refuses when any network of the
// dump already exists; with replace it first removes everything. Call it in
// one Update so a bad dump leaves the store untouched.
func (t *Txn) Import(d *Dump, replace bool) error {
	if err := t.mustWrite(); err != nil {
		return err
	}
	if replace {
		for _, p := range []string{"n/", "s/", "b/", "o/", "i/", "m/", "j/"} {
			if err := t.deletePrefix([]byte(p)); err != nil {
				return err
			}
		}
		clear(t.nets)
	}
	for _, nd := range d.Networks {
		name := nd.Name
		if err := t.AddNetwork(nd.Network, AddOptions{AllowOverlap: true}); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		for _, r := range nd.Reservations {
			var err error
			switch r.Kind {
			case KindInstance:
				err = t.Reserve(name, r.IP, r.Owner)
			case KindExternal:
				if r.Owner != (Owner{}) {
					err = fmt.Errorf("%v: %w: external reservation with an owner", r.IP, ErrInvalid)
				} else {
					err = t.ReserveExternal(name, r.IP)
				}
			default:
				err = fmt.Errorf("%v: %w: reservation kind %q", r.IP, ErrInvalid, r.Kind)
			}
			if err != nil {
				return fmt.Errorf("import network %s: %w", name, err)
			}
		}
		for _, m := range nd.MACs {
			mac, err := net.ParseMAC(m.MAC)
			if err == nil {
				err = t.ReserveMAC(name, mac, m.Owner)
			}
			if err != nil {
				return fmt.Errorf("import network %s: MAC %q: %w", name, m.MAC, err)
			}
		}
		if s, _ := t.state(name); s != nil && s.size > 0 {
			if nd.Cursor >= s.size {
				return fmt.Errorf("import network %s: cursor %d: %w: pool has %d addresses", name, nd.Cursor, ErrInvalid, s.size)
			}
			s.cursor = nd.Cursor
			s.changed = true
		} else if nd.Cursor != 0 {
			return fmt.Errorf("import network %s: %w: cursor without an IPv4 subnet", name, ErrInvalid)
		}
	}
	return nil
}
