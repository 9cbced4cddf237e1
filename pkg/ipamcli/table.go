package ipamcli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/urfave/cli/v2"
)

// column is one field of a gnt-style list.
type column[T any] struct {
	name  string // field name, as given to -o
	title string // header
	num   bool   // right-aligned
	text  func(T) string
	json  func(T) any // nil: the field is left out of -o json
}

// fieldSet is every field a list command knows, its defaults and aliases.
type fieldSet[T any] struct {
	cols     []column[T]
	defaults []string
	aliases  map[string]string
}

// listFlags are the gnt-* output options.
func listFlags(defaults []string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "comma-separated `FIELDS` (+F,... appends to the defaults: " +
			strings.Join(defaults, ",") + "), or \"json\""},
		&cli.BoolFlag{Name: "no-headers", Usage: "do not print the header line"},
		&cli.StringFlag{Name: "separator", Usage: "separate fields by `S` instead of aligning columns"},
	}
}

// jsonOutputFlag is -o of the commands that print text or, with -o json,
// JSON (not a list of fields: see listFlags).
func jsonOutputFlag() cli.Flag {
	return &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "\"json\" for JSON"}
}

// wantJSON parses jsonOutputFlag for the command cmd.
func wantJSON(c *cli.Context, cmd string) (bool, error) {
	switch o := c.String("output"); o {
	case "":
		return false, nil
	case "json":
		return true, nil
	default:
		return false, usagef("%s: -o %q: only json is supported", cmd, o)
	}
}

// listOpts is the parsed form of listFlags.
type listOpts struct {
	json      bool
	fields    []string
	noHeaders bool
	sep       string
	sepSet    bool
}

// parseListOpts validates the output options against fs before any store
// is opened.
func parseListOpts[T any](c *cli.Context, fs *fieldSet[T]) (listOpts, []column[T], error) {
	o := listOpts{noHeaders: c.Bool("no-headers"), sep: c.String("separator"), sepSet: c.IsSet("separator")}
	out := strings.TrimSpace(c.String("output"))
	if out == "json" {
		o.json = true
		var cols []column[T]
		for _, col := range fs.cols {
			if col.json != nil {
				cols = append(cols, col)
			}
		}
		return o, cols, nil
	}
	switch {
	case out == "":
		o.fields = slices.Clone(fs.defaults)
	case strings.HasPrefix(out, "+"):
		o.fields = append(slices.Clone(fs.defaults), strings.Split(out[1:], ",")...)
	default:
		o.fields = strings.Split(out, ",")
	}
	var cols []column[T]
	for _, f := range o.fields {
		f = strings.TrimSpace(f)
		if a, ok := fs.aliases[f]; ok {
			f = a
		}
		i := slices.IndexFunc(fs.cols, func(col column[T]) bool { return col.name == f })
		if i < 0 {
			return o, nil, usagef("unknown field %q; known fields: %s", f, fs.names())
		}
		cols = append(cols, fs.cols[i])
	}
	return o, cols, nil
}

func (fs *fieldSet[T]) names() string {
	names := make([]string, len(fs.cols))
	for i, c := range fs.cols {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

// writeList prints rows as a gnt-style table, or as JSON.
func writeList[T any](w io.Writer, o listOpts, cols []column[T], rows []T) error {
	if o.json {
		return writeJSONRows(w, cols, rows)
	}
	cells := make([][]string, 0, len(rows)+1)
	if !o.noHeaders {
		h := make([]string, len(cols))
		for i, c := range cols {
			h[i] = c.title
		}
		cells = append(cells, h)
	}
	for _, r := range rows {
		line := make([]string, len(cols))
		for i, c := range cols {
			line[i] = c.text(r)
		}
		cells = append(cells, line)
	}
	var b bytes.Buffer
	if o.sepSet {
		for _, line := range cells {
			b.WriteString(strings.Join(line, o.sep))
			b.WriteByte('\n')
		}
	} else {
		width := make([]int, len(cols))
		for _, line := range cells {
			for i, s := range line {
				width[i] = max(width[i], utf8.RuneCountInString(s))
			}
		}
		for _, line := range cells {
			var l strings.Builder
			for i, s := range line {
				if i > 0 {
					l.WriteByte(' ')
				}
				pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(s))
				if cols[i].num {
					l.WriteString(pad + s)
				} else if i < len(line)-1 {
					l.WriteString(s + pad)
				} else {
					l.WriteString(s)
				}
			}
			b.WriteString(strings.TrimRight(l.String(), " "))
			b.WriteByte('\n')
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// writeJSONRows prints rows as an indented JSON array of objects whose keys
// are the field names, in field order.
func writeJSONRows[T any](w io.Writer, cols []column[T], rows []T) error {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, r := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('{')
		for j, c := range cols {
			if j > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(c.name)
			v, err := json.Marshal(c.json(r))
			if err != nil {
				return fmt.Errorf("field %s: %w", c.name, err)
			}
			b.Write(k)
			b.WriteByte(':')
			b.Write(v)
		}
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return writeIndented(w, b.Bytes())
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeIndented(w, raw)
}

func writeIndented(w io.Writer, raw []byte) error {
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}

// orDash renders an unset value as "-" in tables.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// orNull gives nil (JSON null) for an unset value.
func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}
