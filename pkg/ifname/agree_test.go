package ifname_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/diktyo/diktyo/pkg/binding"
	"github.com/diktyo/diktyo/pkg/firewall"
	"github.com/diktyo/diktyo/pkg/ganeti"
	"github.com/diktyo/diktyo/pkg/ifname"
	"github.com/diktyo/diktyo/pkg/ifupconf"
	"github.com/diktyo/diktyo/pkg/netplan"
)

// TestCallersAgree: a name one package accepts, every package accepts.
func TestCallersAgree(t *testing.T) {
	for _, name := range []string{"tap0", "abcdefghijklmno", "abcdefghijklmnop", "tap=1", "tap:0", "tap 0",
		"..", "täp", "tap$", "br-x@y", ".tap"} {
		want := ifname.Validate(name) == nil
		checks := map[string]error{
			"firewall.ValidateTap": firewall.ValidateTap(name),
		}
		_, err := binding.Parse(name, strings.NewReader("INDEV=tap0\nHOSTNAME=vm1\nIP=198.51.100.2\nMAC=aa:00:00:00:00:01\n"))
		checks["binding.Parse"] = err
		_, _, err = ifupconf.Parse(strings.NewReader("UPLINK='" + name + "'\n"))
		checks["ifupconf UPLINK"] = err
		// netplan.Build checks INTERFACE first; a good name fails later
		// (no MAC), for another reason.
		_, err = netplan.Build(netplan.Input{Env: &ganeti.IfupEnv{Interface: name}})
		if got := !errors.Is(err, ifname.ErrInvalid); got != want {
			t.Errorf("netplan.Build(INTERFACE=%q) = %v; ifname says ok = %v", name, err, want)
		}
		for what, err := range checks {
			if got := err == nil; got != want {
				t.Errorf("%s(%q) = %v; ifname says ok = %v", what, name, err, want)
			}
			if err != nil && !errors.Is(err, ifname.ErrInvalid) {
				t.Errorf("%s(%q) = %v, does not wrap ifname.ErrInvalid", what, name, err)
			}
		}
	}
}
