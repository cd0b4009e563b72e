package push_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

// The tests of this file reproduce the findings of the hardening review
// (issue 10) that live in the delivery rules: each failed on the code
// before the fix.

// fillTombstonesByExpiry makes n invitations on n visits expire, leaving n
// tombstones without a single cancel.
func fillTombstonesByExpiry(t *testing.T, e *env, n int) {
	t.Helper()
	for i := range n {
		if err := e.engage(t, gateway.Profile{InteractionID: "x", VisitID: fmt.Sprint("filler-", i), ExpiresIn: 1}); err != nil {
			t.Fatalf("engage %d: %v", i, err)
		}
	}
	e.clock.Add(2 * time.Second)
	e.b.Sweep()
}

// TestCancelOfALiveInvitationIsNeverRefused: expiry used to add tombstones
// without counting them toward MaxTombstones, and only Cancel checked the
// cap, so the noengage of a live invitation was refused 503 and the
// invitation stayed on screen.
func TestCancelOfALiveInvitationIsNeverRefused(t *testing.T) {
	t.Parallel()
	const limit = 128
	e := newEnv(t, &push.Options{MaxTombstones: limit})
	fillTombstonesByExpiry(t, e, 2*limit)
	if got := e.b.Stats().Tombstones; got > limit {
		t.Errorf("expiry left %d tombstones, over MaxTombstones %d", got, limit)
	}
	s := e.subscribe(t, "/notification/v-1", nil)
	if err := e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"}); err != nil {
		t.Fatal(err)
	}
	wantEngage(t, s.next(t), "i-1")
	if err := e.b.Cancel(context.Background(), &gateway.CancelData{InteractionID: "i-1", VisitID: "v-1"}); err != nil {
		t.Fatalf("cancel of a live invitation at the tombstone cap: %v", err)
	}
	wantCancel(t, s.next(t), "i-1", "cancelled")
	if got := e.b.Stats().Invitations; got != 0 {
		t.Errorf("live invitations after the cancel = %d, want 0", got)
	}
}

// TestCancelsOfUnknownIDsNeverBlockCancels: a flood of cancels of random
// interactionIDs used to fill the tombstones and have every cancel refused
// for TombstoneTTL.
func TestCancelsOfUnknownIDsNeverBlockCancels(t *testing.T) {
	t.Parallel()
	const limit = 128
	e := newEnv(t, &push.Options{MaxTombstones: limit})
	for i := range 20 * limit {
		if err := e.b.Cancel(context.Background(), &gateway.CancelData{InteractionID: fmt.Sprint("r-", i), VisitID: fmt.Sprint("v-", i%7)}); err != nil {
			t.Fatalf("cancel %d: %v", i, err)
		}
	}
	if got := e.b.Stats().Tombstones; got > limit {
		t.Errorf("tombstones = %d, over MaxTombstones %d", got, limit)
	}
	// The newest is remembered: its late engage is dropped.
	last := 20*limit - 1
	visit := fmt.Sprint("v-", last%7)
	s := e.subscribe(t, "/notification/"+visit, nil)
	if err := e.engage(t, gateway.Profile{InteractionID: fmt.Sprint("r-", last), VisitID: visit}); err != nil {
		t.Fatal(err)
	}
	// The fence: an engage that is shown proves the one before was dropped.
	e.engage(t, gateway.Profile{InteractionID: "fence", VisitID: visit})
	wantEngage(t, s.next(t), "fence")
}

// TestTheOldestTombstoneIsEvictedAtTheCap: at the cap the oldest
// tombstone goes (a very late engage for it then shows), and the new one
// is kept. MaxTombstones is split among the broker's 64 shards by visit:
// one visit has MaxTombstones/64 places.
func TestTheOldestTombstoneIsEvictedAtTheCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &push.Options{MaxTombstones: 64 * 2, Lenient: true})
	for _, id := range []string{"i-1", "i-2", "i-3"} {
		if err := e.b.Cancel(context.Background(), &gateway.CancelData{InteractionID: id, VisitID: "v-1"}); err != nil {
			t.Fatalf("cancel %s: %v", id, err)
		}
	}
	s := e.subscribe(t, "/notification/v-1", nil)
	for _, id := range []string{"i-2", "i-3", "i-1"} {
		if err := e.engage(t, gateway.Profile{InteractionID: id, VisitID: "v-1"}); err != nil {
			t.Fatal(err)
		}
	}
	wantEngage(t, s.next(t), "i-1") // evicted: shown
	s.quiet(t)                      // i-2 and i-3 remembered: dropped
}

// TestAnswersCountTowardTheCap: answered invitations leave tombstones that
// count like any other.
func TestAnswersCountTowardTheCap(t *testing.T) {
	t.Parallel()
	const limit = 64
	e := newEnv(t, &push.Options{MaxTombstones: limit})
	for i := range 3 * limit {
		visit := fmt.Sprint("v-", i)
		e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: visit})
		resp, err := e.srv.Client().Post(e.srv.URL+"/notification/"+visit+"/disposition", "application/json",
			stringsReader(`{"interactionID":"i-1","result":"rejected"}`))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("disposition %d: %v %v", i, err, resp.Status)
		}
		resp.Body.Close()
	}
	if got := e.b.Stats().Tombstones; got > limit {
		t.Errorf("tombstones = %d, over MaxTombstones %d", got, limit)
	}
}

// TestLenientPageGetsTheCancelOfItsOldestInvitation: a subscriber used to
// remember only the last 32 interactionIDs it was sent, so the cancel of
// an older one never reached the page.
func TestLenientPageGetsTheCancelOfItsOldestInvitation(t *testing.T) {
	t.Parallel()
	const live = 40
	e := newEnv(t, &push.Options{Lenient: true, QueueSize: 2 * live, MaxInvitationsPerVisit: live})
	s := e.subscribe(t, "/notification/v-1", nil)
	s.quiet(t)
	for i := range live {
		if err := e.engage(t, gateway.Profile{InteractionID: fmt.Sprint("i-", i), VisitID: "v-1"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range live {
		wantEngage(t, s.next(t), fmt.Sprint("i-", i))
	}
	// A page that subscribes now has them all too.
	late := e.subscribe(t, "/notification/v-1", nil)
	for i := range live {
		wantEngage(t, late.next(t), fmt.Sprint("i-", i))
	}
	for i := range live {
		e.cancel(t, "v-1", fmt.Sprint("i-", i))
		wantCancel(t, s.next(t), fmt.Sprint("i-", i), "cancelled")
		wantCancel(t, late.next(t), fmt.Sprint("i-", i), "cancelled")
	}
	s.quiet(t)
}

// TestLastEventIDOfACancelledBeforeEngagedIDHidesNothing: the tombstone of
// an interactionID cancelled before its engage used to take the next
// engage's place in the visit's order, so a page whose Last-Event-ID named
// it never got that engage.
func TestLastEventIDOfACancelledBeforeEngagedIDHidesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.cancel(t, "v-1", "i-1")
	if err := e.engage(t, gateway.Profile{InteractionID: "i-2", VisitID: "v-1"}); err != nil {
		t.Fatal(err)
	}
	s := e.subscribe(t, "/notification/v-1", http.Header{"Last-Event-Id": {"i-1"}})
	wantEngage(t, s.next(t), "i-2")
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
