package writer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/ipam"
)

func TestAcquire(t *testing.T) {
	tok := New()
	if err := tok.Acquire(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	// Held: the wait ends with ErrBusy, by the timeout or by ctx.
	if err := tok.Acquire(context.Background(), 10*time.Millisecond); !errors.Is(err, ipam.ErrBusy) {
		t.Fatalf("held, timeout: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := tok.Acquire(ctx, time.Hour); !errors.Is(err, ipam.ErrBusy) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("held, ctx deadline: %v", err)
	}
	// A waiter gets it when it is released.
	done := make(chan error, 1)
	go func() { done <- tok.Acquire(context.Background(), 10*time.Second) }()
	time.Sleep(10 * time.Millisecond)
	tok.Release()
	if err := <-done; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	tok.Release()
	if err := tok.Acquire(context.Background(), 0); err != nil {
		t.Fatalf("free again: %v", err)
	}
}
