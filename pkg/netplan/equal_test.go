package netplan

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/mac"
)

// fullPlan returns a plan in which every field, down to the filters of
// the Open vSwitch guard, holds a value other than its zero value.
func fullPlan(t testing.TB) *Plan {
	t.Helper()
	v4, v6 := netip.MustParseAddr("198.18.1.3"), netip.MustParseAddr("2001:db8:100::3")
	filter := func() Filter {
		return Filter{Tap: "tb1", Mode: ModeOpenvSwitch, Bridge: "ovsbr0", MAC: mac.Addr{0xaa, 0, 1, 0, 0, 1},
			TapMAC: mac.Addr{0xfe, 0, 1, 0, 0, 1}, AntiSpoof: true, IPv4: []netip.Addr{v4}, IPv6: []netip.Addr{v6},
			LinkLocal6: true, RouterLL6: netip.MustParseAddr("fe80::1"), Profile: ProfileLimited,
			MACFilter:  &MACFilter{Prefix: mac.Addr{0xaa, 0, 1, 0, 0, 0}, Mask: mac.Addr{0xff, 0xff, 0xff, 0, 0, 0}},
			ARPGateway: netip.MustParseAddr("198.18.0.1"), Queues: &Queues{DHCP: 42, DHCPv6: 45, RS: 43, NS: 44, Bypass: true},
			RouteMark: RouteMarkBase + 100}
	}
	guard := filter()
	b, err := binding.Parse("tb1", strings.NewReader("INDEV=tb1\nIP=198.18.1.3\nMAC=aa:00:01:00:00:01\nHOSTNAME=vm1\n"))
	if err != nil {
		t.Fatal(err)
	}
	return &Plan{
		NIC:  NICID{Tap: "tb1", Instance: "vm1", UUID: "00000000-0000-4000-8000-000000000001", Index: 1, Name: "nic1"},
		Mode: ModeOpenvSwitch,
		Host: Host{
			Tap:           Tap{Name: "tb1", MAC: mac.Addr{0xcc, 0x47, 0x52, 0x4e, 0x45, 0x54}, MTU: 1500, Master: "br0"},
			Sysctls:       []Sysctl{{Key: "net/ipv4/conf/tb1/proxy_arp", Value: "1"}},
			Rules:         []Rule{{Family: 4, IIF: "tb1", Mark: 1, Table: 100, Priority: 1}},
			Routes:        []Route{{Dst: netip.PrefixFrom(v4, 32), Dev: "tb1", Table: 100}},
			ProxyNeighs:   []ProxyNeigh{{Addr: v6, Dev: "up1"}},
			Announce:      []Announce{{Kind: GratuitousARP, Addr: v4, Dev: "up1"}},
			OVS:           &OVSPort{Bridge: "ovsbr0", Tag: 10, Trunks: []int{20}, Guard: &guard},
			UplinkPending: []UplinkPending{{Addr: v6, Table: 100}},
		},
		Filter:  filter(),
		Binding: b,
	}
}

// leafPaths lists the paths (field indices; -1 steps through a pointer)
// of every field of Plan, Host, Tap, Filter, OVSPort, MACFilter and
// Queues that is not itself one of these structs.
func leafPaths(typ reflect.Type, prefix []int) [][]int {
	var out [][]int
	for i := range typ.NumField() {
		f := typ.Field(i)
		path := append(append([]int(nil), prefix...), i)
		ft := f.Type
		if ft.Kind() == reflect.Pointer && ft.Elem().PkgPath() == typ.PkgPath() && ft.Elem().Kind() == reflect.Struct {
			out = append(out, path) // the pointer itself: nil or not
			out = append(out, leafPaths(ft.Elem(), append(path, -1))...)
			continue
		}
		if ft.Kind() == reflect.Struct && ft.PkgPath() == typ.PkgPath() && ft.Name() != "NICID" {
			out = append(out, leafPaths(ft, path)...)
			continue
		}
		out = append(out, path)
	}
	return out
}

func pathName(typ reflect.Type, path []int) string {
	var b strings.Builder
	b.WriteString(typ.Name())
	for _, i := range path {
		if i < 0 {
			typ = typ.Elem()
			continue
		}
		f := typ.Field(i)
		b.WriteString("." + f.Name)
		typ = f.Type
	}
	return b.String()
}

// change sets v to a value other than its current one.
func change(t *testing.T, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Slice:
		if v.Len() > 0 {
			v.Set(v.Slice(0, v.Len()-1)) // one element fewer
		} else {
			v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
		}
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		} else {
			v.SetZero()
		}
	case reflect.Struct:
		switch x := v.Addr().Interface().(type) {
		case *netip.Addr:
			*x = x.Next()
		case *netip.Prefix:
			*x = netip.PrefixFrom(x.Addr().Next(), x.Bits())
		case *NICID:
			x.Index++
		default:
			t.Fatalf("change: no rule for %s", v.Type())
		}
	default:
		t.Fatalf("change: no rule for %s", v.Type())
	}
}

// TestPlanEqualCoversEveryField changes one field at a time, in every
// struct a plan holds, and checks Equal notices: a field added to Plan,
// Host, Tap, Filter, OVSPort, MACFilter or Queues but not to Equal fails
// here.
func TestPlanEqualCoversEveryField(t *testing.T) {
	typ := reflect.TypeFor[Plan]()
	paths := leafPaths(typ, nil)
	if len(paths) < 40 {
		t.Fatalf("only %d fields found", len(paths))
	}
	for _, path := range paths {
		name := pathName(typ, path)
		p, q := fullPlan(t), fullPlan(t)
		if !p.Equal(q) {
			t.Fatal("two full plans differ")
		}
		v := reflect.ValueOf(q).Elem()
		for _, i := range path {
			if i < 0 {
				v = v.Elem()
			} else {
				v = v.Field(i)
			}
		}
		if v.IsZero() {
			t.Errorf("%s is zero in fullPlan: give it a value", name)
		}
		change(t, v)
		if p.Equal(q) || q.Equal(p) {
			t.Errorf("Equal does not compare %s", name)
		}
	}
}

// TestPlanEqualNilEmpty: nil and empty lists and MACs are equal, and a
// plan equals itself after a trip through JSON.
func TestPlanEqualNilEmpty(t *testing.T) {
	p := fullPlan(t)
	q := fullPlan(t)
	q.Host = Host{Tap: Tap{Name: "tb1"}, Sysctls: []Sysctl{}, Rules: []Rule{}, Routes: []Route{},
		ProxyNeighs: []ProxyNeigh{}, Announce: []Announce{}, UplinkPending: []UplinkPending{}}
	q.Host.OVS = &OVSPort{Bridge: "b", Trunks: []int{}}
	q.Filter = Filter{MAC: mac.Addr{}, TapMAC: mac.Addr{}, IPv4: []netip.Addr{}, IPv6: []netip.Addr{}}
	p.Host = Host{Tap: Tap{Name: "tb1"}, OVS: &OVSPort{Bridge: "b"}}
	p.Filter = Filter{}
	if !p.Equal(q) || !q.Equal(p) {
		t.Fatal("nil and empty differ")
	}
	var none *Plan
	if !none.Equal(nil) || none.Equal(p) || p.Equal(nil) {
		t.Fatal("nil plans")
	}
	for _, x := range []*Plan{fullPlan(t), q} {
		data, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		var back Plan
		if err := json.Unmarshal(data, &back); err != nil || !back.Equal(x) {
			t.Fatalf("round trip %s: %v\n%+v", data, err, back)
		}
	}
}

// TestPlanJSON: MACs print as text, the binding as its file's text.
func TestPlanJSON(t *testing.T) {
	data, err := json.Marshal(fullPlan(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"mac":"cc:47:52:4e:45:54"`, `"tap_mac":"fe:00:01:00:00:01"`,
		`"prefix":"aa:00:01:00:00:00"`, `"binding":"INDEV=tb1\nIP=198.18.1.3\nMAC=aa:00:01:00:00:01\nHOSTNAME=vm1\n"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("no %s in %s", want, data)
		}
	}
	var p Plan
	for _, bad := range []string{`{"binding":"INDEV\n"}`, `{"host":{"tap":{"mac":"zz"}}}`, `{"filter":{"mac":5}}`} {
		if err := json.Unmarshal([]byte(bad), &p); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
