// Command diktyo-ifup wires a Ganeti KVM NIC on its host: installed as
// /etc/ganeti/kvm-vif-bridge (and kvm-ifup-custom / kvm-ifdown-custom for
// GRNET-patched Ganeti) it sets the NIC in $INTERFACE up or down; as
// diktyo-ifup it takes the subcommands up, down, reconcile and show. See
// pkg/ifup.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/diktyo/diktyo/pkg/announce"
	"github.com/diktyo/diktyo/pkg/ifup"
	"github.com/diktyo/diktyo/pkg/ifupconf"
	"github.com/diktyo/diktyo/pkg/syslog"
	"github.com/diktyo/diktyo/pkg/version"
)

func main() { os.Exit(run()) }

func run() int {
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Println("diktyo-ifup version " + version.Version)
		return 0
	}
	if len(os.Args) > 1 && os.Args[1] == announce.Subcommand {
		// The detached announcer spawned by an up: no config, no Runner.
		if err := announce.Run(os.Args[2:]); err != nil {
			return 1
		}
		return 0
	}
	ctx := context.Background()
	if ifup.Interruptible(os.Args) {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	level := slog.LevelWarn
	if ifup.Daemon(os.Args) {
		level = slog.LevelInfo
	}
	if os.Getenv("DIKTYO_DEBUG") != "" {
		level = slog.LevelDebug
	}
	var handler slog.Handler = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	if ifup.Daemon(os.Args) {
		if w, err := syslog.Dial(syslog.DefaultPath, "diktyo-ifup", 0); err == nil {
			defer w.Close()
			handler = slog.NewMultiHandler(handler, syslog.NewHandler(w, level))
		}
	}
	log := slog.New(handler)
	cfg, warnings, err := ifupconf.Load(os.Environ())
	if err != nil {
		return fail(err)
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	r, closeSys, err := ifup.NewSystem(cfg, log, &announce.Command{})
	if err != nil {
		return fail(err)
	}
	defer closeSys()
	err = ifup.Main(ctx, os.Args, os.Environ(), r)
	switch {
	case errors.Is(err, ifup.ErrUsage):
		fail(err)
		fmt.Fprintln(os.Stderr, ifup.Usage)
		return 2
	case err != nil:
		return fail(err)
	}
	return 0
}

// fail prints err as the one line Ganeti shows in the job log.
func fail(err error) int {
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	fmt.Fprintf(os.Stderr, "diktyo-ifup: %s\n", msg)
	return 1
}
