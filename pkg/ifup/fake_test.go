package ifup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/netplan"
)

// fakeHost is a recording Host: devices, tables, and the set of objects
// applied ("rule4 mark 0xd1d10064 100", "route 198.18.100.2/32 tap1 100", ...).
type fakeHost struct {
	mu       sync.Mutex
	links    map[string]netplan.LinkFacts
	uplinks  map[int][2]string
	objects  map[string]bool
	users    map[string]bool // taps using shared (mark) rules
	calls    []string
	applyErr error
}

func newFakeHost() *fakeHost {
	return &fakeHost{
		links: map[string]netplan.LinkFacts{
			"gntbr0": {Name: "gntbr0", Exists: true, Index: 2, Kind: "bridge", MTU: 1500},
			"ovsbr0": {Name: "ovsbr0", Exists: true, Index: 3, Kind: "openvswitch", MTU: 1500},
		},
		uplinks: map[int][2]string{100: {"eth1", "eth1"}},
		objects: map[string]bool{},
		users:   map[string]bool{},
	}
}

func (h *fakeHost) addTap(name string, index int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.links[name] = netplan.LinkFacts{Name: name, Exists: true, Index: index, Kind: "tun"}
}

func (h *fakeHost) delTap(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.links, name)
	// The kernel drops routes and the master with the device; rules,
	// proxies and sysctl-less state stay (that is what reconcile is for).
	for o := range h.objects {
		var kind, a, dev string
		fmt.Sscan(o, &kind, &a, &dev)
		if kind == "route" && dev == name || kind == "tap" && a == name {
			delete(h.objects, o)
		}
	}
}

func (h *fakeHost) Facts(tap, link string, table int) (netplan.HostFacts, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := netplan.HostFacts{Tap: netplan.LinkFacts{Name: tap}, Link: netplan.LinkFacts{Name: link}, Table: table}
	if l, ok := h.links[tap]; ok {
		f.Tap = l
	}
	if l, ok := h.links[link]; ok && link != "" {
		f.Link = l
	}
	if u, ok := h.uplinks[table]; ok {
		f.Uplink4, f.Uplink6 = u[0], u[1]
	}
	return f, nil
}

func objectsOf(x netplan.Host) []string {
	var o []string
	o = append(o, fmt.Sprintf("tap %s %s %d %s", x.Tap.Name, x.Tap.MAC, x.Tap.MTU, x.Tap.Master))
	for _, s := range x.Sysctls {
		o = append(o, fmt.Sprintf("sysctl %s %s", s.Key, s.Value))
	}
	for _, r := range x.Rules {
		who := r.IIF
		if r.Shared() {
			who = fmt.Sprintf("mark %#x", r.Mark)
		}
		o = append(o, fmt.Sprintf("rule%d %s %d", r.Family, who, r.Table))
	}
	for _, r := range x.Routes {
		o = append(o, fmt.Sprintf("route %s %s %d", r.Dst, r.Dev, r.Table))
	}
	for _, p := range x.ProxyNeighs {
		o = append(o, fmt.Sprintf("proxy %s %s", p.Addr, p.Dev))
	}
	if x.OVS != nil {
		o = append(o, fmt.Sprintf("ovs %s %s %d %v", x.OVS.Bridge, x.Tap.Name, x.OVS.Tag, x.OVS.Trunks))
	}
	return o
}

func (h *fakeHost) Apply(x netplan.Host) (json.RawMessage, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, "apply "+x.Tap.Name)
	if _, ok := h.links[x.Tap.Name]; !ok {
		return nil, fmt.Errorf("%s: %w", x.Tap.Name, netplan.ErrNoSuchLink)
	}
	if h.applyErr != nil {
		return nil, h.applyErr // a real applier rolls itself back
	}
	objs := objectsOf(x)
	for _, o := range objs {
		h.objects[o] = true
	}
	if slices.ContainsFunc(x.Rules, netplan.Rule.Shared) {
		h.users[x.Tap.Name] = true
	}
	return json.Marshal(objs)
}

func (h *fakeHost) Remove(planned netplan.Host, tapIndex int, applied json.RawMessage) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, "remove "+planned.Tap.Name)
	delete(h.users, planned.Tap.Name)
	objs := objectsOf(planned)
	if applied != nil {
		objs = nil
		if err := json.Unmarshal(applied, &objs); err != nil {
			return err
		}
	}
	for _, o := range objs {
		delete(h.objects, o)
	}
	return nil
}

func (h *fakeHost) Merge(old, new json.RawMessage) (json.RawMessage, error) {
	var a, b []string
	if err := errors.Join(json.Unmarshal(old, &a), json.Unmarshal(new, &b)); err != nil {
		return nil, err
	}
	for _, o := range b {
		if !slices.Contains(a, o) {
			a = append(a, o)
		}
	}
	return json.Marshal(a)
}

// ReleaseStale forgets the shared-rule users that keep rejects and, with
// the last user, the mark rules, as hostnet does.
func (h *fakeHost) ReleaseStale(keep func(tap string) bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, "release-stale")
	for tap := range h.users {
		if !keep(tap) {
			delete(h.users, tap)
		}
	}
	if len(h.users) == 0 {
		for o := range h.objects {
			if strings.Contains(o, " mark ") {
				delete(h.objects, o)
			}
		}
	}
	return nil
}

func (h *fakeHost) snapshot() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Sorted(maps.Keys(h.objects))
}

// fakeFirewall records filters per tap.
type fakeFirewall struct {
	mu      sync.Mutex
	filters map[string]netplan.Filter
	err     error
}

func newFakeFirewall() *fakeFirewall { return &fakeFirewall{filters: map[string]netplan.Filter{}} }

func (f *fakeFirewall) Apply(x netplan.Filter) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.filters[x.Tap] = x
	return nil
}

func (f *fakeFirewall) Remove(x netplan.Filter) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.filters, x.Tap)
	return nil
}

func (f *fakeFirewall) RemoveTap(tap string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.filters, tap)
	return nil
}

func (f *fakeFirewall) List() ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.filters)), nil
}

func (f *fakeFirewall) get(tap string) (netplan.Filter, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	x, ok := f.filters[tap]
	return x, ok
}

// fakeNetworks is a pool with fixed networks.
type fakeNetworks struct {
	nets  map[string]*ganeti.Network // by link
	calls int
}

func (n *fakeNetworks) Lookup(_ context.Context, link string, ip netip.Addr, _ net.HardwareAddr) (*ganeti.Network, error) {
	n.calls++
	g := n.nets[link]
	if g == nil || (ip.IsValid() && g.Subnet.IsValid() && !g.Subnet.Contains(ip)) {
		return nil, nil
	}
	return g, nil
}
