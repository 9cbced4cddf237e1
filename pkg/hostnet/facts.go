package hostnet

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/ifname"
	"github.com/diktyo/diktyo/pkg/mac"
	"github.com/diktyo/diktyo/pkg/netplan"
)

// Facts reads what the planner needs, without changing anything: the tap,
// the link (bridge, Open vSwitch bridge or a routed table's configured
// uplink; "" to skip) and, when table is
// not 0, the devices of the table's IPv4 and IPv6 default routes. Missing
// devices and routes are reported in the result (LinkFacts.Exists, empty
// uplinks; HostFacts.Uplink turns the latter into a clear error); only
// failures to read are errors.
func (a *Applier) Facts(tap, link string, table int) (netplan.HostFacts, error) {
	var f netplan.HostFacts
	var err error
	if f.Tap, err = a.LinkFacts(tap); err != nil {
		return f, err
	}
	if link != "" {
		if f.Link, err = a.LinkFacts(link); err != nil {
			return f, err
		}
	}
	if table != 0 {
		f.Table = table
		var seen linkRef // the cached uplink, usually the same for both
		for _, fam := range []int{4, 6} {
			dev, err := a.uplink(table, fam, &seen)
			if err != nil && !errors.Is(err, netplan.ErrNoDefaultRoute) {
				return f, err
			}
			if fam == 4 {
				f.Uplink4 = dev
			} else {
				f.Uplink6 = dev
			}
		}
	}
	return f, nil
}

// LinkFacts describes the device name; Exists is false if there is none.
func (a *Applier) LinkFacts(name string) (netplan.LinkFacts, error) {
	lf := netplan.LinkFacts{Name: name}
	l, err := a.linkByName(name)
	if errors.Is(err, netplan.ErrNoSuchLink) {
		return lf, nil
	}
	if err != nil {
		return lf, err
	}
	attrs := l.Attrs()
	lf.Exists = true
	lf.Index = attrs.Index
	lf.Kind = l.Type()
	lf.MAC = append(mac.Addr(nil), attrs.HardwareAddr...)
	lf.MTU = attrs.MTU
	lf.Up = attrs.Flags&net.FlagUp != 0
	if attrs.MasterIndex != 0 {
		m, err := a.linkByIndex(attrs.MasterIndex)
		if err != nil {
			return lf, fmt.Errorf("%s: master %d: %w", name, attrs.MasterIndex, err)
		}
		lf.Master = m.Attrs().Name
	}
	return lf, nil
}

// Uplink returns the device of the default route of table for family (4
// or 6); a table without one gives a *netplan.NoDefaultRouteError ("table
// 100 has no IPv4 default route"). With several default routes the one of
// lowest metric wins; of a multipath route, its first hop.
//
// While the table's shared rules exist (any routed NIC of the table is
// up, see tablerule.go) one route lookup with the table's mark answers,
// and its cost does not grow with the table. That answer is the kernel's
// own choice for the table's traffic: it skips dead next hops, and for
// IPv6 it applies router selection, so it can differ from the lowest
// metric of a dump. Otherwise (the table's
// first NIC, PER_TAP_RULES) routes are dumped. With Options.StateDir the
// last answer is kept and checked with a dump of the table's routes via
// that device only (filtered by the kernel, which still walks the table);
// only when it no longer holds the best default route among them is the
// whole table dumped and the cache rewritten. A default route of lower
// metric added later via another device is thus noticed only once the
// cached device loses its own (or the cache file is removed).
func (a *Applier) Uplink(table, family int) (string, error) {
	return a.uplink(table, family, &linkRef{})
}

// uplink is Uplink; seen remembers the link of a cached name across calls.
func (a *Applier) uplink(table, family int, seen *linkRef) (string, error) {
	if name := a.uplinkByMark(table, family); name != "" {
		return name, nil
	}
	if a.stateDir != "" {
		if name := a.cachedUplink(table, family); name != "" {
			l := seen.link
			if seen.name != name {
				l, _ = a.linkByName(name) // gone: nil, and a full dump
				*seen = linkRef{name, l}
			}
			if l != nil {
				idx := l.Attrs().Index
				if best, err := a.defaultRoute(table, family, idx); err == nil && best == idx {
					return name, nil
				}
			}
		}
	}
	best, err := a.defaultRoute(table, family, 0)
	if err != nil {
		return "", err
	}
	if best == 0 {
		return "", &netplan.NoDefaultRouteError{Table: table, Family: family}
	}
	l, err := a.linkByIndex(best)
	if err != nil {
		return "", fmt.Errorf("table %d: IPv%d default route device %d: %w", table, family, best, err)
	}
	name := l.Attrs().Name
	if a.stateDir != "" {
		if err := a.writeUplinkCache(table, family, name); err != nil {
			a.log.Warn("uplink cache not written", "table", table, "family", family, "err", err)
		}
	}
	return name, nil
}

// Probe destinations of uplinkByMark: reserved addresses that only a
// table's default route covers.
var (
	probe4 = netip.MustParseAddr("240.0.0.1")
	probe6 = netip.MustParseAddr("100::")
)

// uplinkByMark asks the kernel which route of table it would use for a
// packet with the table's route mark (netplan.RouteMark) to a probe
// address (RTM_F_FIB_MATCH). While the table's shared rules exist (any
// of its NICs is up) that is the table's best default route, found
// without walking the table. It returns "" when the answer is anything
// else (no shared rule, a more specific route to the probe), and Uplink
// falls back to dumps.
func (a *Applier) uplinkByMark(table, family int) string {
	mark, err := netplan.RouteMark(table)
	if err != nil || a.links == nil {
		return ""
	}
	if a.stateDir != "" {
		if _, err := os.Stat(a.tableDir(table)); err != nil {
			return "" // no users, no rules: spare the lookups
		}
	}
	dst := probe4
	if family == 6 {
		dst = probe6
	}
	r, err := a.links.lookupMarked(dst, mark)
	if err != nil || r.Table != table || r.Type != unix.RTN_UNICAST || r.DstLen != 0 || r.OIF == 0 {
		return ""
	}
	l, err := a.linkByIndex(r.OIF)
	if err != nil {
		return ""
	}
	return l.Attrs().Name
}

// defaultRoute returns the device index of the table's best default route
// (0: none), among the routes that use device oif when oif is not 0: the
// kernel then returns only those (RTA_OIF on a strict-checking socket;
// multipath routes with a hop on oif included).
func (a *Applier) defaultRoute(table, family, oif int) (int, error) {
	fam := unix.AF_INET
	if family == 6 {
		fam = unix.AF_INET6
	}
	best, bestMetric := 0, -1
	// The table alone is filtered here too: the library's device filter
	// would drop multipath routes (LinkIndex 0).
	filter := &netlink.Route{Table: table, LinkIndex: oif}
	err := a.nl.RouteListFilteredIter(fam, filter, netlink.RT_FILTER_TABLE, func(r netlink.Route) bool {
		if r.Table != table || r.Type != unix.RTN_UNICAST {
			return true
		}
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				return true
			}
		}
		idx := r.LinkIndex
		if idx == 0 && len(r.MultiPath) > 0 {
			idx = r.MultiPath[0].LinkIndex
		}
		if idx != 0 && (bestMetric < 0 || r.Priority < bestMetric) {
			best, bestMetric = idx, r.Priority
		}
		return true
	})
	if errors.Is(err, unix.ENOENT) {
		return 0, nil // a strict dump of a table that does not exist
	}
	if err != nil {
		return 0, fmt.Errorf("table %d: list IPv%d routes: %w", table, family, err)
	}
	return best, nil
}

func (a *Applier) uplinkCachePath(table, family int) string {
	return filepath.Join(a.stateDir, fmt.Sprintf("uplink-%d-v%d", table, family))
}

// cachedUplink returns the cached device name, "" if there is none.
func (a *Applier) cachedUplink(table, family int) string {
	b, err := os.ReadFile(a.uplinkCachePath(table, family))
	if err != nil {
		return ""
	}
	name := strings.TrimSuffix(string(b), "\n")
	if ifname.Validate(name) != nil {
		return ""
	}
	return name
}

// writeUplinkCache replaces the cache file (temp file and rename: readers
// see the old name or the new one). There is no fsync: a lost or stale
// cache only costs the next Uplink a full dump.
func (a *Applier) writeUplinkCache(table, family int, name string) error {
	path := a.uplinkCachePath(table, family)
	f, err := os.CreateTemp(a.stateDir, "."+filepath.Base(path)+".tmp-*")
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(a.stateDir, 0o755); err != nil {
			return fmt.Errorf("uplink cache: %w", err)
		}
		f, err = os.CreateTemp(a.stateDir, "."+filepath.Base(path)+".tmp-*")
	}
	if err != nil {
		return fmt.Errorf("uplink cache: %w", err)
	}
	tmp := f.Name()
	_, err = f.WriteString(name + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("uplink cache: %w", err)
	}
	return nil
}
