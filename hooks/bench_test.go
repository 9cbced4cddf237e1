package main

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/diktyo/diktyo/pkg/ganeti"
)

// benchEnv is the hook environment of dump for instance i, whose one NIC
// has a fresh address of net2 (a /16 in the benchmark's pool).
func benchEnv(b *testing.B, dump string, i int) []string {
	name := fmt.Sprintf("bench%d.ganeti.test", i)
	addr := netip.AddrFrom4([4]byte{198, 18, byte(1 + i/250), byte(2 + i%250)})
	return dumpHookEnv(b, dump, func(e *ganeti.HookEnv) {
		for _, v := range []*ganeti.HookView{&e.HookView, e.Post} {
			if v == nil {
				continue
			}
			v.OpTarget = name
			v.Instance.Name = name
			v.Instance.NICs[0].IP = addr
			v.Instance.NICs[0].UUID = fmt.Sprintf("uuid-%d", i)
			v.Instance.NICs[0].Network.Subnet = netip.MustParsePrefix("198.18.0.0/16")
		}
	})
}

// BenchmarkHookProcess measures diktyo-hook as Ganeti runs it, whole
// processes on the master: an instance-add pre (check and claim the NIC's
// address), its post (the reservations are already the NIC list) and an
// instance-remove post (release; the master is the primary, without NICs
// of the instance), side by side in one run with the baselines:
// `diktyo-ipam ip allocate` on the same store and two starts of an empty
// Go program. Every op runs each case once, in turn; it reports each
// case's p50 and how many allocates a hook costs (the goal: at most 2).
func BenchmarkHookProcess(b *testing.B) {
	n := newNode(b, master, nil)
	n.mustIpam("network", "add", "--network=198.18.0.0/16", "--gateway=198.18.0.1", "net2")
	emptyGo := filepath.Join(b.TempDir(), "empty")
	src := filepath.Join(b.TempDir(), "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	build := exec.Command("go", append(buildFlags, "-o", emptyGo, src)...)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	hookCmd := func(env []string) func() error {
		return func() error {
			out, err := n.hook(env)
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		}
	}
	type benchCase struct {
		name string
		cmd  func(i int) func() error
	}
	cases := []benchCase{
		{"instance-add-pre", func(i int) func() error { return hookCmd(benchEnv(b, "kvm/instance-add-pre.env", i)) }},
		{"instance-add-post", func(i int) func() error { return hookCmd(benchEnv(b, "kvm/instance-add-post.env", i)) }},
		{"instance-remove-post", func(i int) func() error { return hookCmd(benchEnv(b, "kvm/instance-remove-post.env", i)) }},
		{"diktyo-ipam-allocate", func(i int) func() error {
			return func() error {
				_, err := n.ipam("ip", "allocate", fmt.Sprintf("--owner=alloc%d:0", i), "net2")
				return err
			}
		}},
		{"empty-go-x2", func(int) func() error {
			return func() error {
				for range 2 {
					if err := exec.Command(emptyGo).Run(); err != nil {
						return err
					}
				}
				return nil
			}
		}},
	}
	lat := make([][]time.Duration, len(cases))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for c, bc := range cases {
			b.StopTimer()
			run := bc.cmd(i)
			b.StartTimer()
			start := time.Now()
			err := run()
			lat[c] = append(lat[c], time.Since(start))
			if err != nil {
				b.Fatalf("%s: %v", bc.name, err)
			}
		}
	}
	b.StopTimer()
	p50 := make([]float64, len(cases))
	for c, bc := range cases {
		slices.Sort(lat[c])
		p50[c] = float64(lat[c][len(lat[c])/2].Microseconds()) / 1000
		b.ReportMetric(p50[c], bc.name+"-p50-ms")
	}
	worst := max(p50[0], p50[1], p50[2])
	b.ReportMetric(worst/p50[3], "hook/allocate")
}
