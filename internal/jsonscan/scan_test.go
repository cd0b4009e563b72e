package jsonscan

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// skipAll reads one value and checks nothing follows.
func skipAll(s string) error {
	d, err := New(s)
	if err != nil {
		return err
	}
	if _, err := d.Skip(); err != nil {
		return err
	}
	return d.End()
}

func TestSkipAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{}`, `[]`, `""`, `0`, `-0`, `1.5e-3`, `true`, `false`, `null`, ` {"a" : [1, 2, {"b": null}] } `,
		`"\u00e9\ud83d\ude00\n\t\"\\\/"`, `"\ud800"`, `{"a":1,}`, `[1,]`, `01`, `1.`, `.5`, `-`, `1e`, `+1`,
		`{"a"}`, `{"a":}`, `{a:1}`, `'a'`, `"a`, `"\x"`, "\"\x01\"", `tru`, `nul`, `[1 2]`, `{"a":1 "b":2}`,
		`{} {}`, `[`, `]`, `{`, `}`, ``, ` `, "\"\xff\"", `"\u12"`, `[1,[2,[3]]]`, `1 2`, `{"":0}`,
	} {
		got := skipAll(in) == nil
		// encoding/json replaces invalid UTF-8; this scanner refuses it.
		want := json.Valid([]byte(in)) && utf8.ValidString(in)
		if got != want {
			t.Errorf("Skip(%q) accepted=%v, encoding/json valid=%v", in, got, want)
		}
	}
}

func TestStringUnescapes(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`"plain"`, `"a\"b\\c\/d\b\f\n\r\t"`, `"\u00e9\u4e2d\ud83d\ude00"`, `"\ud800x"`, `"\udc00\ud800"`} {
		d, _ := New(in)
		got, err := d.String()
		if err != nil {
			t.Fatalf("String(%s): %v", in, err)
		}
		var want string
		json.Unmarshal([]byte(in), &want)
		if got != want {
			t.Errorf("String(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	if err := skipAll(deep); err == nil || !strings.Contains(err.Error(), ReasonDepth) {
		t.Errorf("nesting of %d: err = %v, want %q", MaxDepth+1, err, ReasonDepth)
	}
	ok := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if err := skipAll(ok); err != nil {
		t.Errorf("nesting of %d: %v", MaxDepth, err)
	}
	if err := skipAll(`{"a":1,"a":2}`); err == nil || !strings.Contains(err.Error(), ReasonDuplicate) {
		t.Errorf("duplicate key: err = %v", err)
	}
	// Past the first 16 keys duplicates are found through a map.
	var b strings.Builder
	b.WriteString("{")
	for i := range 40 {
		b.WriteString(`"k` + strconv.Itoa(i) + `":0,`)
	}
	b.WriteString(`"k1":1}`)
	if err := skipAll(b.String()); err == nil || !strings.Contains(err.Error(), ReasonDuplicate) {
		t.Errorf("duplicate key after 40 keys: err = %v", err)
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", "quote\" back\\ <b>&amp;", "ctl\x00\x1f\n\r\t", "é中😀", "bad\xffutf8", "\u2028\u2029"} {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
	}
}

// FuzzSkip checks that Skip accepts exactly what encoding/json accepts,
// within the depth limit and without duplicate keys, and never panics.
func FuzzSkip(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}]}`, `"\ud83d\ude00"`, `[1e5,-0.5]`, `{"a":1,"a":2}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := skipAll(s)
		if json.Valid([]byte(s)) && utf8.ValidString(s) {
			if err != nil && !strings.Contains(err.Error(), ReasonDepth) && !strings.Contains(err.Error(), ReasonDuplicate) {
				t.Fatalf("rejected valid JSON %q: %v", s, err)
			}
		} else if err == nil {
			t.Fatalf("accepted invalid JSON %q", s)
		}
	})
}
