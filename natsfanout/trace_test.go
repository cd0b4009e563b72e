package natsfanout_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway/push/pushtest"
	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestTraceParentTravelsInAHeader: an event's traceparent is published in
// the message header traceparent, not in the event's JSON, and a listener
// on another instance gives it back with the event (contract §7.3).
func TestTraceParentTravelsInAHeader(t *testing.T) {
	c := newCluster(t, 2, nil)
	l := listen(t, c.backends[1])
	traced := publish(t, c.backends[0], pushtest.Traced(t, engageEvent(t, "v-1", "i-1"), pushtest.TraceParent))
	plain := publish(t, c.backends[0], cancelEvent(t, "v-1", "i-1"))

	var got []string
	for range 2 {
		select {
		case ev := <-l.events:
			got = append(got, ev.ID()+" "+ev.TraceParent())
		case <-time.After(10 * time.Second):
			t.Fatalf("after 10 s, delivered %v", got)
		}
	}
	if diff := cmp.Diff([]string{traced + " " + pushtest.TraceParent, plain + " "}, got); diff != "" {
		t.Errorf("delivered with their traceparents (-want +got):\n%s", diff)
	}

	js, _ := jetstream.New(c.conns[0])
	s, err := js.Stream(context.Background(), "GWE_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	for seq, want := range []string{pushtest.TraceParent, ""} {
		m, err := s.GetMsg(context.Background(), uint64(seq+1))
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Header.Values("traceparent"); want != "" && cmp.Diff([]string{want}, got) != "" || want == "" && got != nil {
			t.Errorf("message %d: header traceparent %q, want %q", seq+1, got, want)
		}
		if strings.Contains(string(m.Data), "traceparent") {
			t.Errorf("message %d carries a traceparent in its JSON: %s", seq+1, m.Data)
		}
	}
}

// TestBadTraceParentHeaderCostsNothing: a traceparent header that is not
// valid, or repeated, which anyone who may publish on the subject can
// write, is ignored: the event is delivered without a trace context, and
// not counted as dropped.
func TestBadTraceParentHeaderCostsNothing(t *testing.T) {
	c := newCluster(t, 1, nil)
	l := listen(t, c.backends[0])
	js, _ := jetstream.New(c.conns[0])
	for _, tc := range []struct {
		name   string
		values []string
	}{
		{"upper case", []string{strings.ToUpper(pushtest.TraceParent)}},
		{"another version", []string{"01" + pushtest.TraceParent[2:]}},
		{"a zero trace ID", []string{"00-00000000000000000000000000000000-00f067aa0ba902b7-01"}},
		{"too long", []string{pushtest.TraceParent + strings.Repeat("0", 4000)}},
		{"two of them", []string{pushtest.TraceParent, pushtest.TraceParent}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := engageEvent(t, "v-1", "i-1").MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			msg := &nats.Msg{Subject: "gwe.events", Data: data, Header: nats.Header{"traceparent": tc.values}}
			if _, err := js.PublishMsg(context.Background(), msg); err != nil {
				t.Fatal(err)
			}
			select {
			case ev := <-l.events:
				if got := ev.TraceParent(); got != "" {
					t.Errorf("TraceParent() = %q, want none", got)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the event was not delivered within 10 s")
			}
		})
	}
	if got := c.backends[0].Stats().Dropped; got != 0 {
		t.Errorf("Stats().Dropped = %d, want 0", got)
	}
}
