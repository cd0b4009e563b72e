package gateway

import (
	"context"
	"encoding/json"
)

// CancelData is the cancelData object of a noengage request (contract §4):
// which engagement attempt to take back. Keys it has no field for are kept
// in Extra, as for [Profile].
type CancelData struct {
	// InteractionID names the attempt to cancel: 1–64 characters of
	// [A-Za-z0-9._:-]. Required.
	InteractionID string `json:"interactionID" validate:"required,max=64,gweid"`
	// VisitID is the attempt's visit: 1–128 characters of [A-Za-z0-9._:-].
	// Required.
	VisitID string `json:"visitID" validate:"required,max=128,gweid"`
	// Reason is an optional word for logs and pages ("agentUnavailable",
	// "timeout"): 1–64 characters of [A-Za-z0-9._:-].
	Reason string `json:"reason,omitempty" validate:"omitempty,max=64,gweid"`
	// Extra holds every other key with its value as raw JSON text, verbatim.
	Extra map[string]json.RawMessage `json:"-" validate:"-"`
}

// Validate checks c against the rules of contract §4: the validator tags
// above, and that each value of Extra is one JSON value (rule "json"). It
// returns nil or a VALIDATION [*Fault] (matching [ErrValidation]).
func (c *CancelData) Validate() error {
	var raw []FieldError
	if c != nil {
		raw = rawErrors(nil, c.Extra, cancelKeys)
	}
	return validateStruct(paramCancel, c, raw...)
}

// UnmarshalJSON decodes a cancelData object strictly, as
// [Profile.UnmarshalJSON] does.
func (c *CancelData) UnmarshalJSON(data []byte) error {
	return c.decode(string(data))
}

func (c *CancelData) decode(text string) error {
	*c = CancelData{}
	var o objDecoder
	return o.decode(text, paramCancel, func(key string) error {
		switch key {
		case "interactionID":
			return o.str(key, &c.InteractionID)
		case "visitID":
			return o.str(key, &c.VisitID)
		case "reason":
			return o.str(key, &c.Reason)
		}
		return o.extra(key, &c.Extra)
	})
}

var cancelKeys = []string{"interactionID", "visitID", "reason"}

// MarshalJSON encodes c with its known fields first, then the keys of Extra
// in order.
func (c CancelData) MarshalJSON() ([]byte, error) {
	return c.appendJSON(make([]byte, 0, 128)), nil
}

func (c *CancelData) appendJSON(b []byte) []byte {
	b = append(b, `{"interactionID":`...)
	b = appendString(b, c.InteractionID)
	b = append(b, `,"visitID":`...)
	b = appendString(b, c.VisitID)
	b = appendOptString(b, "reason", c.Reason)
	return appendExtra(b, c.Extra, cancelKeys)
}

// runCancel is the noengage operation (contract §1, §4): decode the
// cancelData text, validate it, and hand it to the notifier.
func (h *Handler) runCancel(ctx context.Context, text string) (string, error) {
	c := new(CancelData)
	if err := c.decode(text); err != nil || !fastValidCancel(c) {
		if err := checked(err, c.Validate); err != nil {
			return "", err
		}
	}
	if err := h.n.Cancel(ctx, c); err != nil {
		return "", notifierError(err)
	}
	return c.InteractionID, nil
}
