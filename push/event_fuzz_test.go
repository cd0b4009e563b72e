package push

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/google/go-cmp/cmp"
)

// FuzzDecodeEvent feeds DecodeEvent what a shared log may hold: any bytes,
// and any header value as the traceparent. What it accepts must encode
// again and decode to the same event (so that every broker applies one
// event alike), carry the traceparent only when it is valid, and hold no
// line break in the strings that become SSE fields.
func FuzzDecodeEvent(f *testing.F) {
	p := &gateway.Profile{
		InteractionID: "i-1", VisitID: "v-1", PageID: "p-1", Channels: []string{"chat"},
		Invitation: &gateway.Invitation{Title: "Hé", Message: "\u2028", URL: "https://shop.example/t"},
	}
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for _, ev := range []*Event{
		engageEvent(p, eventTime, eventTime.Add(time.Minute)),
		cancelEvent(&gateway.CancelData{InteractionID: "i-1", VisitID: "v-1", Reason: "r"}, eventTime),
		answerEvent(Disposition{VisitID: "v-1", InteractionID: "i-1", Result: "accepted", Channel: "chat"}, eventTime),
		notifyEvent("v-1", []gateway.Message{{Page: "p-1", Channel: "c", Data: json.RawMessage(`{"a":[1,"\n"]}`)}}, eventTime),
	} {
		data, err := ev.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, tp)
		f.Add(data, strings.ToUpper(tp))
	}
	f.Fuzz(func(t *testing.T, data []byte, traceParent string) {
		ev, err := DecodeEvent(data, traceParent)
		if err != nil {
			return
		}
		if got, want := ev.TraceParent(), traceParent; got != "" && got != want {
			t.Fatalf("TraceParent = %q from %q", got, want)
		}
		if ev.TraceParent() != "" && !validTraceParent(ev.TraceParent()) {
			t.Fatalf("an invalid traceparent was kept: %q", ev.TraceParent())
		}
		for _, s := range []string{ev.ID(), ev.VisitID()} {
			if strings.ContainsAny(s, "\r\n") {
				t.Fatalf("a line break in %q", s)
			}
		}
		again, err := ev.MarshalBinary()
		if err != nil {
			t.Fatalf("an accepted event does not encode: %v", err)
		}
		back, err := DecodeEvent(again, ev.TraceParent())
		if err != nil {
			t.Fatalf("an accepted event, encoded again, is refused: %v\n%s", err, again)
		}
		if diff := cmp.Diff(ev, back, cmp.AllowUnexported(Event{})); diff != "" {
			t.Fatalf("decode, encode, decode changed the event (-first +second):\n%s", diff)
		}
	})
}
