// Package writer is the token that lets one Update of a store run at a
// time within a process, shared by the stores of pkg/ipam (boltstore,
// memstore, etcdstore). It imports pkg/ipam for ErrBusy only.
package writer

import (
	"context"
	"fmt"
	"time"

	"github.com/diktyo/diktyo/pkg/ipam"
)

// Token is held by the running Update. Make it with New; a Token is a
// channel, so copies share it.
type Token chan struct{}

// New returns a free token.
func New() Token {
	t := make(Token, 1)
	t <- struct{}{}
	return t
}

// Acquire takes the token, waiting until ctx ends or, when ctx has no
// deadline and wait > 0, for wait at most. The error wraps ipam.ErrBusy,
// and ctx's error when ctx ended.
func (t Token) Acquire(ctx context.Context, wait time.Duration) error {
	select {
	case <-t:
		return nil
	default:
	}
	var expired <-chan time.Time
	if _, ok := ctx.Deadline(); !ok && wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		expired = timer.C
	}
	select {
	case <-t:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: another update of this process is running: %w", ipam.ErrBusy, ctx.Err())
	case <-expired:
		return fmt.Errorf("%w: another update of this process ran for %v", ipam.ErrBusy, wait)
	}
}

// Release gives the token back.
func (t Token) Release() { t <- struct{}{} }
