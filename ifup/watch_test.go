package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2EWatch: `diktyo-ifup watch` removes the state of a tap that
// disappeared while it was not running (its start-up reconcile), and of
// one deleted while it runs, within moments and without touching another
// NIC's state: the host ends as it was before those NICs came up. It
// stops cleanly on SIGTERM.
func TestE2EWatch(t *testing.T) {
	h := newHost(t)
	routedNet(t, h)
	nfd := map[string]string{"NETWORK_TAGS": "nfdhcpd"}
	env := func(tap, mac, ip string) map[string]string {
		return envOf(t, "kvm-ifup-kvm2.ganeti.test-nic0.env", map[string]string{
			"INTERFACE": tap, "MAC": mac, "IP": ip, "NETWORK_TAGS": nfd["NETWORK_TAGS"], "INSTANCE": tap + ".ganeti.test"})
	}
	vm(t, h, "tap-w0", "aa:00:01:00:00:10")
	h.mustIfup("kvm-vif-bridge", env("tap-w0", "aa:00:01:00:00:10", "198.18.100.10")) // stays
	before := h.snapshot()

	early := vm(t, h, "tap-w1", "aa:00:01:00:00:11")
	h.mustIfup("kvm-vif-bridge", env("tap-w1", "aa:00:01:00:00:11", "198.18.100.11"))
	early.Run(t, "ip", "link", "del", "eth0") // gone before the daemon runs

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := h.ns.Exec(ctx, binary, "watch")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DIKTYO_CONFIG=" + h.config}
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	record := func(tap string) string { return filepath.Join(h.dir, "state", "ifup", tap+".json") }
	gone := func(tap string) {
		t.Helper()
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if _, err := os.Stat(record(tap)); os.IsNotExist(err) {
				return
			}
		}
		t.Fatalf("state of %s still there:\n%s", tap, log.String())
	}
	gone("tap-w1")
	h.checkSnapshot(before)

	late := vm(t, h, "tap-w2", "aa:00:01:00:00:12")
	h.mustIfup("kvm-vif-bridge", env("tap-w2", "aa:00:01:00:00:12", "198.18.100.12"))
	if _, err := os.Stat(record("tap-w2")); err != nil {
		t.Fatal(err)
	}
	// The proxy NDP entry on the uplink is what outlives the tap in the
	// kernel; it must go at once.
	if out := h.ns.Run(t, "ip", "-6", "neigh", "show", "proxy", "dev", "up1"); !strings.Contains(out, "2001:db8:100:0:a800:1ff:fe00:12 ") {
		t.Fatalf("no proxy entry for tap-w2's VM: %q", out)
	}
	late.Run(t, "ip", "link", "del", "eth0")
	gone("tap-w2")
	h.checkSnapshot(before)
	if _, err := os.Stat(record("tap-w0")); err != nil {
		t.Fatalf("tap-w0's state went too: %v", err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	stopped = true
	if err != nil {
		t.Fatalf("watch after SIGTERM: %v\n%s", err, log.String())
	}
	for _, want := range []string{"reconcile removed stale state", "tap=tap-w1", "removed the state of a deleted tap", "tap=tap-w2"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}
