package ganetisync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/diktyo/diktyo/pkg/ipam"
)

// Source is where Ganeti's view comes from.
type Source interface {
	// Networks returns the named networks (every network when none is
	// named).
	Networks(ctx context.Context, names ...string) ([]Network, error)
	// Instances returns every instance with its NICs.
	Instances(ctx context.Context) ([]Instance, error)
}

// ErrGaneti: a gnt-* command failed or printed what this package cannot
// read.
var ErrGaneti = errors.New("ganeti query failed")

// DefaultCLITimeout bounds one gnt-* command.
const DefaultCLITimeout = 60 * time.Second

// CLI reads Ganeti through its list commands, run on the master node:
//
//	gnt-network list --no-headers --separator='|' -o name,uuid,network,gateway,network6,gateway6,mac_prefix,tags,group_list,external_reservations
//	gnt-instance list --no-headers --separator='|' -o name,nic.uuids,nic.names,nic.ips,nic.macs,nic.links,nic.networks
//
// The commands run with a clean environment (PATH, HOME=/, LANG=C.UTF-8):
// Ganeti's hook variables must not reach them. Both are lock-free queries
// of the master daemon, so a hook may run them while its job holds locks.
type CLI struct {
	// Dir holds gnt-network and gnt-instance ("": found on PATH, else in
	// /usr/sbin).
	Dir string
	// PATH for the commands ("": the caller's, else a default).
	Path string
	// Timeout bounds each command (0: DefaultCLITimeout).
	Timeout time.Duration
}

// The output fields, in order.
var (
	networkFields  = []string{"name", "uuid", "network", "gateway", "network6", "gateway6", "mac_prefix", "tags", "group_list", "external_reservations"}
	instanceFields = []string{"name", "nic.uuids", "nic.names", "nic.ips", "nic.macs", "nic.links", "nic.networks"}
)

// sep separates fields: no Ganeti name or value contains it.
const sep = "|"

// Networks implements Source.
func (c CLI) Networks(ctx context.Context, names ...string) ([]Network, error) {
	args := append([]string{"list", "--no-headers", "--separator=" + sep, "-o", strings.Join(networkFields, ",")}, names...)
	out, err := c.run(ctx, "gnt-network", args...)
	if err != nil {
		return nil, err
	}
	return ParseNetworks(out)
}

// Instances implements Source.
func (c CLI) Instances(ctx context.Context) ([]Instance, error) {
	out, err := c.run(ctx, "gnt-instance", "list", "--no-headers", "--separator="+sep, "-o", strings.Join(instanceFields, ","))
	if err != nil {
		return nil, err
	}
	return ParseInstances(out)
}

func (c CLI) command(name string) string {
	if c.Dir != "" {
		return filepath.Join(c.Dir, name)
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return filepath.Join("/usr/sbin", name)
}

func (c CLI) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultCLITimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	path := c.Path
	if path == "" {
		path = os.Getenv("PATH")
	}
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	cmd := exec.CommandContext(ctx, c.command(name), args...)
	cmd.Env = []string{"PATH=" + path, "HOME=/", "LANG=C.UTF-8"}
	cmd.Dir = "/"
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.Join(strings.Fields(stderr.String()), " ")
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out after %v", timeout)
		}
		return nil, fmt.Errorf("%w: %s %s: %v: %s", ErrGaneti, name, args[0], err, msg)
	}
	return stdout.Bytes(), nil
}

// unset reports Ganeti's ways of printing no value: "", "-" (unavailable)
// and "None".
func unset(s string) bool { return s == "" || s == "-" || s == "None" }

// ParseNetworks reads `gnt-network list` output with the fields and
// separator CLI uses.
func ParseNetworks(out []byte) ([]Network, error) {
	var nets []Network
	for i, line := range lines(out) {
		f, err := split(line, "gnt-network", i, networkFields)
		if err != nil {
			return nil, err
		}
		n := Network{Name: f[0], UUID: f[1]}
		bad := func(field string, err error) error {
			return fmt.Errorf("%w: gnt-network line %d (%s): %s: %v", ErrGaneti, i+1, n.Name, field, err)
		}
		if n.Subnet, err = optPrefix(f[2]); err != nil {
			return nil, bad("network", err)
		}
		if n.Gateway, err = optAddr(f[3]); err != nil {
			return nil, bad("gateway", err)
		}
		if n.Subnet6, err = optPrefix(f[4]); err != nil {
			return nil, bad("network6", err)
		}
		if n.Gateway6, err = optAddr(f[5]); err != nil {
			return nil, bad("gateway6", err)
		}
		if !unset(f[6]) {
			n.MACPrefix = f[6]
		}
		n.Tags = splitList(f[7], ",")
		if n.Groups, err = parseGroupList(f[8]); err != nil {
			return nil, bad("group_list", err)
		}
		n.External = []netip.Addr{}
		for _, s := range splitList(f[9], ",") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, bad("external_reservations", err)
			}
			n.External = append(n.External, a)
		}
		if n.Name == "" {
			return nil, bad("name", errors.New("empty"))
		}
		nets = append(nets, n)
	}
	return nets, nil
}

// ParseInstances reads `gnt-instance list` output with the fields and
// separator CLI uses. NIC networks are left as UUIDs (NetworkUUID); Sync
// names them from the networks.
func ParseInstances(out []byte) ([]Instance, error) {
	var insts []Instance
	for i, line := range lines(out) {
		f, err := split(line, "gnt-instance", i, instanceFields)
		if err != nil {
			return nil, err
		}
		inst := Instance{Name: f[0]}
		bad := func(field string, err error) error {
			return fmt.Errorf("%w: gnt-instance line %d (%s): %s: %v", ErrGaneti, i+1, inst.Name, field, err)
		}
		cols := make([][]string, len(f)-1)
		for j := 1; j < len(f); j++ {
			v, err := parseValueList(f[j])
			if err != nil {
				return nil, bad(instanceFields[j], err)
			}
			cols[j-1] = v
		}
		uuids, names, ips, macs, links, networks := cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]
		n := len(uuids)
		for j, c := range cols {
			if len(c) != n {
				return nil, bad(instanceFields[j+1], fmt.Errorf("%d values for %d NICs", len(c), n))
			}
		}
		for k := range n {
			nic := NIC{Index: k, UUID: uuids[k], Name: names[k], Link: links[k], NetworkUUID: networks[k]}
			var err error
			if nic.IP, err = optAddr(ips[k]); err != nil {
				return nil, bad("nic.ips", err)
			}
			if macs[k] != "" {
				if nic.MAC, err = net.ParseMAC(macs[k]); err != nil {
					return nil, bad("nic.macs", err)
				}
			}
			inst.NICs = append(inst.NICs, nic)
		}
		if inst.Name == "" {
			return nil, bad("name", errors.New("empty"))
		}
		insts = append(insts, inst)
	}
	return insts, nil
}

// split cuts line i of cmd's output into its fields.
func split(line, cmd string, i int, fields []string) ([]string, error) {
	f := strings.Split(line, sep)
	if len(f) != len(fields) {
		return nil, fmt.Errorf("%w: %s line %d: %d fields, want %d: %q", ErrGaneti, cmd, i+1, len(f), len(fields), line)
	}
	return f, nil
}

func lines(out []byte) []string {
	var r []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimRight(l, "\r"); strings.TrimSpace(l) != "" {
			r = append(r, l)
		}
	}
	return r
}

func optPrefix(s string) (netip.Prefix, error) {
	if unset(s) {
		return netip.Prefix{}, nil
	}
	return netip.ParsePrefix(s)
}

func optAddr(s string) (netip.Addr, error) {
	if unset(s) {
		return netip.Addr{}, nil
	}
	return netip.ParseAddr(s)
}

// splitList splits a joined list, dropping blanks.
func splitList(s, by string) []string {
	var r []string
	for _, x := range strings.Split(s, by) {
		if x = strings.TrimSpace(x); x != "" {
			r = append(r, x)
		}
	}
	return r
}

// parseValueList reads one list field of gnt-instance: either joined with
// commas ("198.51.100.2,None") or, for the fields gnt-instance does not
// format, the Python list ("['a', None]", "[u'a']" from Python 2). Unset
// items ("None", "-") become "".
func parseValueList(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	var items []string
	if strings.HasPrefix(s, "[") {
		if !strings.HasSuffix(s, "]") {
			return nil, fmt.Errorf("unterminated list %q", s)
		}
		body := strings.TrimSpace(s[1 : len(s)-1])
		for body != "" {
			var item string
			switch {
			case strings.HasPrefix(body, "None"):
				item, body = "None", body[len("None"):]
			default:
				q := strings.TrimPrefix(body, "u")
				if q == "" || (q[0] != '\'' && q[0] != '"') {
					return nil, fmt.Errorf("bad list item in %q", s)
				}
				end := strings.IndexByte(q[1:], q[0])
				if end < 0 {
					return nil, fmt.Errorf("unterminated string in %q", s)
				}
				item, body = q[1:1+end], q[2+end:]
			}
			items = append(items, item)
			body = strings.TrimSpace(body)
			if body != "" {
				if body[0] != ',' {
					return nil, fmt.Errorf("bad list %q", s)
				}
				body = strings.TrimSpace(body[1:])
			}
		}
	} else if s != "" {
		items = strings.Split(s, ",")
	}
	for i, it := range items {
		if it = strings.TrimSpace(it); unset(it) {
			it = ""
		}
		items[i] = it
	}
	return items, nil
}

// parseGroupList reads gnt-network's group_list: "default (routed, 100, ),
// g2 (bridged, br0, .10)"; "-" is a parameter the group does not set.
func parseGroupList(s string) (map[string]ipam.Connection, error) {
	groups := map[string]ipam.Connection{}
	rest := strings.TrimSpace(s)
	for rest != "" {
		open := strings.Index(rest, " (")
		end := strings.Index(rest, ")")
		if open < 0 || end < open {
			return nil, fmt.Errorf("bad group list %q", s)
		}
		name := strings.TrimSpace(rest[:open])
		parts := strings.Split(rest[open+2:end], ",")
		for len(parts) < 3 {
			parts = append(parts, "")
		}
		for i := range parts {
			if parts[i] = strings.TrimSpace(parts[i]); parts[i] == "-" {
				parts[i] = ""
			}
		}
		groups[name] = ipam.Connection{Mode: ipam.Mode(parts[0]), Link: parts[1], VLAN: parts[2]}
		rest = strings.TrimSpace(rest[end+1:])
		rest = strings.TrimSpace(strings.TrimPrefix(rest, ","))
	}
	return groups, nil
}
