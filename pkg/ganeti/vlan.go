package ganeti

import (
	"fmt"
	"strconv"
	"strings"
)

// Range of valid VLAN IDs. 0 and 4095 are reserved by 802.1Q.
const (
	MinVLANID = 1
	MaxVLANID = 4094
)

// VLAN is a NIC's VLAN setting in Ganeti's syntax (the "vlan" NIC parameter):
//
//	""             no VLAN
//	".10"          access port: untagged in VLAN 10          {Access: 10}
//	":10:20"       trunk: tagged in VLANs 10 and 20          {Trunks: [10 20]}
//	".10:20:30"    hybrid: untagged (native) VLAN 10, tagged in 20 and 30
//	                                                    {Access: 10, Trunks: [20 30]}
//
// Ganeti also accepts a bare "10" and turns it into ".10"; [ParseVLAN]
// accepts it too. The zero VLAN means "no VLAN".
type VLAN struct {
	// Access is the untagged VLAN: the access VLAN of an access port, or the
	// native VLAN of a hybrid port. 0 means none.
	Access int
	// Trunks are the tagged VLANs, in the order given.
	Trunks []int
}

// ParseVLAN parses Ganeti's VLAN syntax (see [VLAN]). Every VLAN ID must be
// a decimal number in [MinVLANID, MaxVLANID]. Errors wrap [ErrInvalid].
func ParseVLAN(s string) (VLAN, error) {
	var v VLAN
	if s == "" {
		return v, nil
	}
	var trunks string
	hasTrunks := false
	switch s[0] {
	case '.':
		access, rest, ok := strings.Cut(s[1:], ":")
		id, err := parseVLANID(s, access)
		if err != nil {
			return VLAN{}, err
		}
		v.Access = id
		trunks, hasTrunks = rest, ok
	case ':':
		trunks, hasTrunks = s[1:], true
	default:
		if !isDigits(s) {
			return VLAN{}, fmt.Errorf("%w VLAN %q: want .ID, :ID[:ID...], .ID:ID[:ID...] or ID", ErrInvalid, s)
		}
		id, err := parseVLANID(s, s)
		if err != nil {
			return VLAN{}, err
		}
		v.Access = id
	}
	if hasTrunks {
		for t := range strings.SplitSeq(trunks, ":") {
			id, err := parseVLANID(s, t)
			if err != nil {
				return VLAN{}, err
			}
			v.Trunks = append(v.Trunks, id)
		}
	}
	return v, nil
}

func parseVLANID(whole, id string) (int, error) {
	if id == "" {
		return 0, fmt.Errorf("%w VLAN %q: empty VLAN ID", ErrInvalid, whole)
	}
	if !isDigits(id) {
		return 0, fmt.Errorf("%w VLAN %q: VLAN ID %q is not a number", ErrInvalid, whole, id)
	}
	n, err := strconv.Atoi(id)
	if err != nil || n < MinVLANID || n > MaxVLANID {
		return 0, fmt.Errorf("%w VLAN %q: VLAN ID %s out of range %d-%d", ErrInvalid, whole, id, MinVLANID, MaxVLANID)
	}
	return n, nil
}

// IsZero reports whether v is "no VLAN".
func (v VLAN) IsZero() bool { return v.Access == 0 && len(v.Trunks) == 0 }

// IsTrunk reports whether v has tagged VLANs.
func (v VLAN) IsTrunk() bool { return len(v.Trunks) > 0 }

// String returns v in Ganeti's syntax, the canonical form (".10", ":10:20",
// ".10:20", or "" for no VLAN).
func (v VLAN) String() string {
	var b strings.Builder
	if v.Access != 0 {
		b.WriteByte('.')
		b.WriteString(strconv.Itoa(v.Access))
	}
	for _, t := range v.Trunks {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(t))
	}
	return b.String()
}

// Validate checks that every ID of v is in range, for a VLAN built by hand.
func (v VLAN) Validate() error {
	_, err := ParseVLAN(v.String())
	return err
}

// MarshalText implements [encoding.TextMarshaler] with [VLAN.String].
func (v VLAN) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText implements [encoding.TextUnmarshaler] with [ParseVLAN].
func (v *VLAN) UnmarshalText(b []byte) error {
	p, err := ParseVLAN(string(b))
	if err != nil {
		return err
	}
	*v = p
	return nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
