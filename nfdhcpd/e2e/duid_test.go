package e2e

import (
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/diktyo/diktyo/pkg/nettest"
	"github.com/diktyo/diktyo/pkg/nfdconf"
)

// TestServerDUID checks the DHCPv6 server ID a real client (dhclient -6
// -S) gets from two daemons started one after the other: the same DUID
// both times, the DUID-UUID (RFC 6355, type 4) of the machine id, so
// clients see one server across restarts (GRNET's changed on every reply).
func TestServerDUID(t *testing.T) {
	machineID, err := os.ReadFile("/etc/machine-id")
	if err != nil {
		t.Fatalf("the DUID comes from /etc/machine-id: %v", err)
	}
	want := "0:4:" + colonHex(strings.TrimSpace(string(machineID)))
	var got []string
	for i := range 2 {
		h := newHost(t, nfdconf.ModeSLAACDHCPv6, nil)
		v := h.addVM(t, routed, 20+i)
		h.bind(t, v.b)
		h.waitLog(t, `msg="binding loaded" tap=`+v.b.Tap)
		in, err := nettest.Dhclient6Stateless(t, v.ns, "eth0")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, in.Env["new_dhcp6_server_id"])
	}
	if got[0] != got[1] || !strings.EqualFold(got[0], want) {
		t.Fatalf("server IDs of two daemon starts: %q, %q; want both %q", got[0], got[1], want)
	}
}

// colonHex writes hex digits as dhclient prints option bytes: "0:4:3d:…",
// each byte without a leading zero.
func colonHex(s string) string {
	b, _ := hex.DecodeString(s)
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = strconv.FormatUint(uint64(x), 16)
	}
	return strings.Join(parts, ":")
}
