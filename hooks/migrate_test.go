package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/nettest"
)

// startWatch runs `diktyo-ifup watch` on n until the test ends.
func (n *node) startWatch() *nettest.LogBuffer {
	n.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := n.command(ctx, bins.ifup, "watch")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DIKTYO_CONFIG=" + n.config}
	log := &nettest.LogBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() {
		if n.t.Failed() {
			n.t.Logf("%s: watch log:\n%s", n.name, log)
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				n.t.Errorf("%s: watch: %v\n%s", n.name, err, log)
			}
		case <-time.After(10 * time.Second):
			n.t.Errorf("%s: watch did not stop on SIGTERM", n.name)
		}
		cancel()
	})
	return log
}

// TestMigrationHeadStart is a live migration of a VM with a routed NIC
// from A to B as Ganeti 3.0.2 runs it, with diktyo-watch on B: the pre
// hook on B stores the NIC; Ganeti opens the tap on B and names it in its
// NIC file, and watch sets the NIC up at once, while the VM still runs on
// A (the router keeps A). The moment the VM resumes on B (its first
// frame), B announces it and the router switches; Ganeti's own ifup after
// the migration changes nothing; QEMU's exit on A and the post hooks
// leave A as before the VM, and B as watch set it up.
func TestMigrationHeadStart(t *testing.T) {
	c := newCluster(t)
	A, B := c.a, c.b
	nicDir := filepath.Join(B.dir, "nic")
	f, err := os.OpenFile(B.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("KVM_NIC_DIR=" + nicDir + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	a0, b0 := A.snapshot(), B.snapshot()
	watchLog := B.startWatch()

	inst := instance{name: "vm1.ganeti.test", primary: master, nics: []ganeti.NIC{nic0()}}
	c.vmUp(A, inst, nic0())
	macA, macB := c.upMAC(A), c.upMAC(B)
	const eui64 = "2001:db8:100:0:a800:1ff:fe2d:2b3b"
	vmAddrs := []string{"198.18.100.2", eui64}
	// The router has been talking to the VM on A (unsolicited ARP and NA
	// only update entries a router already has).
	for _, addr := range vmAddrs {
		c.r.Run(t, "ip", "neigh", "replace", addr, "lladdr", macA, "dev", "br0", "nud", "stale")
	}

	// Pre hooks, on the master (A, also the source) and the target.
	c.runHook(c.env("kvm/instance-migrate-to-n2-pre.env", inst, node2, ""), A, B)
	stored := filepath.Join(B.dir, "state", "incoming", inst.name+".json")
	if _, err := os.Stat(stored); err != nil {
		t.Fatalf("B stored nothing for watch: %v", err)
	}
	if _, err := os.Stat(filepath.Join(A.dir, "state", "incoming", inst.name+".json")); err == nil {
		t.Fatal("the source stored an incoming migration")
	}

	// AcceptInstance on B: QEMU opens tap0 (the VM is paused: silent),
	// then Ganeti writes the NIC file.
	vmB := nettest.NewNS(t, "hkv")
	for _, k := range []string{"net/ipv6/conf/all/disable_ipv6", "net/ipv6/conf/default/disable_ipv6"} {
		vmB.Sysctl(t, k, "1")
	}
	mac, _ := net.ParseMAC(nic0().MAC.String())
	nettest.VethMAC(t, B.ns, "tap0", vmB, "eth0", mac)
	if err := os.MkdirAll(filepath.Join(nicDir, inst.name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(nicDir, inst.name, "0"), []byte("tap0"), 0o644); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(B.dir, "state", "ifup", "tap0.json")
	nettest.Eventually(t, "watch to set tap0 up", 10*time.Second, func() bool {
		_, errRec := os.Stat(record)
		_, errIn := os.Stat(stored)
		return errRec == nil && os.IsNotExist(errIn)
	})
	if !strings.Contains(watchLog.String(), "routed NIC of an incoming migration set up") {
		t.Errorf("watch log:\n%s", watchLog)
	}
	b1 := B.snapshot()
	// The VM has not moved: the router still sends to A.
	time.Sleep(time.Second)
	for _, addr := range vmAddrs {
		if out := c.r.Run(t, "ip", "neigh", "show", addr, "dev", "br0"); !strings.Contains(out, "lladdr "+macA) {
			t.Errorf("router before the VM resumed on B: %s: %q", addr, out)
		}
	}

	// The VM resumes on B: QEMU's first frame.
	vmB.SendBroadcastFrame(t, "eth0", mac)
	for _, addr := range vmAddrs {
		if err := c.routerSees(addr, macB); err != nil {
			t.Error(err)
		}
	}

	// FinalizeMigrationDst: Ganeti's ifup of the routed NIC.
	B.mustIfup(ifupEnv(&ganeti.Instance{Name: inst.name}, nic0(), "tap0"), "up")
	B.expectSnapshot("after Ganeti's ifup", b1)
	if strings.Contains(watchLog.String(), "removing stale state") {
		t.Errorf("Ganeti's ifup tore watch's setup down:\n%s", watchLog)
	}
	// A's QEMU exits; the post hooks.
	c.vmDown(A)
	c.runHook(c.env("kvm/instance-migrate-to-n2-post.env", inst, node2, ""), A, B)
	A.expectSnapshot("source after the migration", a0)
	B.expectSnapshot("target after the migration", b1)
	// The VM stops on B: nothing of it remains there either.
	if _, err := B.ns.Output("ip", "link", "del", "tap0"); err != nil {
		t.Fatal(err)
	}
	B.expectSnapshot("target after the VM left", b0)
}
