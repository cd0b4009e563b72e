package jsonscan

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
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
		`12`, `10`, `19`, `-90`, `1.0`, `1.9`, `1.50`, `1.59`, `1e0`, `1e9`, `1E+10`, `1e-19`, `[10,1.0,1e0]`,
		`9`, `-9`, `[9,0]`, `{"a"`, `{"a":1`, `[1`, `"\n`, `"\`, `"\u0041`, `"\u00e`,
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
	for _, in := range []string{`"plain"`, `"a\"b\\c\/d\b\f\n\r\t"`, `"\u00e9\u4e2d\ud83d\ude00"`, `"\ud800x"`, `"\udc00\ud800"`, `"\u0009\u00af\u00AF\u09Fa"`, `"\t x"`} {
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
	for _, s := range []string{"", "plain", "quote\" back\\ <b>&amp;", "ctl\x00\x1f\n\r\t", "é中😀", "bad\xffutf8", "\x80", "\u2028\u2029"} {
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

func TestErrorsTellWhereAndWhy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     Error
	}{
		{"an object cut after a key ends early", `{"a"`, Error{Offset: 4, Reason: ReasonEnd}},
		{"an array cut after a comma ends early", `[1,`, Error{Offset: 3, Reason: ReasonEnd}},
		{"an array cut after a member ends early", `[1`, Error{Offset: 2, Reason: ReasonEnd}},
		{"a string cut after its escape ends early", `"\n`, Error{Offset: 3, Reason: ReasonEnd}},
		{"a string cut after a backslash ends early", `"\`, Error{Offset: 2, Reason: ReasonEnd}},
		{"a string cut after a \\u escape ends early", `"\u0041`, Error{Offset: 7, Reason: ReasonEnd}},
		{"a short \\u escape is an invalid character", `"\u004"`, Error{Offset: 1, Reason: ReasonChar}},
		{"a missing comma is an invalid character", `[1 2]`, Error{Offset: 3, Reason: ReasonChar}},
		{"a control character in a string", "\"a\x01\"", Error{Offset: 2, Reason: ReasonChar}},
		{"a control character after an escape", "\"\\n\x01\"", Error{Offset: 3, Reason: ReasonChar}},
		{"a second value is trailing data", `1 2`, Error{Offset: 2, Reason: ReasonTrailing}},
		{"a key seen twice is a duplicate", `{"a":1,"a":2}`, Error{Offset: 7, Reason: ReasonDuplicate}},
		{"invalid UTF-8 is refused before reading", "[\"\xff\"]", Error{Offset: 0, Reason: ReasonUTF8}},
		{"one level too deep", strings.Repeat("[", MaxDepth+1), Error{Offset: MaxDepth, Reason: ReasonDepth}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got *Error
			if err := skipAll(tc.in); !errors.As(err, &got) {
				t.Fatalf("skipAll(%q) = %v, want an *Error", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, *got); diff != "" {
				t.Errorf("skipAll(%q) error (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestReadersAtTheEndOfTheInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		read func(d *Decoder) error
	}{
		{"Object", func(d *Decoder) error { return d.Object(func(string) error { return nil }) }},
		{"Array", func(d *Decoder) error { return d.Array(func(int) error { return nil }) }},
		{"String", func(d *Decoder) error { _, err := d.String(); return err }},
		{"Number", func(d *Decoder) error { _, err := d.Number(); return err }},
		{"Literal", func(d *Decoder) error { _, err := d.Literal(); return err }},
		{"Skip", func(d *Decoder) error { _, err := d.Skip(); return err }},
	} {
		t.Run(tc.name+" reports the end of white space only", func(t *testing.T) {
			t.Parallel()
			d, err := New("  ")
			if err != nil {
				t.Fatal(err)
			}
			want := Error{Offset: 2, Reason: ReasonEnd}
			var got *Error
			if err := tc.read(d); !errors.As(err, &got) {
				t.Fatalf("err = %v, want an *Error", err)
			}
			if diff := cmp.Diff(want, *got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestArrayCountsElements(t *testing.T) {
	t.Parallel()
	d, err := New(`["a", "b", "c"]`)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	if err := d.Array(func(i int) error { got = append(got, i); _, err := d.String(); return err }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{0, 1, 2}, got); diff != "" {
		t.Errorf("indices (-want +got):\n%s", diff)
	}
}

// Depth counts open containers, not containers seen: many siblings at the
// same level never reach MaxDepth.
func TestSiblingsDoNotAddDepth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, member string }{
		{"empty arrays", `[]`},
		{"empty objects", `{}`},
		{"arrays with members", `[1]`},
		{"objects with members", `{"a":1}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := "[" + strings.Repeat(tc.member+",", 2*MaxDepth) + tc.member + "]"
			if err := skipAll(in); err != nil {
				t.Errorf("%d siblings: %v", 2*MaxDepth+1, err)
			}
		})
	}
}
