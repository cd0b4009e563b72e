package push

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/google/go-cmp/cmp"
)

var eventTime = time.Date(2026, 11, 29, 10, 0, 0, 123456789, time.UTC)

func TestEventRoundTrip(t *testing.T) {
	p := &gateway.Profile{
		InteractionID: "i-1", VisitID: "v-1", PageID: "p-1", Channels: []string{"chat", "callback"},
		Language: "fr-CA", ExpiresIn: 60, Invitation: &gateway.Invitation{Title: "Hé <b>", Message: "\u2028&", URL: "https://shop.example/t?a=1&b=2"},
		UserData: []byte(`{"secret":1}`), Extra: map[string]json.RawMessage{"x": json.RawMessage(`1`)},
	}
	for _, ev := range []*Event{
		engageEvent(p, eventTime, eventTime.Add(time.Minute)),
		cancelEvent(&gateway.CancelData{InteractionID: "i-1", VisitID: "v-1", Reason: "agentUnavailable"}, eventTime),
		answerEvent(Disposition{VisitID: "v-1", InteractionID: "i-1", Result: "accepted", Channel: "chat"}, eventTime),
		answerEvent(Disposition{VisitID: "v-1", InteractionID: "i-1", Result: "rejected"}, eventTime),
		notifyEvent("v-1", []gateway.Message{
			{Page: "p-1", Channel: "gpe.appendContent", Data: json.RawMessage(`{"url":"/offer.html","container":"#offers"}`)},
			{Channel: "c", Data: json.RawMessage("{\n \"a\": [1, \"\u2028\"]\n}")},
		}, eventTime),
	} {
		t.Run(opNames[ev.op], func(t *testing.T) {
			data, err := ev.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(data), "secret") {
				t.Errorf("the event carries userData: %s", data)
			}
			var got Event
			if err := got.UnmarshalBinary(data); err != nil {
				t.Fatalf("UnmarshalBinary(%s): %v", data, err)
			}
			// A decoded event carries its ID as text; a local one makes it
			// from its number.
			want := *ev
			want.id, want.n = ev.ID(), 0
			if ev.profile != nil { // it refers to the engaged profile, of which only delivery's fields travel
				q := *ev.profile
				q.UserData, q.Extra = nil, nil
				want.profile = &q
			}
			opts := cmp.AllowUnexported(Event{})
			if diff := cmp.Diff(&want, &got, opts); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if got.VisitID() != "v-1" || got.ID() != ev.ID() {
				t.Errorf("VisitID, ID = %q, %q", got.VisitID(), got.ID())
			}
		})
	}
}

func TestEventIDsAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := cancelEvent(&gateway.CancelData{InteractionID: "i-1", VisitID: "v-1"}, eventTime).ID()
		if seen[id] {
			t.Fatalf("event ID %q made twice", id)
		}
		seen[id] = true
	}
}

// TestEventUnmarshalRefusesJunk: nothing that a handler would refuse gets
// through a shared log to a browser.
func TestEventUnmarshalRefusesJunk(t *testing.T) {
	const at = `"at":"2026-11-29T10:00:00Z"`
	const okProfile = `{"interactionID":"i-1","visitID":"v-1","channels":["chat"]}`
	tests := []struct{ name, data string }{
		{"not JSON", `nope`},
		{"an array", `[]`},
		{"no op", `{"id":"e1",` + at + `,"cancel":{"interactionID":"i-1","visitID":"v-1"}}`},
		{"an unknown op", `{"op":"explode","id":"e1",` + at + `}`},
		{"no id", `{"op":"cancel",` + at + `,"cancel":{"interactionID":"i-1","visitID":"v-1"}}`},
		{"a long id", `{"op":"cancel","id":"` + strings.Repeat("e", 65) + `",` + at + `,"cancel":{"interactionID":"i-1","visitID":"v-1"}}`},
		{"no time", `{"op":"cancel","id":"e1","cancel":{"interactionID":"i-1","visitID":"v-1"}}`},
		{"a duplicate key", `{"op":"cancel","op":"engage","id":"e1",` + at + `,"cancel":{"interactionID":"i-1","visitID":"v-1"}}`},
		{"CR LF in an interactionID", `{"op":"cancel","id":"e1",` + at + `,"cancel":{"interactionID":"i-1\r\nevent: cancel","visitID":"v-1"}}`},
		{"an invalid channel", `{"op":"engage","id":"e1",` + at + `,"expiresAt":"2026-11-29T10:00:30Z","profile":{"interactionID":"i-1","visitID":"v-1","channels":["Not A Channel"]}}`},
		{"an engage without expiry", `{"op":"engage","id":"e1",` + at + `,"profile":` + okProfile + `}`},
		{"an engage that expired before it was made", `{"op":"engage","id":"e1",` + at + `,"expiresAt":"2026-11-29T09:59:00Z","profile":` + okProfile + `}`},
		{"an engage that expires too late", `{"op":"engage","id":"e1",` + at + `,"expiresAt":"2026-11-29T12:00:00Z","profile":` + okProfile + `}`},
		{"an engage without profile", `{"op":"engage","id":"e1",` + at + `,"expiresAt":"2026-11-29T10:00:30Z"}`},
		{"an answer with an unknown result", `{"op":"answer","id":"e1",` + at + `,"answer":{"visitID":"v-1","interactionID":"i-1","result":"maybe"}}`},
		{"an answer without visit", `{"op":"answer","id":"e1",` + at + `,"answer":{"interactionID":"i-1","result":"rejected"}}`},
		{"an accept without channel", `{"op":"answer","id":"e1",` + at + `,"answer":{"visitID":"v-1","interactionID":"i-1","result":"accepted"}}`},
		{"trailing data", `{"op":"cancel","id":"e1",` + at + `,"cancel":{"interactionID":"i-1","visitID":"v-1"}} {}`},
		{"a notify without messages", `{"op":"notify","id":"e1",` + at + `,"notify":{"visitID":"v-1","messages":[]}}`},
		{"a notify with an invalid channel", `{"op":"notify","id":"e1",` + at + `,"notify":{"visitID":"v-1","messages":[{"channel":"a b","data":{}}]}}`},
		{"a notify whose data is not an object", `{"op":"notify","id":"e1",` + at + `,"notify":{"visitID":"v-1","messages":[{"channel":"c","data":[1]}]}}`},
		{"a notify with an unknown message key", `{"op":"notify","id":"e1",` + at + `,"notify":{"visitID":"v-1","messages":[{"channel":"c","data":{},"html":"<b>"}]}}`},
		{"a notify with CR LF in its id", `{"op":"notify","id":"e1\r\nevent: x",` + at + `,"notify":{"visitID":"v-1","messages":[{"channel":"c","data":{}}]}}`},
		{"a notify without visit", `{"op":"notify","id":"e1",` + at + `,"notify":{"messages":[{"channel":"c","data":{}}]}}`},
		{"too large", `{"op":"cancel","id":"e1",` + at + `,"pad":"` + strings.Repeat(" ", MaxEventBytes) + `","cancel":{"interactionID":"i-1","visitID":"v-1"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e Event
			if err := e.UnmarshalBinary([]byte(tc.data)); err == nil {
				t.Fatalf("UnmarshalBinary accepted %s", tc.data)
			}
			if e.op != 0 {
				t.Errorf("a refused event is left half decoded: %+v", e)
			}
		})
	}
}

func TestEventUnmarshalIgnoresUnknownKeys(t *testing.T) {
	var e Event
	data := `{"op":"cancel","id":"e1","at":"2026-11-29T10:00:00Z","later":{"x":[1]},"cancel":{"interactionID":"i-1","visitID":"v-1","extra":true}}`
	if err := e.UnmarshalBinary([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if e.cancel.Extra != nil {
		t.Errorf("cancel kept unknown keys: %v", e.cancel.Extra)
	}
}

// TestDecodeEventTraceParent: the traceparent a backend carries beside an
// event comes from a shared log; only a valid version-00 one is kept, and
// a bad one costs the event nothing.
func TestDecodeEventTraceParent(t *testing.T) {
	const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	data, err := cancelEvent(&gateway.CancelData{InteractionID: "i-1", VisitID: "v-1"}, eventTime).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, traceParent, want string }{
		{"a valid traceparent is kept", valid, valid},
		{"an unsampled one too", valid[:53] + "00", valid[:53] + "00"},
		{"none is none", "", ""},
		{"an all-zero trace ID is dropped", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", ""},
		{"an all-zero parent ID is dropped", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", ""},
		{"upper case is dropped", strings.ToUpper(valid[:3]) + "4BF92F3577B34DA6A3CE929D0E0E4736" + valid[35:], ""},
		{"another version is dropped", "01" + valid[2:], ""},
		{"version ff is dropped", "ff" + valid[2:], ""},
		{"a longer value is dropped", valid + "-extra", ""},
		{"a shorter value is dropped", valid[:54], ""},
		{"CR LF is dropped", valid[:53] + "\r\n", ""},
		{"a huge value is dropped", strings.Repeat("0", MaxEventBytes), ""},
		{"a non-hex flag is dropped", valid[:53] + "0x", ""},
		{"a missing dash is dropped", valid[:35] + "_" + valid[36:], ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := DecodeEvent(data, tc.traceParent)
			if err != nil {
				t.Fatalf("DecodeEvent: %v; the event must be kept whatever its traceparent", err)
			}
			if got := e.TraceParent(); got != tc.want {
				t.Errorf("TraceParent() = %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("an event that does not decode is refused with its traceparent", func(t *testing.T) {
		if e, err := DecodeEvent([]byte(`{"op":"explode"}`), valid); err == nil {
			t.Errorf("DecodeEvent accepted junk: %+v", e)
		}
	})
}

// TestEventEncodingHasNoTraceParent: the trace context travels beside the
// event, never in its JSON; one written there by an earlier release is
// ignored.
func TestEventEncodingHasNoTraceParent(t *testing.T) {
	const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ev := cancelEvent(&gateway.CancelData{InteractionID: "i-1", VisitID: "v-1"}, eventTime)
	ev.trace = valid
	data, err := ev.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "traceparent") || strings.Contains(string(data), valid) {
		t.Errorf("the encoding carries the trace context: %s", data)
	}
	old := `{"op":"cancel","id":"e1","at":"2026-11-29T10:00:00Z","traceparent":"` + valid + `","cancel":{"interactionID":"i-1","visitID":"v-1"}}`
	var e Event
	if err := e.UnmarshalBinary([]byte(old)); err != nil {
		t.Fatalf("an event of an earlier release: %v", err)
	}
	if got := e.TraceParent(); got != "" {
		t.Errorf("TraceParent() of an event with the key in its JSON = %q, want none", got)
	}
}
