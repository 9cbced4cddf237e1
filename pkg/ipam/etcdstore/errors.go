package etcdstore

import (
	"context"
	"errors"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errKind says what a failed RPC means for a retry.
type errKind int

const (
	// kindPermanent: retrying cannot help (bad request, refused TLS,
	// permissions, limits).
	kindPermanent errKind = iota
	// kindRetry: the request was refused before it was proposed (no
	// leader, overloaded) or no connection was available: not applied.
	kindRetry
	// kindLost: the answer was lost or timed out; a write may or may not
	// have been applied. Reads are simply retried.
	kindLost
)

// classify sorts an RPC error.
func classify(err error) errKind {
	if isTLS(err) || isTooLarge(err) {
		return kindPermanent
	}
	err = rpctypes.Error(err)
	switch {
	case errors.Is(err, rpctypes.ErrNoLeader), errors.Is(err, rpctypes.ErrTooManyRequests),
		errors.Is(err, rpctypes.ErrFutureRev), errors.Is(err, rpctypes.ErrNotCapable):
		return kindRetry
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return kindLost
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		if ee.Code() == codes.Unavailable || ee.Code() == codes.DeadlineExceeded {
			return kindLost // leader changed, request timed out, server stopping
		}
		return kindPermanent
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable:
			if d := st.Message(); d == "there is no address available" || d == "there is no connection available" {
				return kindRetry
			}
			return kindLost
		case codes.DeadlineExceeded, codes.Canceled, codes.Aborted:
			return kindLost
		}
	}
	return kindPermanent
}

// isTLS reports a failed TLS handshake, on either side.
func isTLS(err error) bool {
	if err == nil {
		return false
	}
	m := err.Error()
	return strings.Contains(m, "authentication handshake failed") ||
		strings.Contains(m, "tls: ") || strings.Contains(m, "x509: ")
}

// isTooLarge reports a transaction etcd refused for its size.
func isTooLarge(err error) bool {
	if err == nil {
		return false
	}
	e := rpctypes.Error(err)
	if errors.Is(e, rpctypes.ErrTooManyOps) || errors.Is(e, rpctypes.ErrRequestTooLarge) {
		return true
	}
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "message larger than max")
}

// errText is an RPC error's message without gRPC's wrapping.
func errText(err error) string {
	if st, ok := status.FromError(err); ok {
		return st.Message()
	}
	return err.Error()
}
