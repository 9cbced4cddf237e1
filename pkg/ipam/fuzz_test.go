package ipam

import (
	"bytes"
	"testing"
)

func exportBytes(t testing.TB, p *Pool) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := p.View(ctx, func(tx *Txn) error {
		d, err := tx.Export()
		if err != nil {
			return err
		}
		return d.WriteJSON(&buf)
	}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzImport feeds arbitrary JSON to ReadDump and Import: no panic; a
// failed import leaves the store empty; a successful one leaves a pool
// that passes Check and whose export round-trips byte for byte.
func FuzzImport(f *testing.F) {
	seed := newPool(f, Network{Name: "pub", Subnet: mustPrefix("198.51.100.0/28"), Gateway: ip("198.51.100.1"),
		Subnet6: mustPrefix("2001:db8::/64"), MACPrefix: MACPrefix{0xaa, 0, 0}, Tags: []string{"t"},
		Ranges: []Range{{ip("198.51.100.4"), ip("198.51.100.9")}}})
	update(f, seed, func(tx *Txn) error {
		if err := tx.Connect("pub", "g", Connection{Mode: ModeRouted, Link: "100"}); err != nil {
			return err
		}
		if err := tx.ReserveExternal("pub", ip("198.51.100.2")); err != nil {
			return err
		}
		if _, err := tx.Allocate("pub", owner("vm", "0")); err != nil {
			return err
		}
		_, err := tx.GenerateMAC("pub", owner("vm", "0"))
		return err
	})
	f.Add(exportBytes(f, seed))
	f.Add([]byte(`{"schema":1,"networks":[]}`))
	f.Add([]byte(`{"schema":1,"networks":[{"name":"v6","subnet":"","gateway":"","subnet6":"2001:db8::/64","gateway6":"","mac_prefix":"","tags":[],"ranges":null,"connections":null,"cursor":0,"reservations":[],"macs":[]}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := ReadDump(bytes.NewReader(in))
		if err != nil {
			return
		}
		p := newPool(t)
		if err := p.Update(ctx, func(tx *Txn) error { return tx.Import(d, false) }); err != nil {
			if n := len(p.store.(*mapStore).m); n != 0 {
				t.Fatalf("failed import left %d keys: %v", n, err)
			}
			return
		}
		mustCheck(t, p)
		first := exportBytes(t, p)
		d2, err := ReadDump(bytes.NewReader(first))
		if err != nil {
			t.Fatalf("own export unreadable: %v\n%s", err, first)
		}
		q := newPool(t)
		update(t, q, func(tx *Txn) error { return tx.Import(d2, false) })
		if second := exportBytes(t, q); !bytes.Equal(first, second) {
			t.Fatalf("round trip differs:\n%s\n---\n%s", first, second)
		}
	})
}
