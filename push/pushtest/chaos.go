package pushtest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/engagekit/gateway/push"
)

// The checks of what the lifecycle of an invitation keeps in the backend
// (gating records, outcome elections, the form's claim) and of notify,
// when the store goes down or loses what it holds: run by Run with the
// others, where the Cluster can simulate it.
func init() {
	checks = append(checks,
		check{"during an outage gating, notify and submitted are answered 503, outcomes are still reported, and all works after it", outageLifecycle},
		check{"after a wipe gating starts afresh, outcomes are elected once, and notifies the instances had are kept", wipeLifecycle},
		check{"every notify answered 200 while the store goes down and comes back is delivered everywhere", notifyThroughOutage},
	)
}

// untilAccepted repeats a request while it is answered 503, for the time a
// backend takes to come back, and fails the test on any answer but 200 or
// 503.
func untilAccepted(t *testing.T, what string, do func() reply) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		r := do()
		switch {
		case r.status == http.StatusOK:
			return
		case r.status != http.StatusServiceUnavailable:
			t.Fatalf("%s: %v, want 200 or 503", what, r)
		case time.Now().After(deadline):
			t.Fatalf("%s: still 503 after %v", what, wait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// times returns how many of the outcomes seen are o (Time aside).
func (o *outcomes) times(x push.Outcome) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, s := range o.seen {
		if s == x {
			n++
		}
	}
	return n
}

// wantOnce waits until x is reported, then checks, a while later, that it
// was reported once.
func (o *outcomes) wantOnce(t *testing.T, x push.Outcome) {
	t.Helper()
	eventually(t, fmt.Sprintf("the outcome %v is reported", x), func() bool { return o.times(x) > 0 })
	time.Sleep(300 * time.Millisecond) // time for a second report to show
	if n := o.times(x); n != 1 {
		t.Errorf("the outcome %v was reported %d times, want once", x, n)
	}
}

// noVideo is a Gate's Available hook: the channel video is never served.
func noVideo(_ context.Context, channels []string) bool { return !slices.Contains(channels, "video") }

func outageLifecycle(t *testing.T, nc func(*testing.T, int) *Cluster) {
	var got outcomes
	opts := strict
	opts.Gate = &push.Gate{Cooldown: time.Hour, Available: noVideo}
	opts.OnOutcome = got.add
	c, in := start(t, nc, 2, opts)
	if c.Outage == nil {
		t.Skip("the backend cannot simulate an outage (Cluster.Outage is nil)")
	}
	notes := []*stream{in[0].subscribe(t, "v-note", "", ""), in[1].subscribe(t, "v-note", "", "")}
	form := in[1].subscribe(t, "v-form", "", "")
	in[0].mustEngage(t, "v-form", "i-1")
	form.wantEngage(t, "i-1")
	if r := in[1].answer(t, "v-form", `{"interactionID":"i-1","result":"accepted","channel":"chat"}`); r.status != http.StatusOK {
		t.Fatalf("accept: %v", r)
	}
	form.wantCancel(t, "i-1", "accepted")
	rej := in[1].subscribe(t, "v-rej", "", "")
	in[0].mustEngage(t, "v-rej", "i-1")
	rej.wantEngage(t, "i-1")
	if r := in[1].answer(t, "v-rej", `{"interactionID":"i-1","result":"rejected"}`); r.status != http.StatusOK {
		t.Fatalf("reject: %v", r)
	}
	got.wantOnce(t, push.Outcome{VisitID: "v-form", InteractionID: "i-1", Result: push.ResultAccepted, Channel: "chat"})
	got.wantOnce(t, push.Outcome{VisitID: "v-rej", InteractionID: "i-1", Result: push.ResultRejected})

	restore := down(t, c)
	for _, i := range in {
		for what, r := range map[string]reply{
			"an engage the gate counts": i.engage(t, profile("v-new", "i-1", "")),
			"a notify":                  i.notify(t, "v-note", messages(message("", "c", 1))),
			"a submitted report":        i.answer(t, "v-form", `{"interactionID":"i-1","result":"submitted"}`),
		} {
			if r.status != http.StatusServiceUnavailable || r.code != "UNAVAILABLE" || r.retryAfter == "" {
				t.Errorf("instance %s, %s during the outage: %v, Retry-After %q; want 503 UNAVAILABLE with Retry-After", i.name, what, r, r.retryAfter)
			}
		}
	}
	// A rule that needs no backend still holds, and the outcome of what it
	// refused is reported though no election can be held: at least once.
	video := `{"interactionID":"i-1","visitID":"v-sup","channels":["video"]}`
	if r := in[0].engage(t, video); r.status != http.StatusBadRequest || r.code != "ENGAGEMENT_SUPPRESSED" || r.reason != push.ReasonUnavailable {
		t.Errorf("an engage for a channel not served, during the outage: %v, want 400 ENGAGEMENT_SUPPRESSED unavailable", r)
	}
	sup := push.Outcome{VisitID: "v-sup", InteractionID: "i-1", Result: push.ResultSuppressed}
	eventually(t, "the outcome of the engage suppressed during the outage is reported", func() bool { return got.times(sup) > 0 })
	restore()
	// An election that failed slowly, as one may while the store comes
	// back, lets a broker report the outcomes of the next second without
	// elections (Options.OnOutcome): wait it out before counting repeats.
	time.Sleep(1500 * time.Millisecond)

	// Everything works again, with what the store held before the outage.
	untilAccepted(t, "a notify after the outage", func() reply { return in[1].notify(t, "v-note", messages(message("", "c", 2))) })
	for _, p := range notes {
		p.wantNotify(t, "c", 2)
	}
	if r := in[0].engage(t, profile("v-form", "i-2", "")); r.code != "ENGAGEMENT_IN_PROGRESS" {
		t.Errorf("an engage while the form is open, after the outage: %v, want 400 ENGAGEMENT_IN_PROGRESS", r)
	}
	untilAccepted(t, "the submitted report after the outage", func() reply {
		return in[0].answer(t, "v-form", `{"interactionID":"i-1","result":"submitted"}`)
	})
	in[0].mustEngage(t, "v-form", "i-2")
	form.wantEngage(t, "i-2")
	for _, i := range in {
		if r := i.engage(t, profile("v-rej", "i-2", "")); r.code != "ENGAGEMENT_SUPPRESSED" || r.reason != push.ReasonCooldown {
			t.Errorf("instance %s: an engage within the cool-down, after the outage: %v, want 400 ENGAGEMENT_SUPPRESSED cooldown", i.name, r)
		}
	}
	in[1].mustCancel(t, "v-form", "i-2", "")
	got.wantOnce(t, push.Outcome{VisitID: "v-form", InteractionID: "i-2", Result: push.ResultCancelled})
	got.wantOnce(t, push.Outcome{VisitID: "v-rej", InteractionID: "i-2", Result: push.ResultSuppressed})
}

func wipeLifecycle(t *testing.T, nc func(*testing.T, int) *Cluster) {
	var got outcomes
	opts := strict
	opts.Gate = &push.Gate{Cooldown: time.Hour, MinGap: time.Hour}
	opts.OnOutcome = got.add
	c, in := start(t, nc, 2, opts)
	if c.Wipe == nil {
		t.Skip("the backend cannot wipe its store (Cluster.Wipe is nil)")
	}
	page := in[1].subscribe(t, "v-1", "", "")
	in[0].mustEngage(t, "v-1", "i-1")
	page.wantEngage(t, "i-1")
	if r := in[1].answer(t, "v-1", `{"interactionID":"i-1","result":"rejected"}`); r.status != http.StatusOK {
		t.Fatalf("reject: %v", r)
	}
	page.wantCancel(t, "i-1", "rejected")
	if r := in[0].engage(t, profile("v-1", "i-2", "")); r.reason != push.ReasonCooldown {
		t.Fatalf("an engage within the cool-down: %v, want 400 ENGAGEMENT_SUPPRESSED cooldown", r)
	}
	forms := []*stream{in[0].subscribe(t, "v-form", "", ""), in[1].subscribe(t, "v-form", "", "")}
	in[1].mustEngage(t, "v-form", "i-1")
	for _, p := range forms {
		p.wantEngage(t, "i-1")
	}
	if r := in[0].answer(t, "v-form", `{"interactionID":"i-1","result":"accepted","channel":"chat"}`); r.status != http.StatusOK {
		t.Fatalf("accept: %v", r)
	}
	for _, p := range forms { // both instances have the acceptance
		p.wantCancel(t, "i-1", "accepted")
	}
	// A notify both instances applied: each page has it.
	notes := []*stream{in[0].subscribe(t, "v-note", "", ""), in[1].subscribe(t, "v-note", "", "")}
	in[0].mustNotify(t, "v-note", messages(message("", "c", 1)))
	for _, p := range notes {
		p.wantNotify(t, "c", 1)
	}
	for _, x := range []push.Outcome{
		{VisitID: "v-1", InteractionID: "i-1", Result: push.ResultRejected},
		{VisitID: "v-1", InteractionID: "i-2", Result: push.ResultSuppressed},
		{VisitID: "v-form", InteractionID: "i-1", Result: push.ResultAccepted, Channel: "chat"},
	} {
		got.wantOnce(t, x)
	}

	c.Wipe()

	// The instances keep the message for NotifyTTL: a page that opens
	// now gets it, on either instance.
	for _, i := range in {
		i.subscribe(t, "v-note", "", "").wantNotify(t, "c", 1)
	}
	// The gating state is gone with the store: the cool-down is forgotten.
	// Counting starts afresh and holds again at once.
	untilAccepted(t, "an engage after the wipe, the cool-down forgotten", func() reply { return in[0].engage(t, profile("v-1", "i-2", "")) })
	page.wantEngage(t, "i-2")
	for _, i := range in {
		if r := i.engage(t, profile("v-1", "i-3", "")); r.code != "ENGAGEMENT_IN_PROGRESS" {
			t.Errorf("instance %s: an engage while i-2 is live: %v, want 400 ENGAGEMENT_IN_PROGRESS", i.name, r)
		}
	}
	in[1].mustCancel(t, "v-1", "i-2", "")
	page.wantCancel(t, "i-2", "cancelled")
	for _, i := range in {
		if r := i.engage(t, profile("v-1", "i-3", "")); r.code != "ENGAGEMENT_SUPPRESSED" || r.reason != push.ReasonGap {
			t.Errorf("instance %s: an engage within the gap counted after the wipe: %v, want 400 ENGAGEMENT_SUPPRESSED gap", i.name, r)
		}
	}
	// The instances remember the acceptance: its submitted report is
	// answered, though the store forgot it.
	if r := in[1].answer(t, "v-form", `{"interactionID":"i-1","result":"submitted"}`); r.status != http.StatusOK {
		t.Errorf("the submitted report after the wipe: %v, want 200", r)
	}
	// Outcomes are elected again, each reported once.
	got.wantOnce(t, push.Outcome{VisitID: "v-1", InteractionID: "i-2", Result: push.ResultCancelled})
	got.wantOnce(t, push.Outcome{VisitID: "v-1", InteractionID: "i-3", Result: push.ResultSuppressed})
	// And notify works: pages connected before the wipe get what comes
	// after it.
	untilAccepted(t, "a notify after the wipe", func() reply { return in[1].notify(t, "v-note", messages(message("", "c", 2))) })
	for _, p := range notes {
		p.wantNotify(t, "c", 2)
	}
}

func notifyThroughOutage(t *testing.T, nc func(*testing.T, int) *Cluster) {
	opts := lenient
	opts.MaxNotificationsPerVisit = 1000
	c, in := start(t, nc, 2, opts)
	if c.Outage == nil {
		t.Skip("the backend cannot simulate an outage (Cluster.Outage is nil)")
	}
	pages := []*stream{in[0].subscribe(t, "v-1", "", ""), in[1].subscribe(t, "v-1", "", "")}
	// A strategy notifies without pause, on both instances, while the
	// store goes down and comes back.
	var (
		mu       sync.Mutex
		accepted []int
		after    int // accepted since the store came back
		back     bool
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			r := in[n%2].notify(t, "v-1", messages(message("", "c", n)))
			switch {
			case r.status == http.StatusOK:
				mu.Lock()
				accepted = append(accepted, n)
				if back {
					after++
				}
				mu.Unlock()
			case r.status != http.StatusServiceUnavailable || r.retryAfter == "":
				t.Errorf("notify %d: %v, Retry-After %q; want 200, or 503 with Retry-After", n, r, r.retryAfter)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	eventually(t, "notifies are accepted before the outage", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted) >= 5
	})
	restore := down(t, c)
	time.Sleep(300 * time.Millisecond)
	restore()
	mu.Lock()
	back = true
	mu.Unlock()
	eventually(t, "notifies are accepted after the outage", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return after >= 5
	})
	close(stop)
	wg.Wait()

	// Every page gets each accepted message; a message answered 503 may
	// have reached the log too (its acknowledgement lost), and arrive.
	for _, p := range pages {
		seen := map[float64]bool{}
		for _, n := range accepted {
			for !seen[float64(n)] {
				ev := p.next(t)
				data, _ := ev.data["data"].(map[string]any)
				if ev.kind != "notify" {
					t.Fatalf("%s: got %v, want notify events", p.name, ev)
				}
				x, _ := data["n"].(float64)
				if seen[x] {
					t.Errorf("%s: message %v delivered twice", p.name, x)
				}
				seen[x] = true
			}
		}
	}
}
