package jsonx

import (
	"encoding"
	"encoding/base64"
	"fmt"
	"math"
	"net/netip"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of objects and arrays a Reader accepts,
// encoding/json's limit.
const MaxDepth = 10000

// Error is a decoding error and the byte offset of the input it was found
// at.
type Error struct {
	Offset int    // byte offset into the input
	Msg    string // what is wrong
	Err    error  // the cause (an address or time parser's error), if any
}

// Error renders the offset, the message and the cause.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("json at offset %d: %s: %v", e.Offset, e.Msg, e.Err)
	}
	return fmt.Sprintf("json at offset %d: %s", e.Offset, e.Msg)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Reader decodes one JSON value from a byte slice. Its methods each consume
// one value (after optional white space) into a Go value with
// encoding/json's semantics: a JSON null leaves the destination unchanged
// (slices and pointers become nil), objects are decoded into existing
// values, and a value of the wrong type is an error. Syntax is checked in
// full, including in skipped values.
type Reader struct {
	data    []byte
	pos     int
	depth   int
	scratch []byte // unescaped strings and keys
}

// NewReader returns a Reader of data.
func NewReader(data []byte) *Reader { return &Reader{data: data} }

// Offset returns the offset of the next byte to read.
func (r *Reader) Offset() int { return r.pos }

// Wrap returns err as an *Error at offset off, for a value the caller read
// but found invalid.
func (r *Reader) Wrap(off int, msg string, err error) error {
	return &Error{Offset: off, Msg: msg, Err: err}
}

func (r *Reader) errAt(off int, format string, args ...any) error {
	return &Error{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

func (r *Reader) eof() error { return r.errAt(len(r.data), "unexpected end of JSON input") }

// End checks that nothing but white space follows the value read.
func (r *Reader) End() error {
	for ; r.pos < len(r.data); r.pos++ {
		if !isSpace(r.data[r.pos]) {
			return r.errAt(r.pos, "invalid character %q after top-level value", r.data[r.pos])
		}
	}
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// peek skips white space and returns the next byte without consuming it.
func (r *Reader) peek() (byte, error) {
	for ; r.pos < len(r.data); r.pos++ {
		if c := r.data[r.pos]; !isSpace(c) {
			return c, nil
		}
	}
	return 0, r.eof()
}

// Null consumes a null if one is next and reports whether it did.
func (r *Reader) Null() bool {
	c, err := r.peek()
	if err != nil || c != 'n' {
		return false
	}
	return r.literal("null") == nil
}

// kindError is the error for a value that starts with c where want was
// expected: a type error, or a syntax error if c starts no value.
func (r *Reader) kindError(c byte, want string) error {
	var got string
	switch {
	case c == '{':
		got = "object"
	case c == '[':
		got = "array"
	case c == '"':
		got = "string"
	case c == 't' || c == 'f':
		got = "bool"
	case c == 'n':
		got = "null"
	case c == '-' || '0' <= c && c <= '9':
		got = "number"
	default:
		return r.errAt(r.pos, "invalid character %q looking for beginning of value", c)
	}
	return r.errAt(r.pos, "cannot decode %s into %s", got, want)
}

func (r *Reader) literal(lit string) error {
	for i := 0; i < len(lit); i++ {
		if r.pos+i >= len(r.data) {
			return r.eof()
		}
		if r.data[r.pos+i] != lit[i] {
			return r.errAt(r.pos+i, "invalid character %q in literal %s", r.data[r.pos+i], lit)
		}
	}
	r.pos += len(lit)
	return nil
}

func (r *Reader) enter() error {
	r.depth++
	if r.depth > MaxDepth {
		return r.errAt(r.pos, "exceeded max depth %d", MaxDepth)
	}
	r.pos++
	return nil
}

// members walks the object at r.pos ('{' already peeked): for each member
// it reads the key (the raw string token, quotes included) and the colon,
// then calls fn, which must consume the value.
func (r *Reader) members(fn func(key []byte) error) error {
	return r.container('}', "object key:value pair", func(c byte) error {
		if c != '"' {
			return r.errAt(r.pos, "invalid character %q looking for beginning of object key string", c)
		}
		start := r.pos
		if err := r.skipString(); err != nil {
			return err
		}
		key := r.data[start:r.pos]
		c, err := r.peek()
		if err != nil {
			return err
		}
		if c != ':' {
			return r.errAt(r.pos, "invalid character %q after object key", c)
		}
		r.pos++
		return fn(key)
	})
}

// elements walks the array at r.pos ('[' already peeked), calling fn,
// which must consume one value, for each element.
func (r *Reader) elements(fn func() error) error {
	return r.container(']', "array element", func(byte) error { return fn() })
}

// container walks the object or array at r.pos (its opening byte already
// peeked) up to close: item reads one member or element, given the byte
// it starts with; what names an item in the error for a bad separator.
func (r *Reader) container(close byte, what string, item func(c byte) error) error {
	if err := r.enter(); err != nil {
		return err
	}
	c, err := r.peek()
	if err != nil {
		return err
	}
	if c == close {
		r.pos++
		r.depth--
		return nil
	}
	for {
		if err := item(c); err != nil {
			return err
		}
		if c, err = r.peek(); err != nil {
			return err
		}
		switch c {
		case ',':
			r.pos++
			if c, err = r.peek(); err != nil {
				return err
			}
		case close:
			r.pos++
			r.depth--
			return nil
		default:
			return r.errAt(r.pos, "invalid character %q after %s", c, what)
		}
	}
}

// Object decodes an object into a struct whose JSON field names are names:
// for each member whose key matches a name (exactly, else case-insensitively
// as encoding/json folds names; the first such name) it calls field with
// the name's index, and field must consume the value; other members are
// skipped. A member given twice is decoded twice, the later one on top of
// the earlier, as encoding/json does. null is no change.
func (r *Reader) Object(names []string, field func(i int) error) error {
	c, err := r.peek()
	if err != nil {
		return err
	}
	switch c {
	case 'n':
		return r.literal("null")
	case '{':
	default:
		return r.kindError(c, "object")
	}
	return r.members(func(raw []byte) error {
		if i := match(r.text(raw), names); i >= 0 {
			return field(i)
		}
		return r.Skip()
	})
}

// Slice decodes an array into *s as encoding/json does: elements are
// decoded by elem into the slice's existing elements, the slice grown or
// truncated to the array's length; [] is an empty, non-nil slice and null
// is nil.
func Slice[T any](r *Reader, s *[]T, elem func(*T, *Reader) error) error {
	c, err := r.peek()
	if err != nil {
		return err
	}
	switch c {
	case 'n':
		if err := r.literal("null"); err != nil {
			return err
		}
		*s = nil
		return nil
	case '[':
	default:
		return r.kindError(c, "array")
	}
	i := 0
	err = r.elements(func() error {
		switch {
		case i >= cap(*s):
			var zero T
			*s = append(*s, zero)
		case i >= len(*s):
			*s = (*s)[:i+1]
		}
		i++
		return elem(&(*s)[i-1], r)
	})
	if err != nil {
		return err
	}
	if i < len(*s) {
		*s = (*s)[:i]
	}
	if i == 0 {
		*s = make([]T, 0)
	}
	return nil
}

// Ptr decodes into *p as encoding/json decodes into a pointer: null sets
// it to nil; anything else is decoded by decode into the value *p points
// to, allocated first if *p is nil.
func Ptr[T any](r *Reader, p **T, decode func(*T, *Reader) error) error {
	if r.Null() {
		*p = nil
		return nil
	}
	if *p == nil {
		*p = new(T)
	}
	return decode(*p, r)
}

// Skip consumes one value of any type, checking its syntax.
func (r *Reader) Skip() error {
	c, err := r.peek()
	if err != nil {
		return err
	}
	switch c {
	case '{':
		return r.members(func([]byte) error { return r.Skip() })
	case '[':
		return r.elements(func() error { return r.Skip() })
	case '"':
		return r.skipString()
	case 't':
		return r.literal("true")
	case 'f':
		return r.literal("false")
	case 'n':
		return r.literal("null")
	}
	if c == '-' || '0' <= c && c <= '9' {
		_, _, err := r.number()
		return err
	}
	return r.kindError(c, "value")
}

// Raw stores a copy of the next value's bytes, exactly as they appear in
// the input, in *p (reusing its storage), as json.RawMessage does; null is
// stored as null.
func (r *Reader) Raw(p *[]byte) error {
	if _, err := r.peek(); err != nil {
		return err
	}
	start := r.pos
	if err := r.Skip(); err != nil {
		return err
	}
	*p = append((*p)[:0], r.data[start:r.pos]...)
	return nil
}

// skipString consumes the string token at r.pos, checking its escapes and
// that it holds no control characters.
func (r *Reader) skipString() error {
	d := r.data
	for i := r.pos + 1; i < len(d); {
		switch c := d[i]; {
		case c == '"':
			r.pos = i + 1
			return nil
		case c == '\\':
			if i+1 >= len(d) {
				return r.eof()
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for j := i + 2; j < i+6; j++ {
					if j >= len(d) {
						return r.eof()
					}
					if unhex(d[j]) < 0 {
						return r.errAt(j, "invalid character %q in \\u hexadecimal character escape", d[j])
					}
				}
				i += 6
			default:
				return r.errAt(i+1, "invalid character %q in string escape code", d[i+1])
			}
		case c < 0x20:
			return r.errAt(i, "invalid character %q in string literal", c)
		default:
			i++
		}
	}
	return r.eof()
}

func unhex(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// hex4 decodes the \uXXXX escape at s (validated), -1 if s holds none.
func hex4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		h := unhex(c)
		if h < 0 {
			return -1
		}
		r = r<<4 | h
	}
	return r
}

// text returns the text of the validated string token tok: tok's own bytes
// when there is nothing to decode, else unquoted into r.scratch.
func (r *Reader) text(tok []byte) []byte {
	s := tok[1 : len(tok)-1]
	for _, c := range s {
		if c == '\\' || c >= utf8.RuneSelf {
			r.scratch = unquote(r.scratch[:0], tok)
			return r.scratch
		}
	}
	return s
}

// unquote appends the text of the validated string token tok (quotes
// included) to dst as encoding/json unquotes it: escapes decoded, a lone or
// mismatched surrogate and each byte of invalid UTF-8 replaced by U+FFFD.
func unquote(dst, tok []byte) []byte {
	s := tok[1 : len(tok)-1]
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			switch e := s[i+1]; e {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := hex4(s[i:])
				i += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, hex4(s[i:])); dec != unicode.ReplacementChar {
						dst = utf8.AppendRune(dst, dec)
						i += 6
						continue
					}
					rr = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default: // " \ /
				dst = append(dst, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			rr, size := utf8.DecodeRune(s[i:])
			dst = utf8.AppendRune(dst, rr)
			i += size
		}
	}
	return dst
}

// match returns the index of the name key matches: exactly, else the first
// that encoding/json's case folding makes equal; -1 for none.
func match(key []byte, names []string) int {
	for i, n := range names {
		if string(key) == n {
			return i
		}
	}
	for i, n := range names {
		if equalFold(key, n) {
			return i
		}
	}
	return -1
}

// equalFold reports whether encoding/json's foldName makes a and b equal:
// ASCII letters fold to upper case, other runes to the smallest rune of
// their simple-folding orbit.
func equalFold(a []byte, b string) bool {
	for len(a) > 0 && len(b) > 0 {
		var ra, rb rune
		if a[0] < utf8.RuneSelf {
			ra, a = rune(a[0]), a[1:]
		} else {
			r, n := utf8.DecodeRune(a)
			ra, a = r, a[n:]
		}
		if b[0] < utf8.RuneSelf {
			rb, b = rune(b[0]), b[1:]
		} else {
			r, n := utf8.DecodeRuneInString(b)
			rb, b = r, b[n:]
		}
		if ra != rb && foldRune(ra) != foldRune(rb) {
			return false
		}
	}
	return len(a) == 0 && len(b) == 0
}

func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' {
			r -= 'a' - 'A'
		}
		return r
	}
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}

// number consumes a number token and reports whether it is an integer (no
// fraction, no exponent).
func (r *Reader) number() (tok []byte, isInt bool, err error) {
	d, i := r.data, r.pos
	digits := func() error {
		if i >= len(d) {
			return r.eof()
		}
		if d[i] < '0' || d[i] > '9' {
			return r.errAt(i, "invalid character %q in numeric literal", d[i])
		}
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
		return nil
	}
	if d[i] == '-' {
		i++
	}
	if i < len(d) && d[i] == '0' {
		i++
	} else if err := digits(); err != nil {
		return nil, false, err
	}
	isInt = true
	if i < len(d) && d[i] == '.' {
		isInt = false
		i++
		if err := digits(); err != nil {
			return nil, false, err
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		isInt = false
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if err := digits(); err != nil {
			return nil, false, err
		}
	}
	tok = d[r.pos:i]
	r.pos = i
	return tok, isInt, nil
}

// integer consumes an integer token of at most max in magnitude (max+1
// when negative, if signed) and returns it as sign and magnitude; null is
// ok == false. Like encoding/json it rejects fractions, exponents, values
// out of range and, for unsigned types, any minus sign (even on zero).
func (r *Reader) integer(want string, signed bool, max uint64) (neg bool, mag uint64, ok bool, err error) {
	c, err := r.peek()
	if err != nil {
		return false, 0, false, err
	}
	if c == 'n' {
		return false, 0, false, r.literal("null")
	}
	if c != '-' && (c < '0' || c > '9') {
		return false, 0, false, r.kindError(c, want)
	}
	start := r.pos
	tok, isInt, err := r.number()
	if err != nil {
		return false, 0, false, err
	}
	if !isInt {
		return false, 0, false, r.errAt(start, "cannot decode number %s into %s", tok, want)
	}
	if tok[0] == '-' {
		neg, tok = true, tok[1:]
	}
	limit := max
	if neg {
		limit = 0
		if signed {
			limit = max + 1
		}
	}
	for _, c := range tok {
		d := uint64(c - '0')
		if mag > (limit-d)/10 || d > limit {
			return false, 0, false, r.errAt(start, "number %s out of range for %s", r.data[start:r.pos], want)
		}
		mag = mag*10 + d
	}
	if neg && !signed {
		return false, 0, false, r.errAt(start, "number %s out of range for %s", r.data[start:r.pos], want)
	}
	return neg, mag, true, nil
}

// Int decodes an integer into *p, rejecting fractions, exponents and
// values out of int's range as encoding/json does; null is no change.
func (r *Reader) Int(p *int) error {
	neg, mag, ok, err := r.integer("int", true, math.MaxInt)
	if ok {
		*p = int(mag)
		if neg {
			*p = int(-mag)
		}
	}
	return err
}

// Uint32 decodes an integer in 0-4294967295 into *p; null is no change.
func (r *Reader) Uint32(p *uint32) error { return readUint(r, p, "uint32", math.MaxUint32) }

// Uint16 decodes an integer in 0-65535 into *p; null is no change.
func (r *Reader) Uint16(p *uint16) error { return readUint(r, p, "uint16", math.MaxUint16) }

// Uint8 decodes an integer in 0-255 into *p; null is no change.
func (r *Reader) Uint8(p *uint8) error { return readUint(r, p, "uint8", math.MaxUint8) }

// readUint decodes an integer in 0-max, named typ in errors, into *p.
func readUint[T uint8 | uint16 | uint32](r *Reader, p *T, typ string, max uint64) error {
	_, n, ok, err := r.integer(typ, false, max)
	if ok {
		*p = T(n)
	}
	return err
}

// Bool decodes true or false into *p; null is no change.
func (r *Reader) Bool(p *bool) error {
	c, err := r.peek()
	if err != nil {
		return err
	}
	switch c {
	case 't':
		if err := r.literal("true"); err != nil {
			return err
		}
		*p = true
	case 'f':
		if err := r.literal("false"); err != nil {
			return err
		}
		*p = false
	case 'n':
		return r.literal("null")
	default:
		return r.kindError(c, "bool")
	}
	return nil
}

// str consumes a string token and returns its unquoted text, valid until
// the next read, and its offset; null is ok == false.
func (r *Reader) str(want string) (text []byte, start int, ok bool, err error) {
	c, err := r.peek()
	if err != nil {
		return nil, r.pos, false, err
	}
	start = r.pos
	switch c {
	case 'n':
		return nil, start, false, r.literal("null")
	case '"':
	default:
		return nil, start, false, r.kindError(c, want)
	}
	if err := r.skipString(); err != nil {
		return nil, start, false, err
	}
	return r.text(r.data[start:r.pos]), start, true, nil
}

// String decodes a string into *p; null is no change.
func (r *Reader) String(p *string) error {
	s, _, ok, err := r.str("string")
	if ok {
		*p = string(s)
	}
	return err
}

// Bytes decodes into *p as encoding/json decodes a []byte: a base64
// (standard encoding) string, or an array of numbers 0-255; null is nil.
func (r *Reader) Bytes(p *[]byte) error {
	c, err := r.peek()
	if err != nil {
		return err
	}
	if c == 'n' || c == '[' { // Slice sets nil for null
		return Slice(r, p, func(b *byte, r *Reader) error { return r.Uint8(b) })
	}
	s, start, _, err := r.str("[]byte")
	if err != nil {
		return err
	}
	b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(b, s)
	if err != nil {
		return r.Wrap(start, "invalid base64", err)
	}
	*p = b[:n]
	return nil
}

// Addr decodes an address in its text form into *p ("" is the zero
// Addr); null is no change.
func (r *Reader) Addr(p *netip.Addr) error { return r.textValue(p, "netip.Addr", "invalid address") }

// Prefix decodes a prefix in its text form into *p ("" is the zero
// Prefix); null is no change.
func (r *Reader) Prefix(p *netip.Prefix) error {
	return r.textValue(p, "netip.Prefix", "invalid prefix")
}

// textValue decodes a string into p with its UnmarshalText; what names the Go
// type in errors, invalid the failure; null is no change.
func (r *Reader) textValue(p encoding.TextUnmarshaler, what, invalid string) error {
	s, start, ok, err := r.str(what)
	if !ok || err != nil {
		return err
	}
	if err := p.UnmarshalText(s); err != nil {
		return r.Wrap(start, invalid, err)
	}
	return nil
}

// Time decodes a time as time.Time.UnmarshalJSON does: an RFC 3339 string,
// taken as it stands (escapes are not decoded); null is no change.
func (r *Reader) Time(p *time.Time) error {
	c, err := r.peek()
	if err != nil {
		return err
	}
	switch c {
	case 'n':
		return r.literal("null")
	case '"':
	default:
		return r.kindError(c, "time.Time")
	}
	start := r.pos
	if err := r.skipString(); err != nil {
		return err
	}
	if err := p.UnmarshalJSON(r.data[start:r.pos]); err != nil {
		return r.Wrap(start, "invalid time", err)
	}
	return nil
}
