package ganeti

import (
	"strings"
	"testing"
)

func TestReadEnv(t *testing.T) {
	env, err := ReadEnv(strings.NewReader("A=1\n\nB=x=y\nC=\n"))
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "env", env, []string{"A=1", "B=x=y", "C="})
	if _, err := ReadEnv(strings.NewReader("A=1\ncontinued\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("err = %v, want an error on line 2", err)
	}
	if _, err := ReadEnvFile(fixture("no/such.env")); err == nil {
		t.Error("no error for a missing file")
	}
}

func TestReadEnvLog(t *testing.T) {
	recs, err := ReadEnvLog(strings.NewReader("=== one\nA=1\nB=2\n\n=== two\n===\nC=3\n"))
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "records", recs, []EnvRecord{
		{Header: "one", Environ: []string{"A=1", "B=2"}},
		{Header: "two"},
		{Header: "", Environ: []string{"C=3"}},
	})
	for _, bad := range []string{"A=1\n=== h\n", "=== h\nnoequal\n"} {
		if _, err := ReadEnvLog(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadEnvLog(%q): no error", bad)
		}
	}
}
