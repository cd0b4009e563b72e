package push

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/google/go-cmp/cmp"
)

// clock is a test clock for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newNotifyBroker(t *testing.T, opts Options) (*Broker, *clock) {
	t.Helper()
	c := &clock{now: eventTime}
	opts.Now, opts.Heartbeat = c.Now, time.Hour
	b := NewBroker(&opts)
	t.Cleanup(func() { b.Shutdown(context.Background()) })
	return b, c
}

func msg(page, channel, data string) gateway.Message {
	return gateway.Message{Page: page, Channel: channel, Data: json.RawMessage(data)}
}

// initial returns the channels of the notify frames a page that subscribes
// now is sent first, and of the invitations' IDs, in order.
func initial(t *testing.T, b *Broker, visitID, pageID, last string) []string {
	t.Helper()
	s, frames, err := b.subscribe(visitID, pageID, last, "")
	if err != nil {
		t.Fatal(err)
	}
	defer b.drop(s)
	var got []string
	for _, f := range frames {
		for ev := range strings.SplitSeq(strings.TrimSuffix(string(f), "\n\n"), "\n\n") {
			_, data, _ := strings.Cut(ev, "\ndata: ")
			var d struct{ Channel, InteractionID string }
			if err := json.Unmarshal([]byte(data), &d); err != nil {
				t.Fatalf("frame %q: %v", ev, err)
			}
			got = append(got, d.Channel+d.InteractionID)
		}
	}
	return got
}

func TestNotifyIsKeptForNotifyTTL(t *testing.T) {
	t.Parallel()
	b, c := newNotifyBroker(t, Options{Lenient: true})
	ctx := context.Background()
	if err := b.Engage(ctx, &gateway.Profile{InteractionID: "i-1", VisitID: "v-1", Channels: []string{"chat"}, ExpiresIn: 600}); err != nil {
		t.Fatal(err)
	}
	if err := b.Notify(ctx, &gateway.Notification{VisitID: "v-1", Messages: []gateway.Message{msg("cart", "a", `{}`), msg("", "b", `{}`)}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Engage(ctx, &gateway.Profile{InteractionID: "i-2", VisitID: "v-1", Channels: []string{"chat"}, ExpiresIn: 600}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, page, last string
		want             []string
	}{
		{"the page the first message names gets both, in order", "cart", "", []string{"i-1", "a", "b", "i-2"}},
		{"another page gets the message for every page", "home", "", []string{"i-1", "b", "i-2"}},
		{"a page that had i-1 gets what came after", "cart", "i-1", []string{"a", "b", "i-2"}},
		{"a page that had i-2 gets nothing", "cart", "i-2", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, initial(t, b, "v-1", tc.page, tc.last)); diff != "" {
				t.Errorf("first frames (-want +got):\n%s", diff)
			}
		})
	}
	st := b.Stats()
	if st.Notifications != 2 || st.InvitationBytes <= 2*noteOverhead {
		t.Errorf("Stats = %+v, want 2 notifications counted in InvitationBytes", st)
	}

	// Once NotifyTTL has passed the messages are gone, and the bytes with
	// them; a page naming one as its last event gets what came after it.
	sh := b.shard("v-1")
	sh.mu.Lock()
	id := sh.visits["v-1"].notes[1].id
	sh.mu.Unlock()
	c.add(DefaultNotifyTTL)
	b.sweep()
	if st := b.Stats(); st.Notifications != 0 {
		t.Errorf("after NotifyTTL, Stats = %+v, want no notification", st)
	}
	if diff := cmp.Diff([]string{"i-1", "i-2"}, initial(t, b, "v-1", "cart", "")); diff != "" {
		t.Errorf("after NotifyTTL (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"i-2"}, initial(t, b, "v-1", "cart", id)); diff != "" {
		t.Errorf("after NotifyTTL, naming the expired message (-want +got):\n%s", diff)
	}
}

func TestNotifyBudgets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	one := &gateway.Notification{VisitID: "v-1", Messages: []gateway.Message{msg("", "c", `{}`)}}
	t.Run("past MaxInvitationBytes a notify is refused 503 until messages run out", func(t *testing.T) {
		t.Parallel()
		b, c := newNotifyBroker(t, Options{MaxInvitationBytes: 1})
		if err := b.Notify(ctx, one); err != nil {
			t.Fatal(err)
		}
		err := b.Notify(ctx, one)
		var f *gateway.Fault
		if !errors.Is(err, gateway.ErrUnavailable) || !errors.As(err, &f) || f.RetryAfter <= 0 {
			t.Fatalf("Notify past the budget = %v, want UNAVAILABLE with a RetryAfter", err)
		}
		c.add(DefaultNotifyTTL)
		b.sweep()
		if err := b.Notify(ctx, one); err != nil {
			t.Errorf("Notify once the message ran out = %v", err)
		}
	})
	t.Run("past MaxNotificationsPerVisit a notify for the visit is refused", func(t *testing.T) {
		t.Parallel()
		b, _ := newNotifyBroker(t, Options{MaxNotificationsPerVisit: 2})
		two := &gateway.Notification{VisitID: "v-1", Messages: []gateway.Message{msg("", "c", `{}`), msg("", "c", `{}`)}}
		if err := b.Notify(ctx, two); err != nil {
			t.Fatal(err)
		}
		if err := b.Notify(ctx, one); !errors.Is(err, gateway.ErrUnavailable) {
			t.Errorf("a third message = %v, want UNAVAILABLE", err)
		}
		if err := b.Notify(ctx, &gateway.Notification{VisitID: "v-2", Messages: one.Messages}); err != nil {
			t.Errorf("another visit = %v", err)
		}
	})
	t.Run("after Shutdown a notify is refused", func(t *testing.T) {
		t.Parallel()
		b, _ := newNotifyBroker(t, Options{})
		b.Shutdown(ctx)
		if err := b.Notify(ctx, one); !errors.Is(err, gateway.ErrUnavailable) {
			t.Errorf("Notify after Shutdown = %v, want UNAVAILABLE", err)
		}
	})
}

// TestNotifyEventsAreAppliedOnce: a backend may deliver an event twice, or
// late; a message is kept once, and not at all past its TTL.
func TestNotifyEventsAreAppliedOnce(t *testing.T) {
	t.Parallel()
	b, _ := newNotifyBroker(t, Options{})
	n := []gateway.Message{msg("", "c", `{}`)}
	ev := notifyEvent("v-1", n, eventTime)
	b.apply(ev)
	b.apply(ev)
	b.apply(notifyEvent("v-1", n, eventTime.Add(-DefaultNotifyTTL)))
	if diff := cmp.Diff([]string{"c"}, initial(t, b, "v-1", "", "")); diff != "" {
		t.Errorf("first frames (-want +got):\n%s", diff)
	}
}

// recorder is a MemoryBackend that checks every event it publishes
// through its encoding.
type recorder struct {
	*MemoryBackend
	mu    sync.Mutex
	sizes []int
	err   error
}

func (r *recorder) Publish(ctx context.Context, ev *Event) error {
	data, _ := ev.MarshalBinary()
	var back Event
	r.mu.Lock()
	r.sizes = append(r.sizes, len(data))
	if err := back.UnmarshalBinary(data); err != nil && r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	return r.MemoryBackend.Publish(ctx, ev)
}

// TestNotifySplitsWhatOneEventCannotHold: sixteen messages of the largest
// data (256 KiB) take several events, each of which decodes.
func TestNotifySplitsWhatOneEventCannotHold(t *testing.T) {
	t.Parallel()
	rec := &recorder{MemoryBackend: NewMemoryBackend(nil)}
	b, _ := newNotifyBroker(t, Options{Backend: rec})
	data := `{"x":"` + strings.Repeat("y", gateway.MaxMessageDataBytes-8) + `"}`
	n := &gateway.Notification{VisitID: "v-1"}
	for range 16 {
		n.Messages = append(n.Messages, msg("", "c", data))
	}
	if err := n.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := b.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.err != nil || len(rec.sizes) < 2 {
		t.Fatalf("events %v, decode error %v: want several that decode", rec.sizes, rec.err)
	}
	for _, size := range rec.sizes {
		if size > MaxEventBytes {
			t.Errorf("an event of %d bytes, over MaxEventBytes", size)
		}
	}
}

// TestNotifyFrameIsOneEvent: line breaks in a message's data cannot end
// the event's data line or start a field.
func TestNotifyFrameIsOneEvent(t *testing.T) {
	m := msg("p-1", "c", "{\r\n\"a\":\n\"\\nevent: cancel\"\r}")
	frame := string(notifyFrame("~e.0", &m))
	want := "event: notify\nid: ~e.0\ndata: {\"channel\":\"c\",\"data\":{  \"a\": \"\\nevent: cancel\" },\"page\":\"p-1\"}\n\n"
	if diff := cmp.Diff(want, frame); diff != "" {
		t.Errorf("frame (-want +got):\n%s", diff)
	}
}
