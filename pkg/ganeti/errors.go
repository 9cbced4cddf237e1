package ganeti

import "errors"

// Sentinel errors. Every error returned by [ParseHookEnv], [ParseIfupEnv] and
// their variants is a [*VarError] that wraps one of them; test with
// [errors.Is].
var (
	// ErrMissing: a required variable is absent, or empty (or "None").
	ErrMissing = errors.New("missing required value")
	// ErrInvalid: a value does not parse (MAC, IP address, subnet, VLAN,
	// number, phase, NIC mode...).
	ErrInvalid = errors.New("invalid")
	// ErrUnknownMode: a NIC mode other than bridged, routed or openvswitch.
	// It wraps ErrInvalid.
	ErrUnknownMode error = &kindError{msg: "unknown NIC mode", parent: ErrInvalid}
	// ErrNICCount: GANETI_INSTANCE_NIC_COUNT disagrees with the
	// GANETI_INSTANCE_NIC<i>_* variables present.
	ErrNICCount = errors.New("NIC count mismatch")
	// ErrDuplicate: the same variable appears twice in an environ slice.
	ErrDuplicate = errors.New("duplicate variable")
	// ErrUnexpected: a variable that must not be there, such as a
	// GANETI_POST_* variable in the pre phase.
	ErrUnexpected = errors.New("unexpected variable")
)

// VarError is the error type of this package's parsers: Var is the full name
// of the variable at fault (for example "GANETI_INSTANCE_NIC1_MAC" or
// "GANETI_POST_INSTANCE_NIC_COUNT") and Err what is wrong with it, wrapping
// one of the sentinel errors.
//
// Its message is Var + ": " + Err.Error(), for example
//
//	GANETI_INSTANCE_NIC1_MAC: invalid MAC "zz"
type VarError struct {
	Var string
	Err error
}

func (e *VarError) Error() string { return e.Var + ": " + e.Err.Error() }

// Unwrap returns e.Err.
func (e *VarError) Unwrap() error { return e.Err }

func varErr(name string, err error) error { return &VarError{Var: name, Err: err} }

// kindError is a sentinel error that is also another sentinel error.
type kindError struct {
	msg    string
	parent error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.parent }
