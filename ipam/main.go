// Command diktyo-ipam administers diktyo's cluster-wide IP pool: networks,
// reservations, allocation, MACs, export/import and checks. All logic is in
// pkg/ipamcli (ipamcli.Run); see its documentation for commands and exit
// statuses.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/diktyo/diktyo/pkg/ipamcli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := ipamcli.Run(ctx, os.Args, os.Environ(), os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
