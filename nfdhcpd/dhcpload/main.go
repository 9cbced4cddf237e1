// Command dhcpload is diktyo's DHCP/NDP load generator: it plays the VMs
// behind a tap from the VM side of a veth and measures a responder's
// exchanges/s, latency and CPU per exchange (see pkg/dhcpload).
//
//	dhcpload -i eth0 -mode dora -inflight 16 -duration 10s -pid $(pidof dnsmasq) -server dnsmasq
//	dhcpload -table results.jsonl
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/diktyo/diktyo/pkg/dhcpload"
)

func main() {
	var (
		o      dhcpload.Options
		c      = &o.Config
		mode   = flag.String("mode", "dora", "exchange: dora, rs, ns or dhcp6")
		mac    = flag.String("mac", "", "first client MAC (default: the interface's)")
		target = flag.String("target", "", "NS target address (mode ns)")
		table  = flag.Bool("table", false, "print the JSON-lines report files given as arguments as a Markdown table")
	)
	flag.StringVar(&c.Interface, "i", "", "VM-side interface to send from (with -tap: the tap to attach to)")
	flag.BoolVar(&c.Tap, "tap", false, "attach to the tap device -i as its VM would (QEMU's side) instead of a packet socket")
	flag.IntVar(&c.MACs, "macs", 1, "number of client MACs (MAC, MAC+1, …)")
	flag.IntVar(&c.InFlight, "inflight", 1, "closed loop: exchanges in flight")
	flag.Float64Var(&c.Rate, "rate", 0, "open loop: exchanges started per second (0: closed loop)")
	flag.IntVar(&c.MaxInFlight, "max-inflight", dhcpload.DefaultMaxInFlight, "open loop: cap on exchanges in flight")
	flag.DurationVar(&c.Duration, "duration", dhcpload.DefaultDuration, "measured duration")
	flag.DurationVar(&c.Warmup, "warmup", 0, "unmeasured warm-up before the measurement")
	flag.DurationVar(&c.Timeout, "timeout", dhcpload.DefaultTimeout, "per-message answer timeout")
	flag.IntVar(&c.ServerPID, "pid", 0, "server PID whose CPU time is reported per exchange")
	flag.StringVar(&c.Server, "server", "", "server name for the report")
	flag.BoolVar(&c.Broadcast, "broadcast", false, "set the BOOTP broadcast flag")
	flag.BoolVar(&c.BusyPoll, "busy-poll", false, "spin on non-blocking receives instead of sleeping (latency without the generator's wake-up)")
	flag.StringVar(&o.JSONFile, "json-out", "", "append the report as a JSON line to this file")
	flag.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	flag.Parse()

	c.Mode = dhcpload.Mode(strings.ToLower(*mode))
	if *table {
		o.TableFiles = flag.Args()
		if len(o.TableFiles) == 0 {
			fail(fmt.Errorf("-table needs report files"))
		}
	}
	if *mac != "" {
		hw, err := net.ParseMAC(*mac)
		if err != nil {
			fail(err)
		}
		c.MAC = hw
	}
	if *target != "" {
		a, err := netip.ParseAddr(*target)
		if err != nil {
			fail(err)
		}
		c.Target = a
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := dhcpload.Main(ctx, o, os.Stdout)
	stop()
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "dhcpload: %v\n", err)
	os.Exit(1)
}
