package ipamcli

import (
	"errors"
	"fmt"

	"github.com/diktyo/diktyo/pkg/ipam"
	"github.com/diktyo/diktyo/pkg/ipam/etcdstore"
)

// Exit statuses of diktyo-ipam; see the package documentation.
const (
	ExitOK           = 0
	ExitError        = 1
	ExitUsage        = 2
	ExitNotFound     = 3
	ExitConflict     = 4
	ExitExhausted    = 5
	ExitBusy         = 6
	ExitStore        = 7
	ExitInconsistent = 8
	ExitUnknown      = 9
)

// usageError is a malformed command line: wrong number of arguments, an
// unknown flag, a value that does not parse.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

// errInconsistent is returned by check when it found problems.
var errInconsistent = errors.New("the pool is inconsistent")

// ExitCode maps an error to the exit status documented in the package
// comment. A nil error is ExitOK.
func ExitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	case errors.Is(err, errInconsistent):
		return ExitInconsistent
	case errors.Is(err, etcdstore.ErrUnknownOutcome):
		return ExitUnknown
	case errors.Is(err, ipam.ErrBusy), errors.Is(err, etcdstore.ErrUnavailable):
		return ExitBusy
	case errors.Is(err, ipam.ErrCorrupt), errors.Is(err, ipam.ErrSchemaTooNew):
		return ExitStore
	case errors.Is(err, ipam.ErrExhausted):
		return ExitExhausted
	case errors.Is(err, ipam.ErrExists), errors.Is(err, ipam.ErrOverlap),
		errors.Is(err, ipam.ErrConflict), errors.Is(err, ipam.ErrNotOwner),
		errors.Is(err, ipam.ErrInUse), errors.Is(err, etcdstore.ErrNotEmpty):
		return ExitConflict
	case errors.Is(err, ipam.ErrNotFound):
		return ExitNotFound
	case errors.Is(err, ipam.ErrInvalid), errors.Is(err, ipam.ErrOutOfNetwork),
		errors.Is(err, ipam.ErrNoIPv4):
		return ExitUsage
	}
	return ExitError
}
