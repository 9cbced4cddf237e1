package ganeti

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// seedFixtures adds every fixture of the given kind, as one string with one
// variable per line, to the fuzz corpus.
func seedFixtures(f *testing.F, ifup bool) {
	for _, name := range allFixtures(f) {
		if isIfupFixture(name) != ifup {
			continue
		}
		b, err := os.ReadFile(filepath.Join(testdata, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
}

func environOf(data string) []string { return strings.Split(data, "\n") }

// checkParseErr: every parse error names its variable.
func checkParseErr(t *testing.T, err error) {
	var ve *VarError
	if !errors.As(err, &ve) || ve.Var == "" {
		t.Fatalf("error %q (%T) is not a *VarError naming a variable", err, err)
	}
	for _, s := range []error{ErrMissing, ErrInvalid, ErrNICCount, ErrDuplicate, ErrUnexpected} {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error %q wraps no sentinel", err)
}

func FuzzParseHookEnv(f *testing.F) {
	seedFixtures(f, false)
	for _, m := range []map[string]string{baseHook(), basePost()} {
		f.Add(strings.Join(sortedEnviron(m), "\n"))
	}
	f.Add("GANETI_HOOKS_PATH=p\nGANETI_HOOKS_PHASE=post\nGANETI_HOOKS_VERSION=2\nGANETI_OP_CODE=X\n" +
		"GANETI_POST_INSTANCE_NAME=i\nGANETI_POST_INSTANCE_NIC_COUNT=1\nGANETI_POST_INSTANCE_NIC0_MAC=aa:00:00:00:00:01\n" +
		"GANETI_POST_INSTANCE_NIC0_MODE=openvswitch\nGANETI_POST_INSTANCE_NIC0_VLAN=.1:2\nGANETI_GROUP_NETWORK_VLAN=:3\n" +
		"GANETI_NODE_PIP=2001:db8::1\nGANETI_INSTANCE_NIC0_FOO=x\nGANETI_POST_=\nGANETI_POST\nGANETI_=")
	f.Fuzz(func(t *testing.T, data string) {
		e, err := ParseHookEnv(environOf(data))
		if err != nil {
			checkParseErr(t, err)
			return
		}
		out := e.Environ()
		e2, err := ParseHookEnv(out)
		if err != nil {
			t.Fatalf("reparse of %q: %v", out, err)
		}
		if !reflect.DeepEqual(e, e2) {
			t.Fatalf("round trip changed the value:\n%+v\n%+v", e, e2)
		}
		if out2 := e2.Environ(); !reflect.DeepEqual(out, out2) {
			t.Fatalf("Environ not stable:\n%q\n%q", out, out2)
		}
	})
}

func FuzzParseIfupEnv(f *testing.F) {
	seedFixtures(f, true)
	f.Add(strings.Join(sortedEnviron(baseIfup()), "\n"))
	f.Add("INSTANCE=i\nINTERFACE=t\nINTERFACE_INDEX=3\nMAC=aa:00:00:00:00:01\nMODE=openvswitch\nVLAN=:1:2\nIP=2001:db8::2\nNETWORK_MAC_PREFIX=aa:bb:cc\nTAGS=a  b\tc")
	f.Fuzz(func(t *testing.T, data string) {
		e, err := ParseIfupEnv(environOf(data))
		if err != nil {
			checkParseErr(t, err)
			return
		}
		out := e.Environ()
		e2, err := ParseIfupEnv(out)
		if err != nil {
			t.Fatalf("reparse of %q: %v", out, err)
		}
		if !reflect.DeepEqual(e, e2) {
			t.Fatalf("round trip changed the value:\n%+v\n%+v", e, e2)
		}
		if n := e.NIC(); n.Index != e.Index || n.Mode != e.Mode {
			t.Fatalf("NIC() = %+v", n)
		}
	})
}

func FuzzParseVLAN(f *testing.F) {
	for _, s := range []string{"", ".10", ":10:20", ".10:20", "10", ".010", ":", ".", ".10:", "::", ".0", ":4095", ".4094:1", "None", "+1", ".1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVLAN(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseVLAN(%q): %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		for _, id := range append([]int{v.Access}, v.Trunks...) {
			if id != 0 && (id < MinVLANID || id > MaxVLANID) {
				t.Fatalf("ParseVLAN(%q) = %+v: ID out of range", s, v)
			}
		}
		if v.Access == 0 && len(v.Trunks) == 0 && s != "" {
			t.Fatalf("ParseVLAN(%q) = no VLAN", s)
		}
		c := v.String()
		v2, err := ParseVLAN(c)
		if err != nil || !reflect.DeepEqual(v, v2) {
			t.Fatalf("ParseVLAN(%q) = %+v; String %q; reparse %+v, %v", s, v, c, v2, err)
		}
		if v2.String() != c {
			t.Fatalf("String not canonical: %q then %q", c, v2.String())
		}
		if err := v.Validate(); err != nil {
			t.Fatalf("Validate(%+v): %v", v, err)
		}
	})
}
