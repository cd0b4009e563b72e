package gateway

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/engagekit/gateway/internal/rules"
	"github.com/google/go-cmp/cmp"
)

// FuzzFastPathAgrees checks the promise the fast path rests on: whatever it
// accepts, the validator accepts too. Seeds: the f.Add calls and
// testdata/fuzz/FuzzFastPathAgrees.
func FuzzFastPathAgrees(f *testing.F) {
	f.Add(`{"interactionID":"i","visitID":"v","channels":["chat"]}`)
	f.Add(`{"interactionID":"i","visitID":"v","pageID":"p","globalVisitID":"g","channels":["chat","callback"],"language":"fr-CA","expiresIn":30,"invitation":{"title":"t","message":"m","url":"https://x.test/a"}}`)
	f.Add(`{"interactionID":"i","visitID":"v","channels":["a","a"],"language":"zz-ZZ-x"}`)
	f.Add(`{"interactionID":"` + strings.Repeat("i", 65) + `","visitID":"v","channels":["a","b","c","d","e","f","g","h","i"],"expiresIn":1801}`)
	f.Add(`{"interactionID":"i","visitID":"v","channels":["` + strings.Repeat("c", 33) + `"],"invitation":{"title":"` + strings.Repeat("é", 201) + `","url":"ftp://x.test/"}}`)
	f.Add(`{"interactionID":"i","visitID":"v","reason":"` + strings.Repeat("r", 65) + `"}`)
	f.Fuzz(func(t *testing.T, text string) {
		var p Profile
		if p.decode(text) == nil {
			// The cache only ever holds tags the validator accepted, which
			// it learns from profiles that passed.
			var langs langCache
			for _, l := range []string{"en", "fr-CA", p.Language} {
				q := Profile{InteractionID: "i", VisitID: "v", Channels: []string{"chat"}, Language: l}
				if q.Validate() == nil {
					learnProfile(&q, &langs)
				}
			}
			if fastValidProfile(&p, &langs) {
				if err := p.Validate(); err != nil {
					t.Fatalf("fast path accepted what the validator rejects: %v\n%s", err, text)
				}
			}
		}
		var c CancelData
		if c.decode(text) == nil && fastValidCancel(&c) {
			if err := c.Validate(); err != nil {
				t.Fatalf("fast path accepted a cancel the validator rejects: %v\n%s", err, text)
			}
		}
	})
}

func TestEveryRuleOfTheParametersCompiles(t *testing.T) {
	// A rule the compiler does not know would send every request to the
	// validator: correct, but the speed would be gone without a sound.
	for name, p := range map[string]*rules.Program{"Profile": profileRules, "CancelData": cancelRules} {
		if fb := p.Fallbacks(); len(fb) != 0 {
			t.Errorf("%s falls back to the validator for %q", name, fb)
		}
	}
}

func TestFastPathAcceptsValidParameters(t *testing.T) {
	var langs langCache
	p := &Profile{InteractionID: "0001Ba8MHP5U000A", VisitID: "v-1", GlobalVisitID: "g:1", PageID: "p_1",
		Channels: []string{"chat", "callback"}, Language: "fr-CA", ExpiresIn: 1800,
		Invitation: &Invitation{Title: strings.Repeat("é", 200), Message: "m", URL: "https://shop.test/inv"}}
	if fastValidProfile(p, &langs) {
		t.Error("the fast path accepted a language tag the validator never passed")
	}
	learnProfile(p, &langs)
	if !fastValidProfile(p, &langs) {
		t.Error("the fast path refuses a valid profile once its language is known")
	}
	if !fastValidCancel(&CancelData{InteractionID: "i", VisitID: "v", Reason: "timeout"}) {
		t.Error("the fast path refuses a valid cancel")
	}
}

// withMax returns a copy of the struct type typ whose field name has its
// max rule (with entry, its entries' max rule) set to n.
func withMax(t *testing.T, typ reflect.Type, name string, entry bool, n int) reflect.Type {
	t.Helper()
	fields := make([]reflect.StructField, typ.NumField())
	for i := range fields {
		fields[i] = typ.Field(i)
		if fields[i].Name != name {
			continue
		}
		tag := fields[i].Tag.Get("validate")
		own, entries, _ := strings.Cut(tag, ",dive,")
		part := &own
		if entry {
			part = &entries
		}
		rules := strings.Split(*part, ",")
		for j, r := range rules {
			if strings.HasPrefix(r, "max=") {
				rules[j] = "max=" + strconv.Itoa(n)
			}
		}
		*part = strings.Join(rules, ",")
		if entries != "" {
			own += ",dive," + entries
		}
		fields[i].Tag = reflect.StructTag(strings.Replace(string(fields[i].Tag), `validate:"`+tag+`"`, `validate:"`+own+`"`, 1))
	}
	return reflect.StructOf(fields)
}

// TestChangingATagChangesTheFastPath proves the mechanism: a copy of
// Profile whose tag carries another number, compiled by the same compiler,
// accepts and refuses by the new number, and the validator reports the new
// number, with no other edit.
func TestChangingATagChangesTheFastPath(t *testing.T) {
	rep := strings.Repeat
	for _, tc := range []struct {
		name    string
		field   string
		entry   bool
		to      func(max int) int       // the copy's number, from the tag's
		set     func(p *Profile, n int) // a value of size n
		message string                  // the validator's, with the copy's number
	}{
		{"interactionID max=40, as in the issue", "InteractionID", false, func(int) int { return 40 },
			func(p *Profile, n int) { p.InteractionID = rep("i", n) }, "interactionID must be at most %d characters long"},
		{"a longer visitID", "VisitID", false, func(m int) int { return m * 2 },
			func(p *Profile, n int) { p.VisitID = rep("v", n) }, "visitID must be at most %d characters long"},
		{"fewer channels", "Channels", false, func(m int) int { return m / 2 },
			func(p *Profile, n int) {
				p.Channels = nil
				for i := range n {
					p.Channels = append(p.Channels, "c"+strconv.Itoa(i))
				}
			}, "channels must have at most %d entries"},
		{"shorter channel names", "Channels", true, func(m int) int { return m / 2 },
			func(p *Profile, n int) { p.Channels = []string{rep("c", n)} }, "channels[0] must be at most %d characters long"},
		{"a shorter expiresIn", "ExpiresIn", false, func(m int) int { return m / 2 },
			func(p *Profile, n int) { p.ExpiresIn = n }, "expiresIn must be at most %d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from := tagMax(t, reflect.TypeFor[Profile](), tc.field, tc.entry)
			to := tc.to(from)
			typ := withMax(t, reflect.TypeFor[Profile](), tc.field, tc.entry, to)
			if got := tagMax(t, typ, tc.field, tc.entry); got != to {
				t.Fatalf("the copy's tag says max=%d, want %d", got, to)
			}
			prog := rules.Compile(typ)
			// as converts a Profile to the copy's type (the same fields,
			// other tags) and returns a pointer to it.
			as := func(p Profile) any {
				v := reflect.New(typ)
				v.Elem().Set(reflect.ValueOf(p).Convert(typ))
				return v.Interface()
			}
			at := Profile{InteractionID: "i", VisitID: "v", Channels: []string{"chat"}}
			over := at
			tc.set(&at, to)
			tc.set(&over, to+1)
			if !prog.Valid(as(at), nil) {
				t.Errorf("the copy's fast path refuses a value at its bound")
			}
			if prog.Valid(as(over), nil) {
				t.Errorf("the copy's fast path accepts a value past its bound")
			}
			broken, _ := rules.Struct(as(over))
			if want := fmt.Sprintf(tc.message, to); len(broken) != 1 || broken[0].Rule != "max" || broken[0].Message != want {
				t.Errorf("the validator reports %+v, want one max rule: %q", broken, want)
			}
			// Profile itself still follows its own tag.
			if got, want := fastValidProfile(&over, nil), to < from; got != want {
				t.Errorf("Profile's own fast path says %v for the value past the copy's bound, want %v", got, want)
			}
		})
	}
}

// tagMax returns the max rule's number in the tag of the field name of
// typ: the one on the field itself, or with entry set the one on its
// entries (after dive).
func tagMax(t *testing.T, typ reflect.Type, name string, entry bool) int {
	t.Helper()
	f, ok := typ.FieldByName(name)
	if !ok {
		t.Fatalf("%s has no field %s", typ.Name(), name)
	}
	own, entries, _ := strings.Cut(f.Tag.Get("validate"), "dive")
	tag := own
	if entry {
		tag = entries
	}
	for rule := range strings.SplitSeq(tag, ",") {
		if n, ok := strings.CutPrefix(rule, "max="); ok {
			max, err := strconv.Atoi(n)
			if err != nil {
				t.Fatal(err)
			}
			return max
		}
	}
	t.Fatalf("the tag of %s.%s has no max", typ.Name(), name)
	return 0
}

// TestHandlerAgreesWithValidateAtEveryBound sends, for every max rule of
// the parameters, a value at the bound and one past it, with the bound
// read from the tag: the handler (fast path or not) and Validate must
// accept the first and refuse the second.
func TestHandlerAgreesWithValidateAtEveryBound(t *testing.T) {
	profile, invitation, cancel := reflect.TypeFor[Profile](), reflect.TypeFor[Invitation](), reflect.TypeFor[CancelData]()
	rep := strings.Repeat
	for _, tc := range []struct {
		typ    reflect.Type
		field  string
		entry  bool
		engage func(p *Profile, n int)
		cancel func(c *CancelData, n int)
	}{
		{typ: profile, field: "InteractionID", engage: func(p *Profile, n int) { p.InteractionID = rep("i", n) }},
		{typ: profile, field: "VisitID", engage: func(p *Profile, n int) { p.VisitID = rep("v", n) }},
		{typ: profile, field: "GlobalVisitID", engage: func(p *Profile, n int) { p.GlobalVisitID = rep("g", n) }},
		{typ: profile, field: "PageID", engage: func(p *Profile, n int) { p.PageID = rep("p", n) }},
		{typ: profile, field: "Channels", engage: func(p *Profile, n int) {
			p.Channels = nil
			for i := range n {
				p.Channels = append(p.Channels, "c"+strconv.Itoa(i))
			}
		}},
		{typ: profile, field: "Channels", entry: true, engage: func(p *Profile, n int) { p.Channels = []string{rep("c", n)} }},
		{typ: profile, field: "ExpiresIn", engage: func(p *Profile, n int) { p.ExpiresIn = n }},
		{typ: invitation, field: "Title", engage: func(p *Profile, n int) { p.Invitation = &Invitation{Title: rep("é", n)} }},
		{typ: invitation, field: "Message", engage: func(p *Profile, n int) { p.Invitation = &Invitation{Message: rep("é", n)} }},
		{typ: invitation, field: "URL", engage: func(p *Profile, n int) {
			p.Invitation = &Invitation{URL: "https://x.test/" + rep("u", n-len("https://x.test/"))}
		}},
		{typ: cancel, field: "InteractionID", cancel: func(c *CancelData, n int) { c.InteractionID = rep("i", n) }},
		{typ: cancel, field: "VisitID", cancel: func(c *CancelData, n int) { c.VisitID = rep("v", n) }},
		{typ: cancel, field: "Reason", cancel: func(c *CancelData, n int) { c.Reason = rep("r", n) }},
	} {
		max := tagMax(t, tc.typ, tc.field, tc.entry)
		name := tc.typ.Name() + "." + tc.field
		if tc.entry {
			name += " entries"
		}
		t.Run(name+" at and past "+strconv.Itoa(max), func(t *testing.T) {
			h := NewHandler(Discard, nil)
			for _, n := range []int{max, max + 1} {
				var err error
				var status int
				if tc.engage != nil {
					p := &Profile{InteractionID: "i", VisitID: "v", Channels: []string{"chat"}}
					tc.engage(p, n)
					err, status = p.Validate(), post(h, "/gateway/engage", p.appendJSON(nil))
				} else {
					c := &CancelData{InteractionID: "i", VisitID: "v"}
					tc.cancel(c, n)
					err, status = c.Validate(), post(h, "/gateway/noengage", c.appendJSON(nil))
				}
				if wantOK := n == max; (err == nil) != wantOK || (status == http.StatusOK) != wantOK {
					t.Errorf("with %d: Validate() = %v and the handler answers %d; want both to accept only at the bound", n, err, status)
				}
			}
		})
	}
}

// TestFieldDocsFollowTheTags keeps the field comments of the parameters
// true: every bound a comment states ("1–64 characters", "at most 200
// characters") is the max rule of the field's tag, in order (the field's
// own, then its entries').
func TestFieldDocsFollowTheTags(t *testing.T) {
	bound := regexp.MustCompile(`(?:\d+–|at most )(\d+)`)
	types := map[string]reflect.Type{"Profile": reflect.TypeFor[Profile](), "Invitation": reflect.TypeFor[Invitation](), "CancelData": reflect.TypeFor[CancelData]()}
	fset := token.NewFileSet()
	checked := 0
	for _, file := range []string{"profile.go", "cancel.go"} {
		f, err := parser.ParseFile(fset, file, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			spec, ok := n.(*ast.TypeSpec)
			if !ok || types[spec.Name.Name] == nil {
				return true
			}
			typ := types[spec.Name.Name]
			for _, field := range spec.Type.(*ast.StructType).Fields.List {
				if field.Doc == nil || len(field.Names) != 1 {
					continue
				}
				var said []string
				for _, m := range bound.FindAllStringSubmatch(field.Doc.Text(), -1) {
					said = append(said, m[1])
				}
				if said == nil {
					continue
				}
				sf, _ := typ.FieldByName(field.Names[0].Name)
				var tagged []string
				for rule := range strings.SplitSeq(sf.Tag.Get("validate"), ",") {
					if n, ok := strings.CutPrefix(rule, "max="); ok {
						tagged = append(tagged, n)
					}
				}
				if diff := cmp.Diff(tagged, said); diff != "" {
					t.Errorf("the comment of %s.%s states other bounds than its tag (-tag +comment):\n%s", typ.Name(), sf.Name, diff)
				}
				checked++
			}
			return false
		})
	}
	if checked < 11 {
		t.Errorf("checked %d field comments; the scan has lost them", checked)
	}
}

// BenchmarkFastPath measures the compiled tags on the profile of
// BenchmarkEngage, its language known.
func BenchmarkFastPath(b *testing.B) {
	var p Profile
	if err := p.decode(`{"interactionID":"0001Ba8MHP5U000A","visitID":"f24c60f6-0728-4f3d-b8b4-1e7bad2dc8a3",` +
		`"pageID":"5c911f90-3fa3-11e2-aee5-00505625a04f","channels":["chat","callback"],"language":"en",` +
		`"invitation":{"title":"Need a hand?","message":"An agent can help you finish your order."},` +
		`"userData":{"segment":"gold","cartValue":129.5}}`); err != nil {
		b.Fatal(err)
	}
	var langs langCache
	learnProfile(&p, &langs)
	b.ReportAllocs()
	for b.Loop() {
		if !fastValidProfile(&p, &langs) {
			b.Fatal("refused")
		}
	}
}
