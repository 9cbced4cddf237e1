package ipamcli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/diktyo/diktyo/pkg/ipam"
)

func (e *env) exportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "write the whole pool as JSON (to FILE, or stdout); import gives it back losslessly",
		ArgsUsage: "[FILE]",
		Action: func(c *cli.Context) error {
			a, err := posArgs(c, 0, 1, "export [FILE|-]")
			if err != nil {
				return err
			}
			var out bytes.Buffer
			err = e.view(c, func(t *ipam.Txn) error {
				d, err := t.Export()
				if err != nil {
					return err
				}
				return d.WriteJSON(&out)
			})
			if err != nil {
				return err
			}
			if len(a) == 0 || a[0] == "-" {
				_, err = e.stdout.Write(out.Bytes())
				return err
			}
			return writeFileAtomic(a[0], out.Bytes())
		},
	}
}

// writeFileAtomic writes a file through a temporary file and a rename, so
// a reader never sees half an export.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".export-*")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

func (e *env) importCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "load a JSON export (from FILE, or stdin) in one transaction",
		ArgsUsage: "[FILE]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "replace", Usage: "delete the whole pool first (otherwise networks of the dump must not exist)"},
		},
		Action: func(c *cli.Context) error {
			a, err := posArgs(c, 0, 1, "import [--replace] [FILE|-]")
			if err != nil {
				return err
			}
			var r io.Reader = e.stdin
			if len(a) == 1 && a[0] != "-" {
				f, err := os.Open(a[0])
				if err != nil {
					return fmt.Errorf("import: %w", err)
				}
				defer f.Close()
				r = f
			}
			d, err := ipam.ReadDump(r)
			if err != nil {
				return err
			}
			return e.update(c, func(t *ipam.Txn) error { return t.Import(d, c.Bool("replace")) })
		},
	}
}

// checkJSON is check -o json.
type checkJSON struct {
	Consistent bool     `json:"consistent"`
	Networks   int      `json:"networks"`
	Problems   []string `json:"problems"`
}

func (e *env) checkCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "verify the pool's invariants; prints one line per problem and exits 8 if there are any",
		Flags: []cli.Flag{jsonOutputFlag()},
		Action: func(c *cli.Context) error {
			if _, err := posArgs(c, 0, 0, "check [-o json]"); err != nil {
				return err
			}
			asJSON, err := wantJSON(c, "check")
			if err != nil {
				return err
			}
			var res checkJSON
			err = e.view(c, func(t *ipam.Txn) error {
				probs, err := t.Check()
				if err != nil {
					return err
				}
				nets, err := t.Networks()
				if err != nil {
					return fmt.Errorf("check: %w", err)
				}
				res = checkJSON{Consistent: len(probs) == 0, Networks: len(nets), Problems: nonNil(probs)}
				return nil
			})
			if err != nil {
				return err
			}
			if asJSON {
				err = writeJSON(e.stdout, res)
			} else if res.Consistent {
				_, err = fmt.Fprintf(e.stdout, "consistent: %d networks\n", res.Networks)
			} else {
				var b bytes.Buffer
				for _, p := range res.Problems {
					fmt.Fprintln(&b, p)
				}
				_, err = e.stdout.Write(b.Bytes())
			}
			if err != nil {
				return err
			}
			if !res.Consistent {
				return fmt.Errorf("check: %d problems found: %w", len(res.Problems), errInconsistent)
			}
			return nil
		},
	}
}
