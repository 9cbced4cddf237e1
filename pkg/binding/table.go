package binding

import (
	"fmt"
	"net"
	"slices"
	"strings"
)

// Resolver maps an interface name to its ifindex. The daemon passes a
// function around net.InterfaceByName; tests pass a map.
type Resolver func(name string) (int, error)

// Entry is a binding with the ifindexes it was resolved to.
type Entry struct {
	Binding *Binding
	// TapIndex is the tap's ifindex; 0 when the tap does not exist (stale).
	TapIndex int
	// InDevIndex is INDEV's ifindex (equal to TapIndex when routed); 0 when
	// INDEV does not exist.
	InDevIndex int
}

type inMAC struct {
	in  int
	mac [6]byte
}

// Table is an immutable snapshot of the bindings of one directory, indexed
// for the packet path. Build it with NewTable or get it from a Watcher; never
// modify it or the Bindings it returns. The zero value and nil are empty
// tables.
type Table struct {
	entries []*Entry          // sorted by tap name
	byName  map[string]*Entry // every binding, stale ones included
	byTap   map[int]*Entry    // tap ifindex
	byInMAC map[inMAC]*Entry  // (bridge ifindex, MAC), bridged only; nil value = ambiguous
}

// NewTable resolves the ifindexes of bs and indexes them. A binding whose
// tap or INDEV cannot be resolved is kept (Entries, ByTap list it) but is
// not found by Lookup, like GRNET's "stale configuration"; an invalid
// binding is left out. The returned errors say which. A later tap name in bs replaces an earlier one.
func NewTable(bs []*Binding, resolve Resolver) (*Table, []error) {
	ents := make(map[string]*Entry, len(bs))
	var errs []error
	for _, b := range bs {
		if err := b.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		e, err := resolveEntry(b, resolve)
		if err != nil {
			errs = append(errs, err)
		}
		ents[b.Tap] = e
	}
	return buildTable(ents), errs
}

// resolveEntry looks up the tap's and INDEV's ifindexes; on failure the
// entry has zero indexes and the error names the binding.
func resolveEntry(b *Binding, resolve Resolver) (*Entry, error) {
	e := &Entry{Binding: b}
	ti, err := resolve(b.Tap)
	if err != nil || ti <= 0 {
		return e, fmt.Errorf("binding %s: stale, tap not found: %w", b.Tap, errOrInvalid(err, ti))
	}
	ii := ti
	if !b.Routed() {
		ii, err = resolve(b.InDev)
		if err != nil || ii <= 0 {
			return e, fmt.Errorf("binding %s: stale, INDEV %s not found: %w", b.Tap, b.InDev, errOrInvalid(err, ii))
		}
	}
	e.TapIndex, e.InDevIndex = ti, ii
	return e, nil
}

func errOrInvalid(err error, idx int) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: ifindex %d", ErrInvalid, idx)
}

func buildTable(ents map[string]*Entry) *Table {
	t := &Table{
		entries: make([]*Entry, 0, len(ents)),
		byName:  ents,
		byTap:   make(map[int]*Entry, len(ents)),
		byInMAC: make(map[inMAC]*Entry),
	}
	for _, e := range ents {
		t.entries = append(t.entries, e)
	}
	slices.SortFunc(t.entries, func(a, b *Entry) int { return strings.Compare(a.Binding.Tap, b.Binding.Tap) })
	for _, e := range t.entries {
		if e.TapIndex == 0 {
			continue
		}
		if _, dup := t.byTap[e.TapIndex]; dup {
			t.byTap[e.TapIndex] = nil // two names, one ifindex: trust neither
		} else {
			t.byTap[e.TapIndex] = e
		}
		if !e.Binding.Routed() {
			k := inMAC{in: e.InDevIndex, mac: [6]byte(e.Binding.MAC)}
			if _, dup := t.byInMAC[k]; dup {
				t.byInMAC[k] = nil // same MAC twice on one bridge: ambiguous
			} else {
				t.byInMAC[k] = e
			}
		}
	}
	return t
}

// Lookup finds the binding a queued packet belongs to, in O(1), without
// locks or allocations:
//   - physIn != 0 (bridged, br_netfilter reports the port): the binding whose
//     tap has ifindex physIn, if its INDEV is the bridge inIndex;
//   - physIn == 0: the routed binding whose tap has ifindex inIndex, else the
//     bridged binding on bridge inIndex with source MAC srcMAC (a bridge that
//     does not report the port, GRNET's MAC-indexed mode).
//
// Lookup does not check srcMAC against a found binding: MACSPOOF is the
// handler's business.
func (t *Table) Lookup(inIndex, physIn int, srcMAC net.HardwareAddr) (*Binding, bool) {
	e, ok := t.LookupEntry(inIndex, physIn, srcMAC)
	if !ok {
		return nil, false
	}
	return e.Binding, true
}

// LookupEntry is Lookup returning the Entry, for callers that need the
// tap's ifindex (to send the reply out of it).
func (t *Table) LookupEntry(inIndex, physIn int, srcMAC net.HardwareAddr) (*Entry, bool) {
	if t == nil || inIndex <= 0 {
		return nil, false
	}
	if physIn > 0 {
		e := t.byTap[physIn]
		if e == nil || e.Binding.Routed() || e.InDevIndex != inIndex {
			return nil, false
		}
		return e, true
	}
	if e := t.byTap[inIndex]; e != nil && e.Binding.Routed() {
		return e, true
	}
	if len(srcMAC) != 6 {
		return nil, false
	}
	e := t.byInMAC[inMAC{in: inIndex, mac: [6]byte(srcMAC)}]
	return e, e != nil
}

// ByTap returns the entry read from the file named tap, stale or not.
func (t *Table) ByTap(tap string) (*Entry, bool) {
	if t == nil {
		return nil, false
	}
	e, ok := t.byName[tap]
	return e, ok
}

// Entries returns every entry, sorted by tap name; stale entries have zero
// indexes. The slice is shared: do not modify it.
func (t *Table) Entries() []*Entry {
	if t == nil {
		return nil
	}
	return t.entries
}

// Len is the number of bindings, stale ones included.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.entries)
}
