package ipam

import (
	"errors"
	"fmt"
	"net/netip"
)

// Pool errors that callers test with errors.Is.
var (
	// ErrNotFound means the named network (or address, or owner) is unknown.
	ErrNotFound = errors.New("not found")
	// ErrExists means a network with that name already exists.
	ErrExists = errors.New("already exists")
	// ErrInvalid means a parameter is malformed or inconsistent.
	ErrInvalid = errors.New("invalid")
	// ErrOverlap means an IPv4 network overlaps an existing one.
	ErrOverlap = errors.New("overlaps an existing network")
	// ErrExhausted means no free address (or MAC) is left to allocate.
	ErrExhausted = errors.New("pool exhausted")
	// ErrConflict means the address (or MAC) is already held.
	ErrConflict = errors.New("already reserved")
	// ErrNotOwner means a release or move names an owner that does not
	// hold the address.
	ErrNotOwner = errors.New("held by another owner")
	// ErrOutOfNetwork means an address is outside the network.
	ErrOutOfNetwork = errors.New("outside the network")
	// ErrNoIPv4 means the network has no IPv4 pool (IPv6-only network).
	ErrNoIPv4 = errors.New("network has no IPv4 subnet")
	// ErrInUse means a network still holds reservations of instances.
	ErrInUse = errors.New("network in use")
)

// HeldError reports an address or MAC that is held by someone else; it
// matches ErrConflict or ErrNotOwner with errors.Is and carries the holder.
type HeldError struct {
	Network string
	IP      netip.Addr // zero for a MAC
	MAC     string     // empty for an address
	Holder  Holding
	err     error
}

func (e *HeldError) Error() string {
	what := e.IP.String()
	if e.MAC != "" {
		what = "MAC " + e.MAC
	}
	return fmt.Sprintf("%s in %s: %v (%s)", what, e.Network, e.err, e.Holder.Describe())
}

// Unwrap returns ErrConflict or ErrNotOwner.
func (e *HeldError) Unwrap() error { return e.err }
