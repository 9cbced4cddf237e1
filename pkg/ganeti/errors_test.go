package ganeti

import (
	"errors"
	"maps"
	"net/netip"
	"testing"
)

// baseHook is a small valid pre-phase hook environment with two NICs.
func baseHook() map[string]string {
	return map[string]string{
		"GANETI_HOOKS_PATH":                       "instance-modify",
		"GANETI_HOOKS_PHASE":                      "pre",
		"GANETI_HOOKS_VERSION":                    "2",
		"GANETI_OP_CODE":                          "OP_INSTANCE_SET_PARAMS",
		"GANETI_INSTANCE_NAME":                    "i1",
		"GANETI_INSTANCE_NIC_COUNT":               "2",
		"GANETI_INSTANCE_NIC0_MAC":                "aa:00:00:00:00:01",
		"GANETI_INSTANCE_NIC0_MODE":               "bridged",
		"GANETI_INSTANCE_NIC0_IP":                 "198.18.2.1",
		"GANETI_INSTANCE_NIC0_VLAN":               "",
		"GANETI_INSTANCE_NIC1_MAC":                "aa:00:00:00:00:02",
		"GANETI_INSTANCE_NIC1_MODE":               "routed",
		"GANETI_INSTANCE_NIC1_NETWORK_NAME":       "n",
		"GANETI_INSTANCE_NIC1_NETWORK_SUBNET":     "198.18.2.0/24",
		"GANETI_INSTANCE_NIC1_NETWORK_GATEWAY":    "198.18.2.254",
		"GANETI_INSTANCE_NIC1_NETWORK_SUBNET6":    "2001:db8::/64",
		"GANETI_INSTANCE_NIC1_NETWORK_GATEWAY6":   "2001:db8::1",
		"GANETI_INSTANCE_NIC1_NETWORK_MAC_PREFIX": "aa:00:00",
	}
}

// basePost is baseHook in the post phase, with a post view.
func basePost() map[string]string {
	m := baseHook()
	m["GANETI_HOOKS_PHASE"] = "post"
	for k, v := range baseHook() {
		if len(k) > 16 && k[:16] == "GANETI_INSTANCE_" {
			m["GANETI_POST_"+k[len("GANETI_"):]] = v
		}
	}
	return m
}

func baseIfup() map[string]string {
	return map[string]string{
		"INSTANCE": "i1", "INTERFACE": "tap0", "INTERFACE_INDEX": "0",
		"MAC": "aa:00:00:00:00:01", "MODE": "routed", "IP": "198.18.2.1", "LINK": "100",
		"NETWORK_NAME": "n", "NETWORK_SUBNET": "198.18.2.0/24", "NETWORK_GATEWAY": "198.18.2.254",
	}
}

type errCase struct {
	name  string
	base  func() map[string]string
	set   map[string]string
	del   []string
	is    []error // sentinels the error must wrap
	varNm string  // VarError.Var
	msg   string  // exact message, if not empty
}

func (c errCase) env() map[string]string {
	m := c.base()
	maps.Copy(m, c.set)
	for _, k := range c.del {
		delete(m, k)
	}
	return m
}

func checkErr(t *testing.T, c errCase, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error")
	}
	for _, s := range c.is {
		if !errors.Is(err, s) {
			t.Errorf("error %q does not wrap %q", err, s)
		}
	}
	var ve *VarError
	if !errors.As(err, &ve) {
		t.Fatalf("error %q (%T) is not a *VarError", err, err)
	}
	if ve.Var != c.varNm {
		t.Errorf("Var = %q, want %q (error %q)", ve.Var, c.varNm, err)
	}
	if c.msg != "" && err.Error() != c.msg {
		t.Errorf("message\n got %q\nwant %q", err.Error(), c.msg)
	}
}

func TestHookErrors(t *testing.T) {
	const nic0, nic1 = "GANETI_INSTANCE_NIC0_", "GANETI_INSTANCE_NIC1_"
	pre := baseHook
	cases := []errCase{
		// MACs
		{name: "bad MAC", base: pre, set: map[string]string{nic1 + "MAC": "zz"},
			is: []error{ErrInvalid}, varNm: nic1 + "MAC", msg: `GANETI_INSTANCE_NIC1_MAC: invalid MAC "zz"`},
		{name: "EUI-64 MAC", base: pre, set: map[string]string{nic0 + "MAC": "aa:bb:cc:dd:ee:ff:00:11"},
			is: []error{ErrInvalid}, varNm: nic0 + "MAC"},
		{name: "missing MAC", base: pre, del: []string{nic1 + "MAC"},
			is: []error{ErrMissing}, varNm: nic1 + "MAC", msg: "GANETI_INSTANCE_NIC1_MAC: missing required value"},
		{name: "empty MAC", base: pre, set: map[string]string{nic1 + "MAC": ""}, is: []error{ErrMissing}, varNm: nic1 + "MAC"},
		{name: "None MAC", base: pre, set: map[string]string{nic1 + "MAC": "None"}, is: []error{ErrMissing}, varNm: nic1 + "MAC"},
		// IP addresses
		{name: "bad IP", base: pre, set: map[string]string{nic0 + "IP": "198.18.2.300"},
			is: []error{ErrInvalid}, varNm: nic0 + "IP", msg: `GANETI_INSTANCE_NIC0_IP: invalid IP address "198.18.2.300"`},
		{name: "IP with zone", base: pre, set: map[string]string{nic0 + "IP": "fe80::1%eth0"}, is: []error{ErrInvalid}, varNm: nic0 + "IP"},
		{name: "IP pool", base: pre, set: map[string]string{nic0 + "IP": "pool"}, is: []error{ErrInvalid}, varNm: nic0 + "IP"},
		// Networks
		{name: "bad gateway", base: pre, set: map[string]string{nic1 + "NETWORK_GATEWAY": "gw"},
			is: []error{ErrInvalid}, varNm: nic1 + "NETWORK_GATEWAY", msg: `GANETI_INSTANCE_NIC1_NETWORK_GATEWAY: invalid IPv4 address "gw"`},
		{name: "IPv6 gateway", base: pre, set: map[string]string{nic1 + "NETWORK_GATEWAY": "2001:db8::1"},
			is: []error{ErrInvalid}, varNm: nic1 + "NETWORK_GATEWAY",
			msg: `GANETI_INSTANCE_NIC1_NETWORK_GATEWAY: invalid IPv4 address "2001:db8::1": not an IPv4 address`},
		{name: "IPv4 gateway6", base: pre, set: map[string]string{nic1 + "NETWORK_GATEWAY6": "198.18.2.1"},
			is: []error{ErrInvalid}, varNm: nic1 + "NETWORK_GATEWAY6"},
		{name: "4in6 gateway6", base: pre, set: map[string]string{nic1 + "NETWORK_GATEWAY6": "::ffff:198.18.2.1"},
			is: []error{ErrInvalid}, varNm: nic1 + "NETWORK_GATEWAY6"},
		{name: "subnet /33", base: pre, set: map[string]string{nic1 + "NETWORK_SUBNET": "198.18.2.0/33"},
			is: []error{ErrInvalid}, varNm: nic1 + "NETWORK_SUBNET", msg: `GANETI_INSTANCE_NIC1_NETWORK_SUBNET: invalid IPv4 subnet "198.18.2.0/33"`},
		{name: "subnet without length", base: pre, set: map[string]string{nic1 + "NETWORK_SUBNET": "198.18.2.0"},
			is: []error{ErrInvalid}, varNm: nic1 + "NETWORK_SUBNET"},
		{name: "IPv4 subnet6", base: pre, set: map[string]string{nic1 + "NETWORK_SUBNET6": "198.18.2.0/24"},
			is: []error{ErrInvalid}, varNm: nic1 + "NETWORK_SUBNET6"},
		{name: "short MAC prefix", base: pre, set: map[string]string{nic1 + "NETWORK_MAC_PREFIX": "aa:00"},
			is: []error{ErrInvalid}, varNm: nic1 + "NETWORK_MAC_PREFIX"},
		{name: "long MAC prefix", base: pre, set: map[string]string{nic1 + "NETWORK_MAC_PREFIX": "aa:00:00:01"},
			is: []error{ErrInvalid}, varNm: nic1 + "NETWORK_MAC_PREFIX"},
		{name: "bad MAC prefix", base: pre, set: map[string]string{nic1 + "NETWORK_MAC_PREFIX": "zz:00:00"},
			is: []error{ErrInvalid}, varNm: nic1 + "NETWORK_MAC_PREFIX"},
		{name: "network hook bad subnet", base: pre, set: map[string]string{"GANETI_NETWORK_SUBNET": "net"},
			is: []error{ErrInvalid}, varNm: "GANETI_NETWORK_SUBNET"},
		// NIC count
		{name: "NIC beyond count", base: pre, set: map[string]string{"GANETI_INSTANCE_NIC_COUNT": "1"},
			is: []error{ErrNICCount}, varNm: "GANETI_INSTANCE_NIC_COUNT",
			msg: "GANETI_INSTANCE_NIC_COUNT: NIC count mismatch: count is 1 but GANETI_INSTANCE_NIC1_MAC is set"},
		{name: "NIC2 present", base: pre, set: map[string]string{nic1[:len(nic1)-2] + "2_MODE": "routed"},
			is: []error{ErrNICCount}, varNm: "GANETI_INSTANCE_NIC_COUNT",
			msg: "GANETI_INSTANCE_NIC_COUNT: NIC count mismatch: count is 2 but GANETI_INSTANCE_NIC2_MODE is set"},
		{name: "count too high", base: pre, set: map[string]string{"GANETI_INSTANCE_NIC_COUNT": "3"},
			is: []error{ErrNICCount}, varNm: "GANETI_INSTANCE_NIC_COUNT",
			msg: "GANETI_INSTANCE_NIC_COUNT: NIC count mismatch: count is 3 but no GANETI_INSTANCE_NIC2_* variable is set"},
		{name: "NIC1 missing", base: pre,
			del: []string{nic1 + "MAC", nic1 + "MODE", nic1 + "NETWORK_NAME", nic1 + "NETWORK_SUBNET", nic1 + "NETWORK_GATEWAY", nic1 + "NETWORK_SUBNET6", nic1 + "NETWORK_GATEWAY6", nic1 + "NETWORK_MAC_PREFIX"},
			is:  []error{ErrNICCount}, varNm: "GANETI_INSTANCE_NIC_COUNT",
			msg: "GANETI_INSTANCE_NIC_COUNT: NIC count mismatch: count is 2 but no GANETI_INSTANCE_NIC1_* variable is set"},
		{name: "huge count", base: pre, set: map[string]string{"GANETI_INSTANCE_NIC_COUNT": "999999999"},
			is: []error{ErrNICCount}, varNm: "GANETI_INSTANCE_NIC_COUNT"},
		{name: "count zero with NICs", base: pre, set: map[string]string{"GANETI_INSTANCE_NIC_COUNT": "0"},
			is: []error{ErrNICCount}, varNm: "GANETI_INSTANCE_NIC_COUNT"},
		{name: "no count", base: pre, del: []string{"GANETI_INSTANCE_NIC_COUNT"},
			is: []error{ErrMissing}, varNm: "GANETI_INSTANCE_NIC_COUNT",
			msg: "GANETI_INSTANCE_NIC_COUNT: missing required value (GANETI_INSTANCE_NIC0_IP is set)"},
		{name: "bad count", base: pre, set: map[string]string{"GANETI_INSTANCE_NIC_COUNT": "two"},
			is: []error{ErrInvalid}, varNm: "GANETI_INSTANCE_NIC_COUNT"},
		{name: "negative count", base: pre, set: map[string]string{"GANETI_INSTANCE_NIC_COUNT": "-1"},
			is: []error{ErrInvalid}, varNm: "GANETI_INSTANCE_NIC_COUNT"},
		{name: "empty count", base: pre, set: map[string]string{"GANETI_INSTANCE_NIC_COUNT": ""},
			is: []error{ErrInvalid}, varNm: "GANETI_INSTANCE_NIC_COUNT"},
		{name: "NIC index with leading zero", base: pre, set: map[string]string{"GANETI_INSTANCE_NIC01_MAC": "aa:00:00:00:00:03"},
			is: []error{ErrInvalid}, varNm: "GANETI_INSTANCE_NIC01_MAC", msg: `GANETI_INSTANCE_NIC01_MAC: invalid NIC index "01"`},
		// Modes
		{name: "unknown mode", base: pre, set: map[string]string{nic0 + "MODE": "macvtap"},
			is: []error{ErrUnknownMode, ErrInvalid}, varNm: nic0 + "MODE",
			msg: `GANETI_INSTANCE_NIC0_MODE: unknown NIC mode "macvtap" (want bridged, routed or openvswitch)`},
		{name: "mode case", base: pre, set: map[string]string{nic0 + "MODE": "Bridged"}, is: []error{ErrUnknownMode}, varNm: nic0 + "MODE"},
		{name: "missing mode", base: pre, del: []string{nic0 + "MODE"}, is: []error{ErrMissing}, varNm: nic0 + "MODE"},
		{name: "group mode", base: pre, set: map[string]string{"GANETI_GROUP_NAME": "g", "GANETI_GROUP_NETWORK_MODE": "nat"},
			is: []error{ErrUnknownMode}, varNm: "GANETI_GROUP_NETWORK_MODE"},
		// VLANs
		{name: "bad VLAN", base: pre, set: map[string]string{nic0 + "VLAN": ".x"},
			is: []error{ErrInvalid}, varNm: nic0 + "VLAN",
			msg: `GANETI_INSTANCE_NIC0_VLAN: invalid VLAN ".x": VLAN ID "x" is not a number`},
		{name: "VLAN out of range", base: pre, set: map[string]string{nic0 + "VLAN": ":10:4095"},
			is: []error{ErrInvalid}, varNm: nic0 + "VLAN"},
		{name: "group VLAN", base: pre, set: map[string]string{"GANETI_GROUP_NAME": "g", "GANETI_GROUP_NETWORK_VLAN": "::"},
			is: []error{ErrInvalid}, varNm: "GANETI_GROUP_NETWORK_VLAN"},
		// Nodes and instances
		{name: "node IP", base: pre, set: map[string]string{"GANETI_NODE_NAME": "n", "GANETI_NODE_PIP": "n.example"},
			is: []error{ErrInvalid}, varNm: "GANETI_NODE_PIP"},
		{name: "no instance name", base: pre, del: []string{"GANETI_INSTANCE_NAME"}, is: []error{ErrMissing}, varNm: "GANETI_INSTANCE_NAME"},
		{name: "bad memory", base: pre, set: map[string]string{"GANETI_INSTANCE_MAXMEM": "1G"}, is: []error{ErrInvalid}, varNm: "GANETI_INSTANCE_MAXMEM"},
		{name: "bad disk count", base: pre, set: map[string]string{"GANETI_INSTANCE_DISK_COUNT": "x"}, is: []error{ErrInvalid}, varNm: "GANETI_INSTANCE_DISK_COUNT"},
		// Globals
		{name: "bad phase", base: pre, set: map[string]string{"GANETI_HOOKS_PHASE": "during"},
			is: []error{ErrInvalid}, varNm: "GANETI_HOOKS_PHASE", msg: `GANETI_HOOKS_PHASE: invalid phase "during" (want pre or post)`},
		{name: "no phase", base: pre, del: []string{"GANETI_HOOKS_PHASE"}, is: []error{ErrMissing}, varNm: "GANETI_HOOKS_PHASE"},
		{name: "no path", base: pre, del: []string{"GANETI_HOOKS_PATH"}, is: []error{ErrMissing}, varNm: "GANETI_HOOKS_PATH"},
		{name: "no version", base: pre, del: []string{"GANETI_HOOKS_VERSION"}, is: []error{ErrMissing}, varNm: "GANETI_HOOKS_VERSION"},
		{name: "bad version", base: pre, set: map[string]string{"GANETI_HOOKS_VERSION": "v2"}, is: []error{ErrInvalid}, varNm: "GANETI_HOOKS_VERSION"},
		{name: "no opcode", base: pre, del: []string{"GANETI_OP_CODE"}, is: []error{ErrMissing}, varNm: "GANETI_OP_CODE"},
		{name: "post variable in pre phase", base: pre, set: map[string]string{"GANETI_POST_OP_TARGET": "i1"},
			is: []error{ErrUnexpected}, varNm: "GANETI_POST_OP_TARGET", msg: "GANETI_POST_OP_TARGET: unexpected variable in the pre phase"},
		// Post view errors name the GANETI_POST_ variable.
		{name: "post bad MAC", base: basePost, set: map[string]string{"GANETI_POST_INSTANCE_NIC1_MAC": "zz"},
			is: []error{ErrInvalid}, varNm: "GANETI_POST_INSTANCE_NIC1_MAC", msg: `GANETI_POST_INSTANCE_NIC1_MAC: invalid MAC "zz"`},
		{name: "post NIC count", base: basePost, set: map[string]string{"GANETI_POST_INSTANCE_NIC_COUNT": "1"},
			is: []error{ErrNICCount}, varNm: "GANETI_POST_INSTANCE_NIC_COUNT",
			msg: "GANETI_POST_INSTANCE_NIC_COUNT: NIC count mismatch: count is 1 but GANETI_POST_INSTANCE_NIC1_MAC is set"},
		{name: "post missing name", base: basePost, del: []string{"GANETI_POST_INSTANCE_NAME"}, is: []error{ErrMissing}, varNm: "GANETI_POST_INSTANCE_NAME"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := ParseHookEnvMap(c.env())
			if err == nil {
				t.Fatalf("no error; parsed %+v", e)
			}
			checkErr(t, c, err)
		})
	}
}

func TestHookBases(t *testing.T) {
	for name, m := range map[string]map[string]string{"pre": baseHook(), "post": basePost()} {
		e, err := ParseHookEnvMap(m)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(e.Instance.NICs) != 2 || e.Instance.NICs[1].Network.Name != "n" || e.Instance.NICs[0].Network != nil {
			t.Errorf("%s: %+v", name, e.Instance)
		}
	}
}

// Values Ganeti writes as "None" or "" mean unset, for every typed value.
func TestNoneIsUnset(t *testing.T) {
	m := baseHook()
	for _, k := range []string{"IP", "VLAN", "NETWORK_SUBNET", "NETWORK_GATEWAY", "NETWORK_SUBNET6", "NETWORK_GATEWAY6", "NETWORK_MAC_PREFIX"} {
		m["GANETI_INSTANCE_NIC1_"+k] = "None"
	}
	m["GANETI_INSTANCE_NIC0_IP"] = ""
	m["GANETI_INSTANCE_MINMEM"] = "None"
	e, err := ParseHookEnvMap(m)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "NIC1 network", e.Instance.NICs[1].Network, &Network{Name: "n"})
	if e.Instance.NICs[0].IP.IsValid() || e.Instance.NICs[1].IP.IsValid() || e.Instance.MinMem != 0 {
		t.Errorf("unset values parsed as set: %+v", e.Instance)
	}
	// A NIC whose network variables are all empty has no network.
	m["GANETI_INSTANCE_NIC1_NETWORK_NAME"] = ""
	m["GANETI_INSTANCE_NIC1_NETWORK_TAGS"] = " "
	if e, err = ParseHookEnvMap(m); err != nil || e.Instance.NICs[1].Network != nil {
		t.Errorf("network = %+v, %v; want nil", e.Instance.NICs[1].Network, err)
	}
}

func TestHookDuplicates(t *testing.T) {
	env := []string{"GANETI_HOOKS_PATH=p", "GANETI_HOOKS_PHASE=pre", "GANETI_HOOKS_VERSION=2", "GANETI_OP_CODE=OP",
		"PATH=/bin", "PATH=/usr/bin", "NOT_AN_ASSIGNMENT"}
	if _, err := ParseHookEnv(env); err != nil {
		t.Fatalf("duplicate PATH or entry without '=': %v", err)
	}
	_, err := ParseHookEnv(append(env, "GANETI_HOOKS_PHASE=post"))
	checkErr(t, errCase{is: []error{ErrDuplicate}, varNm: "GANETI_HOOKS_PHASE", msg: "GANETI_HOOKS_PHASE: duplicate variable"}, err)
}

func TestIfupErrors(t *testing.T) {
	b := baseIfup
	cases := []errCase{
		{name: "bad MAC", base: b, set: map[string]string{"MAC": "zz"}, is: []error{ErrInvalid}, varNm: "MAC", msg: `MAC: invalid MAC "zz"`},
		{name: "no MAC", base: b, del: []string{"MAC"}, is: []error{ErrMissing}, varNm: "MAC", msg: "MAC: missing required value"},
		{name: "no instance", base: b, del: []string{"INSTANCE"}, is: []error{ErrMissing}, varNm: "INSTANCE"},
		{name: "no interface", base: b, set: map[string]string{"INTERFACE": ""}, is: []error{ErrMissing}, varNm: "INTERFACE"},
		{name: "no index", base: b, del: []string{"INTERFACE_INDEX"}, is: []error{ErrMissing}, varNm: "INTERFACE_INDEX"},
		{name: "bad index", base: b, set: map[string]string{"INTERFACE_INDEX": "first"}, is: []error{ErrInvalid}, varNm: "INTERFACE_INDEX"},
		{name: "no mode", base: b, del: []string{"MODE"}, is: []error{ErrMissing}, varNm: "MODE"},
		{name: "unknown mode", base: b, set: map[string]string{"MODE": "nat"}, is: []error{ErrUnknownMode, ErrInvalid}, varNm: "MODE",
			msg: `MODE: unknown NIC mode "nat" (want bridged, routed or openvswitch)`},
		{name: "bad IP", base: b, set: map[string]string{"IP": "1.2.3"}, is: []error{ErrInvalid}, varNm: "IP", msg: `IP: invalid IP address "1.2.3"`},
		{name: "bad VLAN", base: b, set: map[string]string{"VLAN": ".10:"}, is: []error{ErrInvalid}, varNm: "VLAN",
			msg: `VLAN: invalid VLAN ".10:": empty VLAN ID`},
		{name: "bad gateway", base: b, set: map[string]string{"NETWORK_GATEWAY": "198.18.2.0/24"}, is: []error{ErrInvalid}, varNm: "NETWORK_GATEWAY"},
		{name: "bad subnet6", base: b, set: map[string]string{"NETWORK_SUBNET6": "2001:db8::/129"}, is: []error{ErrInvalid}, varNm: "NETWORK_SUBNET6"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := ParseIfupEnvMap(c.env())
			if err == nil {
				t.Fatalf("no error; parsed %+v", e)
			}
			checkErr(t, c, err)
		})
	}
	// Base is valid.
	e, err := ParseIfupEnvMap(b())
	if err != nil {
		t.Fatal(err)
	}
	if e.IP != netip.MustParseAddr("198.18.2.1") || e.Network.Gateway != netip.MustParseAddr("198.18.2.254") {
		t.Errorf("%+v", e)
	}
	// Duplicates of the variables read are errors, others are not.
	env := sortedEnviron(b())
	if _, err := ParseIfupEnv(append(env, "HOME=/", "HOME=/root")); err != nil {
		t.Errorf("duplicate HOME: %v", err)
	}
	_, err = ParseIfupEnv(append(env, "IP=198.18.2.2"))
	checkErr(t, errCase{is: []error{ErrDuplicate}, varNm: "IP"}, err)
}
