// Package jsonscan is a small, strict JSON reader for the gateway's decoders.
//
// It reads one JSON text held in a string, without reflection. Strings
// without escapes and raw values are returned as substrings of the text, so
// decoding allocates only for escaped strings. It accepts exactly RFC 8259 JSON: no trailing commas, no
// comments, no invalid UTF-8, no control characters in strings, and nesting
// no deeper than [MaxDepth].
package jsonscan

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of arrays and objects a text may have.
const MaxDepth = 64

// Kind is the kind of the next JSON value.
type Kind byte

// The kinds of JSON values.
const (
	Invalid Kind = iota
	Object
	Array
	String
	Number
	Bool
	Null
)

// Error reports malformed JSON. Reason is a fixed text that never quotes the
// input, so it is safe to show to the sender.
type Error struct {
	Offset int
	Reason string
}

func (e *Error) Error() string {
	return e.Reason + " at offset " + strconv.Itoa(e.Offset)
}

// Reasons of [Error].
const (
	ReasonEnd       = "unexpected end of JSON"
	ReasonChar      = "invalid character"
	ReasonDepth     = "nesting too deep"
	ReasonUTF8      = "invalid UTF-8"
	ReasonDuplicate = "duplicate key"
	ReasonTrailing  = "data after the JSON value"
)

// Decoder reads one JSON text. The zero value is not usable; call [New].
type Decoder struct {
	buf   string
	pos   int
	depth int
}

// New returns a Decoder reading buf, after checking that buf is valid
// UTF-8.
func New(buf string) (*Decoder, error) {
	d := &Decoder{}
	return d, d.Reset(buf)
}

// Reset makes d read buf, as [New] does.
func (d *Decoder) Reset(buf string) error {
	*d = Decoder{buf: buf}
	if !utf8.ValidString(buf) {
		return &Error{Offset: 0, Reason: ReasonUTF8}
	}
	return nil
}

func (d *Decoder) err(reason string) error {
	if d.pos >= len(d.buf) && reason == ReasonChar {
		reason = ReasonEnd
	}
	return &Error{Offset: d.pos, Reason: reason}
}

func (d *Decoder) skipSpace() {
	if d.pos < len(d.buf) && d.buf[d.pos] > ' ' {
		return // the common case: no white space at all
	}
	for d.pos < len(d.buf) {
		switch d.buf[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// Peek returns the kind of the next value without consuming it, or Invalid
// at the end of the input or before a byte that starts no value.
func (d *Decoder) Peek() Kind {
	d.skipSpace()
	if d.pos >= len(d.buf) {
		return Invalid
	}
	switch c := d.buf[d.pos]; {
	case c == '{':
		return Object
	case c == '[':
		return Array
	case c == '"':
		return String
	case c == 't' || c == 'f':
		return Bool
	case c == 'n':
		return Null
	case c == '-' || (c >= '0' && c <= '9'):
		return Number
	}
	return Invalid
}

// End reports an error unless only white space is left.
func (d *Decoder) End() error {
	d.skipSpace()
	if d.pos != len(d.buf) {
		return d.err(ReasonTrailing)
	}
	return nil
}

// Object reads an object, calling f for each key with the decoder placed at
// the key's value; f must consume that value. A key that appears twice is
// an error.
func (d *Decoder) Object(f func(key string) error) error {
	if empty, err := d.open('{', '}'); empty || err != nil {
		return err
	}
	// Objects here are small, so a linear scan over the first keys beats a
	// map; past them a map keeps a hostile many-key object linear.
	var seen [16]string
	nseen := 0
	var seenMap map[string]struct{}
	for {
		d.skipSpace()
		keyPos := d.pos
		key, err := d.String()
		if err != nil {
			return err
		}
		dup := false
		if seenMap == nil {
			for _, k := range seen[:nseen] {
				dup = dup || k == key
			}
			if !dup && nseen < len(seen) {
				seen[nseen] = key
				nseen++
			} else if !dup {
				seenMap = make(map[string]struct{}, 2*len(seen))
				for _, k := range seen {
					seenMap[k] = struct{}{}
				}
			}
		}
		if seenMap != nil {
			_, dup = seenMap[key]
			seenMap[key] = struct{}{}
		}
		if dup {
			d.pos = keyPos
			return d.err(ReasonDuplicate)
		}
		d.skipSpace()
		if d.pos >= len(d.buf) || d.buf[d.pos] != ':' {
			return d.err(ReasonChar)
		}
		d.pos++
		d.skipSpace()
		if err := f(key); err != nil {
			return err
		}
		if more, err := d.more('}'); !more || err != nil {
			return err
		}
	}
}

// Array reads an array, calling f with the index of each element and the
// decoder placed at it; f must consume the element.
func (d *Decoder) Array(f func(i int) error) error {
	if empty, err := d.open('[', ']'); empty || err != nil {
		return err
	}
	for i := 0; ; i++ {
		d.skipSpace()
		if err := f(i); err != nil {
			return err
		}
		if more, err := d.more(']'); !more || err != nil {
			return err
		}
	}
}

// open reads the opening byte of an object or array, counting its depth,
// and reports whether the closing byte follows at once.
func (d *Decoder) open(opener, closer byte) (empty bool, err error) {
	d.skipSpace()
	if d.pos >= len(d.buf) || d.buf[d.pos] != opener {
		return false, d.err(ReasonChar)
	}
	if d.depth++; d.depth > MaxDepth {
		return false, d.err(ReasonDepth)
	}
	d.pos++
	d.skipSpace()
	if d.pos < len(d.buf) && d.buf[d.pos] == closer {
		d.pos++
		d.depth--
		return true, nil
	}
	return false, nil
}

// more reads what follows a member: a comma (more members) or the closing
// byte (none).
func (d *Decoder) more(closer byte) (bool, error) {
	d.skipSpace()
	if d.pos >= len(d.buf) {
		return false, d.err(ReasonEnd)
	}
	switch d.buf[d.pos] {
	case ',':
		d.pos++
		return true, nil
	case closer:
		d.pos++
		d.depth--
		return false, nil
	}
	return false, d.err(ReasonChar)
}

// String reads a string value.
func (d *Decoder) String() (string, error) {
	d.skipSpace()
	if d.pos >= len(d.buf) || d.buf[d.pos] != '"' {
		return "", d.err(ReasonChar)
	}
	start := d.pos + 1
	i := start
	for i < len(d.buf) {
		c := d.buf[i]
		if !special[c] {
			i++
			continue
		}
		if c == '"' {
			d.pos = i + 1
			return d.buf[start:i], nil
		}
		if c == '\\' {
			return d.unescape(start)
		}
		// The other special bytes are control characters.
		d.pos = i
		return "", d.err(ReasonChar)
	}
	d.pos = i
	return "", d.err(ReasonEnd)
}

// special marks the bytes that end the plain run of a string.
var special = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// unescape reads the string that starts at start and holds escapes.
func (d *Decoder) unescape(start int) (string, error) {
	out := make([]byte, 0, 64)
	i := start
	for i < len(d.buf) {
		c := d.buf[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return string(out), nil
		case c < 0x20:
			d.pos = i
			return "", d.err(ReasonChar)
		case c != '\\':
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(d.buf) {
			d.pos = len(d.buf)
			return "", d.err(ReasonEnd)
		}
		switch e := d.buf[i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(d.buf, i+2)
			if !ok {
				d.pos = i
				return "", d.err(ReasonChar)
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// hex4 succeeding means d.buf[i+1] exists.
				if r2, ok := hex4(d.buf, i+2); ok && d.buf[i] == '\\' && d.buf[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						i += 6
						out = utf8.AppendRune(out, dec)
						continue
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			d.pos = i
			return "", d.err(ReasonChar)
		}
		i += 2
	}
	d.pos = i
	return "", d.err(ReasonEnd)
}

func hex4(b string, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// Number reads a number and returns its text.
func (d *Decoder) Number() (string, error) {
	d.skipSpace()
	start := d.pos
	b := d.buf
	i := d.pos
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		d.pos = i
		return "", d.err(ReasonChar)
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.pos = i
			return "", d.err(ReasonChar)
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.pos = i
			return "", d.err(ReasonChar)
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	d.pos = i
	return b[start:i], nil
}

// Literal reads true, false or null and returns its text.
func (d *Decoder) Literal() (string, error) {
	d.skipSpace()
	for _, lit := range [...]string{"true", "false", "null"} {
		if strings.HasPrefix(d.buf[d.pos:], lit) {
			d.pos += len(lit)
			return lit, nil
		}
	}
	return "", d.err(ReasonChar)
}

// Skip reads any value, checking its syntax, and returns its text.
func (d *Decoder) Skip() (string, error) {
	d.skipSpace()
	start := d.pos
	var err error
	switch d.Peek() {
	case Object:
		err = d.Object(func(string) error { _, err := d.Skip(); return err })
	case Array:
		err = d.Array(func(int) error { _, err := d.Skip(); return err })
	case String:
		_, err = d.String()
	case Number:
		_, err = d.Number()
	case Bool, Null:
		_, err = d.Literal()
	default:
		err = d.err(ReasonChar)
	}
	if err != nil {
		return "", err
	}
	return d.buf[start:d.pos], nil
}
