package hostnet

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/netplan"
)

// Facts reads what the planner needs, without changing anything: the tap,
// the link (bridge or Open vSwitch bridge; "" to skip) and, when table is
// not 0, the devices of the table's IPv4 and IPv6 default routes. Missing
// devices and routes are reported in the result (LinkFacts.Exists, empty
// uplinks; HostFacts.Uplink turns the latter into a clear error); only
// failures to read are errors.
func (a *Applier) Facts(tap string, table int, link string) (netplan.HostFacts, error) {
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
		for _, fam := range []int{4, 6} {
			dev, err := a.Uplink(table, fam)
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
	if errors.Is(err, ErrNoSuchLink) {
		return lf, nil
	}
	if err != nil {
		return lf, err
	}
	attrs := l.Attrs()
	lf.Exists = true
	lf.Index = attrs.Index
	lf.Kind = l.Type()
	lf.MAC = append(net.HardwareAddr(nil), attrs.HardwareAddr...)
	lf.MTU = attrs.MTU
	lf.Up = attrs.Flags&net.FlagUp != 0
	if attrs.MasterIndex != 0 {
		m, err := a.nl.LinkByIndex(attrs.MasterIndex)
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
// lowest metric wins; of a multipath route, its first hop. It dumps the
// routes (the kernel has no lookup by table): it is for the planner, not
// for the Apply path.
func (a *Applier) Uplink(table, family int) (string, error) {
	fam := unix.AF_INET
	if family == 6 {
		fam = unix.AF_INET6
	}
	best, bestMetric := 0, -1
	err := a.nl.RouteListFilteredIter(fam, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE, func(r netlink.Route) bool {
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
	if err != nil {
		return "", fmt.Errorf("table %d: list IPv%d routes: %w", table, family, err)
	}
	if best == 0 {
		return "", &netplan.NoDefaultRouteError{Table: table, Family: family}
	}
	l, err := a.nl.LinkByIndex(best)
	if err != nil {
		return "", fmt.Errorf("table %d: IPv%d default route device %d: %w", table, family, best, err)
	}
	return l.Attrs().Name, nil
}
