package push_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
	"github.com/google/go-cmp/cmp"
)

// The tests of this file reproduce what an attack on the lifecycle
// features found (notify, gating, records, outcomes, the form hold): each
// failed on the code before its fix.

// heldBackend is a MemoryBackend whose events reach the brokers only when
// the test releases them, as a network backend's arrive some time after
// Publish returns.
type heldBackend struct {
	push.Backend // a MemoryBackend, seen only through the interface
	mu           sync.Mutex
	held         []*push.Event
	listen       chan func(*push.Event)
}

func newHeldBackend() *heldBackend {
	return &heldBackend{Backend: push.NewMemoryBackend(nil), listen: make(chan func(*push.Event), 1)}
}

// Publish keeps ev, encoded and decoded again as a network backend would.
func (h *heldBackend) Publish(_ context.Context, ev *push.Event) error {
	data, err := ev.MarshalBinary()
	if err != nil {
		return err
	}
	ev, err = push.DecodeEvent(data, ev.TraceParent())
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.held = append(h.held, ev)
	h.mu.Unlock()
	return nil
}

func (h *heldBackend) Listen(ctx context.Context, deliver func(*push.Event)) error {
	h.listen <- deliver
	<-ctx.Done()
	return ctx.Err()
}

// release delivers the events published so far.
func (h *heldBackend) release(deliver func(*push.Event)) {
	h.mu.Lock()
	held := h.held
	h.held = nil
	h.mu.Unlock()
	for _, ev := range held {
		deliver(ev)
	}
}

func messages(n int) []gateway.Message {
	msgs := make([]gateway.Message, n)
	for i := range msgs {
		msgs[i] = gateway.Message{Channel: "shop.cart", Data: json.RawMessage(`{"n":1}`)}
	}
	return msgs
}

// TestNotifiesInFlightCountTowardTheVisitsCap: MaxNotificationsPerVisit
// was checked against the messages the broker had applied only, so while
// its own notifies were on their way through a network backend every
// notify passed: on NATS, 64 concurrent notifies of 16 messages to one
// visit were all accepted and 1,024 messages kept, against a cap of 32.
func TestNotifiesInFlightCountTowardTheVisitsCap(t *testing.T) {
	t.Parallel()
	hb := newHeldBackend()
	b := push.NewBroker(&push.Options{Backend: hb, Heartbeat: time.Hour, MaxNotificationsPerVisit: 32})
	defer b.Shutdown(context.Background())
	deliver := <-hb.listen
	ctx := context.Background()
	var got []string
	for range 3 {
		err := b.Notify(ctx, &gateway.Notification{VisitID: "v-1", Messages: messages(16)})
		got = append(got, code(err))
	}
	if diff := cmp.Diff([]string{"OK", "OK", "UNAVAILABLE"}, got); diff != "" {
		t.Errorf("three notifies of 16 messages on their way, cap 32 (-want +got):\n%s", diff)
	}
	hb.release(deliver)
	if got := b.Stats().Notifications; got > 32 {
		t.Errorf("%d messages kept for one visit, over MaxNotificationsPerVisit 32", got)
	}
	// Once applied, they count as kept messages, not twice.
	for i := range 2 {
		if err := b.Notify(ctx, &gateway.Notification{VisitID: "v-2", Messages: messages(16)}); err != nil {
			t.Errorf("notify %d of 16 messages to another visit: %v", i, err)
		}
	}
}

// code is the FAULT code of err, or "OK".
func code(err error) string {
	if err == nil {
		return "OK"
	}
	var f *gateway.Fault
	if errors.As(err, &f) {
		return string(f.Code)
	}
	return err.Error()
}

// TestDroppedOutcomesAreCounted: past the outcomes that may wait (as many
// as MaxInvitations, here 4,096), the newest are dropped. They were logged
// once every 10 s with the count at that moment, so a burst of 6,000
// outcomes for a blocked OnOutcome logged "dropped=1" and nothing of the
// 1,902 dropped after; now Stats.OutcomesDropped counts every one.
func TestDroppedOutcomesAreCounted(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	var reported atomic.Int64
	b := push.NewBroker(&push.Options{
		Heartbeat:      time.Hour,
		MaxInvitations: 4096,
		Gate:           &push.Gate{QuietHours: []push.QuietHours{{Start: 0, End: 24 * time.Hour}}}, // every engage suppressed
		OnOutcome:      func(push.Outcome) { <-block; reported.Add(1) },
	})
	const n = 6000
	for i := range n {
		p := &gateway.Profile{VisitID: "v-" + strconv.Itoa(i), InteractionID: "i-1", Channels: []string{"chat"}}
		if err := b.Engage(context.Background(), p); !errors.Is(err, gateway.ErrEngagementSuppressed) {
			t.Fatalf("engage %d: %v, want ENGAGEMENT_SUPPRESSED", i, err)
		}
	}
	// The 8 electors each hold one outcome: the one OnOutcome blocks on,
	// and the seven waiting for it.
	if got := b.Stats().OutcomesDropped; got < n-4096-8 {
		t.Errorf("Stats().OutcomesDropped = %d with %d outcomes and a queue of 4,096 blocked, want at least %d", got, n, n-4096-8)
	}
	close(block)
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := reported.Load() + int64(b.Stats().OutcomesDropped); got != n {
		t.Errorf("reported %d and dropped %d: %d outcomes, want %d", reported.Load(), b.Stats().OutcomesDropped, got, n)
	}
}

// TestSubmittedNeedsTheVisitsToken: the "submitted" report frees a visit
// in strict mode, so it is let in as an answer is: with RequireToken, a
// report without a token, or with another visit's, is refused and the
// form stays open; a flood of reports naming IDs the broker never had is
// 404 and leaves nothing behind. It held on the code it was written for.
func TestSubmittedNeedsTheVisitsToken(t *testing.T) {
	t.Parallel()
	e := tokenEnv(t, nil)
	if err := e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1", Channels: []string{"chat"}, ExpiresIn: 600}); err != nil {
		t.Fatal(err)
	}
	own := bearer(e.token(t, "v-1", "", time.Hour))
	other := bearer(e.token(t, "v-2", "", time.Hour))
	post := func(hdr http.Header, id, result string) int {
		body := `{"interactionID":"` + id + `","result":"` + result + `"`
		if result == "accepted" {
			body += `,"channel":"chat"`
		}
		resp, _ := e.request(t, http.MethodPost, "/notification/v-1/disposition", merge(jsonType, hdr), body+"}")
		return resp.StatusCode
	}
	if got := post(own, "i-1", "accepted"); got != http.StatusOK {
		t.Fatalf("accept: %d", got)
	}
	var got []int
	got = append(got, post(nil, "i-1", "submitted"), post(other, "i-1", "submitted"))
	engaged := e.engage(t, gateway.Profile{InteractionID: "i-2", VisitID: "v-1", Channels: []string{"chat"}})
	got = append(got, post(own, "i-9", "submitted"))
	before := e.b.Stats()
	for i := range 1000 {
		if code := post(own, "x-"+strconv.Itoa(i), "submitted"); code != http.StatusNotFound {
			t.Fatalf("report %d of an unknown ID: %d, want 404", i, code)
		}
	}
	if diff := cmp.Diff(before, e.b.Stats()); diff != "" {
		t.Errorf("1,000 reports of unknown IDs changed the counts (-before +after):\n%s", diff)
	}
	got = append(got, post(own, "i-1", "submitted"))
	if diff := cmp.Diff([]int{401, 401, 404, 200}, got); diff != "" {
		t.Errorf("no token, v-2's token, an unknown ID, v-1's token (-want +got):\n%s", diff)
	}
	if !errors.Is(engaged, gateway.ErrEngagementInProgress) {
		t.Errorf("engage while the form is open after refused reports: %v, want ENGAGEMENT_IN_PROGRESS", engaged)
	}
	if err := e.engage(t, gateway.Profile{InteractionID: "i-2", VisitID: "v-1", Channels: []string{"chat"}}); err != nil {
		t.Errorf("engage once the form is submitted: %v", err)
	}
}
