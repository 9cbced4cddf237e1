package hostnet

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/diktyo/diktyo/pkg/announce"
	"github.com/diktyo/diktyo/pkg/ifname"
	"github.com/diktyo/diktyo/pkg/ip6frame"
	"github.com/diktyo/diktyo/pkg/mac"
	"github.com/diktyo/diktyo/pkg/netplan"
	"github.com/diktyo/diktyo/pkg/ovsflow"
)

// Apply brings the host to h and returns what it changed. Objects that
// already exist as planned are success, so Apply is idempotent and
// completes an interrupted earlier Apply. On failure it rolls back what
// this call changed and returns one error naming the tap and the object.
func (a *Applier) Apply(h netplan.Host) (Applied, error) {
	if err := validate(h); err != nil {
		return Applied{}, err
	}
	if a.stateDir == "" && slices.ContainsFunc(h.Rules, netplan.Rule.Shared) {
		return Applied{}, fmt.Errorf("%s: %w: shared rules need a state directory", h.Tap.Name, ErrInvalid)
	}
	s := &applyState{a: a, tap: h.Tap.Name, rec: Applied{Tap: TapChange{Name: h.Tap.Name}}}
	ok := false
	defer func() {
		if !ok {
			s.rollback()
		}
	}()
	steps := []func(netplan.Host) error{
		s.resolve, s.setupTap, s.sysctls, s.rules, s.routes, s.ovs, s.proxyNeighs, s.announce,
	}
	for _, step := range steps {
		if err := step(h); err != nil {
			if rerr := s.rollback(); rerr != nil {
				return Applied{}, fmt.Errorf("%w (rollback: %v)", err, rerr)
			}
			return Applied{}, err
		}
	}
	ok = true
	return s.rec, nil
}

// applyState is one Apply in progress: the record so far, the undo stack
// of what this call changed, and the devices it resolved.
type applyState struct {
	a     *Applier
	tap   string
	rec   Applied
	undo  []func() error
	links []linkRef
	buf   []byte
}

type linkRef struct {
	name string
	link netlink.Link
}

// rollback undoes this call's changes in reverse order; it runs once.
func (s *applyState) rollback() error {
	var errs []error
	for i := len(s.undo) - 1; i >= 0; i-- {
		if err := s.undo[i](); err != nil {
			errs = append(errs, err)
		}
	}
	s.undo = nil
	err := errors.Join(errs...)
	if err != nil {
		s.a.log.Warn("rollback incomplete", "tap", s.tap, "err", err)
	}
	return err
}

func (s *applyState) link(name string) (netlink.Link, error) {
	for _, l := range s.links {
		if l.name == name {
			return l.link, nil
		}
	}
	l, err := s.a.linkByName(name)
	if err != nil {
		return nil, err
	}
	s.links = append(s.links, linkRef{name, l})
	return l, nil
}

// resolve looks up every device the plan names before anything changes,
// so a missing one fails with nothing to roll back.
func (s *applyState) resolve(h netplan.Host) error {
	if _, err := s.link(h.Tap.Name); err != nil {
		return err
	}
	if h.Tap.Master != "" {
		if _, err := s.link(h.Tap.Master); err != nil {
			return fmt.Errorf("%s: bridge %w", s.tap, err)
		}
	}
	for _, r := range h.Routes {
		if _, err := s.link(r.Dev); err != nil {
			return fmt.Errorf("%s: route %s: %w", s.tap, r.Dst, err)
		}
	}
	for _, p := range h.ProxyNeighs {
		if _, err := s.link(p.Dev); err != nil {
			return fmt.Errorf("%s: proxy neighbour %s: %w", s.tap, p.Addr, err)
		}
	}
	for _, an := range h.Announce {
		if _, err := s.link(an.Dev); err != nil {
			return fmt.Errorf("%s: announce %s: %w", s.tap, an.Addr, err)
		}
	}
	return nil
}

func (s *applyState) setupTap(h netplan.Host) error {
	nl := s.a.nl
	t := h.Tap
	link, _ := s.link(t.Name)
	attrs := link.Attrs()
	s.rec.Tap.Index = attrs.Index
	// MAC before up: the VM's gateway MAC must never be seen with another.
	if t.MAC != nil && !sameMAC(attrs.HardwareAddr, t.MAC) {
		if err := nl.LinkSetHardwareAddr(link, net.HardwareAddr(t.MAC)); err != nil {
			return fmt.Errorf("%s: set MAC %s: %w", s.tap, t.MAC, err)
		}
		prev := attrs.HardwareAddr
		s.rec.Tap.PrevMAC = mac.Addr(prev)
		s.undo = append(s.undo, func() error { return nl.LinkSetHardwareAddr(link, prev) })
	}
	// MTU before master: a bridge adopts its ports' minimum MTU.
	if t.MTU != 0 && attrs.MTU != t.MTU {
		if err := nl.LinkSetMTU(link, t.MTU); err != nil {
			return fmt.Errorf("%s: set MTU %d: %w", s.tap, t.MTU, err)
		}
		prev := attrs.MTU
		s.rec.Tap.PrevMTU = prev
		s.undo = append(s.undo, func() error { return nl.LinkSetMTU(link, prev) })
	}
	if t.Master != "" {
		br, _ := s.link(t.Master)
		if prevIdx := attrs.MasterIndex; prevIdx != br.Attrs().Index {
			prevName := ""
			if prevIdx != 0 {
				if pl, err := s.a.linkByIndex(prevIdx); err == nil {
					prevName = pl.Attrs().Name
				}
			}
			if err := nl.LinkSetMasterByIndex(link, br.Attrs().Index); err != nil {
				return fmt.Errorf("%s: attach to bridge %s: %w", s.tap, t.Master, err)
			}
			s.rec.Tap.Attached, s.rec.Tap.PrevMaster = t.Master, prevName
			s.undo = append(s.undo, func() error {
				if prevIdx != 0 {
					return nl.LinkSetMasterByIndex(link, prevIdx)
				}
				return nl.LinkSetNoMaster(link)
			})
		}
	}
	if attrs.Flags&net.FlagUp == 0 {
		if err := nl.LinkSetUp(link); err != nil {
			return fmt.Errorf("%s: set up: %w", s.tap, err)
		}
		s.rec.Tap.SetUp = true
		s.undo = append(s.undo, func() error { return nl.LinkSetDown(link) })
	}
	return nil
}

func (s *applyState) sysctls(h netplan.Host) error {
	sc := s.a.sysctl
	for _, c := range h.Sysctls {
		if c.Key == "net/ipv6/conf/"+s.tap+"/forwarding" && c.Value == "1" {
			s.checkIPv6Forwarding()
		}
		prev, err := sc.Get(c.Key)
		if err != nil {
			return fmt.Errorf("%s: %w", s.tap, err)
		}
		if sameValue(prev, c.Value) {
			continue
		}
		if err := sc.Set(c.Key, c.Value); err != nil {
			return fmt.Errorf("%s: %w", s.tap, err)
		}
		s.rec.Sysctls = append(s.rec.Sysctls, SysctlChange{Key: c.Key, Value: c.Value, Prev: prev})
		key := c.Key
		s.undo = append(s.undo, func() error { return sc.Set(key, prev) })
	}
	return nil
}

// checkIPv6Forwarding warns when the host does not forward IPv6: Linux
// forwards IPv6 only with net.ipv6.conf.all.forwarding=1, whatever a
// device's own value. The setting is the operator's: it is never changed.
func (s *applyState) checkIPv6Forwarding() {
	v, err := s.a.sysctl.Get(ipv6AllForwarding)
	if err == nil && strings.TrimSpace(v) == "0" {
		s.a.log.Warn(s.tap + ": this host does not forward IPv6 (sysctl net.ipv6.conf.all.forwarding = 0): " +
			"the routed VM has no IPv6 beyond its host until it is set to 1")
	}
}

// ipv6AllForwarding is the key that turns IPv6 forwarding on for a host.
const ipv6AllForwarding = "net/ipv6/conf/all/forwarding"

func (s *applyState) rules(h netplan.Host) error {
	nl := s.a.nl
	var shared []netplan.Rule
	for _, r := range h.Rules {
		if r.Priority == 0 {
			r.Priority = netplan.DefaultRulePriority
		}
		if r.Shared() {
			shared = append(shared, r)
			continue
		}
		nr := nlRule(r)
		err := nl.RuleAdd(nr)
		switch {
		case err == nil:
			s.undo = append(s.undo, func() error { return ignore(nl.RuleDel(nr), unix.ENOENT) })
		case errors.Is(err, unix.EEXIST):
		default:
			return fmt.Errorf("%s: add %s: %w", s.tap, ruleString(r), err)
		}
		s.rec.Rules = append(s.rec.Rules, r)
	}
	for len(shared) > 0 {
		// One table at a time (a plan has at most one).
		table := shared[0].Table
		var these, rest []netplan.Rule
		for _, r := range shared {
			if r.Table == table {
				these = append(these, r)
			} else {
				rest = append(rest, r)
			}
		}
		if err := s.sharedRules(these); err != nil {
			return err
		}
		shared = rest
	}
	return nil
}

func (s *applyState) routes(h netplan.Host) error {
	nl := s.a.nl
	for _, r := range h.Routes {
		dev, _ := s.link(r.Dev)
		nr := nlRoute(r, dev.Attrs().Index)
		err := nl.RouteAdd(nr)
		switch {
		case err == nil:
			s.undo = append(s.undo, func() error { return ignore(nl.RouteDel(nr), unix.ESRCH) })
		case errors.Is(err, unix.EEXIST):
			// Ours from an interrupted Apply, or a stale one of an
			// earlier tap: either way the route must now go via r.Dev.
			if err := nl.RouteReplace(nr); err != nil {
				return fmt.Errorf("%s: replace %s: %w", s.tap, routeString(r), err)
			}
		default:
			return fmt.Errorf("%s: add %s: %w", s.tap, routeString(r), err)
		}
		s.rec.Routes = append(s.rec.Routes, r)
	}
	return nil
}

func (s *applyState) ovs(h netplan.Host) error {
	if h.OVS == nil {
		return nil
	}
	p := *h.OVS
	p.Trunks = append([]int(nil), p.Trunks...)
	p.Guard = nil // recorded as OVSFlows
	if err := s.a.ovsRun(s.tap+": add to Open vSwitch bridge "+p.Bridge, ovsAddArgs(p, s.tap)...); err != nil {
		return err
	}
	s.rec.OVS = &p
	s.undo = append(s.undo, func() error {
		return s.a.ovsRun(s.tap+": remove from Open vSwitch bridge "+p.Bridge, "--if-exists", "del-port", p.Bridge, s.tap)
	})
	return s.ovsFlows(*h.OVS)
}

// proxyNeighs runs after every other fallible step: the kernel accepts a
// proxy entry that exists without saying so, so a rollback cannot tell
// an earlier Apply's entry from this one's.
func (s *applyState) proxyNeighs(h netplan.Host) error {
	nl := s.a.nl
	for _, p := range h.ProxyNeighs {
		dev, _ := s.link(p.Dev)
		n := nlProxy(p, dev.Attrs().Index)
		if err := nl.NeighAdd(n); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("%s: add proxy neighbour %s dev %s: %w", s.tap, p.Addr, p.Dev, err)
		}
		s.undo = append(s.undo, func() error { return ignore(nl.NeighDel(n), unix.ENOENT) })
		s.rec.ProxyNeighs = append(s.rec.ProxyNeighs, p)
	}
	return nil
}

// announce sends the gratuitous ARPs and unsolicited NAs; failures to send
// are logged, not returned. Detached ones leave once the VM has sent a
// frame on its tap (at once when it already has): before that the VM does
// not run here, as on the target of a live migration.
func (s *applyState) announce(h netplan.Host) error {
	for _, an := range h.Announce {
		dev, _ := s.link(an.Dev)
		attrs := dev.Attrs()
		if len(attrs.HardwareAddr) != 6 {
			return fmt.Errorf("%s: announce %s on %s: %w: not an Ethernet device", s.tap, an.Addr, an.Dev, ErrInvalid)
		}
		switch an.Kind {
		case netplan.GratuitousARP:
			s.buf = announce.GratuitousARP(s.buf[:0], attrs.HardwareAddr, an.Addr)
		case netplan.UnsolicitedNA:
			s.buf = ip6frame.AppendUnsolicitedNA(s.buf[:0], attrs.HardwareAddr, an.Addr)
		}
		if err := s.a.sender.SendFrame(attrs.Index, s.buf); err != nil {
			s.a.log.Warn("announcement not sent", "tap", s.tap, "kind", string(an.Kind), "addr", an.Addr.String(), "dev", an.Dev, "err", err)
		}
	}
	// Detached announcements leave now, not at Close: the caller may exec
	// another program (IFUP_EXTRA_SCRIPT) and never close.
	tapIndex := 0
	if tl, err := s.link(h.Tap.Name); err == nil {
		tapIndex = tl.Attrs().Index
	}
	if err := s.a.flushAfter(tapIndex); err != nil {
		s.a.log.Warn("announcements not sent", "tap", s.tap, "err", err)
	}
	return nil
}

// Remove undoes what a recorded Apply changed, in reverse order. Objects
// already gone are success. Tap settings, routes via the tap and the
// tap's own sysctls are left alone when the tap now has another index (it
// was recreated: they went with the old device). It tries everything and
// returns the joined errors.
func (a *Applier) Remove(r Applied) error {
	tap := r.Tap.Name
	var errs []error
	fail := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var tapLink netlink.Link
	if l, err := a.linkByName(tap); err == nil && r.Tap.Index != 0 && l.Attrs().Index == r.Tap.Index {
		tapLink = l
	} else if err != nil && !errors.Is(err, netplan.ErrNoSuchLink) {
		fail(fmt.Errorf("%s: %w", tap, err))
	}
	if br := recordedFlows(r); br != "" {
		fail(a.removeOVSFlows(tap, br))
	}
	if p := r.OVS; p != nil {
		fail(a.ovsRun(tap+": remove from Open vSwitch bridge "+p.Bridge, "--if-exists", "del-port", p.Bridge, tap))
	}
	for i := len(r.ProxyNeighs) - 1; i >= 0; i-- {
		p := r.ProxyNeighs[i]
		dev, err := a.linkByName(p.Dev)
		if errors.Is(err, netplan.ErrNoSuchLink) {
			continue // proxy entries go with their device
		}
		if err == nil {
			err = ignore(a.nl.NeighDel(nlProxy(p, dev.Attrs().Index)), unix.ENOENT)
		}
		if err != nil {
			fail(fmt.Errorf("%s: delete proxy neighbour %s dev %s: %w", tap, p.Addr, p.Dev, err))
		}
	}
	for i := len(r.Routes) - 1; i >= 0; i-- {
		rt := r.Routes[i]
		var idx int
		if rt.Dev == tap {
			if tapLink == nil {
				continue
			}
			idx = tapLink.Attrs().Index
		} else {
			dev, err := a.linkByName(rt.Dev)
			if errors.Is(err, netplan.ErrNoSuchLink) {
				continue
			}
			if err != nil {
				fail(fmt.Errorf("%s: delete %s: %w", tap, routeString(rt), err))
				continue
			}
			idx = dev.Attrs().Index
		}
		// With the device given the kernel deletes only our route, never
		// one that another tap took over since.
		if err := ignore(a.nl.RouteDel(nlRoute(rt, idx)), unix.ESRCH); err != nil {
			fail(fmt.Errorf("%s: delete %s: %w", tap, routeString(rt), err))
		}
	}
	released := map[int]bool{}
	for i := len(r.Rules) - 1; i >= 0; i-- {
		rl := r.Rules[i]
		if rl.Shared() {
			if !released[rl.Table] {
				released[rl.Table] = true
				fail(a.releaseTable(tap, rl))
			}
			continue
		}
		if err := ignore(a.nl.RuleDel(nlRule(rl)), unix.ENOENT); err != nil {
			fail(fmt.Errorf("%s: delete %s: %w", tap, ruleString(rl), err))
		}
	}
	for i := len(r.Sysctls) - 1; i >= 0; i-- {
		c := r.Sysctls[i]
		if tapLink == nil && isDeviceKey(c.Key, tap) {
			continue
		}
		if err := a.sysctl.Set(c.Key, c.Prev); err != nil && !errors.Is(err, ErrNoSysctl) {
			fail(fmt.Errorf("%s: restore %w", tap, err))
		}
	}
	if tapLink != nil {
		fail(a.restoreTap(r.Tap, tapLink))
	}
	return errors.Join(errs...)
}

func (a *Applier) restoreTap(t TapChange, link netlink.Link) error {
	nl := a.nl
	var errs []error
	if t.Attached != "" {
		br, err := a.linkByName(t.Attached)
		// Detach only from the bridge we attached it to.
		if err == nil && link.Attrs().MasterIndex == br.Attrs().Index {
			var prev netlink.Link
			if t.PrevMaster != "" {
				prev, _ = a.linkByName(t.PrevMaster)
			}
			if prev != nil {
				err = nl.LinkSetMasterByIndex(link, prev.Attrs().Index)
			} else {
				err = nl.LinkSetNoMaster(link)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: detach from bridge %s: %w", t.Name, t.Attached, err))
			}
		}
	}
	if t.SetUp {
		if err := nl.LinkSetDown(link); err != nil {
			errs = append(errs, fmt.Errorf("%s: set down: %w", t.Name, err))
		}
	}
	if t.PrevMTU != 0 {
		if err := nl.LinkSetMTU(link, t.PrevMTU); err != nil {
			errs = append(errs, fmt.Errorf("%s: restore MTU %d: %w", t.Name, t.PrevMTU, err))
		}
	}
	if t.PrevMAC != nil {
		if err := nl.LinkSetHardwareAddr(link, net.HardwareAddr(t.PrevMAC)); err != nil {
			errs = append(errs, fmt.Errorf("%s: restore MAC %s: %w", t.Name, t.PrevMAC, err))
		}
	}
	return errors.Join(errs...)
}

// isDeviceKey reports whether key is one of dev's own sysctls
// (net/ipv4/conf/DEV/..., net/ipv6/neigh/DEV/...).
func isDeviceKey(key, dev string) bool {
	p := strings.Split(key, "/")
	return len(p) >= 5 && p[0] == "net" && (p[2] == "conf" || p[2] == "neigh") && p[3] == dev
}

func (a *Applier) linkByName(name string) (netlink.Link, error) {
	var l netlink.Link
	var err error
	if a.links != nil {
		l, err = a.links.get(name, 0)
	} else {
		l, err = a.nl.LinkByName(name)
	}
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
			return nil, fmt.Errorf("%s: %w", name, netplan.ErrNoSuchLink)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return l, nil
}

// linkByIndex returns the device of index.
func (a *Applier) linkByIndex(index int) (netlink.Link, error) {
	if a.links != nil {
		return a.links.get("", index)
	}
	return a.nl.LinkByIndex(index)
}

func ignore(err error, errno unix.Errno) error {
	if errors.Is(err, errno) {
		return nil
	}
	return err
}

func family(f int) int {
	if f == 6 {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

func nlRule(r netplan.Rule) *netlink.Rule {
	nr := netlink.NewRule()
	nr.Family = family(r.Family)
	nr.IifName = r.IIF
	if r.Mark != 0 {
		nr.Mark = r.Mark
		mask := ^uint32(0)
		nr.Mask = &mask
	}
	nr.Table = r.Table
	nr.Priority = r.Priority
	return nr
}

func nlRoute(r netplan.Route, index int) *netlink.Route {
	nr := &netlink.Route{
		LinkIndex: index,
		Dst:       &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), r.Dst.Addr().BitLen())},
		Table:     r.Table,
		Protocol:  unix.RTPROT_STATIC,
	}
	if r.Dst.Addr().Is4() {
		nr.Scope = netlink.SCOPE_LINK
	}
	return nr
}

func nlProxy(p netplan.ProxyNeigh, index int) *netlink.Neigh {
	f := unix.AF_INET6
	if p.Addr.Is4() {
		f = unix.AF_INET
	}
	return &netlink.Neigh{
		LinkIndex: index,
		Family:    f,
		Flags:     netlink.NTF_PROXY,
		State:     netlink.NUD_PERMANENT,
		IP:        p.Addr.AsSlice(),
	}
}

func ruleString(r netplan.Rule) string {
	if r.Shared() {
		return fmt.Sprintf("IPv%d rule fwmark %#x table %d pref %d", r.Family, r.Mark, r.Table, r.Priority)
	}
	return fmt.Sprintf("IPv%d rule iif %s table %d pref %d", r.Family, r.IIF, r.Table, r.Priority)
}

func routeString(r netplan.Route) string {
	return fmt.Sprintf("route %s dev %s table %d", r.Dst, r.Dev, r.Table)
}

// validate checks the plan before anything is touched.
func validate(h netplan.Host) error {
	t := h.Tap
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w: %s", t.Name, ErrInvalid, fmt.Sprintf(format, args...))
	}
	if err := ifname.Validate(t.Name); err != nil {
		return fmt.Errorf("tap: %w: %w", ErrInvalid, err)
	}
	if t.MAC != nil && len(t.MAC) != 6 {
		return bad("MAC %s is not Ethernet", t.MAC)
	}
	if t.MTU < 0 {
		return bad("MTU %d", t.MTU)
	}
	for _, c := range h.Sysctls {
		if err := checkKey(c.Key); err != nil {
			return fmt.Errorf("%s: %w", t.Name, err)
		}
	}
	for _, r := range h.Rules {
		if (r.Family != 4 && r.Family != 6) || (r.IIF == "") == (r.Mark == 0) || r.Table <= 0 || r.Priority < 0 {
			return bad("rule %+v", r)
		}
		if mark, err := netplan.RouteMark(r.Table); r.Mark != 0 && (err != nil || r.Mark != mark) {
			return bad("rule %+v: not the table's route mark", r)
		}
	}
	for _, r := range h.Routes {
		if !r.Dst.IsValid() || r.Dev == "" || r.Table <= 0 || r.Dst != r.Dst.Masked() {
			return bad("route %s dev %q table %d", r.Dst, r.Dev, r.Table)
		}
	}
	for _, p := range h.ProxyNeighs {
		if !p.Addr.IsValid() || p.Addr.Zone() != "" || p.Dev == "" {
			return bad("proxy neighbour %s dev %q", p.Addr, p.Dev)
		}
	}
	for _, an := range h.Announce {
		ok := an.Dev != "" && ((an.Kind == netplan.GratuitousARP && an.Addr.Is4()) ||
			(an.Kind == netplan.UnsolicitedNA && an.Addr.Is6() && !an.Addr.Is4In6()))
		if !ok {
			return bad("announce %q %s dev %q", an.Kind, an.Addr, an.Dev)
		}
	}
	if p := h.OVS; p != nil {
		if p.Bridge == "" || (p.Tag != 0 && !validVLAN(p.Tag)) {
			return bad("Open vSwitch port %+v", *p)
		}
		for _, v := range p.Trunks {
			if !validVLAN(v) {
				return bad("Open vSwitch trunk %d", v)
			}
		}
		if p.Guard != nil {
			if _, err := ovsflow.Build(t.Name, *p); err != nil {
				return fmt.Errorf("%w: %w", ErrInvalid, err)
			}
		}
	}
	return nil
}
