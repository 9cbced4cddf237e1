package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/ifup"
	"github.com/diktyo/diktyo/pkg/ifupconf"
	"github.com/diktyo/diktyo/pkg/nettest"
)

// benchNIC is the measured NIC: routed, with every network tag and a
// firewall profile.
func benchNIC(tap string, i int) map[string]string {
	return map[string]string{
		"INSTANCE": fmt.Sprintf("vm%d.example.org", i), "INTERFACE": tap, "INTERFACE_INDEX": "0",
		"INTERFACE_UUID": fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
		"MAC":            fmt.Sprintf("aa:00:01:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff),
		"IP":             fmt.Sprintf("198.18.%d.%d", 1+i/250, 2+i%250), "MODE": "routed", "LINK": "100",
		"NETWORK_NAME": "pub", "NETWORK_SUBNET": "198.18.0.0/16", "NETWORK_GATEWAY": "198.18.0.1",
		"NETWORK_SUBNET6": "2001:db8:100::/64", "NETWORK_GATEWAY6": "2001:db8:100::1",
		"NETWORK_TAGS": "nfdhcpd ip-less-routed private-filtered dns",
		"TAGS":         "synnefo:network:0:protected", "VLAN": "",
	}
}

// benchHost is a host namespace with an uplink (table 100) and n-1
// background NICs already set up by impl, plus the measured tap tap-m.
type benchHost struct {
	ns     *nettest.NS
	dir    string
	config string
}

func newBenchHost(b *testing.B, impl string, n int) *benchHost {
	h := &benchHost{ns: nettest.NewNS(b, "ifb"), dir: b.TempDir()}
	h.config = filepath.Join(h.dir, "diktyo")
	conf := fmt.Sprintf("STATE_DIR=%s/state\nNFDHCPD_STATE_DIR=%s/nfdhcpd\nIPAM_DB=%s/ipam.db\nIFUP_EXTRA_SCRIPT=%s/none\n",
		h.dir, h.dir, h.dir, h.dir)
	if err := os.WriteFile(h.config, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, d := range []string{"state", "nfdhcpd"} {
		if err := os.MkdirAll(filepath.Join(h.dir, d), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	var batch strings.Builder
	// mgmt is the node's own address, which every Ganeti node has, on a
	// device made before the taps. Without any IPv4 address in the
	// namespace each IPv4 route add walks every device looking for a
	// source address, a cost that grows with the taps and that no real
	// node pays.
	batch.WriteString("link add mgmt type veth peer name mgmtp\naddr add 198.19.0.10/24 dev mgmt\nlink set mgmt up\n")
	batch.WriteString("link add up1 type veth peer name up1p\nlink set up1 up\nlink set up1p up\n" +
		"link add tap-m type veth peer name tap-mp\nlink set tap-m up\nlink set tap-mp up\n" +
		"route add 198.18.0.0/16 dev up1 table 100\nroute add default via 198.18.0.1 dev up1 table 100\n" +
		"route add 2001:db8:100::/64 dev up1 table 100\nroute add default via 2001:db8:100::1 dev up1 table 100\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&batch, "link add tb%d type veth peer name tb%dp\nlink set tb%d up\n", i, i, i)
	}
	// A routed hypervisor forwards: its taps then send no router
	// solicitations, which from 2000 new interfaces would keep the kernel
	// busy while the benchmark runs.
	h.ns.Run(b, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1", "net.ipv6.conf.default.forwarding=1")
	path := filepath.Join(h.dir, "batch")
	if err := os.WriteFile(path, []byte(batch.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	h.ns.Run(b, "ip", "-batch", path)
	if n <= 1 {
		return h
	}
	start := time.Now()
	switch impl {
	case "diktyo":
		err := h.ns.Do(func() error {
			cfg, _, err := ifupconf.Load([]string{"DIKTYO_CONFIG=" + h.config})
			if err != nil {
				return err
			}
			r, closeSys, err := ifup.NewSystem(cfg, nil, nil)
			if err != nil {
				return err
			}
			defer closeSys()
			for i := 1; i < n; i++ {
				e, err := ganeti.ParseIfupEnvMap(benchNIC(fmt.Sprintf("tb%d", i), i))
				if err != nil {
					return err
				}
				if err := r.Up(context.Background(), e, nil, nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	default:
		script := fmt.Sprintf(`for i in $(seq 1 %d); do INTERFACE=tb$i IP=198.18.$((1+i/250)).$((2+i%%250)) `+
			`MAC=aa:00:01:00:$(printf %%02x $((i>>8))):$(printf %%02x $((i&255))) INSTANCE=vm$i.example.org %s; done`,
			n-1, shellIfup)
		cmd := h.ns.Exec(context.Background(), "bash", "-c", script)
		cmd.Env = h.shellEnv(benchNIC("x", 0))
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("shell setup: %v: %s", err, out)
		}
	}
	b.Logf("%s: %d background NICs set up in %v", impl, n-1, time.Since(start).Round(time.Millisecond))
	// Let duplicate address detection of the new interfaces finish.
	time.Sleep(3 * time.Second)
	return h
}

var (
	shellIfup, _   = filepath.Abs("../testdata/ifup/shell/kvm-ifup-custom")
	shellIfdown, _ = filepath.Abs("../testdata/ifup/shell/kvm-ifdown-custom")
)

func (h *benchHost) shellEnv(nic map[string]string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "STATE_DIR=" + h.dir + "/state", "NFDHCPD_STATE_DIR=" + h.dir + "/nfdhcpd", "NO_GARP=1"}
	for k, v := range nic {
		env = append(env, k+"="+v)
	}
	return env
}

// cycle runs one up and one down as whole processes and returns how long
// each took and the CPU time (user + system) of both processes.
type cycle func() (up, down, cpu time.Duration, err error)

// runPair runs two commands one after the other.
func runPair(cmds [2]func() *exec.Cmd) (up, down, cpu time.Duration, err error) {
	var took [2]time.Duration
	for i, mk := range cmds {
		cmd := mk()
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		took[i] = time.Since(start)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("%s: %v: %s", cmd.Path, err, out.String())
		}
		cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	return took[0], took[1], cpu, nil
}

func (h *benchHost) diktyoCycle(dir string) cycle {
	up, down := filepath.Join(dir, "kvm-vif-bridge"), filepath.Join(dir, "kvm-ifdown-custom")
	env := []string{"PATH=" + os.Getenv("PATH"), "DIKTYO_CONFIG=" + h.config}
	for k, v := range benchNIC("tap-m", 0) {
		env = append(env, k+"="+v)
	}
	return func() (time.Duration, time.Duration, time.Duration, error) {
		return runPair([2]func() *exec.Cmd{
			func() *exec.Cmd { c := exec.Command(up); c.Env = env; return c },
			func() *exec.Cmd { c := exec.Command(down, "tap-m"); c.Env = env; return c },
		})
	}
}

func (h *benchHost) shellCycle(garp bool) cycle {
	env := h.shellEnv(benchNIC("tap-m", 0))
	if garp {
		env = slices.DeleteFunc(env, func(s string) bool { return s == "NO_GARP=1" })
	}
	mk := func(script string) func() *exec.Cmd {
		return func() *exec.Cmd { c := exec.Command("bash", script); c.Env = env; return c }
	}
	return func() (time.Duration, time.Duration, time.Duration, error) {
		return runPair([2]func() *exec.Cmd{mk(shellIfup), mk(shellIfdown)})
	}
}

// floorCycle runs prog twice: what two process starts cost on this
// machine, the floor under any up + down done as two processes.
func floorCycle(prog string) cycle {
	mk := func() *exec.Cmd { return exec.Command(prog) }
	return func() (time.Duration, time.Duration, time.Duration, error) {
		return runPair([2]func() *exec.Cmd{mk, mk})
	}
}

// buildEmptyGo builds a Go program whose main returns at once, with the
// flags diktyo-ifup ships with.
func buildEmptyGo(b *testing.B) string {
	dir := b.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(dir, "empty")
	cmd := exec.Command("go", append(buildFlags, "-o", bin, src)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build empty Go program: %v: %s", err, out)
	}
	return bin
}

// BenchmarkUpDown measures up + down of one routed NIC with every tag, as
// whole processes (the way Ganeti runs them): diktyo-ifup against GRNET's
// shell commands (testdata/ifup/shell), with no other NIC and with
// DIKTYO_BENCH_NICS-1 (default 999) other NICs on the host. Processes
// are started from a thread inside the host namespace, so no `ip netns
// exec` is measured. Two runs of an empty Go program and of /bin/true
// show, in the same run, what two process starts cost on this machine.
// It reports p50 and p90 of up + down, p50 of up and of down alone, all
// in milliseconds, and the CPU time of both processes (median). The
// many-NIC cases alternate their cycles with cycles on the one-NIC host of
// the same implementation and also report that host's p50 and CPU
// (nics=1-p50-ms, nics=1-cpu-ms) and the growth in percent: both sides
// then see the same machine load, which on a shared VM drifts between
// sub-benchmarks.
func BenchmarkUpDown(b *testing.B) {
	nettest.RequireRoot(b, "nft", "iptables", "ip6tables", "ebtables", "arptables")
	if binary == "" {
		b.Skip("diktyo-ifup not built")
	}
	links := b.TempDir()
	for _, name := range []string{"kvm-vif-bridge", "kvm-ifdown-custom"} {
		if err := os.Symlink(binary, filepath.Join(links, name)); err != nil {
			b.Fatal(err)
		}
	}
	many := 1000
	if v, err := strconv.Atoi(os.Getenv("DIKTYO_BENCH_NICS")); err == nil && v > 1 {
		many = v
	}
	type benchCase struct {
		impl string
		nics int
		garp bool
	}
	cases := []benchCase{{"floor-go", 1, false}, {"floor-true", 1, false},
		{"diktyo", 1, false}, {"diktyo", many, false}, {"shell", 1, false}, {"shell", many, false}}
	if _, err := exec.LookPath("arping"); err == nil {
		cases = append(cases, benchCase{"shell+arping", 1, true})
	}
	emptyGo := buildEmptyGo(b)
	type hostCycle struct {
		h   *benchHost
		run cycle
	}
	oneNIC := map[string]hostCycle{} // per impl, for the interleaved reference
	for _, c := range cases {
		var run cycle
		var h *benchHost
		switch c.impl {
		case "floor-go":
			h, run = newBenchHost(b, "diktyo", 1), floorCycle(emptyGo)
		case "floor-true":
			h, run = newBenchHost(b, "diktyo", 1), floorCycle("/bin/true")
		case "diktyo":
			h = newBenchHost(b, "diktyo", c.nics)
			run = h.diktyoCycle(links)
		default:
			h = newBenchHost(b, "shell", c.nics)
			run = h.shellCycle(c.garp)
		}
		ref, interleave := oneNIC[c.impl]
		if c.nics == 1 {
			oneNIC[c.impl] = hostCycle{h, run}
		}
		b.Run(fmt.Sprintf("%s/nics=%d", c.impl, c.nics), func(b *testing.B) {
			var s, refS samples
			b.ResetTimer()
			for i := range b.N {
				// With many NICs, each cycle is paired with one on the
				// one-NIC host, in alternating order, so that the growth
				// is measured under the same machine load.
				if interleave && i%2 == 1 {
					if err := refS.add(ref.h, ref.run); err != nil {
						b.Fatal(err)
					}
				}
				if err := s.add(h, run); err != nil {
					b.Fatal(err)
				}
				if interleave && i%2 == 0 {
					if err := refS.add(ref.h, ref.run); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			p50 := percentile(s.tot, 0.5)
			b.ReportMetric(p50, "p50-ms")
			b.ReportMetric(percentile(s.tot, 0.9), "p90-ms")
			b.ReportMetric(percentile(s.ups, 0.5), "up-p50-ms")
			b.ReportMetric(percentile(s.downs, 0.5), "down-p50-ms")
			b.ReportMetric(percentile(s.cpus, 0.5), "cpu-ms")
			if interleave {
				one := percentile(refS.tot, 0.5)
				b.ReportMetric(one, "nics=1-p50-ms")
				b.ReportMetric(percentile(refS.cpus, 0.5), "nics=1-cpu-ms")
				b.ReportMetric(100*(p50-one)/one, "growth-%")
			}
		})
	}
}

// samples are the timings of the cycles of one benchmark case.
type samples struct{ tot, ups, downs, cpus []time.Duration }

// add runs one cycle in h's namespace and records it.
func (s *samples) add(h *benchHost, run cycle) error {
	return h.ns.Do(func() error {
		up, down, cpu, err := run()
		if err != nil {
			return err
		}
		s.tot, s.ups, s.downs, s.cpus = append(s.tot, up+down), append(s.ups, up), append(s.downs, down), append(s.cpus, cpu)
		return nil
	})
}

// percentile returns the p-th percentile of d in milliseconds (d is
// sorted in place).
func percentile(d []time.Duration, p float64) float64 {
	slices.Sort(d)
	return float64(d[min(len(d)-1, int(p*float64(len(d))))].Microseconds()) / 1000
}
