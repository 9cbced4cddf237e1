package hostnet

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/diktyo/diktyo/pkg/netplan"
)

// execOVS runs the ovs-vsctl binary: there is no netlink way to add a
// port to an Open vSwitch bridge, only OVSDB.
func execOVS(db string, timeout time.Duration) func(args ...string) ([]byte, error) {
	return func(args ...string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Second)
		defer cancel()
		full := []string{"--timeout=" + strconv.Itoa(int((timeout+time.Second-1)/time.Second))}
		if db != "" {
			full = append(full, "--db="+db)
		}
		full = append(full, args...)
		cmd := exec.CommandContext(ctx, "ovs-vsctl", full...)
		cmd.WaitDelay = time.Second
		out, err := cmd.CombinedOutput()
		if err != nil {
			return out, fmt.Errorf("%w", err)
		}
		return out, nil
	}
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
		msg := string(bytes.TrimSpace(out))
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("%s: %w: %s", what, ErrOVS, msg)
	}
	return nil
}

func validVLAN(v int) bool { return v >= 1 && v <= 4094 }
