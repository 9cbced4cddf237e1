package ganeti

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// ReadEnvFile reads an environment dump, as written by `env > file`, and
// returns it in the form of os.Environ(). It is meant for tests and tools
// that replay captured environments.
func ReadEnvFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env, err := ReadEnv(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return env, nil
}

// ReadEnv reads an environment dump: one NAME=value per line. Blank lines are
// skipped; any other line without "=" is an error. (A dump cannot represent
// values containing newlines.)
func ReadEnv(r io.Reader) ([]string, error) {
	var env []string
	sc := newLineScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		if !strings.Contains(line, "=") {
			return nil, fmt.Errorf("line %d: no '=' in %q", n, line)
		}
		env = append(env, line)
	}
	return env, sc.Err()
}

// EnvRecord is one environment of an environment log.
type EnvRecord struct {
	Header  string   `json:"header"` // the header line, without "=== "
	Environ []string `json:"environ"`
}

// ReadEnvLog reads an environment log: records that each start with a
// header line "=== <anything>" followed by the NAME=value lines of one
// environment, such as the kvm-ifup.log that a logging kvm-vif-bridge
// wrapper appends to.
func ReadEnvLog(r io.Reader) ([]EnvRecord, error) {
	var recs []EnvRecord
	sc := newLineScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "===" || strings.HasPrefix(line, "=== ") {
			recs = append(recs, EnvRecord{Header: strings.TrimPrefix(line[3:], " ")})
			continue
		}
		if line == "" {
			continue
		}
		if len(recs) == 0 {
			return nil, fmt.Errorf("line %d: variable before the first \"=== \" header", n)
		}
		if !strings.Contains(line, "=") {
			return nil, fmt.Errorf("line %d: no '=' in %q", n, line)
		}
		recs[len(recs)-1].Environ = append(recs[len(recs)-1].Environ, line)
	}
	return recs, sc.Err()
}

func newLineScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
	return sc
}
