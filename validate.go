package gateway

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"sync"

	"github.com/go-playground/validator/v10"
)

// validate returns the process's one validator: validator caches each
// struct's metadata, so sharing it is what makes validation cheap. It is set
// up once and only read after, so sharing it is safe.
var validate = sync.OnceValue(func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	must := func(err error) {
		if err != nil {
			panic("gateway: " + err.Error())
		}
	}
	must(v.RegisterValidation("gweid", func(fl validator.FieldLevel) bool { return isID(fl.Field().String()) }))
	must(v.RegisterValidation("channel", func(fl validator.FieldLevel) bool { return isChannel(fl.Field().String()) }))
	must(v.RegisterValidation("httpurl", func(fl validator.FieldLevel) bool { return isHTTPURL(fl.Field().String()) }))
	return v
})

// isID reports whether s is made only of [A-Za-z0-9._:-], the charset of
// GWE identifiers. Lengths are checked by their own rules.
func isID(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// isChannel reports whether s is a non-empty run of [a-z0-9_-].
func isChannel(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

// isHTTPURL reports whether s is an absolute http or https URL with a host.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// ValidVisitID reports whether s is a valid visitID (and pageID): 1–128
// characters of [A-Za-z0-9._:-].
func ValidVisitID(s string) bool { return s != "" && len(s) <= 128 && isID(s) }

// ValidateStruct validates v, a pointer to a struct with validator tags,
// with the validator this package uses for [Profile], which knows the rules
// gweid (characters of [A-Za-z0-9._:-]), channel ([a-z0-9_-]) and httpurl
// (an absolute http or https URL) besides validator's own. It returns nil
// or a VALIDATION [*Fault] named object whose fields carry JSON names. It is
// for objects of the host's own, such as package push's Disposition.
func ValidateStruct(object string, v any) error { return validateStruct(object, v) }

// validateStruct runs the validator on v, a pointer to a struct, and turns
// what it finds into a VALIDATION *Fault named object.
func validateStruct(object string, v any) error {
	err := validate().Struct(v)
	if err == nil {
		return nil
	}
	var ves validator.ValidationErrors
	if !errors.As(err, &ves) {
		// InvalidValidationError: a nil pointer, a programmer error.
		return invalid(object, []FieldError{{Field: "", Rule: "required", Message: object + " is required"}}, err)
	}
	fields := make([]FieldError, len(ves))
	for i, fe := range ves {
		fields[i] = fieldError(fe)
	}
	return invalid(object, fields, ves)
}

// fieldError describes one broken rule by JSON path, without the value.
func fieldError(fe validator.FieldError) FieldError {
	// Namespace is "Profile.invitation.url": drop the Go type's name.
	_, name, _ := strings.Cut(fe.Namespace(), ".")
	rule := fe.Tag()
	var msg string
	switch rule {
	case "required", "required_if":
		msg = name + " is required"
	case "oneof":
		msg = name + " must be one of: " + fe.Param()
	case "max", "min":
		bound := "at most "
		if rule == "min" {
			bound = "at least "
		}
		switch fe.Kind() {
		case reflect.String:
			msg = name + " must be " + bound + fe.Param() + " characters long"
		case reflect.Slice:
			msg = name + " must have " + bound + fe.Param() + " entries"
		default:
			msg = name + " must be " + bound + fe.Param()
		}
	case "unique":
		msg = name + " must not repeat an entry"
	case "gweid":
		msg = name + " may hold only letters, digits, '.', '_', ':' and '-'"
	case "channel":
		msg = name + " may hold only a-z, 0-9, '_' and '-'"
	case "httpurl":
		msg = name + " must be an absolute http or https URL"
	case "bcp47_language_tag":
		msg = name + " must be a BCP 47 language tag"
	default:
		msg = name + " breaks the rule " + rule
	}
	return FieldError{Field: name, Rule: rule, Message: msg}
}
