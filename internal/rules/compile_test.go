package rules

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

type leaf struct {
	URL string `json:"url" validate:"omitempty,max=20,httpurl"`
}

// tree holds every shape of rule Compile knows.
type tree struct {
	ID      string         `json:"id" validate:"required,max=4,gweid"`
	Opt     string         `json:"opt" validate:"omitempty,min=2,max=4"`
	Late    string         `json:"late" validate:"max=3,omitempty,gweid"`
	List    []string       `json:"list" validate:"omitempty,min=1,max=3,unique,dive,required,max=4,channel"`
	Req     []string       `json:"req" validate:"required"`
	N       int            `json:"n" validate:"min=0,max=10"`
	OptN    int64          `json:"optN" validate:"omitempty,min=5"`
	Arr     [2]string      `json:"arr" validate:"dive,max=2"`
	Leaf    *leaf          `json:"leaf"`
	Need    *leaf          `json:"need" validate:"required"`
	Value   leaf           `json:"value"`
	Skip    string         `json:"skip" validate:"-"`
	private string         `validate:"required"`
	Lang    string         `json:"lang" validate:"omitempty,bcp47_language_tag"`
	Free    map[string]int `json:"free"`
	Flag    bool           `json:"flag"`
	Plain   *string        `json:"plain"`
	When    time.Time      `json:"when"`
}

func validTree() tree {
	return tree{ID: "i", Req: []string{}, Need: &leaf{}}
}

var treeRules = Compile(reflect.TypeFor[tree]())

// TestProgramAgreesWithTheValidator runs each value through the compiled
// program and the validator: they must agree, except where the program
// leaves the verdict to the validator on purpose (fallback).
func TestProgramAgreesWithTheValidator(t *testing.T) {
	if fb := treeRules.Fallbacks(); len(fb) != 0 {
		t.Fatalf("tree falls back for %q", fb)
	}
	var langs LangCache
	learned := validTree()
	learned.Lang = "fr-CA"
	treeRules.Learn(&learned, &langs)
	for _, tc := range []struct {
		name     string
		change   func(v *tree)
		want     bool // the validator's verdict
		fallback bool // the program says "not certainly valid" all the same
	}{
		{"the base value", func(v *tree) {}, true, false},
		{"an empty required string", func(v *tree) { v.ID = "" }, false, false},
		{"a string at its max", func(v *tree) { v.ID = "abcd" }, true, false},
		{"a string past its max", func(v *tree) { v.ID = "abcde" }, false, false},
		{"a string against its charset", func(v *tree) { v.ID = "a b" }, false, false},
		{"an empty optional string", func(v *tree) { v.Opt = "" }, true, false},
		{"an optional string under its min", func(v *tree) { v.Opt = "a" }, false, false},
		{"an optional string at its min", func(v *tree) { v.Opt = "ab" }, true, false},
		{"two characters in four bytes meet min=2", func(v *tree) { v.Opt = "éé" }, true, false},
		{"four characters in eight bytes meet max=4", func(v *tree) { v.Opt = "éééé" }, true, false},
		{"five characters are past max=4", func(v *tree) { v.Opt = "ééééé" }, false, false},
		{"one character in two bytes is under min=2", func(v *tree) { v.Opt = "é" }, false, false},
		{"omitempty after a rule: the rule holds for the empty string", func(v *tree) { v.Late = "" }, true, false},
		{"omitempty after a rule: the rule before it still applies", func(v *tree) { v.Late = "abcd" }, false, false},
		{"omitempty after a rule: the rules after it apply to a value", func(v *tree) { v.Late = "a b" }, false, false},
		{"a nil optional list", func(v *tree) { v.List = nil }, true, false},
		{"an empty optional list is not empty to omitempty", func(v *tree) { v.List = []string{} }, false, false},
		{"a list at its max", func(v *tree) { v.List = []string{"a", "b", "c"} }, true, false},
		{"a list past its max", func(v *tree) { v.List = []string{"a", "b", "c", "d"} }, false, false},
		{"a list with a repeat", func(v *tree) { v.List = []string{"a", "b", "a"} }, false, false},
		{"a list with an empty entry", func(v *tree) { v.List = []string{"a", ""} }, false, false},
		{"a list with an entry past its max", func(v *tree) { v.List = []string{"abcde"} }, false, false},
		{"a list with an entry against its charset", func(v *tree) { v.List = []string{"Chat"} }, false, false},
		{"a nil required list", func(v *tree) { v.Req = nil }, false, false},
		{"a number under its min", func(v *tree) { v.N = -1 }, false, false},
		{"a number at its max", func(v *tree) { v.N = 10 }, true, false},
		{"a number past its max", func(v *tree) { v.N = 11 }, false, false},
		{"an optional number under its min", func(v *tree) { v.OptN = 4 }, false, false},
		{"an optional number at its min", func(v *tree) { v.OptN = 5 }, true, false},
		{"an array entry past its max", func(v *tree) { v.Arr = [2]string{"ab", "abc"} }, false, false},
		{"array entries at their max", func(v *tree) { v.Arr = [2]string{"ab", "ab"} }, true, false},
		{"a nested struct that breaks a rule", func(v *tree) { v.Leaf = &leaf{URL: "ftp://x.test/"} }, false, false},
		{"a nested struct past its max", func(v *tree) { v.Leaf = &leaf{URL: "https://x.test/abcdef"} }, false, false},
		{"a valid nested struct", func(v *tree) { v.Leaf = &leaf{URL: "https://x.test/"} }, true, false},
		{"a nil required pointer", func(v *tree) { v.Need = nil }, false, false},
		{"a required pointer to a struct that breaks a rule", func(v *tree) { v.Need = &leaf{URL: "x"} }, false, false},
		{"a struct value that breaks a rule", func(v *tree) { v.Value = leaf{URL: "x"} }, false, false},
		{"a skipped field", func(v *tree) { v.Skip = "a b" }, true, false},
		{"a language tag the cache knows", func(v *tree) { v.Lang = "fr-CA" }, true, false},
		{"a valid language tag the cache does not know", func(v *tree) { v.Lang = "de" }, true, true},
		{"an invalid language tag", func(v *tree) { v.Lang = "not a tag" }, false, false},
		{"fields without rules", func(v *tree) { s := "x"; v.Plain, v.Flag, v.Free = &s, true, map[string]int{"a": 1} }, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := validTree()
			tc.change(&v)
			broken, _ := Struct(&v)
			if got := broken == nil; got != tc.want {
				t.Fatalf("the validator says %v (%v), want %v", got, broken, tc.want)
			}
			if got, want := treeRules.Valid(&v, &langs), tc.want && !tc.fallback; got != want {
				t.Errorf("Valid = %v, want %v", got, want)
			}
		})
	}
}

func TestProgramFallsBack(t *testing.T) {
	type node struct {
		ID   string `validate:"max=1"`
		Next *node
	}
	for _, tc := range []struct {
		name  string
		typ   reflect.Type
		value any // valid for the validator
	}{
		{"a rule Compile does not know", reflect.TypeFor[struct {
			E string `validate:"email"`
		}](), &struct {
			E string `validate:"email"`
		}{E: "a@x.test"}},
		{"or", reflect.TypeFor[struct {
			S string `validate:"gweid|channel"`
		}](), &struct {
			S string `validate:"gweid|channel"`
		}{S: "a"}},
		{"a parameter that is no number", reflect.TypeFor[struct {
			S string `validate:"omitempty,max=ten"`
		}](), &struct {
			S string `validate:"omitempty,max=ten"`
		}{}},
		{"a list parameter that is no number", reflect.TypeFor[struct {
			L []string `validate:"omitempty,max=ten"`
		}](), &struct {
			L []string `validate:"omitempty,max=ten"`
		}{}},
		{"an interface", reflect.TypeFor[struct{ A any }](), &struct{ A any }{}},
		{"a duration", reflect.TypeFor[struct {
			D time.Duration `validate:"max=1s"`
		}](), &struct {
			D time.Duration `validate:"max=1s"`
		}{}},
		{"a recursive type", reflect.TypeFor[node](), &node{Next: &node{}}},
		{"rules on a map", reflect.TypeFor[struct {
			M map[string]string `validate:"required"`
		}](), &struct {
			M map[string]string `validate:"required"`
		}{M: map[string]string{}}},
		{"rules on a float", reflect.TypeFor[struct {
			F float64 `validate:"max=3"`
		}](), &struct {
			F float64 `validate:"max=3"`
		}{}},
		{"rules on a pointer to a string", reflect.TypeFor[struct {
			P *string `validate:"required"`
		}](), &struct {
			P *string `validate:"required"`
		}{P: new(string)}},
		{"two rules on a pointer", reflect.TypeFor[struct {
			P *leaf `validate:"omitempty,required"`
		}](), &struct {
			P *leaf `validate:"omitempty,required"`
		}{}},
		{"a rule on a pointer other than required or omitempty", reflect.TypeFor[struct {
			P *leaf `validate:"structonly"`
		}](), &struct {
			P *leaf `validate:"structonly"`
		}{P: &leaf{}}},
		{"rules on a struct", reflect.TypeFor[struct {
			S leaf `validate:"required"`
		}](), &struct {
			S leaf `validate:"required"`
		}{S: leaf{URL: "http://x.test"}}},
		{"unique on a list of numbers", reflect.TypeFor[struct {
			L []int `validate:"unique"`
		}](), &struct {
			L []int `validate:"unique"`
		}{L: []int{1, 2}}},
		{"a number rule Compile does not know", reflect.TypeFor[struct {
			N int `validate:"gt=0"`
		}](), &struct {
			N int `validate:"gt=0"`
		}{N: 1}},
		{"dive into a map", reflect.TypeFor[struct {
			M map[string]string `validate:"dive,max=1"`
		}](), &struct {
			M map[string]string `validate:"dive,max=1"`
		}{}},
		{"dive on a number", reflect.TypeFor[struct {
			N int `validate:"omitempty,dive,max=1"`
		}](), &struct {
			N int `validate:"omitempty,dive,max=1"`
		}{}},
		{"a rule on a list entry Compile does not know", reflect.TypeFor[struct {
			L []string `validate:"dive,email"`
		}](), &struct {
			L []string `validate:"dive,email"`
		}{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Compile(tc.typ)
			if len(p.Fallbacks()) != 1 {
				t.Errorf("Fallbacks = %q, want one field", p.Fallbacks())
			}
			if broken, _ := Struct(tc.value); broken != nil {
				t.Fatalf("the value is invalid: %v", broken)
			}
			if p.Valid(tc.value, nil) {
				t.Error("Valid says yes for a field it does not know")
			}
		})
	}
}

func TestProgramEdges(t *testing.T) {
	t.Run("a long list is left to the validator's unique", func(t *testing.T) {
		type long struct {
			L []string `validate:"unique"`
		}
		p := Compile(reflect.TypeFor[long]())
		for _, n := range []int{maxUniqueScan, maxUniqueScan + 1} {
			v := long{}
			for i := range n {
				v.L = append(v.L, strconv.Itoa(i))
			}
			if got, want := p.Valid(&v, nil), n <= maxUniqueScan; got != want {
				t.Errorf("%d distinct entries: Valid = %v, want %v", n, got, want)
			}
			v.L = append(v.L, "0")
			if p.Valid(&v, nil) {
				t.Errorf("%d entries with a repeat: Valid says yes", n+1)
			}
		}
	})
	t.Run("fields whose types the validator has no rule for", func(t *testing.T) {
		type empty struct{ A string }
		type plain struct {
			D    time.Duration
			P    *empty
			Q    *empty `validate:"omitempty"`
			S    *int
			Tags string `validate:"omitempty"`
		}
		p := Compile(reflect.TypeFor[plain]())
		if len(p.Fallbacks()) != 0 {
			t.Errorf("Fallbacks = %q, want none", p.Fallbacks())
		}
		if !p.Valid(&plain{}, nil) || !p.Valid(&plain{D: time.Second, P: &empty{}, Tags: "x"}, nil) {
			t.Error("Valid says no")
		}
	})
	t.Run("a required pointer to a struct without rules", func(t *testing.T) {
		type empty struct{ A string }
		type need struct {
			P *empty `validate:"required"`
		}
		p := Compile(reflect.TypeFor[need]())
		for _, v := range []need{{}, {P: &empty{}}} {
			broken, _ := Struct(&v)
			if got, want := p.Valid(&v, nil), broken == nil; got != want {
				t.Errorf("%+v: Valid = %v, the validator %v", v, got, want)
			}
		}
	})
	t.Run("a struct without rules is always valid", func(t *testing.T) {
		type plain struct{ A, B string }
		p := Compile(reflect.TypeFor[plain]())
		if !p.Valid(&plain{}, nil) {
			t.Error("Valid says no")
		}
	})
	t.Run("only a non-nil pointer to the compiled type is valid", func(t *testing.T) {
		v := validTree()
		for _, x := range []any{v, (*tree)(nil), &leaf{}, nil} {
			if treeRules.Valid(x, nil) {
				t.Errorf("Valid(%T) says yes", x)
			}
		}
	})
	t.Run("Learn records every language tag it reaches", func(t *testing.T) {
		type langs struct {
			List []string `validate:"dive,bcp47_language_tag"`
			One  string   `validate:"omitempty,bcp47_language_tag"`
			Two  string   `validate:"omitempty,bcp47_language_tag"`
		}
		p := Compile(reflect.TypeFor[langs]())
		v := langs{List: []string{"en", "de-CH"}, One: "fr"}
		var c LangCache
		if p.Valid(&v, &c) {
			t.Error("Valid says yes before the tags are known")
		}
		p.Learn(&v, &c)
		p.Learn(&leaf{}, &c) // another type: nothing
		p.Learn(&v, nil)     // no cache: nothing
		if c.Len() != 3 || !p.Valid(&v, &c) {
			t.Errorf("after Learn: %d tags, Valid = %v; want 3 and true", c.Len(), p.Valid(&v, &c))
		}
	})
	for _, tc := range []struct {
		name string
		typ  reflect.Type
	}{
		{"Compile panics on a rule the validator does not know", reflect.TypeFor[struct {
			S string `validate:"nosuchrule"`
		}]()},
		{"Compile panics on a type that is no struct", reflect.TypeFor[string]()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			Compile(tc.typ)
		})
	}
}

// stringTags are tags of every kind the fuzz targets try on strings.
var stringTags = []string{
	"required,max=64,gweid",
	"omitempty,max=128,gweid",
	"required,max=32,channel",
	"omitempty,max=2048,httpurl",
	"max=200",
	"min=2,max=5",
	"omitempty,min=3",
	"max=3,omitempty,gweid",
	"required",
}

// FuzzStringRulesAgree checks that a compiled string rule says exactly
// what the validator says.
func FuzzStringRulesAgree(f *testing.F) {
	for _, s := range []string{"", "a", "abc", "a b", "ééé", "https://x.test/", "Chat", strings.Repeat("x", 65), "\xff\xfe"} {
		f.Add(s)
	}
	compiled := make([]strRule, len(stringTags))
	for i, tag := range stringTags {
		r, err := compileString(splitTag(tag))
		if err != nil || r == nil {
			f.Fatalf("%s does not compile: %v", tag, err)
		}
		compiled[i] = r
	}
	f.Fuzz(func(t *testing.T, s string) {
		for i, tag := range stringTags {
			if got, want := compiled[i].valid(s, nil), validate().Var(s, tag) == nil; got != want {
				t.Errorf("%q with %s: compiled %v, validator %v", s, tag, got, want)
			}
		}
	})
}

// FuzzProgramAgrees checks that a compiled struct says exactly what the
// validator says, on values the fuzzer makes.
func FuzzProgramAgrees(f *testing.F) {
	f.Add("i", "ab", "", "a,b", int64(3), int64(0), "https://x.test/", true)
	f.Add("", "é", "a b", ",", int64(-1), int64(4), "ftp://x", false)
	f.Fuzz(func(t *testing.T, id, opt, late, list string, n, optN int64, url string, need bool) {
		v := tree{ID: id, Opt: opt, Late: late, N: int(n), OptN: optN, Value: leaf{URL: url}}
		if list != "" {
			v.List = strings.Split(list, ",")
		}
		if need {
			v.Need = &leaf{URL: url}
		}
		broken, _ := Struct(&v)
		if got, want := treeRules.Valid(&v, nil), broken == nil; got != want {
			t.Errorf("%+v: compiled %v, validator %v (%v)", v, got, want, broken)
		}
	})
}
