// Package pushtest checks that a [push.Backend] lets brokers keep the
// delivery rules of contract §6 across instances, as testing/slogtest
// checks a slog.Handler.
//
// Each implementation's tests call [Run] with a function that makes a
// [Cluster]: n backends that share one store, one per broker. Run starts
// that many brokers over them, each behind its own HTTP server with the
// engage API (gateway.NewHandler) and the browser routes, and checks every
// rule through those surfaces, reading pages' event streams as a browser
// does:
//
//   - an engage on one instance reaches pages on every instance, and a page
//     that subscribes later gets it;
//   - a page that reconnects with Last-Event-ID gets only what it did not
//     have, and an invitation for a pageID reaches only that page;
//   - a cancel on one instance hides the invitation on all; a cancel that
//     comes before its engage wins everywhere;
//   - in strict mode, of two engages for one visit racing on two
//     instances exactly one is accepted, 200 rounds in a row; an engage
//     repeated on another instance is delivered once;
//   - an answer on one instance hides the invitation on all and is heard
//     once; an invitation expires on every instance;
//   - in strict mode an accepted invitation keeps the visit engaged on
//     every instance until the page reports its form submitted, on any
//     instance, or the interaction is cancelled; a claim taken again by its
//     holder lasts the new ttl (what keeps it);
//   - one interactionID used for two visits is two invitations;
//   - full brokers answer 503 with Retry-After, and every engage answered
//     200 is delivered;
//   - during a backend outage the APIs answer 503 with Retry-After, and
//     after it every engage answered 200 is delivered everywhere;
//   - after the store is wiped, the brokers keep working and every engage
//     answered 200 is delivered;
//   - records (Backend.Load and Store): of creates racing on two instances
//     exactly one succeeds, a store succeeds only at the revision read,
//     concurrent compare-and-set loses no update, a record ages out at its
//     ttl and each store renews it, keys of any bytes work and records
//     over their bounds are refused;
//   - offer gating (push.Gate) holds across instances, and of engages
//     racing on two instances it admits as many as it allows;
//   - each outcome (push.Options.OnOutcome) is reported once across three
//     instances: accepted, cancelled, expired and suppressed, and so is
//     each of a burst of 600 invitations expiring at once;
//   - during an outage, an engage a Gate counts, a notify and a
//     "submitted" report are answered 503 with Retry-After, and an
//     outcome is still reported; after it, forms, cool-downs, notifies and
//     elections work again with what the store held, and every notify
//     answered 200 meanwhile is delivered on every instance;
//   - after a wipe, gating starts afresh and holds again, outcomes are
//     reported once, and notify messages the instances had applied are
//     kept for their NotifyTTL;
//   - an engage's trace context (push.Observer.TraceParent) reaches the
//     instance that delivers it, and an engage without one arrives
//     without one (contract §7.3).
//
// The checks run in parallel, each with a cluster of its own; with the
// memory backend the whole suite takes a few seconds.
//
// [RunNotifier] runs package gatewaytest's Notifier suite on such brokers,
// with the engage on one instance and the page on another.
package pushtest

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/engagekit/gateway/push"
)

// Cluster is what one test of [Run] uses.
type Cluster struct {
	// Backends are n backends sharing one store, one per broker (each its
	// own connection for a network backend).
	Backends []push.Backend
	// Outage makes the store unreachable for every backend of the cluster
	// until the function it returns is called. Nil: the backend cannot
	// simulate an outage, and the checks that need one skip, saying so.
	Outage func() (restore func())
	// Wipe makes the store lose everything it holds, as a store restarted
	// empty does. Nil: the backend cannot, and the check that needs it
	// skips, saying so.
	Wipe func()
}

// Run checks every rule of contract §6 across brokers that share the
// backends newCluster makes, as subtests of t. newCluster is called once
// per subtest, from its goroutine, with n of at least 2; it should
// register the cleanup of what it made with t.Cleanup.
func Run(t *testing.T, newCluster func(t *testing.T, n int) *Cluster) {
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newCluster)
		})
	}
}

type check struct {
	name string
	run  func(t *testing.T, newCluster func(t *testing.T, n int) *Cluster)
}

var checks = []check{
	{"an engage on one instance reaches pages on every instance", engageReachesEveryInstance},
	{"a page that subscribes after the engage gets it on any instance", lateSubscriber},
	{"a page that reconnects with Last-Event-ID gets only what it did not have", reconnectWithLastEventID},
	{"an invitation for a pageID reaches only that page", pageTargeting},
	{"a cancel on one instance hides the invitation on another", cancelOnAnotherInstance},
	{"a cancel before its engage wins on every instance", cancelBeforeEngage},
	{"strict mode admits exactly one of two racing engages", strictRace},
	{"an engage repeated on another instance is delivered once", repeatedEngage},
	{"an answer on one instance hides the invitation on all and is heard once", answerHidesEverywhere},
	{"an invitation expires on every instance", expiry},
	{"an accepted invitation holds the visit until its form is submitted, on any instance", formHoldsTheVisit},
	{"a cancel of an accepted invitation frees the visit on every instance", cancelFreesTheForm},
	{"a claim taken again by its holder lasts the new ttl", claimRenewedByItsHolder},
	{"one interactionID for two visits is delivered to both", sameIDTwoVisits},
	{"full brokers answer 503 and drop nothing they accepted", fullBrokers},
	{"a backend outage is answered 503 and delivery resumes after it", outage},
	{"after a wipe every engage answered 200 is delivered", wipe},
	// lifecycle.go
	{"a record is created by exactly one of many racing creates on two instances", recordCreateRace},
	{"a record changes only at the revision read", recordRevisions},
	{"compare-and-set on two instances loses no update", recordCounter},
	{"a record ages out at its ttl, which each store renews", recordTTL},
	{"records take keys of any bytes and refuse what is over their bounds", recordBounds},
	{"offer gating holds across instances", gatingAcrossInstances},
	{"of engages racing on two instances the gate admits exactly one", gatingRace},
	{"each outcome is reported once across instances", outcomesOnce},
	{"a burst of outcomes on three instances is reported once each", outcomeBurst},
}

// down makes c's store unreachable and returns what restores it, once
// however often it is called: a check that fails during the outage has
// the store restored at its cleanup, before its brokers shut down.
func down(t *testing.T, c *Cluster) (restore func()) {
	restore = sync.OnceFunc(c.Outage())
	t.Cleanup(restore)
	return restore
}

// strict and lenient are the broker options of the checks.
var (
	strict  = push.Options{}
	lenient = push.Options{Lenient: true}
)

func engageReachesEveryInstance(t *testing.T, nc func(*testing.T, int) *Cluster) {
	_, in := start(t, nc, 3, strict)
	pages := []*stream{in[0].subscribe(t, "v-1", "", ""), in[1].subscribe(t, "v-1", "", ""), in[2].subscribe(t, "v-1", "", "")}
	in[1].mustEngage(t, "v-1", "i-1")
	for _, p := range pages {
		ev := p.wantEngage(t, "i-1")
		if ev.data["visitID"] != "v-1" || fmt.Sprint(ev.data["channels"]) != "[chat callback]" || ev.data["expiresAt"] == nil {
			t.Errorf("%s: the invitation is %v", p.name, ev.data)
		}
	}
}

func lateSubscriber(t *testing.T, nc func(*testing.T, int) *Cluster) {
	_, in := start(t, nc, 2, strict)
	in[0].mustEngage(t, "v-1", "i-1")
	in[1].subscribe(t, "v-1", "", "").wantEngage(t, "i-1")
	in[0].subscribe(t, "v-1", "", "").wantEngage(t, "i-1")
}

func reconnectWithLastEventID(t *testing.T, nc func(*testing.T, int) *Cluster) {
	_, in := start(t, nc, 2, lenient)
	first := in[0].subscribe(t, "v-1", "", "")
	other := in[1].subscribe(t, "v-1", "", "")
	in[0].mustEngage(t, "v-1", "i-1")
	in[1].mustEngage(t, "v-1", "i-2")
	for _, p := range []*stream{first, other} {
		p.wantEngage(t, "i-1")
		p.wantEngage(t, "i-2")
	}
	// The page reloads on the other instance, having had both, and a
	// page that had only i-1 comes back too.
	had2 := in[1].subscribe(t, "v-1", "", "i-2")
	had1 := in[1].subscribe(t, "v-1", "", "i-1")
	had1.wantEngage(t, "i-2")
	in[0].mustEngage(t, "v-1", "i-3") // the fence: what came before it came
	had2.wantEngage(t, "i-3")
	had1.wantEngage(t, "i-3")
	// A new page gets everything.
	fresh := in[0].subscribe(t, "v-1", "", "")
	for _, id := range []string{"i-1", "i-2", "i-3"} {
		fresh.wantEngage(t, id)
	}
}

func pageTargeting(t *testing.T, nc func(*testing.T, int) *Cluster) {
	_, in := start(t, nc, 2, lenient)
	cart := in[0].subscribe(t, "v-1", "pageID=cart", "")
	home := in[1].subscribe(t, "v-1", "pageID=home", "")
	all := in[1].subscribe(t, "v-1", "", "")
	if r := in[1].engage(t, profile("v-1", "i-1", `,"pageID":"cart"`)); r.status != http.StatusOK {
		t.Fatalf("engage: %v", r)
	}
	cart.wantEngage(t, "i-1")
	in[1].mustEngage(t, "v-1", "i-2") // the fence, for every page
	home.wantEngage(t, "i-2")
	all.wantEngage(t, "i-2")
	cart.wantEngage(t, "i-2")
	in[1].subscribe(t, "v-1", "pageID=cart", "").wantEngage(t, "i-1")
}

func cancelOnAnotherInstance(t *testing.T, nc func(*testing.T, int) *Cluster) {
	_, in := start(t, nc, 2, strict)
	pages := []*stream{in[0].subscribe(t, "v-1", "", ""), in[1].subscribe(t, "v-1", "", "")}
	in[0].mustEngage(t, "v-1", "i-1")
	for _, p := range pages {
		p.wantEngage(t, "i-1")
	}
	in[1].mustCancel(t, "v-1", "i-1", "agentUnavailable")
	for _, p := range pages {
		p.wantCancel(t, "i-1", "agentUnavailable")
	}
	// Cancelled is no longer live: strict mode takes the next one at once,
	// on either instance, and new pages do not get the cancelled one.
	in[0].mustEngage(t, "v-1", "i-2")
	for _, i := range in {
		i.subscribe(t, "v-1", "", "").wantEngage(t, "i-2")
	}
	// Cancelling again, or an unknown ID, is harmless.
	in[0].mustCancel(t, "v-1", "i-1", "")
	in[1].mustCancel(t, "v-1", "unknown", "")
}

func cancelBeforeEngage(t *testing.T, nc func(*testing.T, int) *Cluster) {
	_, in := start(t, nc, 2, strict)
	pages := []*stream{in[0].subscribe(t, "v-1", "", ""), in[1].subscribe(t, "v-1", "", "")}
	in[0].mustCancel(t, "v-1", "i-1", "")
	if r := in[1].engage(t, profile("v-1", "i-1", "")); r.status != http.StatusOK {
		t.Fatalf("the engage after its cancel must be accepted and dropped: %v", r)
	}
	if r := in[0].engage(t, profile("v-1", "i-1", "")); r.status != http.StatusOK {
		t.Fatalf("the engage after its cancel, on the cancel's instance: %v", r)
	}
	// The dropped engage holds no claim: another one is accepted, and is
	// the first thing every page sees.
	in[1].mustEngage(t, "v-1", "i-2")
	for _, p := range pages {
		p.wantEngage(t, "i-2")
	}
}

func strictRace(t *testing.T, nc func(*testing.T, int) *Cluster) {
	_, in := start(t, nc, 2, strict)
	const rounds = 200
	for r := range rounds {
		visit := fmt.Sprint("race-", r)
		var replies [2]reply
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() { replies[i] = in[i].engage(t, profile(visit, fmt.Sprint("i-", i), "")) })
		}
		wg.Wait()
		ok, refused := 0, 0
		for _, r := range replies {
			switch {
			case r.status == http.StatusOK:
				ok++
			case r.status == http.StatusBadRequest && r.code == "ENGAGEMENT_IN_PROGRESS":
				refused++
			}
		}
		if ok != 1 || refused != 1 {
			t.Fatalf("round %d: the two engages were answered %v and %v, want one 200 and one 400 ENGAGEMENT_IN_PROGRESS", r, replies[0], replies[1])
		}
	}
	// Each accepted engage, and only it, is live on both instances.
	for _, i := range in {
		eventually(t, fmt.Sprintf("instance %s has one live invitation per visit", i.name), func() bool {
			return i.broker.Stats().Invitations == rounds
		})
	}
}

func repeatedEngage(t *testing.T, nc func(*testing.T, int) *Cluster) {
	_, in := start(t, nc, 2, strict)
	pages := []*stream{in[0].subscribe(t, "v-1", "", ""), in[1].subscribe(t, "v-1", "", "")}
	in[0].mustEngage(t, "v-1", "i-1")
	in[1].mustEngage(t, "v-1", "i-1") // a strategy's retry, on another instance
	in[0].mustEngage(t, "v-1", "i-1")
	in[1].mustCancel(t, "v-1", "i-1", "") // the fence
	for _, p := range pages {
		p.wantEngage(t, "i-1")
		p.wantCancel(t, "i-1", "cancelled")
	}
}

func answerHidesEverywhere(t *testing.T, nc func(*testing.T, int) *Cluster) {
	_, in := start(t, nc, 2, strict)
	pages := []*stream{in[0].subscribe(t, "v-1", "", ""), in[1].subscribe(t, "v-1", "", "")}
	in[0].mustEngage(t, "v-1", "i-1")
	for _, p := range pages {
		p.wantEngage(t, "i-1")
	}
	if r := in[1].answer(t, "v-1", `{"interactionID":"i-1","result":"accepted","channel":"video"}`); r.status != http.StatusBadRequest {
		t.Errorf("an accept on a channel not offered: %v, want 400", r)
	}
	if r := in[1].answer(t, "v-1", `{"interactionID":"i-1","result":"accepted","channel":"callback"}`); r.status != http.StatusOK {
		t.Fatalf("answer: %v", r)
	}
	for _, p := range pages {
		p.wantCancel(t, "i-1", "accepted")
	}
	// Another tab answering on the other instance, once it has heard, is
	// harmless and not reported again.
	if r := in[0].answer(t, "v-1", `{"interactionID":"i-1","result":"rejected"}`); r.status != http.StatusOK {
		t.Errorf("second answer: %v, want 200", r)
	}
	want := []push.Disposition{{VisitID: "v-1", InteractionID: "i-1", Result: "accepted", Channel: "callback"}}
	if got := in[1].dispositions(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("instance B heard %v, want %v", got, want)
	}
	if got := in[0].dispositions(); len(got) != 0 {
		t.Errorf("instance A heard %v, want nothing", got)
	}
	// Answered is no longer live; accepted, the visit stays engaged until
	// the page reports the form submitted (formHoldsTheVisit), on any
	// instance. Then strict mode takes the next one.
	if r := in[0].answer(t, "v-1", `{"interactionID":"i-1","result":"submitted"}`); r.status != http.StatusOK {
		t.Fatalf("submitted: %v", r)
	}
	in[0].mustEngage(t, "v-1", "i-2")
	for _, p := range pages {
		p.wantEngage(t, "i-2")
	}
	if r := in[0].answer(t, "v-1", `{"interactionID":"never","result":"rejected"}`); r.status != http.StatusNotFound {
		t.Errorf("an answer to an unknown invitation: %v, want 404", r)
	}
}

func expiry(t *testing.T, nc func(*testing.T, int) *Cluster) {
	_, in := start(t, nc, 2, strict)
	pages := []*stream{in[0].subscribe(t, "v-1", "", ""), in[1].subscribe(t, "v-1", "", "")}
	if r := in[0].engage(t, profile("v-1", "i-1", `,"expiresIn":1`)); r.status != http.StatusOK {
		t.Fatalf("engage: %v", r)
	}
	for _, p := range pages {
		ev := p.wantEngage(t, "i-1")
		at, err := time.Parse(time.RFC3339, fmt.Sprint(ev.data["expiresAt"]))
		if err != nil || time.Until(at) > 2*time.Second {
			t.Errorf("%s: expiresAt %v, want within a second", p.name, ev.data["expiresAt"])
		}
	}
	for _, p := range pages {
		p.wantCancel(t, "i-1", "expired")
	}
	// Expired is no longer live: strict mode takes the next one on the
	// other instance at once, and the expired one is not shown again.
	in[1].mustEngage(t, "v-1", "i-2")
	if r := in[0].engage(t, profile("v-1", "i-1", "")); r.status != http.StatusOK {
		t.Errorf("the expired engage again: %v, want 200 (dropped)", r)
	}
	for _, p := range pages {
		p.wantEngage(t, "i-2")
	}
	fresh := in[0].subscribe(t, "v-1", "", "")
	fresh.wantEngage(t, "i-2")
}

func formHoldsTheVisit(t *testing.T, nc func(*testing.T, int) *Cluster) {
	_, in := start(t, nc, 2, strict)
	page := in[1].subscribe(t, "v-1", "", "")
	onA := in[0].subscribe(t, "v-1", "", "")
	in[0].mustEngage(t, "v-1", "i-1")
	page.wantEngage(t, "i-1")
	onA.wantEngage(t, "i-1") // A has it too
	if r := in[0].answer(t, "v-1", `{"interactionID":"i-1","result":"submitted"}`); r.status != http.StatusBadRequest || r.code != "VALIDATION" {
		t.Errorf("submitted before the invitation is answered: %v, want 400 VALIDATION", r)
	}
	if r := in[0].answer(t, "v-1", `{"interactionID":"i-1","result":"accepted","channel":"chat"}`); r.status != http.StatusOK {
		t.Fatalf("accept on A: %v", r)
	}
	page.wantCancel(t, "i-1", "accepted")
	// The visitor fills in the form: no other invitation, on either
	// instance.
	for _, i := range in {
		if r := i.engage(t, profile("v-1", "i-2", "")); r.status != http.StatusBadRequest || r.code != "ENGAGEMENT_IN_PROGRESS" {
			t.Fatalf("instance %s: engage while the form is open: %v, want 400 ENGAGEMENT_IN_PROGRESS", i.name, r)
		}
	}
	// A report for another interaction frees nothing.
	if r := in[1].answer(t, "v-1", `{"interactionID":"never","result":"submitted"}`); r.status != http.StatusNotFound {
		t.Errorf("submitted for an unknown invitation: %v, want 404", r)
	}
	if r := in[0].engage(t, profile("v-1", "i-2", "")); r.code != "ENGAGEMENT_IN_PROGRESS" {
		t.Fatalf("engage after a report for another interaction: %v, want 400 ENGAGEMENT_IN_PROGRESS", r)
	}
	// Submitted on B frees the visit for an engage on A, at once.
	if r := in[1].answer(t, "v-1", `{"interactionID":"i-1","result":"submitted"}`); r.status != http.StatusOK {
		t.Fatalf("submitted on B: %v", r)
	}
	in[0].mustEngage(t, "v-1", "i-2")
	page.wantEngage(t, "i-2")
	// Reported again (a retry, another tab), it frees nothing more: i-2
	// holds the visit.
	if r := in[0].answer(t, "v-1", `{"interactionID":"i-1","result":"submitted"}`); r.status != http.StatusOK {
		t.Errorf("submitted again: %v, want 200", r)
	}
	if r := in[1].engage(t, profile("v-1", "i-3", "")); r.code != "ENGAGEMENT_IN_PROGRESS" {
		t.Errorf("engage while i-2 is live: %v, want 400 ENGAGEMENT_IN_PROGRESS", r)
	}
}

func cancelFreesTheForm(t *testing.T, nc func(*testing.T, int) *Cluster) {
	_, in := start(t, nc, 2, strict)
	page := in[0].subscribe(t, "v-1", "", "")
	other := in[1].subscribe(t, "v-1", "", "")
	in[0].mustEngage(t, "v-1", "i-1")
	page.wantEngage(t, "i-1")
	other.wantEngage(t, "i-1") // B has it: the page there answers
	if r := in[1].answer(t, "v-1", `{"interactionID":"i-1","result":"accepted","channel":"callback"}`); r.status != http.StatusOK {
		t.Fatalf("accept on B: %v", r)
	}
	if r := in[0].engage(t, profile("v-1", "i-2", "")); r.code != "ENGAGEMENT_IN_PROGRESS" {
		t.Fatalf("engage while the form is open: %v, want 400 ENGAGEMENT_IN_PROGRESS", r)
	}
	in[1].mustCancel(t, "v-1", "i-1", "agentUnavailable")
	in[0].mustEngage(t, "v-1", "i-2")
	page.wantCancel(t, "i-1", "accepted")
	page.wantEngage(t, "i-2")
}

// claimRenewedByItsHolder checks the Backend itself: the broker keeps an
// accepted interaction's claim for its form by claiming again.
func claimRenewedByItsHolder(t *testing.T, nc func(*testing.T, int) *Cluster) {
	c := nc(t, 2)
	if c == nil || len(c.Backends) != 2 {
		t.Fatal("newCluster(t, 2) must return a Cluster with 2 backends")
	}
	a, b := c.Backends[0], c.Backends[1]
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	claim := func(be push.Backend, visitID, interactionID string, ttl time.Duration) string {
		t.Helper()
		holder, err := be.Claim(ctx, visitID, interactionID, ttl)
		if err != nil {
			t.Fatalf("Claim(%s, %s): %v", visitID, interactionID, err)
		}
		return holder
	}
	// Both claims are taken for a second; the first, taken before the
	// other, is then taken again by its holder, on another backend, for a
	// minute.
	if h := claim(a, "renewed", "i-1", time.Second); h != "i-1" {
		t.Fatalf("first claim: holder %q", h)
	}
	if h := claim(a, "control", "i-1", time.Second); h != "i-1" {
		t.Fatalf("first claim: holder %q", h)
	}
	if h := claim(b, "renewed", "i-1", time.Minute); h != "i-1" {
		t.Fatalf("the holder claiming again: holder %q, want i-1", h)
	}
	// Once the claim left alone has lapsed, the renewed one still holds.
	eventually(t, "the claim of a second lapses", func() bool { return claim(b, "control", "i-2", time.Minute) == "i-2" })
	time.Sleep(time.Second) // past the backend's resolution
	if h := claim(b, "renewed", "i-2", time.Minute); h != "i-1" {
		t.Errorf("the renewed claim, after its first ttl: holder %q, want i-1", h)
	}
	if err := a.Release(ctx, "renewed", "i-1"); err != nil {
		t.Fatal(err)
	}
	if h := claim(b, "renewed", "i-2", time.Minute); h != "i-2" {
		t.Errorf("after its release: holder %q, want i-2", h)
	}
}

func sameIDTwoVisits(t *testing.T, nc func(*testing.T, int) *Cluster) {
	_, in := start(t, nc, 2, strict)
	p1 := in[1].subscribe(t, "v-1", "", "")
	p2 := in[0].subscribe(t, "v-2", "", "")
	in[0].mustEngage(t, "v-1", "i-1")
	in[1].mustEngage(t, "v-2", "i-1")
	p1.wantEngage(t, "i-1")
	p2.wantEngage(t, "i-1")
	// Cancelling one leaves the other live.
	in[0].mustCancel(t, "v-1", "i-1", "first")
	in[1].mustCancel(t, "v-2", "i-1", "second")
	p1.wantCancel(t, "i-1", "first")
	p2.wantCancel(t, "i-1", "second")
}

func fullBrokers(t *testing.T, nc func(*testing.T, int) *Cluster) {
	const limit = 4
	opts := strict
	opts.MaxInvitations = limit
	_, in := start(t, nc, 2, opts)
	// A burst on both instances at once: some are accepted, the rest
	// refused with Retry-After.
	var mu sync.Mutex
	var accepted []string
	var wg sync.WaitGroup
	for k := range 4 * limit {
		wg.Go(func() {
			visit := fmt.Sprint("full-", k)
			r := in[k%2].engage(t, profile(visit, "i-1", ""))
			switch {
			case r.status == http.StatusOK:
				mu.Lock()
				accepted = append(accepted, visit)
				mu.Unlock()
			case r.status == http.StatusServiceUnavailable && r.retryAfter == "":
				t.Errorf("engage %d: 503 without Retry-After", k)
			case r.status != http.StatusServiceUnavailable:
				t.Errorf("engage %d: %v, want 200 or 503", k, r)
			}
		})
	}
	wg.Wait()
	if len(accepted) < limit {
		t.Fatalf("%d engages accepted, want at least MaxInvitations, %d", len(accepted), limit)
	}
	// Every engage answered 200 is delivered, on every instance.
	for _, visit := range accepted {
		for _, i := range in {
			i.subscribe(t, visit, "", "").wantEngage(t, "i-1")
		}
	}
	// Full now, each instance refuses, with Retry-After.
	for _, i := range in {
		if r := i.engage(t, profile("one-more", "i-1", "")); r.status != http.StatusServiceUnavailable || r.retryAfter == "" {
			t.Errorf("instance %s, full: %v, Retry-After %q; want 503 with Retry-After", i.name, r, r.retryAfter)
		}
	}
	// A cancel needs no room, and makes some.
	in[0].mustCancel(t, accepted[0], "i-1", "")
	for _, i := range in {
		eventually(t, "the cancel made room on instance "+i.name, func() bool {
			return i.broker.Stats().Invitations < len(accepted)
		})
	}
}

func outage(t *testing.T, nc func(*testing.T, int) *Cluster) {
	c, in := start(t, nc, 2, strict)
	if c.Outage == nil {
		t.Skip("the backend cannot simulate an outage (Cluster.Outage is nil)")
	}
	pages := []*stream{in[0].subscribe(t, "v-1", "", ""), in[1].subscribe(t, "v-1", "", "")}
	live := []*stream{in[0].subscribe(t, "v-2", "", ""), in[1].subscribe(t, "v-2", "", "")}
	in[0].mustEngage(t, "v-2", "i-1")
	for _, p := range live {
		p.wantEngage(t, "i-1")
	}

	restore := down(t, c)
	for _, i := range in {
		for what, r := range map[string]reply{
			"engage": i.engage(t, profile("v-1", "i-1", "")),
			"cancel": i.cancel(t, "v-2", "i-1", ""),
			"answer": i.answer(t, "v-2", `{"interactionID":"i-1","result":"rejected"}`),
		} {
			if r.status != http.StatusServiceUnavailable || r.retryAfter == "" {
				t.Errorf("instance %s, %s during the outage: %v, Retry-After %q; want 503 with Retry-After", i.name, what, r, r.retryAfter)
			}
		}
	}
	restore()

	// As soon as an engage is accepted again, every instance delivers it,
	// even one still reconnecting to the store when it was published.
	in[0].engageUntilAccepted(t, profile("v-1", "i-1", ""))
	for _, p := range pages {
		p.wantEngage(t, "i-1")
	}
	// What the outage refused did not happen: the invitation of v-2 is
	// still live, and can be answered now.
	if r := in[0].answer(t, "v-2", `{"interactionID":"i-1","result":"rejected"}`); r.status != http.StatusOK {
		t.Errorf("answer after the outage: %v", r)
	}
	for _, p := range live {
		p.wantCancel(t, "i-1", "rejected")
	}
}

func wipe(t *testing.T, nc func(*testing.T, int) *Cluster) {
	c, in := start(t, nc, 2, strict)
	if c.Wipe == nil {
		t.Skip("the backend cannot wipe its store (Cluster.Wipe is nil)")
	}
	before := in[1].subscribe(t, "v-0", "", "")
	in[0].mustEngage(t, "v-0", "i-1")
	before.wantEngage(t, "i-1")
	const visits = 10
	var pages [visits][2]*stream
	for k := range visits {
		for i := range in {
			pages[k][i] = in[i].subscribe(t, fmt.Sprint("w-", k), "", "")
		}
	}
	c.Wipe()
	for k := range visits {
		in[k%2].engageUntilAccepted(t, profile(fmt.Sprint("w-", k), "i-1", ""))
	}
	for k := range visits {
		for _, p := range pages[k] {
			p.wantEngage(t, "i-1")
		}
	}
	// What the brokers held before the wipe is still theirs to cancel.
	in[1].mustCancel(t, "v-0", "i-1", "")
	before.wantCancel(t, "i-1", "cancelled")
}
