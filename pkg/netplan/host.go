package netplan

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/diktyo/diktyo/pkg/mac"
)

// Host is the link-level and routing state of one NIC, applied by
// pkg/hostnet. Every list is applied idempotently and removed exactly on
// down.
type Host struct {
	Tap Tap `json:"tap"`
	// Sysctls are /proc/sys keys (relative, e.g.
	// "net/ipv4/conf/tap0/proxy_arp") and their desired values.
	Sysctls []Sysctl `json:"sysctls,omitempty"`
	// Rules are policy routing rules (ip rule).
	Rules []Rule `json:"rules,omitempty"`
	// Routes are routes in a routing table.
	Routes []Route `json:"routes,omitempty"`
	// ProxyNeighs are proxy NDP entries (ip -6 neigh add proxy ADDR dev DEV).
	ProxyNeighs []ProxyNeigh `json:"proxy_neighs,omitempty"`
	// Announce are gratuitous ARPs / unsolicited NAs sent after up.
	Announce []Announce `json:"announce,omitempty"`
	// OVS is the Open vSwitch port (openvswitch mode only).
	OVS *OVSPort `json:"ovs,omitempty"`
	// UplinkPending are the uplink-side steps of a routed NIC left out
	// because its table had no uplink for the address's family when the
	// plan was made; CompleteUplink adds them once there is one.
	UplinkPending []UplinkPending `json:"uplink_pending,omitempty"`
}

// UplinkPending is a routed NIC's address whose uplink-side steps wait
// for an uplink of Table: a gratuitous ARP for IPv4, a proxy NDP entry
// and an unsolicited NA for IPv6.
type UplinkPending struct {
	Addr  netip.Addr `json:"addr"`
	Table int        `json:"table"`
}

// Family is 4 or 6.
func (u UplinkPending) Family() int {
	if u.Addr.Is4() {
		return 4
	}
	return 6
}

// Steps names what waits for the uplink.
func (u UplinkPending) Steps() string {
	if u.Addr.Is4() {
		return "gratuitous ARP"
	}
	return "proxy NDP and unsolicited NA"
}

// CompleteUplink moves the pending steps of h whose family has an uplink
// now (uplink4, uplink6; "" for none) into h's proxy entries and
// announcements. It returns the completed plan and the part of it that
// is new (the tap and the added steps only), which is empty when nothing
// could be completed.
func CompleteUplink(h Host, uplink4, uplink6 string) (done Host, added Host) {
	done = h
	done.UplinkPending = nil
	done.ProxyNeighs = slices.Clone(h.ProxyNeighs)
	done.Announce = slices.Clone(h.Announce)
	added = Host{Tap: Tap{Name: h.Tap.Name}}
	defer func() {
		// Announcements in Build's order (gratuitous ARP, then NA), so a
		// completed plan equals a plan made with the uplink.
		slices.SortStableFunc(done.Announce, func(a, b Announce) int {
			return strings.Compare(string(a.Kind), string(b.Kind))
		})
	}()
	for _, u := range h.UplinkPending {
		switch {
		case u.Addr.Is4() && uplink4 != "":
			an := Announce{Kind: GratuitousARP, Addr: u.Addr, Dev: uplink4}
			done.Announce = append(done.Announce, an)
			added.Announce = append(added.Announce, an)
		case u.Addr.Is6() && uplink6 != "":
			pn := ProxyNeigh{Addr: u.Addr, Dev: uplink6}
			an := Announce{Kind: UnsolicitedNA, Addr: u.Addr, Dev: uplink6}
			done.ProxyNeighs = append(done.ProxyNeighs, pn)
			done.Announce = append(done.Announce, an)
			added.ProxyNeighs = append(added.ProxyNeighs, pn)
			added.Announce = append(added.Announce, an)
		default:
			done.UplinkPending = append(done.UplinkPending, u)
		}
	}
	return done, added
}

// Tap is how the tap device itself is set up.
type Tap struct {
	Name string `json:"name"`
	// MAC to set on the tap (nil: leave it). Routed taps get
	// TAP_CONSTANT_MAC so the gateway MAC is the same on every node.
	MAC mac.Addr `json:"mac,omitempty"`
	// MTU to set (0: leave it); bridged taps take the bridge's.
	MTU int `json:"mtu,omitempty"`
	// Master is the bridge to attach the tap to ("" for none).
	Master string `json:"master,omitempty"`
}

// Sysctl is one /proc/sys setting.
type Sysctl struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Rule is one policy routing rule: packets arriving on IIF use Table
// (GRNET's per-tap rule), or, with IIF empty, packets carrying Mark do (the
// table's shared rule: pkg/firewall marks packets from the table's taps
// with Mark, and the rule exists while any NIC uses it).
type Rule struct {
	Family int    `json:"family"` // 4 or 6
	IIF    string `json:"iif,omitempty"`
	Mark   uint32 `json:"mark,omitempty"`
	Table  int    `json:"table"`
	// Priority is the rule's preference; 0 means DefaultRulePriority. A
	// rule always has an explicit priority so that adding it twice is
	// detected by the kernel (EEXIST) instead of stacking duplicates.
	Priority int `json:"priority,omitempty"`
}

// DefaultRulePriority is the preference of rules whose Priority is 0:
// before the main table (32766), after anything an operator put first.
const DefaultRulePriority = 32000

// Shared reports whether r is a table's shared (mark) rule.
func (r Rule) Shared() bool { return r.IIF == "" && r.Mark != 0 }

// Route marks: RouteMark(t) = RouteMarkBase + t for tables 1 to
// MaxMarkTable, inside diktyo's mark range 0xd1c00000–0xd1dfffff.
const (
	RouteMarkBase = 0xd1d10000
	MaxMarkTable  = 0xd1dfffff - RouteMarkBase
)

// ErrTableTooLarge is returned by RouteMark for tables beyond MaxMarkTable.
var ErrTableTooLarge = errors.New("routing table too large for a route mark")

// RouteMark is the packet mark that routes packets from the taps of table
// through the table's shared rule.
func RouteMark(table int) (uint32, error) {
	if table <= 0 || table > MaxMarkTable {
		return 0, fmt.Errorf("%w: table %d (at most %d; or set PER_TAP_RULES=yes)", ErrTableTooLarge, table, MaxMarkTable)
	}
	return RouteMarkBase + uint32(table), nil
}

// Route is one route: Dst through Dev in Table.
type Route struct {
	Dst   netip.Prefix `json:"dst"`
	Dev   string       `json:"dev"`
	Table int          `json:"table"`
}

// ProxyNeigh is one proxy NDP entry.
type ProxyNeigh struct {
	Addr netip.Addr `json:"addr"`
	Dev  string     `json:"dev"`
}

// AnnounceKind is what to send.
type AnnounceKind string

// Announcement kinds.
const (
	GratuitousARP AnnounceKind = "garp"
	UnsolicitedNA AnnounceKind = "na"
)

// Announce is one gratuitous ARP / unsolicited NA for Addr sent on Dev.
type Announce struct {
	Kind AnnounceKind `json:"kind"`
	Addr netip.Addr   `json:"addr"`
	Dev  string       `json:"dev"`
}

// OVSPort is a port of an Open vSwitch bridge with Ganeti's VLAN settings:
// Tag is the access (or native) VLAN, Trunks the trunked VLANs.
type OVSPort struct {
	Bridge string `json:"bridge"`
	Tag    int    `json:"tag,omitempty"`
	Trunks []int  `json:"trunks,omitempty"`
	// Guard is the part of the NIC's filter that pkg/hostnet writes as
	// OpenFlow flows on Bridge for the frames the VM sends (anti-spoofing,
	// the MAC check and nfdhcpd steering; see pkg/ovsflow); nil: no flows.
	Guard *Filter `json:"guard,omitempty"`
}

// HostFacts are what the planner needs to know about the host, read by
// hostnet.Facts: the tap, the NIC's link (bridge or Open vSwitch bridge)
// and, for routed NICs, the uplinks of the routing table.
type HostFacts struct {
	Tap  LinkFacts `json:"tap"`
	Link LinkFacts `json:"link"`
	// Table is the routing table the uplinks were read from (0: none).
	Table int `json:"table,omitempty"`
	// Uplink4 and Uplink6 are the devices of Table's IPv4 and IPv6
	// default routes ("" when the table has none).
	Uplink4 string `json:"uplink4,omitempty"`
	Uplink6 string `json:"uplink6,omitempty"`
}

// LinkFacts describe one network device; Exists is false when there is no
// device of that name (the other fields are then zero).
type LinkFacts struct {
	Name   string   `json:"name"`
	Exists bool     `json:"exists"`
	Index  int      `json:"index,omitempty"`
	Kind   string   `json:"kind,omitempty"` // netlink kind: bridge, tuntap, veth, openvswitch, ...
	MAC    mac.Addr `json:"mac,omitempty"`
	MTU    int      `json:"mtu,omitempty"`
	Up     bool     `json:"up,omitempty"`
	Master string   `json:"master,omitempty"`
}

// ErrNoDefaultRoute is matched (errors.Is) by the error of
// HostFacts.Uplink when the table has no default route of that family.
var ErrNoDefaultRoute = errors.New("no default route")

// NoDefaultRouteError says which table lacks a default route of which
// family; it matches ErrNoDefaultRoute.
type NoDefaultRouteError struct {
	Table  int
	Family int // 4 or 6
}

func (e *NoDefaultRouteError) Error() string {
	return fmt.Sprintf("table %d has no IPv%d default route", e.Table, e.Family)
}

// Is makes errors.Is(err, ErrNoDefaultRoute) true.
func (e *NoDefaultRouteError) Is(target error) bool { return target == ErrNoDefaultRoute }

// Uplink returns the device of the table's default route for family (4 or
// 6), or a *NoDefaultRouteError.
func (f HostFacts) Uplink(family int) (string, error) {
	dev := f.Uplink4
	if family == 6 {
		dev = f.Uplink6
	}
	if dev == "" {
		return "", &NoDefaultRouteError{Table: f.Table, Family: family}
	}
	return dev, nil
}

// UplinkOr returns the device of the uplink-side steps of family: the
// table's default route device, else configured when it exists (the
// facts read it as Link), else "".
func (f HostFacts) UplinkOr(family int, configured string) string {
	if dev, err := f.Uplink(family); err == nil {
		return dev
	}
	if configured != "" && f.Link.Exists && f.Link.Name == configured {
		return configured
	}
	return ""
}
