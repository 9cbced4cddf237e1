package ipam

import (
	"fmt"
	"net/netip"
	"strings"
)

// Owner is who holds an address: an instance NIC. NIC is the NIC's UUID,
// name or index as Ganeti gives it; it may be empty when only the instance
// is known. An empty Instance means "external" (held outside diktyo).
type Owner struct {
	Instance string `json:"instance,omitempty"`
	NIC      string `json:"nic,omitempty"`
}

// ParseOwner parses INSTANCE[:NIC]. Instance names are host names, so they
// never contain a colon.
func ParseOwner(s string) (Owner, error) {
	inst, nic, _ := strings.Cut(s, ":")
	o := Owner{Instance: strings.TrimSpace(inst), NIC: strings.TrimSpace(nic)}
	if err := o.Validate(); err != nil {
		return Owner{}, err
	}
	return o, nil
}

// Validate checks the owner names: non-empty instance, no separators.
func (o Owner) Validate() error {
	if o.Instance == "" {
		return fmt.Errorf("owner %q: %w: empty instance name", o.String(), ErrInvalid)
	}
	for _, s := range []string{o.Instance, o.NIC} {
		if len(s) > 255 || strings.ContainsAny(s, ":\x00/ \t\n") {
			return fmt.Errorf("owner %q: %w: names must not contain ':', '/', NUL or spaces (max 255)", o.String(), ErrInvalid)
		}
	}
	return nil
}

// String renders INSTANCE[:NIC].
func (o Owner) String() string {
	if o.NIC == "" {
		return o.Instance
	}
	return o.Instance + ":" + o.NIC
}

// Matches reports whether o names holding owner h: the same instance and,
// when o names a NIC, the same NIC.
func (o Owner) Matches(h Owner) bool {
	return o.Instance == h.Instance && (o.NIC == "" || o.NIC == h.NIC)
}

// Kind says why an address is not free.
type Kind string

// Holding kinds.
const (
	// KindInstance: held by an instance NIC.
	KindInstance Kind = "instance"
	// KindExternal: used outside diktyo's control (routers, appliances).
	KindExternal Kind = "external"
	// KindNetwork, KindBroadcast, KindGateway: never handed out.
	KindNetwork   Kind = "network"
	KindBroadcast Kind = "broadcast"
	KindGateway   Kind = "gateway"
)

// Holding is one held address (or MAC) and who holds it.
type Holding struct {
	Network string     `json:"network"`
	IP      netip.Addr `json:"ip,omitzero"`
	MAC     string     `json:"mac,omitempty"`
	Kind    Kind       `json:"kind"`
	Owner   Owner      `json:"owner,omitzero"`
}

// Describe renders who holds the address, for error messages.
func (h Holding) Describe() string {
	switch h.Kind {
	case KindInstance:
		return "held by " + h.Owner.String()
	case KindExternal:
		return "reserved externally"
	case "":
		return "free"
	default:
		return "the " + string(h.Kind) + " address"
	}
}

// record is one reservation. Stored as KIND NUL INSTANCE NUL NIC (names
// never contain NUL): compact and without reflection, since batches write
// one per allocation.
type record struct {
	Kind     Kind
	Instance string
	NIC      string
}

func (r record) marshal() []byte { return joinNUL(string(r.Kind), r.Instance, r.NIC) }

func (r *record) unmarshal(b []byte) error {
	f, err := splitNUL(b, 3)
	if err != nil {
		return err
	}
	*r = record{Kind: Kind(f[0]), Instance: f[1], NIC: f[2]}
	return nil
}

// macRecord is one MAC reservation, stored as NETWORK NUL INSTANCE NUL NIC.
type macRecord struct {
	Network  string
	Instance string
	NIC      string
}

func (r macRecord) marshal() []byte { return joinNUL(r.Network, r.Instance, r.NIC) }

func (r *macRecord) unmarshal(b []byte) error {
	f, err := splitNUL(b, 3)
	if err != nil {
		return err
	}
	*r = macRecord{Network: f[0], Instance: f[1], NIC: f[2]}
	return nil
}

func joinNUL(f ...string) []byte {
	n := len(f) - 1
	for _, s := range f {
		n += len(s)
	}
	b := make([]byte, 0, n)
	for i, s := range f {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, s...)
	}
	return b
}

func splitNUL(b []byte, n int) ([]string, error) {
	f := strings.Split(string(b), "\x00")
	if len(f) != n {
		return nil, fmt.Errorf("%w: record has %d fields, want %d", ErrInvalid, len(f), n)
	}
	return f, nil
}
