package ipam

import (
	"errors"
	"testing"

	"github.com/diktyo/diktyo/pkg/ganeti"
)

// TestParseMode: the pool's modes are Ganeti's, checked by Ganeti's parser.
func TestParseMode(t *testing.T) {
	for _, m := range []ganeti.NICMode{ganeti.ModeRouted, ganeti.ModeBridged, ganeti.ModeOpenvSwitch} {
		if got, err := ParseMode(string(m)); err != nil || got != m {
			t.Errorf("ParseMode(%q) = %q, %v", m, got, err)
		}
	}
	for _, bad := range []string{"", "ovs", "Routed"} {
		if _, err := ParseMode(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseMode(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}
