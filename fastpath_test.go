package gateway

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/engagekit/gateway/internal/rules"
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

// withTag returns a copy of the struct type t whose field name has the tag
// rule changed from "from" to "to" (such as "max=64" to "max=40").
func withTag(t *testing.T, typ reflect.Type, name, from, to string) reflect.Type {
	t.Helper()
	fields := make([]reflect.StructField, typ.NumField())
	found := false
	for i := range fields {
		fields[i] = typ.Field(i)
		if fields[i].Name == name {
			tag := string(fields[i].Tag)
			if !strings.Contains(tag, from) {
				t.Fatalf("the tag of %s.%s holds no %q: %s", typ.Name(), name, from, tag)
			}
			fields[i].Tag = reflect.StructTag(strings.Replace(tag, from, to, 1))
			found = true
		}
	}
	if !found {
		t.Fatalf("%s has no field %s", typ.Name(), name)
	}
	return reflect.StructOf(fields)
}

// TestChangingATagChangesTheFastPath proves the mechanism: a copy of
// Profile whose tag carries another number, compiled by the same compiler,
// accepts and refuses by the new number, and the validator reports the new
// number, with no other edit.
func TestChangingATagChangesTheFastPath(t *testing.T) {
	valid := func() Profile {
		return Profile{InteractionID: "i", VisitID: "v", Channels: []string{"chat"}}
	}
	for _, tc := range []struct {
		name     string
		field    string
		from, to int              // the max rule's number, in the tag and in the copy
		at, over func(p *Profile) // at the new bound, one past it
		message  string
	}{
		{"a shorter interactionID", "InteractionID", 64, 40,
			func(p *Profile) { p.InteractionID = strings.Repeat("i", 40) },
			func(p *Profile) { p.InteractionID = strings.Repeat("i", 41) },
			"interactionID must be at most 40 characters long"},
		{"fewer channels", "Channels", 8, 2,
			func(p *Profile) { p.Channels = []string{"a", "b"} },
			func(p *Profile) { p.Channels = []string{"a", "b", "c"} },
			"channels must have at most 2 entries"},
		{"shorter channel names", "Channels", 32, 4,
			func(p *Profile) { p.Channels = []string{"chat"} },
			func(p *Profile) { p.Channels = []string{"chats"} },
			"channels[0] must be at most 4 characters long"},
		{"a shorter expiresIn", "ExpiresIn", 1800, 60,
			func(p *Profile) { p.ExpiresIn = 60 },
			func(p *Profile) { p.ExpiresIn = 61 },
			"expiresIn must be at most 60"},
		{"a longer visitID", "VisitID", 128, 200,
			func(p *Profile) { p.VisitID = strings.Repeat("v", 200) },
			func(p *Profile) { p.VisitID = strings.Repeat("v", 201) },
			"visitID must be at most 200 characters long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typ := withTag(t, reflect.TypeFor[Profile](), tc.field, "max="+strconv.Itoa(tc.from), "max="+strconv.Itoa(tc.to))
			prog := rules.Compile(typ)
			// as converts a Profile to the copy's type (the same fields,
			// other tags) and returns a pointer to it.
			as := func(p Profile) any {
				v := reflect.New(typ)
				v.Elem().Set(reflect.ValueOf(p).Convert(typ))
				return v.Interface()
			}
			at, over := valid(), valid()
			tc.at(&at)
			tc.over(&over)
			if !prog.Valid(as(at), nil) {
				t.Errorf("the changed tag's fast path refuses a value at its bound")
			}
			if prog.Valid(as(over), nil) {
				t.Errorf("the changed tag's fast path accepts a value past its bound")
			}
			broken, _ := rules.Struct(as(over))
			if len(broken) != 1 || broken[0].Rule != "max" || broken[0].Message != tc.message {
				t.Errorf("the validator reports %+v, want one max rule: %q", broken, tc.message)
			}
			// Profile itself still follows its own tag.
			if got, want := fastValidProfile(&over, nil), tc.to < tc.from; got != want {
				t.Errorf("Profile's own fast path says %v for the value past the copy's bound, want %v", got, want)
			}
		})
	}
}
