// Package jsonx is a small, reflection-free JSON codec for diktyo's own
// records. A Writer produces exactly the bytes encoding/json's Marshal or
// MarshalIndent(v, "", indent) would for the same values (HTML-safe string
// escaping, base64 byte slices, text forms of addresses and times, embedded
// raw JSON re-laid-out), and a Reader decodes them with encoding/json's
// rules (case-insensitive keys, null leaving values alone, merging into
// existing values, the same integer and string checks). Types encode and
// decode themselves with hand-written functions built from these pieces;
// nothing is looked up by reflection, so there are no type caches to build
// in a short-lived process.
package jsonx

import (
	"encoding/base64"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
)

// Writer appends JSON to a byte slice. With an indent it lays values out as
// json.MarshalIndent(v, "", indent) does; with "" it writes compact JSON as
// json.Marshal does. The first error (a time RFC 3339 cannot represent,
// invalid raw JSON) is kept and reported by Err; later calls still append,
// so a caller checks once at the end.
type Writer struct {
	buf      []byte
	indent   string
	depth    int
	first    bool // the innermost open container has no element yet
	afterKey bool // a key was written: its value follows on the same line
	err      error
}

// NewWriter returns a Writer appending to dst, indenting nested values
// with indent ("" for compact output).
func NewWriter(dst []byte, indent string) *Writer {
	return &Writer{buf: dst, indent: indent}
}

// Bytes returns the JSON written so far.
func (w *Writer) Bytes() []byte { return w.buf }

// Err returns the first error met while writing, nil if none.
func (w *Writer) Err() error { return w.err }

func (w *Writer) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// elem starts a value or key: a comma after a previous element and, when
// indenting, a new line.
func (w *Writer) elem() {
	if w.afterKey {
		w.afterKey = false
		return
	}
	if w.depth > 0 {
		if !w.first {
			w.buf = append(w.buf, ',')
		}
		w.newline()
	}
	w.first = false
}

func (w *Writer) newline() {
	if w.indent == "" {
		return
	}
	w.buf = append(w.buf, '\n')
	for range w.depth {
		w.buf = append(w.buf, w.indent...)
	}
}

func (w *Writer) open(c byte) {
	w.elem()
	w.buf = append(w.buf, c)
	w.depth++
	w.first = true
}

// close ends a container; an empty one stays on one line ({} or []).
func (w *Writer) close(c byte) {
	w.depth--
	if !w.first {
		w.newline()
	}
	w.buf = append(w.buf, c)
	w.first = false
}

// BeginObject starts an object.
func (w *Writer) BeginObject() { w.open('{') }

// EndObject ends the innermost object.
func (w *Writer) EndObject() { w.close('}') }

// BeginArray starts an array.
func (w *Writer) BeginArray() { w.open('[') }

// ArrayField writes key and an array of n elements, each written by
// elem(i), or nothing when n is 0 (an omitempty slice field).
func (w *Writer) ArrayField(key string, n int, elem func(i int)) {
	if n == 0 {
		return
	}
	w.Key(key)
	w.BeginArray()
	for i := range n {
		elem(i)
	}
	w.EndArray()
}

// EndArray ends the innermost array.
func (w *Writer) EndArray() { w.close(']') }

// Key writes an object member's name; the member's value must follow.
func (w *Writer) Key(name string) {
	w.elem()
	w.buf = appendString(w.buf, name)
	w.colon()
}

func (w *Writer) colon() {
	w.buf = append(w.buf, ':')
	if w.indent != "" {
		w.buf = append(w.buf, ' ')
	}
	w.afterKey = true
}

// String writes s as a JSON string, escaped as encoding/json does.
func (w *Writer) String(s string) {
	w.elem()
	w.buf = appendString(w.buf, s)
}

// StringBytes writes the bytes of s as a JSON string (not base64), escaped
// as encoding/json escapes strings.
func (w *Writer) StringBytes(s []byte) {
	w.elem()
	w.buf = appendString(w.buf, s)
}

// Int writes n.
func (w *Writer) Int(n int64) {
	w.elem()
	w.buf = strconv.AppendInt(w.buf, n, 10)
}

// Uint writes n.
func (w *Writer) Uint(n uint64) {
	w.elem()
	w.buf = strconv.AppendUint(w.buf, n, 10)
}

// Bool writes true or false.
func (w *Writer) Bool(b bool) {
	w.elem()
	w.buf = strconv.AppendBool(w.buf, b)
}

// Null writes null.
func (w *Writer) Null() {
	w.elem()
	w.buf = append(w.buf, "null"...)
}

// Base64 writes b as encoding/json writes a []byte: standard base64 in a
// string, null for a nil slice.
func (w *Writer) Base64(b []byte) {
	if b == nil {
		w.Null()
		return
	}
	w.elem()
	w.buf = append(w.buf, '"')
	w.buf = base64.StdEncoding.AppendEncode(w.buf, b)
	w.buf = append(w.buf, '"')
}

// Addr writes a's text form (MarshalText: "" for the zero Addr).
func (w *Writer) Addr(a netip.Addr) { w.text(a.AppendTo) }

// Prefix writes p's text form (MarshalText: "" for the zero Prefix).
func (w *Writer) Prefix(p netip.Prefix) { w.text(p.AppendTo) }

// text writes, as a string, what appendTo appends.
func (w *Writer) text(appendTo func([]byte) []byte) {
	w.elem()
	w.buf = append(w.buf, '"')
	start := len(w.buf)
	w.buf = appendTo(w.buf)
	w.quoteTail(start)
}

// Time writes t as time.Time.MarshalJSON does (RFC 3339 with
// nanoseconds); a time outside years 0-9999 is an error.
func (w *Writer) Time(t time.Time) {
	w.elem()
	w.buf = append(w.buf, '"')
	start := len(w.buf)
	b, err := t.AppendText(w.buf)
	if err != nil {
		w.fail(err)
		b = w.buf
	}
	w.buf = b
	w.quoteTail(start)
}

// quoteTail closes the string whose unescaped text was appended from
// start, escaping it in the rare case it needs escapes (an address zone).
func (w *Writer) quoteTail(start int) {
	text := w.buf[start:]
	if !needsEscape(text) {
		w.buf = append(w.buf, '"')
		return
	}
	text = append([]byte(nil), text...)
	w.buf = appendString(w.buf[:start-1], text)
}

// Raw writes raw, which must be one valid JSON value, as encoding/json
// writes a json.RawMessage: re-laid-out at the current indentation, with
// <, >, & and U+2028/U+2029 in strings escaped and everything else copied
// verbatim. Invalid JSON is an error.
func (w *Writer) Raw(raw []byte) {
	r := NewReader(raw)
	if err := w.copyValue(r); err != nil {
		w.fail(err)
		return
	}
	if err := r.End(); err != nil {
		w.fail(err)
	}
}

func (w *Writer) copyValue(r *Reader) error {
	c, err := r.peek()
	if err != nil {
		return err
	}
	start := r.pos
	switch c {
	case '{':
		w.BeginObject()
		err := r.members(func(key []byte) error {
			w.elem()
			w.buf = appendRawString(w.buf, key)
			w.colon()
			return w.copyValue(r)
		})
		w.EndObject()
		return err
	case '[':
		w.BeginArray()
		err := r.elements(func() error { return w.copyValue(r) })
		w.EndArray()
		return err
	}
	if err := r.Skip(); err != nil {
		return err
	}
	w.elem()
	if c == '"' {
		w.buf = appendRawString(w.buf, r.data[start:r.pos])
	} else {
		w.buf = append(w.buf, r.data[start:r.pos]...)
	}
	return nil
}

const hex = "0123456789abcdef"

// needsEscape reports whether appendString would change any byte of s.
func needsEscape(s []byte) bool {
	for _, c := range s {
		if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// appendString appends s quoted and escaped exactly as encoding/json does
// with HTML escaping on: \" \\ \b \f \n \r \t, other control characters and
// < > & as \u00XX, U+2028 and U+2029 as \u2028 and \u2029, and each byte
// of invalid UTF-8 as \ufffd.
func appendString[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func decodeRune[S ~string | ~[]byte](s S) (rune, int) {
	var buf [utf8.UTFMax]byte
	n := copy(buf[:], s[:min(len(s), utf8.UTFMax)])
	return utf8.DecodeRune(buf[:n])
}

// appendRawString appends a valid JSON string token verbatim, except that
// <, >, & and U+2028/U+2029 are escaped, as encoding/json's compaction of
// a json.RawMessage does.
func appendRawString(dst, tok []byte) []byte {
	start := 0
	for i := 0; i < len(tok); i++ {
		switch c := tok[i]; {
		case c == '<' || c == '>' || c == '&':
			dst = append(dst, tok[start:i]...)
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			start = i + 1
		case c == 0xE2 && i+2 < len(tok) && tok[i+1] == 0x80 && tok[i+2]&^1 == 0xA8:
			dst = append(dst, tok[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[tok[i+2]&0xF])
			i += 2
			start = i + 1
		}
	}
	return append(dst, tok[start:]...)
}
