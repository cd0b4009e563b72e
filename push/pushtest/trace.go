package pushtest

import (
	"context"
	"sync"
	"testing"

	"github.com/engagekit/gateway/push"
)

// TraceParent is a valid W3C traceparent, the specification's example,
// for tests of how a backend carries an event's trace context.
const TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// Traced returns ev as a broker that traces gives it to Publish: with the
// traceparent tp, which [push.Event.TraceParent] returns. It fails tb if
// tp is not a valid version-00 traceparent.
func Traced(tb testing.TB, ev *push.Event, tp string) *push.Event {
	tb.Helper()
	data, err := ev.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	ev, err = push.DecodeEvent(data, tp)
	if err != nil || ev.TraceParent() != tp {
		tb.Fatalf("DecodeEvent: %v, traceparent %q", err, ev.TraceParent())
	}
	return ev
}

func init() {
	checks = append(checks, check{"an engage's trace context reaches the instance that delivers it", traceTravels})
}

// traceTravels: the broker that accepts an engage carries its trace
// context (push.Observer.TraceParent) with the event it publishes, and the
// broker that delivers the invitation on another instance reports it
// (push.Delivery.TraceParent); an engage without one is delivered without
// one (contract §7.3). Instance A traces every engage, instance B none.
func traceTravels(t *testing.T, nc func(*testing.T, int) *Cluster) {
	var mu sync.Mutex
	delivered := map[string]string{} // "instance interactionID" → its traceparent
	_, in := startEach(t, nc, 2, func(i int) push.Options {
		o := strict
		name := string(rune('A' + i))
		o.Observer = &push.Observer{
			TraceParent: func(context.Context) string {
				if i == 0 {
					return TraceParent
				}
				return ""
			},
			Delivered: func(d push.Delivery) {
				mu.Lock()
				defer mu.Unlock()
				delivered[name+" "+d.InteractionID] = d.TraceParent
			},
		}
		return o
	})
	onB := in[1].subscribe(t, "v-1", "", "")
	onA := in[0].subscribe(t, "v-2", "", "")
	in[0].mustEngage(t, "v-1", "i-1")
	in[1].mustEngage(t, "v-2", "i-2")
	onB.wantEngage(t, "i-1")
	onA.wantEngage(t, "i-2")
	eventually(t, "both deliveries reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(delivered) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	for key, want := range map[string]string{"B i-1": TraceParent, "A i-2": ""} {
		if got, ok := delivered[key]; !ok || got != want {
			t.Errorf("delivery %s: traceparent %q (reported %v), want %q; all: %v", key, got, ok, want, delivered)
		}
	}
}
