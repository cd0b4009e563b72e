package gateway

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"

	"github.com/engagekit/gateway/internal/jsonscan"
)

// The parameters' names (contract §1).
const (
	paramProfile = "ixnProfile"
	paramCancel  = "cancelData"
)

// objDecoder decodes the fields of one parameter object. Fields of the wrong
// JSON type are collected in bad rather than ending the decode, so the
// sender learns of all of them at once.
type objDecoder struct {
	d   jsonscan.Decoder
	bad []FieldError
}

// decode decodes text, which must hold one JSON object, calling field for
// each key with o placed at its value. Broken JSON is a *Fault matching
// ErrBadRequest; known fields of the wrong type are a *Fault matching
// ErrValidation. (field reaches o through its closure rather than an
// argument, which lets o live on the caller's stack.)
func (o *objDecoder) decode(text string, object string, field func(key string) error) error {
	err := o.d.Reset(text)
	if err == nil {
		if o.d.Peek() != jsonscan.Object {
			return badRequest(object + " must be a JSON object")
		}
		err = o.d.Object(field)
	}
	if err == nil {
		err = o.d.End()
	}
	if err != nil {
		return syntaxError(object, err)
	}
	if len(o.bad) > 0 {
		return invalid(object, o.bad, nil)
	}
	return nil
}

// syntaxError turns a scanner error into a *Fault safe to show.
func syntaxError(object string, err error) error {
	var se *jsonscan.Error
	if errors.As(err, &se) {
		return badRequest(object + " is not valid JSON: " + se.Error())
	}
	return badRequest(object + " is not valid JSON")
}

func (o *objDecoder) typeError(field, want string) error {
	o.bad = append(o.bad, FieldError{Field: field, Rule: "type", Message: field + " must be " + want})
	_, err := o.d.Skip()
	return err
}

// null consumes a null and reports whether there was one.
func (o *objDecoder) null() (bool, error) {
	if o.d.Peek() != jsonscan.Null {
		return false, nil
	}
	_, err := o.d.Literal()
	return true, err
}

func (o *objDecoder) str(field string, dst *string) error {
	if o.d.Peek() != jsonscan.String {
		if isNull, err := o.null(); isNull || err != nil {
			return err
		}
		return o.typeError(field, "a string")
	}
	s, err := o.d.String()
	*dst = s
	return err
}

// strs decodes an array of strings, keeping at most keep entries: enough for
// validation to see that there are too many without holding them all.
func (o *objDecoder) strs(field string, dst *[]string, keep int) error {
	if o.d.Peek() != jsonscan.Array {
		if isNull, err := o.null(); isNull || err != nil {
			return err
		}
		return o.typeError(field, "an array of strings")
	}
	list := make([]string, 0, 4)
	wrong := false
	err := o.d.Array(func(i int) error {
		if o.d.Peek() != jsonscan.String {
			wrong = true
			_, err := o.d.Skip()
			return err
		}
		s, err := o.d.String()
		if len(list) < keep {
			list = append(list, s)
		}
		return err
	})
	if wrong {
		o.bad = append(o.bad, FieldError{Field: field, Rule: "type", Message: field + " must be an array of strings"})
	}
	*dst = list
	return err
}

func (o *objDecoder) int(field string, dst *int) error {
	if o.d.Peek() != jsonscan.Number {
		if isNull, err := o.null(); isNull || err != nil {
			return err
		}
		return o.typeError(field, "a whole number")
	}
	num, err := o.d.Number()
	if err != nil {
		return err
	}
	n, perr := strconv.Atoi(string(num))
	switch {
	case perr == nil:
		*dst = n
	case errors.Is(perr, strconv.ErrRange):
		// Out of int's range: keep the sign so validation names the bound.
		*dst = math.MaxInt
		if num[0] == '-' {
			*dst = math.MinInt
		}
	default:
		o.bad = append(o.bad, FieldError{Field: field, Rule: "type", Message: field + " must be a whole number"})
	}
	return nil
}

// object decodes a JSON object as raw text.
func (o *objDecoder) object(field string, dst *json.RawMessage) error {
	if o.d.Peek() != jsonscan.Object {
		if isNull, err := o.null(); isNull || err != nil {
			return err
		}
		return o.typeError(field, "an object")
	}
	raw, err := o.d.Skip()
	*dst = json.RawMessage(raw)
	return err
}

func (o *objDecoder) invitation(dst **Invitation) error {
	const field = "invitation"
	if o.d.Peek() != jsonscan.Object {
		if isNull, err := o.null(); isNull || err != nil {
			return err
		}
		return o.typeError(field, "an object")
	}
	inv := new(Invitation)
	*dst = inv
	unknown := false
	err := o.d.Object(func(key string) error {
		switch key {
		case "title":
			return o.str("invitation.title", &inv.Title)
		case "message":
			return o.str("invitation.message", &inv.Message)
		case "url":
			return o.str("invitation.url", &inv.URL)
		}
		unknown = true
		_, err := o.d.Skip()
		return err
	})
	if unknown {
		o.bad = append(o.bad, FieldError{Field: field, Rule: "keys", Message: field + " may hold only title, message and url"})
	}
	return err
}

// extra keeps an unknown key's value verbatim.
func (o *objDecoder) extra(key string, dst *map[string]json.RawMessage) error {
	raw, err := o.d.Skip()
	if err != nil {
		return err
	}
	if *dst == nil {
		*dst = make(map[string]json.RawMessage, 4)
	}
	(*dst)[key] = json.RawMessage(raw)
	return nil
}

func appendString(b []byte, s string) []byte { return jsonscan.AppendString(b, s) }

// appendOptString appends ,"key":"val" unless val is empty.
func appendOptString(b []byte, key, val string) []byte {
	if val == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendString(b, val)
}

func appendStrings(b []byte, list []string) []byte {
	if list == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendExtra appends the keys of extra in order, leaving out those in
// known, and closes the object.
func appendExtra(b []byte, extra map[string]json.RawMessage, known []string) []byte {
	if len(extra) > 0 {
		keys := make([]string, 0, len(extra))
		for k := range extra {
			if !slices.Contains(known, k) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			b = append(b, ',')
			b = appendString(b, k)
			b = append(b, ':')
			if v := extra[k]; len(v) > 0 {
				b = append(b, v...)
			} else {
				b = append(b, "null"...)
			}
		}
	}
	return append(b, '}')
}
