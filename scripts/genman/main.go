// Command genman writes the manual pages of diktyo's binaries (section 8)
// into a directory: diktyo-ipam's from its urfave/cli definitions, the
// others from their usage texts (the Usage constants, nfdhcpd's flag
// set). It must be built without the urfave_cli_no_docs tag; the Debian
// packaging runs it (go run ./scripts/genman DIR).
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/diktyo/diktyo/pkg/hook"
	"github.com/diktyo/diktyo/pkg/ifup"
	"github.com/diktyo/diktyo/pkg/ipamcli"
	"github.com/diktyo/diktyo/pkg/nfdhcpd"
	"github.com/diktyo/diktyo/pkg/version"
)

// page is a manual page built from a usage text.
type page struct {
	name, summary, usage, description, files string
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: genman DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "genman: %v\n", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("man directory %s: %w", dir, err)
	}
	ipam, err := ipamcli.ManPage()
	if err != nil {
		return fmt.Errorf("diktyo-ipam man page: %w", err)
	}
	if err := write(dir, "diktyo-ipam", ipam); err != nil {
		return err
	}
	var nfdUsage bytes.Buffer
	nfdhcpd.Run(context.Background(), []string{"nfdhcpd", "-h"}, nil, nil, io.Discard, &nfdUsage)
	for _, p := range []page{
		{
			name:    "diktyo-ifup",
			summary: "wire a Ganeti KVM NIC on its host (routed, bridged, openvswitch)",
			usage:   ifup.Usage + "\n  diktyo-ifup --version",
			description: "Ganeti runs /etc/ganeti/kvm-vif-bridge (the diktyo package's script, which runs diktyo-ifup under that name) when a NIC's tap comes up; " +
				"GRNET-patched Ganeti also runs kvm-ifup-custom and kvm-ifdown-custom. diktyo-ifup applies the NIC's " +
				"routes, proxy ARP/NDP entries, nftables rules and nfdhcpd binding file, records them per tap, and removes " +
				"exactly those on down. reconcile removes the state of taps that no longer exist; the diktyo package runs it " +
				"from the systemd timer diktyo-reconcile.timer (or from cron where systemd does not run). watch is the node daemon " +
				"(diktyo-watch.service, /etc/init.d/diktyo-watch) that removes a tap's state the moment the tap disappears, " +
				"and sets up the routed NICs of a live migration to the node as soon as Ganeti creates their taps, from what " +
				"diktyo-hook stored before the migration (Ganeti itself sets them up only after the VM has resumed there).",
			files: "/etc/default/diktyo\n/var/lib/diktyo/\n/var/lib/diktyo/incoming/\n/var/lib/nfdhcpd/\n/etc/ganeti/kvm-vif-bridge\n/run/ganeti/kvm-hypervisor/nic/",
		},
		{
			name:    "diktyo-hook",
			summary: "keep diktyo's IP pool and host state in step with Ganeti",
			usage:   hook.Usage + "\n  diktyo-hook --version",
			description: "Linked as \"diktyo\" into Ganeti's hook directories under /etc/ganeti/hooks (diktyo-hook install; " +
				"the diktyo package does this in its postinst and undoes it when removed), it checks and reserves NIC addresses " +
				"before instance-add and instance-modify, mirrors networks into the pool, stores the routed NICs of a live " +
				"migration on its target for diktyo-ifup watch, and tears down NIC state after " +
				"instances stop, move, migrate or go away.",
			files: "/etc/default/diktyo\n/etc/ganeti/hooks/*.d/diktyo\n/var/lib/diktyo/ipam.db",
		},
		{
			name:    "nfdhcpd",
			summary: "answer DHCP, DHCPv6, router and neighbour solicitations of VM taps",
			usage:   strings.TrimSpace(nfdUsage.String()) + "\n  nfdhcpd --version",
			description: "A drop-in for GRNET's nfdhcpd: it reads the same configuration file and binding files " +
				"(one per tap, written by diktyo-ifup) and answers the packets netfilter queues to it. " +
				"SIGHUP reloads, SIGUSR1 logs the binding table, SIGTERM stops. The diktyo-nfdhcpd package runs it " +
				"as the nfdhcpd service (systemd unit or init script).",
			files: "/etc/nfdhcpd/nfdhcpd.conf\n/var/lib/nfdhcpd/",
		},
	} {
		if err := write(dir, p.name, p.roff()); err != nil {
			return err
		}
	}
	return nil
}

func write(dir, name, text string) error {
	path := filepath.Join(dir, name+".8")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return fmt.Errorf("man page %s: %w", path, err)
	}
	return nil
}

// roff renders p as a man page.
func (p page) roff() string {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH %s 8 \"\" \"diktyo %s\" \"System Administration\"\n", strings.ToUpper(p.name), escape(version.Version))
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", p.name, escape(p.summary))
	fmt.Fprintf(&b, ".SH SYNOPSIS\n.nf\n%s\n.fi\n", escapeLines(p.usage))
	fmt.Fprintf(&b, ".SH DESCRIPTION\n%s\n", escape(p.description))
	fmt.Fprintf(&b, ".SH FILES\n.nf\n%s\n.fi\n", escapeLines(p.files))
	b.WriteString(".SH SEE ALSO\n.BR diktyo-ifup (8),\n.BR diktyo-hook (8),\n.BR diktyo-ipam (8),\n.BR nfdhcpd (8),\n" +
		".BR gnt-network (8),\n/usr/share/doc/diktyo/README.md.gz\n")
	return b.String()
}

// escape makes text safe in roff: backslashes doubled, a leading dot or
// quote protected.
func escape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

func escapeLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = escape(l)
	}
	return strings.Join(lines, "\n")
}
