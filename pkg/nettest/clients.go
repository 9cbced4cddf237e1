package nettest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ClientTimeout bounds every client run (a client that hangs is killed).
const ClientTimeout = 90 * time.Second

// scriptText is the client script: a no-op for the system that appends the
// client's environment (and its first argument, udhcpc's event) to a file.
const scriptText = `#!/bin/sh
{ printf '` + EventKey + `=%%s\0' "$1"; env -0; printf '\0'; } >> '%s'
exit 0
`

// clientRun is the scratch directory of one client run.
type clientRun struct {
	dir, script, out string
}

func newClientRun(t testing.TB, name string) (*clientRun, error) {
	dir, err := os.MkdirTemp(t.TempDir(), name+"-")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	r := &clientRun{dir: dir, script: filepath.Join(dir, "script"), out: filepath.Join(dir, "env")}
	if err := os.WriteFile(r.script, fmt.Appendf(nil, scriptText, r.out), 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}

func (r *clientRun) path(name string) string { return filepath.Join(r.dir, name) }

func (r *clientRun) records() []map[string]string {
	b, _ := os.ReadFile(r.out)
	return ParseEnvRecords(b)
}

// run runs cmd with its output in a file (never a pipe: dhcpcd and dhclient
// misbehave when their stdout goes away) and returns that output.
func (r *clientRun) run(cmd *exec.Cmd) (string, error) {
	f, err := os.Create(r.path("output"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Run()
	b, _ := os.ReadFile(f.Name())
	return string(b), err
}

// Udhcpc runs busybox udhcpc once on ifname in ns (`udhcpc -i IF -f -q -n
// -t 3 -T 2 -s SCRIPT`, then args, which may override those) and returns
// the lease it reported to its script.
func Udhcpc(t testing.TB, ns *NS, ifname string, args ...string) (Lease4, error) {
	t.Helper()
	RequireRoot(t, "udhcpc")
	r, err := newClientRun(t, "udhcpc")
	if err != nil {
		return Lease4{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), ClientTimeout)
	defer cancel()
	argv := append([]string{"udhcpc", "-i", ifname, "-f", "-q", "-n", "-t", "3", "-T", "2", "-s", r.script}, args...)
	out, err := r.run(ns.Exec(ctx, argv...))
	l, lerr := UdhcpcLease(r.records())
	if lerr != nil {
		return l, fmt.Errorf("netns %s: %w (exit: %v): %s", ns, lerr, err, strings.TrimSpace(out))
	}
	return l, nil
}

// dhclientConf is dhclient's -cf: ask for what the tests check, give up
// after 30 s.
const dhclientConf = `timeout 30;
retry 1;
initial-interval 1;
request subnet-mask, broadcast-address, routers, domain-name, domain-name-servers, domain-search, host-name, interface-mtu,
	dhcp6.name-servers, dhcp6.domain-search;
`

// configureText is added to the client script of a Dhclient that
// configures its interface: the address only (no routes, never
// resolv.conf), inside the client's namespace.
const configureText = `case "$reason" in BOUND|RENEW|REBIND|REBOOT)
	ip -4 addr replace "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
esac
`

// Dhclient is a running `dhclient -4 -d` whose script records every call.
type Dhclient struct {
	r      *clientRun
	ns     *NS
	cmd    *exec.Cmd
	out    *os.File
	cancel context.CancelFunc
	exited chan struct{}
	err    error
}

// StartDhclient4 starts ISC dhclient (`dhclient -4 -d -sf SCRIPT -cf CONF
// -lf L -pf P`, then args) on ifname in ns and registers its stop. With
// configure, its script also sets the leased address on ifname, so that
// the client can renew by unicast as a real VM does; otherwise it is a
// no-op for the system. It runs until Stop, for at most ClientTimeout.
func StartDhclient4(t testing.TB, ns *NS, ifname string, configure bool, args ...string) (*Dhclient, error) {
	t.Helper()
	RequireRoot(t, "dhclient")
	r, err := newClientRun(t, "dhclient4")
	if err != nil {
		return nil, err
	}
	if configure {
		s := fmt.Sprintf(scriptText, r.out)
		s = strings.Replace(s, "exit 0\n", configureText+"exit 0\n", 1)
		if err := os.WriteFile(r.script, []byte(s), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(r.path("conf"), []byte(dhclientConf), 0o644); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), ClientTimeout)
	argv := append([]string{"dhclient", "-4", "-d", "-cf", r.path("conf"), "-sf", r.script,
		"-lf", r.path("leases"), "-pf", r.path("pid")}, args...)
	d := &Dhclient{r: r, ns: ns, cancel: cancel, exited: make(chan struct{})}
	d.cmd = ns.Exec(ctx, append(argv, ifname)...)
	if d.out, err = os.Create(r.path("output")); err != nil {
		cancel()
		return nil, err
	}
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	// Own process group: ip netns exec execs dhclient, and whatever it
	// forks dies with it.
	d.cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true}
	d.cmd.Cancel = func() error { return unix.Kill(-d.cmd.Process.Pid, unix.SIGKILL) }
	if err := d.cmd.Start(); err != nil {
		cancel()
		d.out.Close()
		return nil, fmt.Errorf("netns %s: dhclient: %w", ns, err)
	}
	go func() { d.err = d.cmd.Wait(); d.out.Close(); close(d.exited) }()
	t.Cleanup(d.Stop)
	return d, nil
}

// Stop kills dhclient and waits for it; it is idempotent.
func (d *Dhclient) Stop() {
	d.cancel()
	<-d.exited
}

// Exited reports whether dhclient has exited, and its error.
func (d *Dhclient) Exited() (bool, error) {
	select {
	case <-d.exited:
		return true, d.err
	default:
		return false, nil
	}
}

// Output is dhclient's log so far.
func (d *Dhclient) Output() string {
	b, _ := os.ReadFile(d.r.path("output"))
	return string(b)
}

// Leases returns every lease dhclient reported so far (BOUND, RENEW,
// REBIND, REBOOT), oldest first; records that do not parse are errors.
func (d *Dhclient) Leases() ([]Lease4, error) {
	var out []Lease4
	for _, rec := range d.r.records() {
		switch rec["reason"] {
		case "BOUND", "RENEW", "REBIND", "REBOOT":
			l, err := parseLease(rec, iscFields, rec["reason"])
			if err != nil {
				return out, fmt.Errorf("netns %s: dhclient %s: %w", d.ns, rec["reason"], err)
			}
			out = append(out, l)
		}
	}
	return out, nil
}

// WaitLeases waits until dhclient has reported n leases and returns them.
func (d *Dhclient) WaitLeases(n int, timeout time.Duration) ([]Lease4, error) {
	deadline := time.Now().Add(timeout)
	for {
		ls, err := d.Leases()
		if err != nil || len(ls) >= n {
			return ls, err
		}
		if done, werr := d.Exited(); done {
			return ls, fmt.Errorf("netns %s: dhclient exited (%v) after %d of %d leases: %s", d.ns, werr, len(ls), n, strings.TrimSpace(d.Output()))
		}
		if time.Now().After(deadline) {
			return ls, fmt.Errorf("netns %s: dhclient: %w: %d of %d leases within %v: %s", d.ns, ErrNoAnswer, len(ls), n, timeout, strings.TrimSpace(d.Output()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Dhclient4 runs ISC dhclient (`dhclient -4 -1 -d -sf SCRIPT ...`, the
// script a no-op for the system) on ifname in ns until it reports a lease,
// then kills it and returns the lease.
func Dhclient4(t testing.TB, ns *NS, ifname string, args ...string) (Lease4, error) {
	t.Helper()
	d, err := StartDhclient4(t, ns, ifname, false, append([]string{"-1"}, args...)...)
	if err != nil {
		return Lease4{}, err
	}
	defer d.Stop()
	ls, err := d.WaitLeases(1, ClientTimeout)
	if err != nil {
		return Lease4{}, err
	}
	return ls[0], nil
}

// Dhclient6Stateless runs `dhclient -6 -S -1 -d` (Information-Request) on
// ifname in ns once its link-local address is usable, and returns the DNS
// servers and domain search list of the Reply.
func Dhclient6Stateless(t testing.TB, ns *NS, ifname string, args ...string) (Info6, error) {
	t.Helper()
	RequireRoot(t, "dhclient")
	if _, err := WaitLinkLocal(ns, ifname, 30*time.Second); err != nil {
		return Info6{}, err
	}
	r, err := newClientRun(t, "dhclient6")
	if err != nil {
		return Info6{}, err
	}
	if err := os.WriteFile(r.path("conf"), []byte(dhclientConf), 0o644); err != nil {
		return Info6{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), ClientTimeout)
	defer cancel()
	argv := append([]string{"dhclient", "-6", "-S", "-1", "-d", "-cf", r.path("conf"), "-sf", r.script,
		"-lf", r.path("leases"), "-pf", r.path("pid")}, args...)
	out, err := r.run(ns.Exec(ctx, append(argv, ifname)...))
	in, ierr := Info6Of(r.records())
	if ierr != nil {
		return in, fmt.Errorf("netns %s: dhclient -6 -S: %w (exit: %v): %s", ns, ierr, err, strings.TrimSpace(out))
	}
	return in, nil
}

// dhcpcdConf replaces /etc/dhcpcd.conf: EUI-64 SLAAC addresses (Debian's
// default is stable-private) and the options the tests check.
const dhcpcdConf = `option domain_name_servers, domain_name, domain_search, interface_mtu
require dhcp_server_identifier
slaac hwaddr
`

// dhcpcd runs dhcpcd with args in ns, in a private mount namespace whose
// /var/lib/dhcpcd and /run are empty tmpfs (its state paths are global),
// with the package's script and config.
func dhcpcd(t testing.TB, ns *NS, ifname string, args []string) (*clientRun, string, error) {
	return dhcpcdUntil(t, ns, ifname, args, nil)
}

// dhcpcdUntil is dhcpcd; with done non-nil dhcpcd runs without -1 (it
// would exit as soon as it has an address) and is stopped once done
// reports true for its script records, or at ClientTimeout.
func dhcpcdUntil(t testing.TB, ns *NS, ifname string, args []string, done func([]map[string]string) bool) (*clientRun, string, error) {
	t.Helper()
	RequireRoot(t, "dhcpcd", "unshare")
	r, err := newClientRun(t, "dhcpcd")
	if err != nil {
		return nil, "", err
	}
	if err := os.WriteFile(r.path("conf"), []byte(dhcpcdConf), 0o644); err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), ClientTimeout)
	defer cancel()
	sh := `mount -t tmpfs nettest /var/lib/dhcpcd && mount -t tmpfs nettest /run && exec dhcpcd "$@"`
	argv := []string{"unshare", "-m", "sh", "-c", sh, "dhcpcd", "-f", r.path("conf"), "-c", r.script, "--nohook", "resolv.conf", "-B"}
	if done == nil {
		argv = append(argv, "-1")
	}
	argv = append(argv, args...)
	cmd := ns.Exec(ctx, append(argv, ifname)...)
	if done != nil {
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
					if done(r.records()) {
						cancel()
						return
					}
				}
			}
		}()
	}
	out, err := r.run(cmd)
	if done != nil && done(r.records()) {
		err = nil // stopped by us once it had what was asked
	}
	return r, out, err
}

// Dhcpcd4 runs `dhcpcd -4 -1 -B -A -t 30` (-A: no ARP probing, which would
// add about 8 s) on ifname in ns and returns the lease it reported. dhcpcd
// also configures the address and routes in ns.
func Dhcpcd4(t testing.TB, ns *NS, ifname string, args ...string) (Lease4, error) {
	t.Helper()
	r, out, err := dhcpcd(t, ns, ifname, append([]string{"-4", "-A", "-t", "30"}, args...))
	if r == nil {
		return Lease4{}, err
	}
	l, lerr := ISCLease(r.records())
	if lerr != nil {
		return l, fmt.Errorf("netns %s: dhcpcd -4: %w (exit: %v): %s", ns, lerr, err, strings.TrimSpace(out))
	}
	return l, nil
}

// SLAAC is what dhcpcd -6 configured on an interface.
type SLAAC struct {
	// Addrs are the interface's global IPv6 addresses afterwards.
	Addrs []netip.Prefix
	// Routers are the gateways of the IPv6 default routes out of it.
	Routers []netip.Addr
	// Info is the stateless DHCPv6 information dhcpcd reported (zero
	// when the RA's O flag was clear).
	Info Info6
	// Output is dhcpcd's log.
	Output string
}

// Dhcpcd6 runs `dhcpcd -6 -B -t 30` (router solicitation, SLAAC, then an
// Information-Request when the RA says O) on ifname in ns, with the
// kernel's own RA processing off there so that everything found was done
// by dhcpcd, until dhcpcd reported the DHCPv6 information (so only where
// the RA says O), and reads the addresses and default routes back.
func Dhcpcd6(t testing.TB, ns *NS, ifname string, args ...string) (SLAAC, error) {
	t.Helper()
	RequireRoot(t, "dhcpcd", "unshare")
	ns.Sysctl(t, "net/ipv6/conf/"+ifname+"/accept_ra", "0")
	// Run until the stateless DHCPv6 information is in, not only the
	// address: dhcpcd -1 may exit before the Reply arrives.
	r, out, err := dhcpcdUntil(t, ns, ifname, append([]string{"-6", "-t", "30"}, args...), func(recs []map[string]string) bool {
		_, err := Info6Of(recs)
		return err == nil
	})
	if r == nil {
		return SLAAC{}, err
	}
	s := SLAAC{Output: out}
	s.Info, _ = Info6Of(r.records())
	l, lerr := ns.LinkByName(ifname)
	if lerr != nil {
		return s, lerr
	}
	addrs, lerr := l.Addrs(netlink.FAMILY_V6)
	if lerr != nil {
		return s, lerr
	}
	for _, a := range addrs {
		p, ok := prefixOf(a)
		if ok && !p.Addr().IsLinkLocalUnicast() {
			s.Addrs = append(s.Addrs, p)
		}
	}
	routes, lerr := ns.Routes(netlink.FAMILY_V6)
	if lerr != nil {
		return s, lerr
	}
	for _, rt := range routes {
		if rt.LinkIndex == l.Index && (rt.Dst == nil || rt.Dst.IP.IsUnspecified()) && rt.Gw != nil {
			if gw, ok := netip.AddrFromSlice(rt.Gw); ok {
				s.Routers = append(s.Routers, gw)
			}
		}
	}
	if len(s.Addrs) == 0 {
		return s, fmt.Errorf("netns %s: dhcpcd -6: %w: no global address on %s (exit: %v): %s", ns, ErrNoAnswer, ifname, err, strings.TrimSpace(out))
	}
	return s, nil
}

func prefixOf(a netlink.Addr) (netip.Prefix, bool) {
	ip, ok := netip.AddrFromSlice(a.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := a.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones), true
}

// WaitLinkLocal waits until ifname in ns has a link-local IPv6 address
// that is no longer tentative (clients sending from :: look like duplicate
// address detection), and returns it.
func WaitLinkLocal(ns *NS, ifname string, timeout time.Duration) (netip.Addr, error) {
	deadline := time.Now().Add(timeout)
	for {
		l, err := ns.LinkByName(ifname)
		if err != nil {
			return netip.Addr{}, err
		}
		addrs, err := l.Addrs(netlink.FAMILY_V6)
		if err != nil {
			return netip.Addr{}, err
		}
		for _, a := range addrs {
			p, ok := prefixOf(a)
			if ok && p.Addr().IsLinkLocalUnicast() && a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0 {
				return p.Addr(), nil
			}
		}
		if time.Now().After(deadline) {
			return netip.Addr{}, fmt.Errorf("netns %s: %s: no usable link-local address within %v: %v", ns, ifname, timeout, addrs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Rdisc6 runs `rdisc6 -1 -n -r 3 -w 2000` on ifname in ns (after its
// link-local address is usable) and parses the first advertisement.
func Rdisc6(t testing.TB, ns *NS, ifname string, args ...string) (RA, error) {
	t.Helper()
	RequireRoot(t, "rdisc6")
	if _, err := WaitLinkLocal(ns, ifname, 30*time.Second); err != nil {
		return RA{}, err
	}
	argv := append([]string{"rdisc6", "-1", "-n", "-r", "3", "-w", "2000"}, args...)
	out, err := ns.Output(append(argv, ifname)...)
	ra, perr := ParseRdisc6(out)
	if perr != nil {
		return ra, errors.Join(perr, err)
	}
	return ra, nil
}

// Ndisc6 runs `ndisc6 -1 -n -r 3 -w 1000 TARGET IF` in ns (after the
// link-local address is usable) and parses the advertisement.
func Ndisc6(t testing.TB, ns *NS, target netip.Addr, ifname string, args ...string) (NA, error) {
	t.Helper()
	RequireRoot(t, "ndisc6")
	if _, err := WaitLinkLocal(ns, ifname, 30*time.Second); err != nil {
		return NA{}, err
	}
	argv := append([]string{"ndisc6", "-1", "-n", "-r", "3", "-w", "1000"}, args...)
	out, err := ns.Output(append(argv, target.String(), ifname)...)
	na, perr := ParseNdisc6(out)
	if perr != nil {
		return na, errors.Join(perr, err)
	}
	return na, nil
}
