package ipam

import (
	"fmt"
	"net"
)

// macAttempts bounds the random draws of GenerateMAC before it reports the
// prefix exhausted; with 2^24 MACs per prefix it is only reached when the
// prefix is nearly full.
const macAttempts = 64

// GenerateMAC draws a random MAC inside network name's MAC prefix that no
// one holds and reserves it for owner.
func (t *Txn) GenerateMAC(name string, owner Owner) (net.HardwareAddr, error) {
	if err := t.mustWrite(); err != nil {
		return nil, err
	}
	if err := owner.Validate(); err != nil {
		return nil, err
	}
	s, err := t.state(name)
	if err != nil {
		return nil, err
	}
	p := s.def.MACPrefix
	if p.IsZero() {
		return nil, fmt.Errorf("network %s: %w: no MAC prefix", name, ErrInvalid)
	}
	for range macAttempts {
		r := t.pool.rand()
		mac := net.HardwareAddr{p[0], p[1], p[2], byte(r >> 16), byte(r >> 8), byte(r)}
		raw, err := t.tx.Get(macKey(mac))
		if err != nil {
			return nil, err
		}
		if raw == nil {
			return mac, t.putHolding(Holding{Network: name, MAC: mac.String(), Kind: KindInstance, Owner: owner})
		}
	}
	return nil, fmt.Errorf("network %s: MAC prefix %s: %w", name, p, ErrExhausted)
}

// ReserveMAC records that owner uses mac in network name. The MAC must be
// unicast; if the network has a MAC prefix it must be inside it.
func (t *Txn) ReserveMAC(name string, mac net.HardwareAddr, owner Owner) error {
	if err := t.mustWrite(); err != nil {
		return err
	}
	if err := owner.Validate(); err != nil {
		return err
	}
	s, err := t.state(name)
	if err != nil {
		return err
	}
	if len(mac) != 6 || mac[0]&1 != 0 {
		return fmt.Errorf("MAC %v: %w: want a unicast 6-octet MAC", mac, ErrInvalid)
	}
	if p := s.def.MACPrefix; !p.IsZero() && !p.Contains(mac) {
		return fmt.Errorf("MAC %v: %w %s (prefix %s)", mac, ErrOutOfNetwork, name, p)
	}
	if h, ok, err := t.macHolding(mac); err != nil {
		return err
	} else if ok {
		return &HeldError{Network: h.Network, MAC: mac.String(), Holder: h, err: ErrConflict}
	}
	return t.putHolding(Holding{Network: name, MAC: mac.String(), Kind: KindInstance, Owner: owner})
}

// ReleaseMAC frees mac. Like Release, a non-nil owner makes it idempotent
// for that owner and refuses another owner's MAC.
func (t *Txn) ReleaseMAC(mac net.HardwareAddr, owner *Owner) error {
	if err := t.mustWrite(); err != nil {
		return err
	}
	h, ok, err := t.macHolding(mac)
	if err != nil || !ok {
		return err
	}
	if owner != nil && !owner.Matches(h.Owner) {
		return &HeldError{Network: h.Network, MAC: mac.String(), Holder: h, err: ErrNotOwner}
	}
	return t.dropHolding(h)
}

func (t *Txn) macHolding(mac net.HardwareAddr) (Holding, bool, error) {
	raw, err := t.tx.Get(macKey(mac))
	if err != nil || raw == nil {
		return Holding{}, false, err
	}
	var r macRecord
	if err := r.unmarshal(raw); err != nil {
		return Holding{}, false, fmt.Errorf("MAC %v: %w: bad record", mac, ErrInvalid)
	}
	return Holding{Network: r.Network, MAC: mac.String(), Kind: KindInstance, Owner: Owner{Instance: r.Instance, NIC: r.NIC}}, true, nil
}

// macsOf lists the MACs held by owner.
func (t *Txn) macsOf(owner Owner) ([]Holding, error) {
	var macs []net.HardwareAddr
	pfx := []byte("j/" + owner.Instance + "\x00")
	err := t.tx.Scan(pfx, func(k, _ []byte) error {
		if len(k)-len(pfx) != 6 {
			return fmt.Errorf("MAC index %q: %w", k, ErrInvalid)
		}
		macs = append(macs, net.HardwareAddr(append([]byte(nil), k[len(pfx):]...)))
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []Holding
	for _, m := range macs {
		h, ok, err := t.macHolding(m)
		if err != nil {
			return nil, err
		}
		if ok && owner.Matches(h.Owner) {
			out = append(out, h)
		}
	}
	return out, nil
}
