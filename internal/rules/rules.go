// Package rules is the one home of the field rules the gateway's packages
// share. The validator tags on a struct are the only place a rule is
// written; this package reads them three ways:
//
//   - [Struct] and [Field.Check] run the process's one validator, with the
//     custom rules gweid, channel, httpurl and msgchannel registered, and describe each
//     broken rule as a [FieldError];
//   - [Compile] turns a struct type's tags into a [Program], a fast check
//     that never calls the validator;
//   - the message of a broken rule is built from its tag (rule and
//     parameter) and, for a custom rule, from the text written beside its
//     check function.
//
// It returns plain data; the root package turns it into its error type.
package rules

import (
	"cmp"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"sync"

	"github.com/go-playground/validator/v10"
)

// FieldError is one broken rule: the field by its JSON path
// ("channels[1]", "invitation.url"), the rule by its tag name and a message
// in English that never quotes the value. It has the fields of
// gateway.FieldError, so one converts to the other.
type FieldError struct {
	Field   string
	Rule    string
	Message string
}

// custom is a rule this package adds to the validator's, written once: the
// validator runs check, a compiled [Program] calls it, and a value that
// breaks it is reported as "<field> " + message.
type custom struct {
	name    string
	check   func(string) bool
	message string
}

// customs are the custom rules. Each applies to strings.
var customs = [...]custom{
	{"gweid", isID, "may hold only letters, digits, '.', '_', ':' and '-'"},
	{"channel", isChannel, "may hold only a-z, 0-9, '_' and '-'"},
	{"httpurl", isHTTPURL, "must be an absolute http or https URL"},
	{"msgchannel", isMessageChannel, "may hold only letters, digits, '.', '_' and '-'"},
}

func lookupCustom(name string) (custom, bool) {
	for _, c := range customs {
		if c.name == name {
			return c, true
		}
	}
	return custom{}, false
}

// isID reports whether s is made only of [A-Za-z0-9._:-], the charset of
// GWE identifiers. Lengths are checked by their own rules.
func isID(s string) bool { return allIn(&idChars, s) }

// isChannel reports whether s is a non-empty run of [a-z0-9_-].
func isChannel(s string) bool { return s != "" && allIn(&channelChars, s) }

// isMessageChannel reports whether s is a non-empty run of [A-Za-z0-9._-],
// the channel of a notify message ("gpe.appendContent").
func isMessageChannel(s string) bool { return s != "" && allIn(&messageChannelChars, s) }

// The charsets, as tables: one load a byte is the cheapest test, and the
// identifiers of every request go through it.
var (
	idChars      = charset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-")
	channelChars = charset("abcdefghijklmnopqrstuvwxyz0123456789_-")

	messageChannelChars = charset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
)

func charset(chars string) (set [256]bool) {
	for i := range len(chars) {
		set[chars[i]] = true
	}
	return set
}

// allIn reports whether every byte of s is in set.
func allIn(set *[256]bool, s string) bool {
	for i := range len(s) {
		if !set[s[i]] {
			return false
		}
	}
	return true
}

// isHTTPURL reports whether s is an absolute http or https URL with a host
// and no user information.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// validate returns the process's one validator: it caches each struct's
// metadata, so sharing it is what makes validation cheap. It is set up once
// and only read after, so sharing it is safe.
var validate = sync.OnceValue(func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string { return jsonName(f) })
	for _, c := range customs {
		check := c.check
		if err := v.RegisterValidation(c.name, func(fl validator.FieldLevel) bool { return check(fl.Field().String()) }); err != nil {
			panic("rules: " + err.Error())
		}
	}
	return v
})

// jsonName is the name a field has in JSON, or "" for a field that JSON
// leaves out.
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// Struct validates v, a struct or a non-nil pointer to one, with the
// validator. It returns every broken rule in field order, and the
// validator's own error as the cause; nil, nil when v is valid. When v is
// neither, it returns no fields and the validator's error.
func Struct(v any) ([]FieldError, error) {
	err := validate().Struct(v)
	if err == nil {
		return nil, nil
	}
	var ves validator.ValidationErrors
	if !errors.As(err, &ves) {
		return nil, err
	}
	// A namespace is "Profile.invitation.url": drop the Go type's name,
	// which an unnamed struct type does not have.
	t := reflect.TypeOf(v)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var prefix string
	if t.Name() != "" {
		prefix = t.Name() + "."
	}
	fields := make([]FieldError, len(ves))
	for i, fe := range ves {
		fields[i] = broken(strings.TrimPrefix(fe.Namespace(), prefix), fe)
	}
	return fields, ves
}

func broken(field string, fe validator.FieldError) FieldError {
	return FieldError{Field: field, Rule: fe.Tag(), Message: message(field, fe.Tag(), fe.Param(), fe.Kind())}
}

// message describes a broken rule of field, from the rule and its parameter
// as the tag writes them and the kind of the value checked. It never quotes
// the value.
func message(field, rule, param string, kind reflect.Kind) string {
	switch rule {
	case "required", "required_if":
		return field + " is required"
	case "oneof":
		return field + " must be one of: " + param
	case "min", "max":
		bound := "at most "
		if rule == "min" {
			bound = "at least "
		}
		switch kind {
		case reflect.String:
			return field + " must be " + bound + param + " characters long"
		case reflect.Slice, reflect.Array, reflect.Map:
			return field + " must have " + bound + param + " entries"
		}
		return field + " must be " + bound + param
	case "unique":
		return field + " must not repeat an entry"
	case "bcp47_language_tag":
		return field + " must be a BCP 47 language tag"
	}
	if c, ok := lookupCustom(rule); ok {
		return field + " " + c.message
	}
	return field + " breaks the rule " + rule
}

// Field is the rule of one string field of a struct, read from its tag, for
// values that arrive on their own (a path segment, a query parameter) and
// must obey the same rule. It is safe for concurrent use.
type Field struct {
	name  string // the field's JSON name
	tag   string
	fast  strRule // the tag compiled; used only when known
	known bool    // Compile knows every rule of the tag
}

// FieldOf returns the rule of the string field goName of the struct type t.
// It panics if t has no such field: a programmer error, found at start-up.
func FieldOf(t reflect.Type, goName string) *Field {
	f, ok := t.FieldByName(goName)
	if !ok || f.Type.Kind() != reflect.String {
		panic("rules: " + t.String() + " has no string field " + goName)
	}
	tag := f.Tag.Get("validate")
	validate().Var("", tag) // a malformed tag panics here, at start-up
	fast, err := compileString(splitTag(tag))
	return &Field{name: cmp.Or(jsonName(f), f.Name), tag: tag, fast: fast, known: err == nil}
}

// Check returns the first rule s breaks, or nil if s obeys the field's
// rule.
func (f *Field) Check(s string) *FieldError {
	if f.known && f.fast.valid(s, nil) {
		return nil
	}
	err := validate().Var(s, f.tag)
	if err == nil {
		return nil
	}
	// Var reports a string's first broken rule as ValidationErrors.
	var ves validator.ValidationErrors
	errors.As(err, &ves)
	fe := broken(f.name, ves[0])
	return &fe
}
