package netplan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/ifname"
)

// FuzzBuild: Ganeti's environment comes from instance and network
// definitions users control (tags, names, links). Build must never panic,
// and every plan it returns must survive the state record's JSON round
// trip unchanged.
func FuzzBuild(f *testing.F) {
	f.Add("tap1", "routed", "100", "198.18.100.2", "aa:00:01:2d:2b:3b", "synnefo:network:0:protected", "nfdhcpd private-filtered", "2001:db8:100::/64", "")
	f.Add("tap0", "bridged", "br0", "", "aa:00:00:0d:f1:78", "disable_ipv4", "nfdhcpd", "", "")
	f.Add("tap2", "openvswitch", "ovs0", "198.51.100.9", "aa:00:00:00:00:01", "", "", "", ".10:20")
	f.Fuzz(func(t *testing.T, tap, mode, link, ip, mac, tags, netTags, subnet6, vlan string) {
		m := map[string]string{
			"INSTANCE": "vm1", "INTERFACE": tap, "INTERFACE_INDEX": "0", "MAC": mac, "MODE": mode, "LINK": link,
			"IP": ip, "TAGS": tags, "VLAN": vlan, "NETWORK_NAME": "n", "NETWORK_TAGS": netTags,
			"NETWORK_SUBNET": "198.18.0.0/15", "NETWORK_GATEWAY": "198.18.0.1", "NETWORK_SUBNET6": subnet6,
		}
		e, err := ganeti.ParseIfupEnvMap(m)
		if err != nil {
			return
		}
		facts := HostFacts{Tap: LinkFacts{Name: tap, Exists: true, Index: 3}, Link: LinkFacts{Name: link, Exists: true, Kind: "bridge", MTU: 1500},
			Table: 100, Uplink4: "eth1", Uplink6: "eth1"}
		p, err := Build(Input{Env: e, Network: e.Network, Options: testOptions(), Facts: facts})
		if err != nil {
			return
		}
		if ifname.Validate(p.NIC.Tap) != nil || strings.Contains(p.Host.Tap.Name, "/") {
			t.Fatalf("plan for bad tap %q", p.NIC.Tap)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back Plan
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if b2, _ := json.Marshal(&back); !bytes.Equal(b, b2) {
			t.Fatalf("round trip:\n%s\n%s", b, b2)
		}
	})
}

func FuzzParseRTTables(f *testing.F) {
	f.Add("255 local\n254 main\n100 pub # x\n0x10 hex\n")
	f.Fuzz(func(t *testing.T, in string) {
		for name, n := range ParseRTTables(strings.NewReader(in)) {
			if _, err := ParseTable(name, nil); err == nil {
				continue // a number names itself, not the rt_tables entry
			}
			if got, err := ParseTable(name, map[string]int{name: n}); err == nil && got != n {
				t.Fatalf("%q: %d != %d", name, got, n)
			}
		}
	})
}
