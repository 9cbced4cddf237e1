// Command diktyo-ifup wires a Ganeti KVM NIC on its host: installed as
// /etc/ganeti/kvm-vif-bridge (and kvm-ifup-custom / kvm-ifdown-custom for
// GRNET-patched Ganeti) it sets the NIC in $INTERFACE up or down; as
// diktyo-ifup it takes the subcommands up, down, reconcile, watch and show. All
// logic is in pkg/ifup (ifup.Run).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/diktyo/diktyo/pkg/ifup"
)

func main() {
	ctx, stop := context.Background(), context.CancelFunc(func() {})
	if ifup.Interruptible(os.Args) {
		// Only reconcile and watch watch their context; an up or down keeps the
		// default signal actions (see ifup.Interruptible).
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	}
	code := ifup.Run(ctx, os.Args, os.Environ(), os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
