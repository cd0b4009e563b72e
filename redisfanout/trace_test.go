package redisfanout_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway/push"
	"github.com/engagekit/gateway/push/pushtest"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

// next returns the next event a listener delivers.
func (l *listening) next() *push.Event {
	l.tb.Helper()
	select {
	case ev := <-l.events:
		return ev
	case <-time.After(10 * time.Second):
		l.tb.Fatal("no event within 10 s")
		return nil
	}
}

// TestTraceParentTravelsInAField: an event's traceparent is stored in the
// stream entry's field traceparent, beside ev and not in it, and a
// listener on another instance gives it back with the event (contract
// §7.3).
func TestTraceParentTravelsInAField(t *testing.T) {
	srv := startRedis(t)
	a, b := newBackend(t, srv.client(t), nil), newBackend(t, srv.client(t), nil)
	l := listen(t, b)
	publish(t, a, pushtest.Traced(t, engage(t, "e0", "v-1", "i-1"), pushtest.TraceParent), cancelEvent(t, "e1", "v-1", "i-1"))
	var got []string
	for range 2 {
		ev := l.next()
		got = append(got, ev.ID()+" "+ev.TraceParent())
	}
	if diff := cmp.Diff([]string{"e0 " + pushtest.TraceParent, "e1 "}, got); diff != "" {
		t.Errorf("delivered with their traceparents (-want +got):\n%s", diff)
	}

	entries, err := srv.client(t).XRange(context.Background(), "gwe:events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var fields []map[string]any
	for _, e := range entries {
		if ev, _ := e.Values["ev"].(string); strings.Contains(ev, "traceparent") {
			t.Errorf("entry %s carries a traceparent in its JSON: %s", e.ID, ev)
		}
		delete(e.Values, "ev")
		fields = append(fields, e.Values)
	}
	want := []map[string]any{{"id": "e0", "traceparent": pushtest.TraceParent}, {"id": "e1"}}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("entries' fields but ev (-want +got):\n%s", diff)
	}
}

// TestBadTraceParentFieldCostsNothing: a traceparent field that is not
// valid, which anyone who may write to the stream can store, is ignored:
// the event is delivered without a trace context, and not dropped.
func TestBadTraceParentFieldCostsNothing(t *testing.T) {
	srv := startRedis(t)
	b := newBackend(t, srv.client(t), nil)
	l := listen(t, b)
	for _, tc := range []struct{ name, value string }{
		{"upper case", strings.ToUpper(pushtest.TraceParent)},
		{"another version", "01" + pushtest.TraceParent[2:]},
		{"a zero parent ID", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"},
		{"too long", pushtest.TraceParent + strings.Repeat("0", 1<<20)},
		{"CR LF", pushtest.TraceParent[:53] + "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := engage(t, "e-"+tc.name, "v-1", "i-1").MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			args := &redis.XAddArgs{Stream: "gwe:events", Values: []any{"id", "e-" + tc.name, "ev", data, "traceparent", tc.value}}
			if err := srv.client(t).XAdd(context.Background(), args).Err(); err != nil {
				t.Fatal(err)
			}
			if ev := l.next(); ev.ID() != "e-"+tc.name || ev.TraceParent() != "" {
				t.Errorf("delivered %s with traceparent %q, want e-%s without one", ev.ID(), ev.TraceParent(), tc.name)
			}
		})
	}
	if got := b.Stats().Dropped; got != 0 {
		t.Errorf("Stats().Dropped = %d, want 0", got)
	}
}
