package ganeti

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diktyo/diktyo/pkg/golden"
)

// goldenName maps a fixture "kvm/instance-add-pre.env" to
// "golden/kvm-instance-add-pre.json".
func goldenName(fixture string) string {
	return filepath.Join("testdata", "golden", strings.ReplaceAll(strings.TrimSuffix(fixture, ".env"), "/", "-")+".json")
}

func checkGolden(t *testing.T, path string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, path, append(got, '\n'))
}

func TestGolden(t *testing.T) {
	want := make(map[string]bool)
	for _, name := range allFixtures(t) {
		var v any
		if isIfupFixture(name) {
			v = loadIfup(t, name)
		} else {
			v = loadHook(t, name)
		}
		path := goldenName(name)
		want[filepath.Base(path)] = true
		checkGolden(t, path, v)
	}

	// kvm-ifup.log: every record, parsed.
	f, err := os.Open(fixture("kvm/kvm-ifup.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := ReadEnvLog(f)
	if err != nil {
		t.Fatal(err)
	}
	type parsed struct {
		Header string   `json:"header"`
		Env    *IfupEnv `json:"env"`
	}
	var log []parsed
	for _, r := range recs {
		e, err := ParseIfupEnv(r.Environ)
		if err != nil {
			t.Fatal(err)
		}
		log = append(log, parsed{r.Header, e})
	}
	path := filepath.Join("testdata", "golden", "kvm-kvm-ifup.log.json")
	want[filepath.Base(path)] = true
	checkGolden(t, path, log)

	// No stale golden files.
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	for _, f := range files {
		if !want[filepath.Base(f)] {
			t.Errorf("stale golden file %s", f)
		}
	}
}
