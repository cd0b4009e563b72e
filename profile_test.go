package gateway_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/engagekit/gateway"
	"github.com/go-playground/validator/v10"
	"github.com/google/go-cmp/cmp"
)

func TestUnknownKeysSurviveARoundTrip(t *testing.T) {
	t.Parallel()
	in := `{"interactionID":"i-1","visitID":"v-1","channels":["chat"],` +
		`"zeta":{"b":[1,2.50,"x\u00e9"],"a":null},"alpha":1e3,"ors":"s\"1","userData":{"k":  1}}`
	var p gateway.Profile
	if err := json.Unmarshal([]byte(in), &p); err != nil {
		t.Fatal(err)
	}
	wantExtra := map[string]json.RawMessage{
		"zeta":  json.RawMessage(`{"b":[1,2.50,"x\u00e9"],"a":null}`),
		"alpha": json.RawMessage(`1e3`),
		"ors":   json.RawMessage(`"s\"1"`),
	}
	if diff := cmp.Diff(wantExtra, p.Extra); diff != "" {
		t.Errorf("Extra (-want +got):\n%s", diff)
	}
	out, err := json.Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	// Known fields first, then unknown keys in order, values byte for byte
	// (encoding/json compacts what MarshalJSON returns, so userData loses
	// its inner space and nothing else).
	want := `{"interactionID":"i-1","visitID":"v-1","channels":["chat"],"userData":{"k":1},` +
		`"alpha":1e3,"ors":"s\"1","zeta":{"b":[1,2.50,"x\u00e9"],"a":null}}`
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("re-encoded (-want +got):\n%s", diff)
	}
	var again gateway.Profile
	if err := json.Unmarshal(out, &again); err != nil {
		t.Fatal(err)
	}
	p.UserData = json.RawMessage(`{"k":1}`)
	if diff := cmp.Diff(p, again); diff != "" {
		t.Errorf("second decode (-want +got):\n%s", diff)
	}
}

func TestMarshalLeavesOutEmptyFieldsAndKnownExtraKeys(t *testing.T) {
	t.Parallel()
	p := gateway.Profile{InteractionID: "i", VisitID: "v", Channels: []string{"chat"}, ExpiresIn: 60,
		Invitation: &gateway.Invitation{URL: "https://x.test/i.html"},
		Extra:      map[string]json.RawMessage{"visitID": json.RawMessage(`"other"`), "k": json.RawMessage(`true`)}}
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"interactionID":"i","visitID":"v","channels":["chat"],"expiresIn":60,"invitation":{"url":"https://x.test/i.html"},"k":true}`
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	c := gateway.CancelData{InteractionID: "i", VisitID: "v", Extra: map[string]json.RawMessage{"n": json.RawMessage(`1`)}}
	out, _ = json.Marshal(c)
	if diff := cmp.Diff(`{"interactionID":"i","visitID":"v","n":1}`, string(out)); diff != "" {
		t.Errorf("CancelData (-want +got):\n%s", diff)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	base := func() gateway.Profile {
		return gateway.Profile{InteractionID: "0001Ba8MHP5U000A", VisitID: "v-1", Channels: []string{"chat", "callback"}}
	}
	for _, tc := range []struct {
		name   string
		change func(p *gateway.Profile)
		want   []gateway.FieldError
	}{
		{"valid", func(p *gateway.Profile) {}, nil},
		{"every optional field valid", func(p *gateway.Profile) {
			p.GlobalVisitID, p.PageID, p.Language, p.ExpiresIn = "g:1", "p_1", "fr-CA", 1800
			p.Invitation = &gateway.Invitation{Title: strings.Repeat("é", 200), Message: "m", URL: "http://shop.test/inv?x=1"}
		}, nil},
		{"missing IDs", func(p *gateway.Profile) { p.InteractionID, p.VisitID = "", "" }, []gateway.FieldError{
			{Field: "interactionID", Rule: "required", Message: "interactionID is required"},
			{Field: "visitID", Rule: "required", Message: "visitID is required"},
		}},
		{"bad channel entry", func(p *gateway.Profile) { p.Channels = []string{"chat", "Video!"} }, []gateway.FieldError{
			{Field: "channels[1]", Rule: "channel", Message: "channels[1] may hold only a-z, 0-9, '_' and '-'"},
		}},
		{"title too long in characters", func(p *gateway.Profile) { p.Invitation = &gateway.Invitation{Title: strings.Repeat("é", 201)} }, []gateway.FieldError{
			{Field: "invitation.title", Rule: "max", Message: "invitation.title must be at most 200 characters long"},
		}},
		{"expiresIn too long", func(p *gateway.Profile) { p.ExpiresIn = 1801 }, []gateway.FieldError{
			{Field: "expiresIn", Rule: "max", Message: "expiresIn must be at most 1800"},
		}},
		{"nil channels", func(p *gateway.Profile) { p.Channels = nil }, []gateway.FieldError{
			{Field: "channels", Rule: "required", Message: "channels is required"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := base()
			tc.change(&p)
			err := p.Validate()
			var ve *gateway.Fault
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.As(err, &ve) || !errors.Is(err, gateway.ErrValidation) {
				t.Fatalf("Validate() = %v, want a VALIDATION *Fault", err)
			}
			var ves validator.ValidationErrors
			if !errors.As(err, &ves) {
				t.Errorf("the error does not unwrap to validator.ValidationErrors")
			}
			if diff := cmp.Diff(tc.want, ve.Fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateNil(t *testing.T) {
	t.Parallel()
	var p *gateway.Profile
	var c *gateway.CancelData
	if !errors.Is(p.Validate(), gateway.ErrValidation) || !errors.Is(c.Validate(), gateway.ErrValidation) {
		t.Error("a nil object must fail validation")
	}
}

func TestUnmarshalReportsTypesAndSyntax(t *testing.T) {
	t.Parallel()
	var p gateway.Profile
	err := json.Unmarshal([]byte(`{"interactionID":1,"channels":{},"pageID":null,"invitation":5,"userData":null}`), &p)
	var ve *gateway.Fault
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want type errors", err)
	}
	want := []gateway.FieldError{
		{Field: "interactionID", Rule: "type", Message: "interactionID must be a string"},
		{Field: "channels", Rule: "type", Message: "channels must be an array of strings"},
		{Field: "invitation", Rule: "type", Message: "invitation must be an object"},
	}
	if diff := cmp.Diff(want, ve.Fields); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	var c gateway.CancelData
	if err := c.UnmarshalJSON([]byte(`{"interactionID":`)); !errors.Is(err, gateway.ErrBadRequest) {
		t.Errorf("broken JSON: err = %v, want ErrBadRequest", err)
	}
}

// A value the decoder cannot hold whole still fails the rule it breaks: a
// number beyond int keeps its sign, and a long channel list is cut to one
// entry past its limit, so memory stays bounded and the answer names max.
func TestUnmarshalBoundsWhatItHolds(t *testing.T) {
	t.Parallel()
	const ids = `"interactionID":"i-1","visitID":"v-1"`
	for _, tc := range []struct {
		name         string
		in           string
		wantChannels int
		want         []gateway.FieldError
	}{
		{"a number above int's range is over the maximum", `{` + ids + `,"channels":["chat"],"expiresIn":99999999999999999999}`, 1,
			[]gateway.FieldError{{Field: "expiresIn", Rule: "max", Message: "expiresIn must be at most 1800"}}},
		{"a number below int's range is under the minimum", `{` + ids + `,"channels":["chat"],"expiresIn":-99999999999999999999}`, 1,
			[]gateway.FieldError{{Field: "expiresIn", Rule: "min", Message: "expiresIn must be at least 0"}}},
		{"a thousand channels are cut to nine", `{` + ids + `,"channels":["c0"` + strings.Repeat(`,"c"`, 999) + `]}`, 9,
			[]gateway.FieldError{{Field: "channels", Rule: "max", Message: "channels must have at most 8 entries"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var p gateway.Profile
			if err := json.Unmarshal([]byte(tc.in), &p); err != nil {
				t.Fatal(err)
			}
			if len(p.Channels) != tc.wantChannels {
				t.Errorf("kept %d channels, want %d", len(p.Channels), tc.wantChannels)
			}
			var ve *gateway.Fault
			if err := p.Validate(); !errors.As(err, &ve) {
				t.Fatalf("Validate() = %v, want a VALIDATION *Fault", err)
			}
			if diff := cmp.Diff(tc.want, ve.Fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}
