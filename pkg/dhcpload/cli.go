package dhcpload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// Options is what the dhcpload command does: print a Markdown table of
// earlier reports (TableFiles set), or run Config and print its report.
type Options struct {
	Config Config
	// JSONFile, when set, gets the report appended as one JSON line.
	JSONFile string
	// JSON prints the report as JSON instead of text.
	JSON bool
	// TableFiles are JSON-lines report files to print as one table.
	TableFiles []string
}

// Main runs what o asks and writes the result to out.
func Main(ctx context.Context, o Options, out io.Writer) error {
	if len(o.TableFiles) > 0 {
		var all []Report
		for _, name := range o.TableFiles {
			rs, err := readReportFile(name)
			if err != nil {
				return err
			}
			all = append(all, rs...)
		}
		return WriteTable(out, all)
	}
	rep, err := Run(ctx, o.Config)
	if rep == nil {
		return err
	}
	var werr error
	if o.JSON {
		werr = rep.WriteJSON(out)
	} else {
		werr = rep.WriteText(out)
	}
	if o.JSONFile != "" {
		werr = errors.Join(werr, appendReport(o.JSONFile, rep))
	}
	return errors.Join(err, werr)
}

func readReportFile(name string) ([]Report, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("table: %w", err)
	}
	defer f.Close()
	rs, err := ReadReports(f)
	if err != nil {
		return nil, fmt.Errorf("table: %s: %w", name, err)
	}
	return rs, nil
}

func appendReport(name string, r *Report) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	err = r.WriteJSON(f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("report: %w", cerr)
	}
	return err
}
