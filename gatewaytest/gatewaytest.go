// Package gatewaytest checks that a [gateway.Notifier] keeps the contract
// written on that interface, as testing/slogtest checks a slog.Handler.
//
// A Notifier's tests call [Run] with a function that makes a [Harness]:
// the notifier, and a way to watch what reaches a visitor. Run checks that
//
//   - cancelling is idempotent: cancelling an attempt twice, or one that
//     is unknown, succeeds, and the invitation is not shown again;
//   - a cancel that comes before its engage wins: the engage is accepted
//     and never shown;
//   - the context is honoured: a call with a context that is already done
//     returns promptly, and an engage it accepts is delivered;
//   - the notifier keeps no pointer to the *Profile or *CancelData it was
//     given: changing them after the call returns changes nothing the
//     visitor sees.
//
// The suite works for strict and lenient notifiers alike: each check uses
// visits of its own and engages a second interaction for a visit only once
// the first has ended. It assumes that what a notifier accepts for one
// visit reaches the visitor in the order it was accepted: it proves that
// something was not shown by engaging a marker after it and seeing the
// marker first.
package gatewaytest

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engagekit/gateway"
)

// Delivery is what reached a visitor: an invitation shown, or one taken
// back.
type Delivery struct {
	// Cancel is set when the invitation Profile.InteractionID is taken back
	// (cancelled, answered or expired); only that field of Profile is set.
	Cancel bool
	// Profile is the invitation shown, with the fields the notifier
	// delivers: interactionID, visitID, pageID, channels, language and
	// invitation for a browser deliverer.
	Profile gateway.Profile
}

// Harness is what one check of [Run] uses.
type Harness struct {
	// Notifier is the notifier under test.
	Notifier gateway.Notifier
	// Watch starts watching what reaches the visitor visitID and returns
	// the channel on which each engage and cancel comes from then on, as a
	// page of that visit would see it (without a pageID). The suite calls
	// it before it engages anything for the visit, and stops reading when
	// its test ends: Watch should stop with t.Cleanup.
	Watch func(t *testing.T, visitID string) <-chan Delivery
	// Wait bounds each wait for a delivery. Zero means 10 s.
	Wait time.Duration
}

// Run runs every check as a subtest of t, in parallel; newHarness is
// called once per check, from its goroutine.
func Run(t *testing.T, newHarness func(t *testing.T) *Harness) {
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			c.run(t, &watcher{h: h})
		})
	}
}

var checks = []struct {
	name string
	run  func(t *testing.T, w *watcher)
}{
	{"cancelling twice or an unknown attempt succeeds and shows nothing again", idempotentCancel},
	{"a cancel before its engage wins", cancelBeforeEngage},
	{"a call with a done context returns promptly", contextHonoured},
	{"the profile can change after Engage returns", profileNotKept},
	{"the cancelData can change after Cancel returns", cancelDataNotKept},
}

// visits makes visitIDs unique to each check, whatever the harness shares.
var visits atomic.Uint64

// watcher wraps a Harness with the suite's helpers.
type watcher struct{ h *Harness }

func (w *watcher) visit(t *testing.T) (string, <-chan Delivery) {
	t.Helper()
	id := fmt.Sprintf("gatewaytest-%d-%d", time.Now().UnixNano(), visits.Add(1))
	return id, w.h.Watch(t, id)
}

func (w *watcher) wait() time.Duration {
	if w.h.Wait > 0 {
		return w.h.Wait
	}
	return 10 * time.Second
}

// next returns the visit's next delivery.
func (w *watcher) next(t *testing.T, ch <-chan Delivery) Delivery {
	t.Helper()
	select {
	case d, ok := <-ch:
		if !ok {
			t.Fatal("the watch ended")
		}
		return d
	case <-time.After(w.wait()):
		t.Fatalf("nothing delivered within %v", w.wait())
	}
	panic("unreachable")
}

// nextEngage skips cancels and returns the interactionID of the next
// invitation shown.
func (w *watcher) nextEngage(t *testing.T, ch <-chan Delivery) Delivery {
	t.Helper()
	for {
		if d := w.next(t, ch); !d.Cancel {
			return d
		}
	}
}

func profile(visitID, interactionID string) *gateway.Profile {
	return &gateway.Profile{InteractionID: interactionID, VisitID: visitID, Channels: []string{"chat"}}
}

func (w *watcher) engage(t *testing.T, p *gateway.Profile) {
	t.Helper()
	if err := w.h.Notifier.Engage(context.Background(), p); err != nil {
		t.Fatalf("Engage %s: %v", p.InteractionID, err)
	}
}

func (w *watcher) cancel(t *testing.T, c *gateway.CancelData) {
	t.Helper()
	if err := w.h.Notifier.Cancel(context.Background(), c); err != nil {
		t.Fatalf("Cancel %s: %v", c.InteractionID, err)
	}
}

func wantShown(t *testing.T, d Delivery, id string) {
	t.Helper()
	if d.Cancel || d.Profile.InteractionID != id {
		t.Fatalf("got %+v, want %s shown", d, id)
	}
}

func idempotentCancel(t *testing.T, w *watcher) {
	visit, ch := w.visit(t)
	w.engage(t, profile(visit, "i-1"))
	wantShown(t, w.next(t, ch), "i-1")
	for range 2 {
		w.cancel(t, &gateway.CancelData{InteractionID: "i-1", VisitID: visit})
	}
	w.cancel(t, &gateway.CancelData{InteractionID: "unknown", VisitID: visit})
	if d := w.next(t, ch); !d.Cancel || d.Profile.InteractionID != "i-1" {
		t.Fatalf("got %+v, want the cancel of i-1", d)
	}
	w.engage(t, profile(visit, "marker"))
	wantShown(t, w.nextEngage(t, ch), "marker")
}

func cancelBeforeEngage(t *testing.T, w *watcher) {
	visit, ch := w.visit(t)
	w.cancel(t, &gateway.CancelData{InteractionID: "i-1", VisitID: visit})
	w.engage(t, profile(visit, "i-1"))
	w.engage(t, profile(visit, "marker"))
	wantShown(t, w.nextEngage(t, ch), "marker")
}

func contextHonoured(t *testing.T, w *watcher) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	visit, ch := w.visit(t)
	calls := []struct {
		name string
		call func() error
	}{
		{"Cancel", func() error {
			return w.h.Notifier.Cancel(ctx, &gateway.CancelData{InteractionID: "i-0", VisitID: visit})
		}},
		{"Engage", func() error { return w.h.Notifier.Engage(ctx, profile(visit, "i-1")) }},
	}
	var engaged error
	for _, c := range calls {
		done := make(chan error, 1)
		go func() { done <- c.call() }()
		select {
		case err := <-done:
			if c.name == "Engage" {
				engaged = err
			}
		case <-time.After(w.wait()):
			t.Fatalf("%s with a done context has not returned after %v", c.name, w.wait())
		}
	}
	if engaged == nil { // accepted: then it is delivered
		wantShown(t, w.nextEngage(t, ch), "i-1")
	}
}

func profileNotKept(t *testing.T, w *watcher) {
	visit, ch := w.visit(t)
	p := &gateway.Profile{InteractionID: "i-1", VisitID: visit, Channels: []string{"chat", "callback"}, Language: "en",
		Invitation: &gateway.Invitation{Title: "Before", Message: "Before"}}
	w.engage(t, p)
	// The caller reuses its Profile for something else at once.
	*p = gateway.Profile{InteractionID: "changed", VisitID: visit + "-changed", PageID: "changed", Channels: []string{"changed"},
		Language: "fr", Invitation: &gateway.Invitation{Title: "After", Message: "After"}}
	d := w.next(t, ch)
	got := d.Profile
	want := gateway.Profile{InteractionID: "i-1", VisitID: visit, Channels: []string{"chat", "callback"}, Language: "en",
		Invitation: &gateway.Invitation{Title: "Before", Message: "Before"}}
	if d.Cancel || got.InteractionID != want.InteractionID || got.VisitID != want.VisitID || got.PageID != "" ||
		!slices.Equal(got.Channels, want.Channels) || got.Language != want.Language ||
		got.Invitation == nil || *got.Invitation != *want.Invitation {
		t.Errorf("delivered %+v (invitation %+v), want %+v (invitation %+v)", got, got.Invitation, want, want.Invitation)
	}
}

func cancelDataNotKept(t *testing.T, w *watcher) {
	visit, ch := w.visit(t)
	c := &gateway.CancelData{InteractionID: "i-1", VisitID: visit}
	w.cancel(t, c)
	*c = gateway.CancelData{InteractionID: "changed", VisitID: visit + "-changed"}
	w.engage(t, profile(visit, "i-1")) // still cancelled first
	w.engage(t, profile(visit, "marker"))
	wantShown(t, w.nextEngage(t, ch), "marker")
}
