package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// post sends body to h as a bare JSON object and returns the status.
func post(h http.Handler, path string, body []byte) int {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

// TestValidateRefusesWhatTheHandlerRefuses checks the raw JSON that Profile
// and CancelData carry verbatim: Validate reports what the handler would
// refuse once the encoder has written it, and accepts what it accepts, so a
// Client never sends a request the handler refuses.
func TestValidateRefusesWhatTheHandlerRefuses(t *testing.T) {
	h := NewHandler(Discard, nil)
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	deep := strings.Repeat("[", 65) + strings.Repeat("]", 65)
	for _, tc := range []struct {
		name     string
		userData json.RawMessage
		extra    map[string]json.RawMessage
		want     []FieldError
	}{
		{"userData an object", raw(`{"segment":"gold"}`), nil, nil},
		{"userData null, as good as none", raw(`null`), nil, nil},
		{"userData an array", raw(`[1]`), nil, []FieldError{{"userData", "object", "userData must be a JSON object"}}},
		{"userData a string", raw(`"s"`), nil, []FieldError{{"userData", "object", "userData must be a JSON object"}}},
		{"userData cut short", raw(`{"a":1`), nil, []FieldError{{"userData", "object", "userData must be a JSON object"}}},
		{"userData with a key twice", raw(`{"a":1,"a":2}`), nil, []FieldError{{"userData", "object", "userData must be a JSON object"}}},
		{"userData two objects", raw(`{} {}`), nil, []FieldError{{"userData", "object", "userData must be a JSON object"}}},
		{"userData blank", raw(`  `), nil, []FieldError{{"userData", "object", "userData must be a JSON object"}}},
		{"userData nested too deep", raw(`{"a":` + deep + `}`), nil, []FieldError{{"userData", "object", "userData must be a JSON object"}}},
		{"userData not UTF-8", raw("{\"a\":\"\xff\"}"), nil, []FieldError{{"userData", "object", "userData must be a JSON object"}}},
		{"Extra values of every kind", nil, map[string]json.RawMessage{"a": raw(`{"x":[1,"y",null]}`), "b": raw(` 1e3 `), "c": raw(`"s"`), "d": raw(`true`)}, nil},
		{"an empty Extra value, written as null", nil, map[string]json.RawMessage{"a": nil}, nil},
		{"an Extra key the encoder leaves out", nil, map[string]json.RawMessage{"visitID": raw(`{`)}, nil},
		{"Extra values that are not JSON, reported in key order", nil, map[string]json.RawMessage{"z": raw(`{`), "a": raw(`1 2`), "m": raw(`tru`), "ok": raw(`1`)}, []FieldError{
			{"a", "json", "a must be one valid JSON value"},
			{"m", "json", "m must be one valid JSON value"},
			{"z", "json", "z must be one valid JSON value"},
		}},
		{"an Extra value nested too deep", nil, map[string]json.RawMessage{"k": raw(deep)}, []FieldError{{"k", "json", "k must be one valid JSON value"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Profile{InteractionID: "i", VisitID: "v", Channels: []string{"chat"}, UserData: tc.userData, Extra: tc.extra}
			err := p.Validate()
			var ve *Fault
			if tc.want == nil && err != nil || tc.want != nil && !errors.As(err, &ve) {
				t.Fatalf("Validate() = %v, want fields %v", err, tc.want)
			}
			if ve != nil {
				if diff := cmp.Diff(tc.want, ve.Fields); diff != "" {
					t.Errorf("fields (-want +got):\n%s", diff)
				}
			}
			if got, want := post(h, "/gateway/engage", p.appendJSON(nil)), map[bool]int{true: 200, false: 400}[err == nil]; got != want {
				t.Errorf("the handler answers %d to what the encoder writes, want %d", got, want)
			}
			if tc.userData != nil {
				return
			}
			c := &CancelData{InteractionID: "i", VisitID: "v", Extra: tc.extra}
			err = c.Validate()
			if tc.want == nil && err != nil || tc.want != nil && !errors.As(err, &ve) {
				t.Fatalf("CancelData.Validate() = %v, want fields %v", err, tc.want)
			}
			if got, want := post(h, "/gateway/noengage", c.appendJSON(nil)), map[bool]int{true: 200, false: 400}[err == nil]; got != want {
				t.Errorf("the handler answers %d to the cancel the encoder writes, want %d", got, want)
			}
		})
	}
}

func TestClientDoesNotSendBrokenRawJSON(t *testing.T) {
	sent := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sent++ }))
	defer srv.Close()
	c, err := NewClient(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &Profile{InteractionID: "i", VisitID: "v", Channels: []string{"chat"}, UserData: json.RawMessage(`[1]`)}
	if err := c.Engage(context.Background(), p); !errors.Is(err, ErrValidation) {
		t.Errorf("Engage = %v, want a validation error", err)
	}
	cd := &CancelData{InteractionID: "i", VisitID: "v", Extra: map[string]json.RawMessage{"k": json.RawMessage(`{`)}}
	if err := c.Cancel(context.Background(), cd); !errors.Is(err, ErrValidation) {
		t.Errorf("Cancel = %v, want a validation error", err)
	}
	if sent != 0 {
		t.Errorf("the client sent %d requests, want none", sent)
	}
}

func TestRawErrorsFollowTheValidatorsFields(t *testing.T) {
	p := &Profile{VisitID: "v", Channels: []string{"chat"}, UserData: json.RawMessage(`1`)}
	var ve *Fault
	if !errors.As(p.Validate(), &ve) {
		t.Fatal("no validation error")
	}
	want := []FieldError{
		{"interactionID", "required", "interactionID is required"},
		{"userData", "object", "userData must be a JSON object"},
	}
	if diff := cmp.Diff(want, ve.Fields); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if ve.Unwrap() == nil {
		t.Error("the validator's errors are not the cause")
	}
}

func TestValidateNilNamesTheObject(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"Profile", (*Profile)(nil).Validate(), "ixnProfile is required"},
		{"CancelData", (*CancelData)(nil).Validate(), "cancelData is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ve *Fault
			if !errors.As(tc.err, &ve) {
				t.Fatalf("Validate() = %v, want a validation error", tc.err)
			}
			if diff := cmp.Diff([]FieldError{{Rule: "required", Message: tc.want}}, ve.Fields); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestTypeErrorsAreNotSkippedByTheFastPath sends parameters whose fields
// of the wrong type the decoder leaves empty, so that what remains passes
// the fast path: the handler must still refuse them.
func TestTypeErrorsAreNotSkippedByTheFastPath(t *testing.T) {
	h := NewHandler(Discard, nil)
	for _, tc := range []struct{ path, body string }{
		{"/gateway/engage", `{"interactionID":"i","visitID":"v","channels":["chat"],"expiresIn":"30"}`},
		{"/gateway/noengage", `{"interactionID":"i","visitID":"v","reason":1}`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			if got := post(h, tc.path, []byte(tc.body)); got != http.StatusBadRequest {
				t.Errorf("status %d, want 400", got)
			}
		})
	}
}
