package firewall

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"

	"github.com/diktyo/diktyo/pkg/netplan"
)

func TestBuildGolden(t *testing.T) {
	ovs := routedFilter("tap2")
	ovs.Mode, ovs.Profile, ovs.ARPGateway, ovs.RouteMark = netplan.ModeOpenvSwitch, netplan.ProfileProtected, netipZero(), 0
	ovs.TapMAC, ovs.MACFilter = mac("fe:54:00:12:34:56"), &netplan.MACFilter{Prefix: mac("aa:00:00:00:00:00")}
	ovsLimited := ovs
	ovsLimited.Tap, ovsLimited.Profile, ovsLimited.MACFilter, ovsLimited.Queues = "tap5", netplan.ProfileLimited, nil, nil
	plain := netplan.Filter{Tap: "tap3", Mode: netplan.ModeBridged, Profile: netplan.ProfileUnprotected}
	noV4 := routedFilter("tap4")
	noV4.IPv4, noV4.Queues, noV4.Profile = nil, nil, ""
	for name, f := range map[string]netplan.Filter{
		"routed": routedFilter("tap0"), "bridged": bridgedFilter("tap1"),
		"openvswitch": ovs, "openvswitch-limited": ovsLimited, "plain": plain, "no-ipv4": noV4,
	} {
		t.Run(name, func(t *testing.T) {
			n, err := Build(f)
			if err != nil {
				t.Fatal(err)
			}
			goldenFile(t, "build-"+name+".nft", []byte(n.String()))
		})
	}
	goldenFile(t, "skeleton.nft", []byte(Skeleton([]Steering{DefaultSteering()}, DefaultMACMask()).String()))
}

func TestBuildInvalid(t *testing.T) {
	for name, mut := range map[string]func(*netplan.Filter){
		"empty tap":  func(f *netplan.Filter) { f.Tap = "" },
		"long tap":   func(f *netplan.Filter) { f.Tap = "tap0123456789abcdef" },
		"slash tap":  func(f *netplan.Filter) { f.Tap = "tap/0" },
		"mode":       func(f *netplan.Filter) { f.Mode = "nat" },
		"profile":    func(f *netplan.Filter) { f.Profile = "open" },
		"mac":        func(f *netplan.Filter) { f.MAC = nil },
		"ipv4 is v6": func(f *netplan.Filter) { f.IPv4 = addrs("2001:db8::1") },
		"ipv6 is v4": func(f *netplan.Filter) { f.IPv6 = addrs("198.51.100.1") },
		"ipv4 any":   func(f *netplan.Filter) { f.IPv4 = addrs("0.0.0.0") },
		"gateway v6": func(f *netplan.Filter) { f.ARPGateway = addrs("2001:db8::1")[0] },
		"router ll":  func(f *netplan.Filter) { f.RouterLL6 = addrs("2001:db8::1")[0] },
		"mac filter": func(f *netplan.Filter) { f.MACFilter = &netplan.MACFilter{Prefix: mac("aa:00:00:00:00:00")[:3]} },
		"route mark": func(f *netplan.Filter) { f.RouteMark = MarkProtected },
		"mark base":  func(f *netplan.Filter) { f.RouteMark = netplan.RouteMarkBase },
		"mark mode":  func(f *netplan.Filter) { f.Mode = netplan.ModeBridged; f.Bridge = "br0" },
	} {
		t.Run(name, func(t *testing.T) {
			f := routedFilter("tap0")
			mut(&f)
			if _, err := Build(f); !errors.Is(err, ErrInvalidFilter) {
				t.Errorf("Build = %v, want ErrInvalidFilter", err)
			}
		})
	}
}

// recorder records the netlink messages of each batch.
type recorder struct{ b strings.Builder }

func (r *recorder) dial(req []netlink.Message) ([]netlink.Message, error) {
	for _, m := range req {
		fmt.Fprintf(&r.b, "type=0x%04x flags=0x%04x %s\n", uint16(m.Header.Type), uint16(m.Header.Flags), hex.EncodeToString(m.Data))
		if m.Header.Flags&netlink.Dump != 0 {
			return nil, nil // an empty dump
		}
	}
	return req, nil
}

// TestMessageStream records the netlink batches of Init, Apply and Remove
// (no kernel) and compares them with a golden stream.
func TestMessageStream(t *testing.T) {
	for _, mode := range []QueueMode{QueueXT, QueueNative} {
		rec := &recorder{}
		fw, err := New(Options{Queue: mode, testConn: []nftables.ConnOption{nftables.WithTestDial(rec.dial)},
			testDial: func() *netlink.Conn { return nltest.Dial(rec.dial) }})
		if err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			name string
			run  func() error
		}{
			{"init", fw.Init},
			{"apply routed tap0", func() error { return fw.Apply(routedFilter("tap0")) }},
			{"apply bridged tap1", func() error { return fw.Apply(bridgedFilter("tap1")) }},
			{"remove tap0", func() error { return fw.Remove(routedFilter("tap0")) }},
		}
		for _, s := range steps {
			fmt.Fprintf(&rec.b, "# %s\n", s.name)
			if err := s.run(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		}
		goldenFile(t, fmt.Sprintf("messages-%d.golden", mode), []byte(rec.b.String()))
	}
}
