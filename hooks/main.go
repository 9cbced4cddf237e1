// Command diktyo-hook is diktyo's Ganeti hook: linked into Ganeti's hook
// directories (diktyo-hook install) it keeps the pool and every node's
// host state in step with Ganeti's operations. All logic is in pkg/hook
// (hook.Run).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/diktyo/diktyo/pkg/hook"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := hook.Run(ctx, os.Args, os.Environ(), os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
