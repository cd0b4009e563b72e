package push_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
	"github.com/google/go-cmp/cmp"
)

// step is one move of a gating scenario: the clock moves by wait, then an
// engage of id answers want ("" for accepted, else the reason), or, with
// reject, the visitor rejects id.
type step struct {
	wait   time.Duration
	id     string
	reject bool
	want   string
}

func TestGateRules(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	// The tests' clock starts at 12:00 UTC, 13:00 in Paris in November.
	for _, tc := range []struct {
		name    string
		lenient bool
		gate    push.Gate
		expiry  time.Duration // VisitExpiry
		steps   []step
	}{
		{
			name:  "a zero Gate refuses nothing",
			steps: []step{{id: "i-1"}, {id: "i-1"}, {reject: true, id: "i-1"}, {id: "i-2"}, {reject: true, id: "i-2"}, {id: "i-3"}},
		},
		{
			name: "a rejection cools the visit down for Cooldown",
			gate: push.Gate{Cooldown: 10 * time.Minute},
			steps: []step{
				{id: "i-1"}, {reject: true, id: "i-1"},
				{id: "i-2", want: "cooldown"},
				{wait: 10*time.Minute - time.Second, id: "i-2", want: "cooldown"},
				{wait: time.Second, id: "i-2"},
			},
		},
		{
			name:    "MinGap holds between two invitations, answered or not",
			lenient: true,
			gate:    push.Gate{MinGap: time.Minute},
			steps: []step{
				{id: "i-1"}, {id: "i-2", want: "gap"},
				{wait: 59 * time.Second, id: "i-2", want: "gap"},
				{wait: time.Second, id: "i-2"},
				{id: "i-1"}, // still live: no new invitation
			},
		},
		{
			name:    "MaxPerWindow bounds the invitations within any Window",
			lenient: true,
			gate:    push.Gate{MaxPerWindow: 2, Window: time.Hour},
			steps: []step{
				{id: "i-1"}, {wait: 30 * time.Minute, id: "i-2"},
				{id: "i-3", want: "window"},
				{wait: 30 * time.Minute, id: "i-3"}, // i-1 left the window
				{id: "i-4", want: "window"},
			},
		},
		{
			name:    "quiet hours across midnight in a named zone",
			lenient: true,
			gate:    push.Gate{Location: paris, QuietHours: []push.QuietHours{{Start: 22 * time.Hour, End: 7 * time.Hour}}},
			steps: []step{
				{id: "i-1"}, // 13:00 in Paris
				{wait: 9 * time.Hour, id: "i-2", want: "quiet-hours"},                // 22:00
				{wait: 8*time.Hour + 59*time.Minute, id: "i-2", want: "quiet-hours"}, // 06:59
				{wait: time.Minute, id: "i-2"},                                       // 07:00
			},
		},
		{
			name: "quiet hours within a day, in UTC by default",
			gate: push.Gate{QuietHours: []push.QuietHours{{Start: 12 * time.Hour, End: 13 * time.Hour}}},
			steps: []step{
				{id: "i-1", want: "quiet-hours"},
				{wait: time.Hour, id: "i-1"},
			},
		},
		{
			name: "the availability hook refuses a channel that cannot be served",
			gate: push.Gate{Available: func(_ context.Context, channels []string) bool { return !slices.Contains(channels, "video") }},
			steps: []step{
				{id: "video-1", want: "unavailable"},
				{id: "i-1"},
			},
		},
		{
			name:    "a visit with no activity for VisitExpiry is forgotten",
			lenient: true,
			gate:    push.Gate{MaxPerWindow: 1, Window: 48 * time.Hour},
			expiry:  time.Hour,
			steps: []step{
				{id: "i-1"},
				{wait: 59 * time.Minute, id: "i-2", want: "window"},
				{wait: time.Minute, id: "i-2"},
			},
		},
		{
			name:   "a rejection keeps the visit's record for VisitExpiry",
			gate:   push.Gate{Cooldown: 3 * time.Hour},
			expiry: time.Hour,
			steps: []step{
				{id: "i-1"}, {reject: true, id: "i-1"},
				{wait: 59 * time.Minute, id: "i-2", want: "cooldown"},
				{wait: time.Minute, id: "i-2"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gate := tc.gate
			e := newEnv(t, &push.Options{Lenient: tc.lenient, Gate: &gate, VisitExpiry: tc.expiry, DefaultExpiry: 30 * 24 * time.Hour})
			for i, s := range tc.steps {
				e.clock.Add(s.wait)
				if s.reject {
					if code, _ := e.report(t, "v-1", `{"interactionID":"`+s.id+`","result":"rejected"}`); code != 200 {
						t.Fatalf("step %d: the rejection of %s: %d", i, s.id, code)
					}
					continue
				}
				p := gateway.Profile{VisitID: "v-1", InteractionID: s.id, Channels: []string{"chat"}}
				if strings.HasPrefix(s.id, "video") {
					p.Channels = []string{"video", "chat"}
				}
				err := e.engage(t, p)
				var f *gateway.Fault
				got := ""
				if errors.As(err, &f) {
					got = f.Reason
				}
				if got != s.want || (s.want == "") != (err == nil) {
					t.Fatalf("step %d: engage %s: %v (reason %q), want reason %q", i, s.id, err, got, s.want)
				}
				if s.want != "" && !errors.Is(err, gateway.ErrEngagementSuppressed) {
					t.Fatalf("step %d: %v does not match ErrEngagementSuppressed", i, err)
				}
			}
		})
	}
}

func TestGateRefusesWhatItCannotApply(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		gate push.Gate
	}{
		{"a negative cool-down", push.Gate{Cooldown: -1}},
		{"a window without a count", push.Gate{Window: time.Hour}},
		{"a count without a window", push.Gate{MaxPerWindow: 3}},
		{"a count over MaxGateWindow", push.Gate{MaxPerWindow: push.MaxGateWindow + 1, Window: time.Hour}},
		{"quiet hours past the day", push.Gate{QuietHours: []push.QuietHours{{Start: 23 * time.Hour, End: 25 * time.Hour}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(r.(string), "push: ") {
					t.Errorf("NewBroker did not panic with a push: message: %v", r)
				}
			}()
			b := push.NewBroker(&push.Options{Gate: &tc.gate})
			b.Shutdown(context.Background())
		})
	}
}

// TestOutcomes: OnOutcome hears each invitation's end once, with its
// result, channel and time, and each suppressed engage once however often
// the strategy retries it.
func TestOutcomes(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []push.Outcome
	e := newEnv(t, &push.Options{Lenient: true, Gate: &push.Gate{MaxPerWindow: 4, Window: time.Hour}, OnOutcome: func(o push.Outcome) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, o)
	}})
	start := e.clock.Now()
	for _, id := range []string{"i-1", "i-2", "i-3", "i-4"} {
		if err := e.engage(t, gateway.Profile{VisitID: "v-1", InteractionID: id, ExpiresIn: 60}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if err := e.engage(t, gateway.Profile{VisitID: "v-1", InteractionID: "i-5"}); !errors.Is(err, gateway.ErrEngagementSuppressed) {
			t.Fatalf("the fifth engage: %v, want suppressed", err)
		}
	}
	for _, body := range []string{
		`{"interactionID":"i-1","result":"accepted","channel":"chat"}`,
		`{"interactionID":"i-1","result":"rejected"}`, // another tab, too late
		`{"interactionID":"i-2","result":"timeout"}`,
	} {
		if code, _ := e.report(t, "v-1", body); code != 200 {
			t.Fatalf("disposition %s: %d", body, code)
		}
	}
	e.cancel(t, "v-1", "i-3")
	e.cancel(t, "v-1", "i-3")
	e.clock.Add(time.Minute)
	e.b.Sweep() // i-4 expires
	want := []push.Outcome{
		{VisitID: "v-1", InteractionID: "i-5", Result: push.ResultSuppressed, Time: start},
		{VisitID: "v-1", InteractionID: "i-1", Result: push.ResultAccepted, Channel: "chat", Time: start},
		{VisitID: "v-1", InteractionID: "i-2", Result: push.ResultTimeout, Time: start},
		{VisitID: "v-1", InteractionID: "i-3", Result: push.ResultCancelled, Time: start},
		{VisitID: "v-1", InteractionID: "i-4", Result: push.ResultExpired, Time: start.Add(time.Minute)},
	}
	eventually(t, "every outcome is reported", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= len(want) })
	time.Sleep(50 * time.Millisecond) // time for a repeat to show
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
}

// TestAnInteractionIDUsedAgainHasAnOutcomeOfItsOwn: once an ended
// interactionID is forgotten (TombstoneTTL), an engage of it makes a new
// invitation, whose outcome is reported too.
func TestAnInteractionIDUsedAgainHasAnOutcomeOfItsOwn(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []push.Result
	e := newEnv(t, &push.Options{OnOutcome: func(o push.Outcome) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, o.Result)
	}})
	for range 2 {
		if err := e.engage(t, gateway.Profile{VisitID: "v-1", InteractionID: "i-1"}); err != nil {
			t.Fatal(err)
		}
		e.cancel(t, "v-1", "i-1")
		e.clock.Add(6 * time.Minute) // past the tombstone's 5 minutes
		e.b.Sweep()
	}
	eventually(t, "both outcomes are reported", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 2 })
}
