package gateway

import (
	"encoding/json"
	"slices"

	"github.com/engagekit/gateway/internal/jsonscan"
	"github.com/engagekit/gateway/internal/rules"
)

// The rules of Profile and CancelData are their validator tags, and package
// internal/rules runs them; this file turns what it finds into this
// package's error, in one place.

// validateStruct runs the validator on v, a pointer to a struct, and turns
// what it finds into a VALIDATION *Fault named object; a nil pointer is
// "object is required". more lists broken rules found by other means,
// reported after the validator's.
func validateStruct(object string, v any, more ...FieldError) error {
	broken, cause := rules.Struct(v)
	if broken == nil && cause != nil {
		return invalid(object, []FieldError{{Rule: "required", Message: object + " is required"}}, cause)
	}
	if broken == nil && more == nil {
		return nil
	}
	fields := make([]FieldError, 0, len(broken)+len(more))
	for _, f := range broken {
		fields = append(fields, FieldError(f))
	}
	return invalid(object, append(fields, more...), cause)
}

// The rules of the raw JSON values that Profile and CancelData carry
// verbatim. The handler's decoder takes them from a request only when they
// hold, so a handler refuses what breaks them; Validate checks them too, so
// that a [Client] never sends such a value.
const (
	// ruleObject: userData must be a JSON object.
	ruleObject = "object"
	// ruleJSON: a value of Extra must be one JSON value.
	ruleJSON = "json"
)

// rawErrors checks userData (when set; null is as good as unset) and every
// value of extra that the encoder emits (keys not in known), with the
// decoder's own JSON reader. Extra keys are reported in order.
func rawErrors(userData json.RawMessage, extra map[string]json.RawMessage, known []string) []FieldError {
	var fields []FieldError
	if len(userData) > 0 && !isJSON(string(userData), true) {
		fields = append(fields, FieldError{Field: "userData", Rule: ruleObject, Message: "userData must be a JSON object"})
	}
	var bad []string
	for k, v := range extra {
		// An empty value is encoded as null.
		if len(v) > 0 && !slices.Contains(known, k) && !isJSON(string(v), false) {
			bad = append(bad, k)
		}
	}
	slices.Sort(bad)
	for _, k := range bad {
		fields = append(fields, FieldError{Field: k, Rule: ruleJSON, Message: k + " must be one valid JSON value"})
	}
	return fields
}

// isJSON reports whether text is one JSON value the decoder accepts, and
// an object or null when object is set.
func isJSON(text string, object bool) bool {
	var d jsonscan.Decoder
	if d.Reset(text) != nil || object && d.Peek() != jsonscan.Object && d.Peek() != jsonscan.Null {
		return false
	}
	_, err := d.Skip()
	return err == nil && d.End() == nil
}
