package gateway

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"

	"github.com/engagekit/gateway/internal/rules"
)

// channelsKept is how many channels the decoder keeps of a list: one more
// than the tag of Profile.Channels allows, enough for validation to report
// too many without holding them all.
var channelsKept = func() int {
	if n, ok := rules.Max(reflect.TypeFor[Profile](), "Channels"); ok {
		return n + 1
	}
	return math.MaxInt
}()

// Profile is the ixnProfile object of an engage request (contract §3): what
// to show to which visit. Decode one with [json.Unmarshal] or receive it from
// the [Handler]; check it with [Profile.Validate].
//
// Keys that Profile has no field for are kept in Extra, verbatim, so a
// decode/encode round trip of a valid profile loses nothing a strategy
// attached. Decoding keeps one channel more than the rules allow, enough
// for Validate to report the list too long, and drops the rest. A Profile is
// not safe for concurrent mutation; concurrent reads are fine.
type Profile struct {
	// InteractionID identifies this engagement attempt: 1–64 characters of
	// [A-Za-z0-9._:-]. Required.
	InteractionID string `json:"interactionID" validate:"required,max=64,gweid"`
	// VisitID is the visit to engage, the routing key for delivery: 1–128
	// characters of [A-Za-z0-9._:-]. Required.
	VisitID string `json:"visitID" validate:"required,max=128,gweid"`
	// GlobalVisitID is optional, with VisitID's rules.
	GlobalVisitID string `json:"globalVisitID,omitempty" validate:"omitempty,max=128,gweid"`
	// PageID, when set, limits the invitation to the browser page with this
	// ID. Optional, with VisitID's rules.
	PageID string `json:"pageID,omitempty" validate:"omitempty,max=128,gweid"`
	// Channels lists the ways the visitor may answer ("chat", "callback", or
	// a custom widget's name): 1–8 unique entries of 1–32 characters of
	// [a-z0-9_-]. Required.
	Channels []string `json:"channels" validate:"required,min=1,max=8,unique,dive,required,max=32,channel"`
	// Language is an optional BCP 47 tag ("en", "fr-CA") of at most 35
	// characters.
	Language string `json:"language,omitempty" validate:"omitempty,max=35,bcp47_language_tag"`
	// ExpiresIn is how long the invitation stays live, in seconds, 1–1800.
	// Zero means the deliverer's default (30 s in package push).
	ExpiresIn int `json:"expiresIn,omitempty" validate:"min=0,max=1800"`
	// Invitation holds optional presentation texts; nil means none.
	Invitation *Invitation `json:"invitation,omitempty"`
	// UserData is the optional userData object, as raw JSON text, verbatim:
	// key-value data the strategy passes along. Decode it into a type of
	// your own with json.Unmarshal. When set it must be a JSON object.
	UserData json.RawMessage `json:"userData,omitempty" validate:"-"`
	// Extra holds every other key of the object with its value as raw JSON
	// text, verbatim. MarshalJSON emits them after the known fields, in key
	// order, skipping any key that names a field above.
	Extra map[string]json.RawMessage `json:"-" validate:"-"`
}

// Invitation is the optional presentation of an invitation. The object
// accepts no other keys.
type Invitation struct {
	// Title is a heading of at most 200 characters.
	Title string `json:"title,omitempty" validate:"max=200"`
	// Message is the body text, at most 2000 characters.
	Message string `json:"message,omitempty" validate:"max=2000"`
	// URL is the absolute http or https URL of a custom invitation template,
	// at most 2048 characters.
	URL string `json:"url,omitempty" validate:"omitempty,max=2048,httpurl"`
}

// Validate checks p against the rules of contract §3: the validator tags
// above, and that UserData, when set, is a JSON object (rule "object") and
// each value of Extra one JSON value (rule "json"), as the [Handler] reads
// them. It returns nil or a VALIDATION [*Fault] listing every broken rule by
// JSON field name.
func (p *Profile) Validate() error {
	var raw []FieldError
	if p != nil {
		raw = rawErrors(p.UserData, p.Extra, profileKeys)
	}
	return validateStruct(paramProfile, p, raw...)
}

// UnmarshalJSON decodes an ixnProfile object strictly: the text must be one
// JSON object with no duplicate keys. A known field of the wrong JSON type is
// reported as a VALIDATION [*Fault] with the rule "type"; null leaves a field
// empty. It does not apply the rules of [Profile.Validate].
func (p *Profile) UnmarshalJSON(data []byte) error {
	return p.decode(string(data))
}

// decode decodes text into p, which it resets first. p's strings share
// memory with text.
func (p *Profile) decode(text string) error {
	*p = Profile{}
	var o objDecoder
	return o.decode(text, paramProfile, func(key string) error {
		switch key {
		case "interactionID":
			return o.str(key, &p.InteractionID)
		case "visitID":
			return o.str(key, &p.VisitID)
		case "globalVisitID":
			return o.str(key, &p.GlobalVisitID)
		case "pageID":
			return o.str(key, &p.PageID)
		case "channels":
			return o.strs(key, &p.Channels, channelsKept)
		case "language":
			return o.str(key, &p.Language)
		case "expiresIn":
			return o.int(key, &p.ExpiresIn)
		case "invitation":
			return o.invitation(&p.Invitation)
		case "userData":
			return o.object(key, &p.UserData)
		}
		return o.extra(key, &p.Extra)
	})
}

// profileKeys are the keys Profile has fields for; Extra never emits them.
var profileKeys = []string{"interactionID", "visitID", "globalVisitID", "pageID", "channels", "language", "expiresIn", "invitation", "userData"}

// MarshalJSON encodes p with its known fields first, empty optional ones
// left out, then the keys of Extra in order. Raw values are emitted as they
// are; json.Marshal rejects them if they are not valid JSON.
func (p Profile) MarshalJSON() ([]byte, error) {
	return p.appendJSON(make([]byte, 0, 256)), nil
}

func (p *Profile) appendJSON(b []byte) []byte {
	b = append(b, `{"interactionID":`...)
	b = appendString(b, p.InteractionID)
	b = append(b, `,"visitID":`...)
	b = appendString(b, p.VisitID)
	b = appendOptString(b, "globalVisitID", p.GlobalVisitID)
	b = appendOptString(b, "pageID", p.PageID)
	b = append(b, `,"channels":`...)
	b = appendStrings(b, p.Channels)
	b = appendOptString(b, "language", p.Language)
	if p.ExpiresIn != 0 {
		b = append(b, `,"expiresIn":`...)
		b = strconv.AppendInt(b, int64(p.ExpiresIn), 10)
	}
	if p.Invitation != nil {
		b = append(b, `,"invitation":`...)
		b = p.Invitation.appendJSON(b)
	}
	if len(p.UserData) > 0 {
		b = append(b, `,"userData":`...)
		b = append(b, p.UserData...)
	}
	return appendExtra(b, p.Extra, profileKeys)
}

// MarshalJSON encodes inv with its empty fields left out.
func (inv Invitation) MarshalJSON() ([]byte, error) {
	return inv.appendJSON(make([]byte, 0, 64)), nil
}

func (inv *Invitation) appendJSON(b []byte) []byte {
	sep := byte('{')
	for _, f := range [...]struct{ key, val string }{{"title", inv.Title}, {"message", inv.Message}, {"url", inv.URL}} {
		if f.val != "" {
			b = append(b, sep, '"')
			b = append(b, f.key...)
			b = append(b, '"', ':')
			b = appendString(b, f.val)
			sep = ','
		}
	}
	if sep == '{' {
		b = append(b, '{')
	}
	return append(b, '}')
}
