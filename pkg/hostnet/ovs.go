package hostnet

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/diktyo/diktyo/pkg/netplan"
	"github.com/diktyo/diktyo/pkg/ovsflow"
)

// execOVS runs the ovs-vsctl binary: there is no netlink way to add a
// port to an Open vSwitch bridge, only OVSDB.
func execOVS(db string, timeout time.Duration) func(args ...string) ([]byte, error) {
	return func(args ...string) ([]byte, error) {
		if db != "" {
			args = append([]string{"--db=" + db}, args...)
		}
		return runOVSTool(timeout, nil, "ovs-vsctl", args...)
	}
}

// execOFCtl runs the ovs-ofctl binary (OpenFlow flows) with stdin.
func execOFCtl(timeout time.Duration) func(stdin []byte, args ...string) ([]byte, error) {
	return func(stdin []byte, args ...string) ([]byte, error) {
		return runOVSTool(timeout, stdin, "ovs-ofctl", args...)
	}
}

// runOVSTool runs an Open vSwitch command-line tool with its own
// --timeout and a deadline a second later.
func runOVSTool(timeout time.Duration, stdin []byte, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Second)
	defer cancel()
	full := append([]string{"--timeout=" + strconv.Itoa(int((timeout+time.Second-1)/time.Second))}, args...)
	cmd := exec.CommandContext(ctx, name, full...)
	cmd.WaitDelay = time.Second
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%w", err)
	}
	return out, nil
}

// ofTarget is how ovs-ofctl reaches bridge's OpenFlow management socket:
// BRIDGE.mgmt in Open vSwitch's run directory, which is the directory of
// the OVSDB socket when db names one ("unix:/run/x/db.sock"), else the
// default one ovs-ofctl knows.
func ofTarget(db, bridge string) string {
	if path, ok := strings.CutPrefix(db, "unix:"); ok {
		return "unix:" + filepath.Join(filepath.Dir(path), bridge+".mgmt")
	}
	return bridge
}

// ovsAddArgs is one ovs-vsctl transaction that adds tap to the bridge if
// needed and (re)sets its VLAN columns: --may-exist alone would keep an
// existing port's old tag. Ganeti's VLAN syntax maps as its net-common
// does: ".10" tag only (access), ":10:20" trunks only (trunk),
// "10:20:30" tag 10 native-untagged with trunks 20,30.
func ovsAddArgs(p netplan.OVSPort, tap string) []string {
	tag, trunks, mode := "[]", "[]", "[]"
	if p.Tag != 0 {
		tag = strconv.Itoa(p.Tag)
	}
	if len(p.Trunks) > 0 {
		s := make([]string, len(p.Trunks))
		for i, t := range p.Trunks {
			s[i] = strconv.Itoa(t)
		}
		trunks = "[" + strings.Join(s, ",") + "]"
	}
	if p.Tag != 0 && len(p.Trunks) > 0 {
		mode = "native-untagged"
	}
	return []string{"--may-exist", "add-port", p.Bridge, tap,
		"--", "set", "Port", tap, "tag=" + tag, "trunks=" + trunks, "vlan_mode=" + mode}
}

func (a *Applier) ovsRun(what string, args ...string) error {
	out, err := a.ovs(args...)
	if err != nil {
		return ovsError(what, out, err)
	}
	return nil
}

// ovsError is the error of a failed Open vSwitch tool: what, and the
// tool's own message.
func ovsError(what string, out []byte, err error) error {
	msg := string(bytes.TrimSpace(out))
	if msg == "" {
		msg = err.Error()
	}
	return fmt.Errorf("%s: %w: %s", what, ErrOVS, strings.ReplaceAll(msg, "\n", "; "))
}

func validVLAN(v int) bool { return v >= 1 && v <= 4094 }

// ovsFlows writes the port's OpenFlow flows (its guard, see pkg/ovsflow)
// in one ovs-ofctl transaction that also replaces any earlier flows of the
// tap, and records the bridge. The port must exist: ovs-ofctl resolves
// in_port by name.
func (s *applyState) ovsFlows(p netplan.OVSPort) error {
	if p.Guard == nil {
		return nil
	}
	f, err := ovsflow.Build(s.tap, p)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if p.Guard.Queues != nil {
		s.a.warnDown(s.tap, p.Bridge)
	}
	target := ofTarget(s.a.ovsDB, p.Bridge)
	if err := s.a.ofctlRun(s.tap+": write OpenFlow flows on "+p.Bridge, f.Input(), "--bundle", "add-flows", target, "-"); err != nil {
		return err
	}
	s.rec.OVSFlows = p.Bridge
	s.undo = append(s.undo, func() error { return s.a.removeOVSFlows(s.tap, p.Bridge) })
	return nil
}

// warnDown logs when the bridge's local interface, where steered DHCP,
// DHCPv6, RS and NS reach the host stack and nfdhcpd, is down.
func (a *Applier) warnDown(tap, bridge string) {
	l, err := a.linkByName(bridge)
	if err == nil && l.Attrs().Flags&net.FlagUp != 0 {
		return
	}
	a.log.Warn("Open vSwitch bridge interface is not up: nfdhcpd does not see the NIC's DHCP, DHCPv6, RS and NS",
		"tap", tap, "bridge", bridge, "err", err)
}

// removeOVSFlows deletes the tap's flows (by its cookie) from bridge; a
// bridge that is gone took them with it.
func (a *Applier) removeOVSFlows(tap, bridge string) error {
	target := ofTarget(a.ovsDB, bridge)
	out, err := a.ofctl(nil, "del-flows", target, ovsflow.DeleteMatch(ovsflow.Cookie(tap)))
	if err == nil || gone(out) {
		return nil
	}
	return ovsError(tap+": delete OpenFlow flows on "+bridge, out, err)
}

// gone reports whether ovs-ofctl failed because the bridge does not exist.
func gone(out []byte) bool {
	return bytes.Contains(out, []byte("is not a bridge or a socket")) || bytes.Contains(out, []byte("No such file or directory"))
}

// recordedFlows is the bridge a record's flows are on ("" for none): the
// recorded one, or, for a record derived from a plan (an up interrupted
// before Apply returned), the port's bridge when the plan had a guard.
func recordedFlows(r Applied) string {
	if r.OVSFlows != "" {
		return r.OVSFlows
	}
	if r.OVS != nil && r.OVS.Guard != nil {
		return r.OVS.Bridge
	}
	return ""
}

func (a *Applier) ofctlRun(what string, stdin []byte, args ...string) error {
	out, err := a.ofctl(stdin, args...)
	if err != nil {
		return ovsError(what, out, err)
	}
	return nil
}
