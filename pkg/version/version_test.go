package version_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/diktyo/diktyo/pkg/hook"
	"github.com/diktyo/diktyo/pkg/ifup"
	"github.com/diktyo/diktyo/pkg/ipamcli"
	"github.com/diktyo/diktyo/pkg/nfdhcpd"
	"github.com/diktyo/diktyo/pkg/version"
)

func TestHandle(t *testing.T) {
	for _, args := range [][]string{{"x"}, {"x", "--help"}, {"x", "--version", "y"}, {"x", "-version"}, nil} {
		var out bytes.Buffer
		if version.Handle(args, "x", &out) || out.Len() != 0 {
			t.Errorf("Handle(%q) handled it, wrote %q", args, out.String())
		}
	}
	var out bytes.Buffer
	if !version.Handle([]string{"/usr/bin/x", "--version"}, "x", &out) || out.String() != "x version "+version.Version+"\n" {
		t.Errorf("Handle(--version): wrote %q", out.String())
	}
}

// TestEveryBinaryAnswersVersion: every binary's one entry answers
// --version on stdout, exit 0, nothing on stderr, before it reads any
// configuration (the environment here points nowhere usable).
func TestEveryBinaryAnswersVersion(t *testing.T) {
	type run func(ctx context.Context, args, env []string, stdin io.Reader, stdout, stderr io.Writer) int
	env := []string{"DIKTYO_CONFIG=/nonexistent/diktyo", "DIKTYO_IPAM_DB=/nonexistent/ipam.db"}
	for _, c := range []struct {
		prog, want string
		run        run
	}{
		{"diktyo-ifup", "diktyo-ifup version ", ifup.Run},
		{"kvm-vif-bridge", "diktyo-ifup version ", ifup.Run},
		{"diktyo-hook", "diktyo-hook version ", hook.Run},
		{"diktyo-ipam", "diktyo-ipam version ", ipamcli.Run},
		{"nfdhcpd", "nfdhcpd (diktyo) version ", nfdhcpd.Run},
	} {
		var stdout, stderr bytes.Buffer
		code := c.run(t.Context(), []string{c.prog, "--version"}, env, strings.NewReader(""), &stdout, &stderr)
		if code != 0 || stdout.String() != c.want+version.Version+"\n" || stderr.Len() != 0 {
			t.Errorf("%s --version: exit %d, stdout %q, stderr %q", c.prog, code, stdout.String(), stderr.String())
		}
	}
}
