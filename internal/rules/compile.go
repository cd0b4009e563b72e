package rules

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// The validator walks a struct by reflection, at about 280 ns a field on a
// 2.5 GHz server core, which is most of the cost of an engage request. A
// Program is the same struct's tags compiled once into plain checks. It
// answers one question, "does this value certainly pass?", and a caller
// runs the validator whenever the answer is no: a Program can thus only be
// wrong by accepting what the validator rejects, and the fuzz tests check,
// on every input they make, that it never does.

// check reports whether v certainly passes the rules it was compiled from.
type check func(v reflect.Value, m memo) bool

// memo answers bcp47_language_tag, the one rule too dear to run on each
// request (a registry lookup in golang.org/x/text), from the tags the
// validator accepted before.
type memo interface{ knows(tag string) bool }

// LangCache remembers language tags the validator accepted, since a site
// sees few distinct languages. It holds at most 256 tags. The zero value is
// empty and ready; it is safe for concurrent use.
type LangCache struct {
	m sync.Map // string → struct{}
	n atomic.Int32
}

// maxLangs bounds a LangCache.
const maxLangs = 256

func (c *LangCache) knows(tag string) bool {
	if c == nil {
		return false
	}
	_, ok := c.m.Load(tag)
	return ok
}

func (c *LangCache) learn(tag string) {
	if c == nil || tag == "" || c.knows(tag) || c.n.Load() >= maxLangs {
		return
	}
	if _, loaded := c.m.LoadOrStore(tag, struct{}{}); !loaded {
		c.n.Add(1)
	}
}

// Len returns the number of tags c holds.
func (c *LangCache) Len() int { return int(c.n.Load()) }

// learner is the memo of [Program.Learn]: it records every language tag the
// walk reaches and lets the walk go on.
type learner struct{ c *LangCache }

func (l learner) knows(tag string) bool {
	l.c.learn(tag)
	return true
}

// Program is the validator tags of one struct type compiled into a check
// that runs without the validator. Compile one per type at start-up; it is
// safe for concurrent use.
type Program struct {
	typ       reflect.Type
	check     check // nil: nothing to check
	fallbacks []string
}

// Compile compiles the validator tags of the struct type t, nested structs
// included. It knows the rules required, omitempty, min and max (a string's
// length in characters, a list's length, an integer's value), unique (on a
// list of strings), dive, "-", bcp47_language_tag (through a [LangCache])
// and the custom rules. A field whose tag holds any other rule, or that
// holds a value Compile cannot see through (an interface), is compiled to
// "not certainly valid": a struct with such a field always goes to the
// validator, and [Program.Fallbacks] names the field.
//
// Compile panics if t is not a struct type or a tag is malformed (the
// validator's own verdict): programmer errors, found at start-up.
func Compile(t reflect.Type) *Program {
	if t.Kind() != reflect.Struct {
		panic("rules: Compile needs a struct type, not " + t.String())
	}
	// The validator parses and caches every tag of t now; a malformed one
	// panics here rather than on the first request.
	validate().Struct(reflect.New(t).Interface())
	c := compiler{seen: map[reflect.Type]bool{}}
	p := &Program{typ: t}
	p.check = c.structCheck(t, t.Name())
	p.fallbacks = c.fallbacks
	return p
}

// Valid reports whether the struct ptr points to certainly passes the
// validator. langs answers bcp47_language_tag with the tags the validator
// accepted before; nil knows none. A ptr that is not a non-nil pointer to
// the compiled type is not valid.
func (p *Program) Valid(ptr any, langs *LangCache) bool {
	v, ok := p.elem(ptr)
	return ok && (p.check == nil || p.check(v, langs))
}

// Learn adds to langs the language tags of the struct ptr points to. Call
// it once the validator has accepted that struct, so that Valid knows them
// next time.
func (p *Program) Learn(ptr any, langs *LangCache) {
	if v, ok := p.elem(ptr); ok && p.check != nil && langs != nil {
		p.check(v, learner{langs})
	}
}

func (p *Program) elem(ptr any) (reflect.Value, bool) {
	v := reflect.ValueOf(ptr)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Type().Elem() != p.typ {
		return reflect.Value{}, false
	}
	return v.Elem(), true
}

// Fallbacks lists the fields, as "Type.Field: reason", whose rules Compile
// does not know, so that the struct always goes to the validator.
func (p *Program) Fallbacks() []string { return p.fallbacks }

// Max returns the parameter of the max rule on the field goName of the
// struct type t itself (not on its entries, after dive), and whether it
// has one. The decoder uses it to bound what it keeps of a list.
func Max(t reflect.Type, goName string) (int, bool) {
	f, ok := t.FieldByName(goName)
	if !ok {
		return 0, false
	}
	for _, tok := range splitTag(f.Tag.Get("validate")) {
		if tok == "dive" {
			break
		}
		if param, ok := strings.CutPrefix(tok, "max="); ok {
			n, err := intParam(param)
			return int(n), err == nil
		}
	}
	return 0, false
}

// splitTag splits a validate tag into its rules, as the validator does for
// every tag Compile knows: a rule with "|" (or), or an escaped comma in its
// parameter, stays one unknown token.
func splitTag(tag string) []string {
	if tag == "" {
		return nil
	}
	return strings.Split(tag, ",")
}

// intParam parses an integer parameter as the validator does (base prefix
// allowed).
func intParam(param string) (int64, error) {
	return strconv.ParseInt(param, 0, 64)
}

var durationType = reflect.TypeFor[time.Duration]()

type compiler struct {
	seen      map[reflect.Type]bool // the struct types being compiled, against recursion
	fallbacks []string
}

// never is the check of a field whose rules Compile does not know.
func never(reflect.Value, memo) bool { return false }

// structCheck compiles the fields of the struct type t; path names it in
// Fallbacks. It returns nil when there is nothing to check.
func (c *compiler) structCheck(t reflect.Type, path string) check {
	if c.seen[t] {
		c.fallbacks = append(c.fallbacks, path+": a recursive type")
		return never
	}
	c.seen[t] = true
	defer delete(c.seen, t)
	// A string field, the common case, runs its rule without a closure.
	type field struct {
		index int
		str   strRule
		check check
	}
	var fields []field
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("validate")
		// The validator skips these fields; it walks into embedded ones.
		if (!f.IsExported() && !f.Anonymous) || tag == "-" {
			continue
		}
		var fc check
		var str strRule
		var err error
		if f.Type.Kind() == reflect.String {
			str, err = compileString(splitTag(tag))
		} else {
			fc, err = c.value(f.Type, splitTag(tag), path+"."+f.Name)
		}
		switch {
		case err != nil:
			c.fallbacks = append(c.fallbacks, path+"."+f.Name+": "+err.Error())
			fields = append(fields, field{index: i, check: never})
		case str != nil || fc != nil:
			fields = append(fields, field{index: i, str: str, check: fc})
		}
	}
	if len(fields) == 0 {
		return nil
	}
	return func(v reflect.Value, m memo) bool {
		for _, f := range fields {
			fv := v.Field(f.index)
			if f.check == nil && !f.str.valid(fv.String(), m) || f.check != nil && !f.check(fv, m) {
				return false
			}
		}
		return true
	}
}

// value compiles the rules toks for values of type t. It returns nil when
// there is nothing to check, and an error naming what it does not know.
func (c *compiler) value(t reflect.Type, toks []string, path string) (check, error) {
	switch t.Kind() {
	case reflect.String:
		r, err := compileString(toks)
		if r == nil || err != nil {
			return nil, err
		}
		return func(v reflect.Value, m memo) bool { return r.valid(v.String(), m) }, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if t == durationType && len(toks) > 0 {
			return nil, errors.New("rules on a time.Duration") // the validator reads their parameters as durations
		}
		return c.fold(t, toks, path)
	case reflect.Slice, reflect.Array:
		return c.fold(t, toks, path)
	case reflect.Struct:
		if len(toks) > 0 {
			return nil, errors.New("rules on a struct")
		}
		return c.structCheck(t, path), nil
	case reflect.Pointer:
		return c.pointer(t, toks, path)
	case reflect.Interface:
		return nil, errors.New("an interface, whose value the validator checks")
	}
	if len(toks) > 0 {
		return nil, errors.New("rules on a " + t.Kind().String())
	}
	return nil, nil
}

// pointer compiles a pointer to a struct, with no rule, omitempty or
// required: the validator walks into the struct when the pointer is not
// nil. A nil pointer passes unless required.
func (c *compiler) pointer(t reflect.Type, toks []string, path string) (check, error) {
	required := len(toks) == 1 && toks[0] == "required"
	if len(toks) > 1 || len(toks) == 1 && !required && toks[0] != "omitempty" {
		return nil, errors.New("rules on a pointer other than required or omitempty")
	}
	if t.Elem().Kind() != reflect.Struct {
		if len(toks) > 0 {
			return nil, errors.New("rules on a pointer to a " + t.Elem().Kind().String())
		}
		return nil, nil // the validator has no rule to apply to the value
	}
	inner := c.structCheck(t.Elem(), path)
	switch {
	case inner == nil && !required:
		return nil, nil
	case inner == nil:
		return func(v reflect.Value, _ memo) bool { return !v.IsNil() }, nil
	}
	return func(v reflect.Value, m memo) bool {
		if v.IsNil() {
			return !required
		}
		return inner(v.Elem(), m)
	}, nil
}

// fold compiles toks, in the validator's order, for an integer or a list:
// omitempty ends the check when the value is empty, dive applies the rules
// after it to each entry, and every other rule must hold.
func (c *compiler) fold(t reflect.Type, toks []string, path string) (check, error) {
	if len(toks) == 0 {
		return nil, nil
	}
	name, param, _ := strings.Cut(toks[0], "=")
	switch name {
	case "omitempty":
		rest, err := c.fold(t, toks[1:], path)
		if rest == nil || err != nil {
			return nil, err
		}
		return func(v reflect.Value, m memo) bool { return !hasValue(v) || rest(v, m) }, nil
	case "dive":
		if k := t.Kind(); k != reflect.Slice && k != reflect.Array {
			return nil, errors.New("dive on a " + k.String())
		}
		entry, err := c.value(t.Elem(), toks[1:], path+"[]")
		if entry == nil || err != nil {
			return nil, err
		}
		return func(v reflect.Value, m memo) bool {
			for i := range v.Len() {
				if !entry(v.Index(i), m) {
					return false
				}
			}
			return true
		}, nil
	}
	p, err := predicate(t, name, param)
	if err != nil {
		return nil, err
	}
	rest, err := c.fold(t, toks[1:], path)
	if rest == nil || err != nil {
		return p, err
	}
	return func(v reflect.Value, m memo) bool { return p(v, m) && rest(v, m) }, nil
}

// predicate compiles one rule for an integer or a list.
func predicate(t reflect.Type, name, param string) (check, error) {
	list := t.Kind() == reflect.Slice || t.Kind() == reflect.Array
	switch name {
	case "required":
		return func(v reflect.Value, _ memo) bool { return hasValue(v) }, nil
	case "min", "max":
		n, err := intParam(param)
		if err != nil {
			return nil, errors.New("the rule " + name + " with the parameter " + strconv.Quote(param))
		}
		size := func(v reflect.Value) int64 { return v.Int() }
		if list {
			size = func(v reflect.Value) int64 { return int64(v.Len()) }
		}
		if name == "min" {
			return func(v reflect.Value, _ memo) bool { return size(v) >= n }, nil
		}
		return func(v reflect.Value, _ memo) bool { return size(v) <= n }, nil
	case "unique":
		if list && t.Elem().Kind() == reflect.String {
			return uniqueStrings, nil
		}
	}
	return nil, errors.New("the rule " + name + " on a " + t.Kind().String())
}

// maxUniqueScan is the longest list uniqueStrings compares pairwise; a
// longer one is left to the validator.
const maxUniqueScan = 32

// uniqueStrings is unique on a list of strings.
func uniqueStrings(v reflect.Value, _ memo) bool {
	n := v.Len()
	if n > maxUniqueScan {
		return false
	}
	for i := 1; i < n; i++ {
		s := v.Index(i).String()
		for j := range i {
			if v.Index(j).String() == s {
				return false
			}
		}
	}
	return true
}

// hasValue is the validator's test for required and omitempty.
func hasValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map, reflect.Pointer, reflect.Interface, reflect.Chan, reflect.Func:
		return !v.IsNil()
	}
	return !v.IsZero()
}

// strRule is the rules of a string, compiled: a list of steps run in the
// tag's order, as the validator runs them. A loop over a short list costs
// less than a chain of closures.
type strRule []strStep

type strStep struct {
	op    strOp
	n     int64             // min, max
	check func(string) bool // custom
}

type strOp uint8

const (
	opOmitEmpty strOp = iota // an empty string passes the steps after
	opRequired
	opMin
	opMax
	opLang
	opCustom
)

// valid reports whether s certainly passes r.
func (r strRule) valid(s string, m memo) bool {
	for _, st := range r {
		switch st.op {
		case opOmitEmpty:
			if s == "" {
				return true
			}
		case opRequired:
			if s == "" {
				return false
			}
		case opMin:
			// A string has at most as many characters as bytes, so the byte
			// length often answers without counting.
			if int64(len(s)) < st.n || int64(utf8.RuneCountInString(s)) < st.n {
				return false
			}
		case opMax:
			if int64(len(s)) > st.n && int64(utf8.RuneCountInString(s)) > st.n {
				return false
			}
		case opLang:
			if m == nil || !m.knows(s) {
				return false
			}
		case opCustom:
			if !st.check(s) {
				return false
			}
		}
	}
	return true
}

// compileString compiles toks for a string. It returns nil when there is
// nothing to check.
func compileString(toks []string) (strRule, error) {
	var r strRule
	for _, tok := range toks {
		name, param, _ := strings.Cut(tok, "=")
		st := strStep{}
		switch name {
		case "omitempty":
			st.op = opOmitEmpty
		case "required":
			st.op = opRequired
		case "min", "max":
			n, err := intParam(param)
			if err != nil {
				return nil, errors.New("the rule " + name + " with the parameter " + strconv.Quote(param))
			}
			st.op, st.n = opMax, n
			if name == "min" {
				st.op = opMin
			}
		case "bcp47_language_tag":
			st.op = opLang
		default:
			cu, ok := lookupCustom(name)
			if !ok {
				return nil, errors.New("the rule " + name + " on a string")
			}
			st.op, st.check = opCustom, cu.check
		}
		r = append(r, st)
	}
	return r, nil
}
