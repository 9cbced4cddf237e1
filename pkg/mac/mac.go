// Package mac is diktyo's one MAC address type: a net.HardwareAddr that
// serialises as text ("aa:00:00:0d:f1:78") in JSON and every other
// encoding that uses encoding.TextMarshaler. It is a leaf: it imports
// only the standard library.
package mac

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Addr is a MAC address, or a MAC prefix or mask of any number of octets.
// Its zero value (nil) means none and marshals as "".
type Addr []byte

// ErrInvalid is matched (errors.Is) by the errors of Parse and
// UnmarshalText.
var ErrInvalid = errors.New("invalid MAC address")

// String returns a in colon-separated lower-case hex ("aa:00:00:0d:f1:78"),
// "" for none.
func (a Addr) String() string {
	if len(a) == 0 {
		return ""
	}
	var b strings.Builder
	b.Grow(len(a)*3 - 1)
	const hex = "0123456789abcdef"
	for i, o := range a {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteByte(hex[o>>4])
		b.WriteByte(hex[o&0xf])
	}
	return b.String()
}

// HardwareAddr returns a as a net.HardwareAddr (the same bytes).
func (a Addr) HardwareAddr() net.HardwareAddr { return net.HardwareAddr(a) }

// Parse parses colon-separated hex octets of two digits each
// ("aa:00:00:0d:f1:78", or a prefix such as "aa:00:00"); "" gives nil.
func Parse(s string) (Addr, error) {
	if s == "" {
		return nil, nil
	}
	if len(s)%3 != 2 {
		return nil, fmt.Errorf("%w %q", ErrInvalid, s)
	}
	a := make(Addr, (len(s)+1)/3)
	for i := range a {
		hi, ok1 := unhex(s[3*i])
		lo, ok2 := unhex(s[3*i+1])
		if !ok1 || !ok2 || i > 0 && s[3*i-1] != ':' {
			return nil, fmt.Errorf("%w %q", ErrInvalid, s)
		}
		a[i] = hi<<4 | lo
	}
	return a, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// MarshalText returns [Addr.String].
func (a Addr) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText parses what [Addr.MarshalText] writes. It also accepts
// standard base64 without colons, the form encoding/json gave
// net.HardwareAddr fields in records diktyo-ifup wrote before this type
// existed ("zEdSTkVU"), so a host upgraded with VMs running still reads
// them.
func (a *Addr) UnmarshalText(text []byte) error {
	s := string(text)
	if s != "" && !strings.ContainsRune(s, ':') && len(s)%4 == 0 {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return fmt.Errorf("%w %q: %w", ErrInvalid, s, err)
		}
		*a = b
		return nil
	}
	p, err := Parse(s)
	if err != nil {
		return err
	}
	*a = p
	return nil
}
