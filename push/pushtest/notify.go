package pushtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The checks of notify (contract §9), run by Run with the others.
func init() {
	checks = append(checks,
		check{"a notify on one instance reaches the pages it names on every instance", notifyReachesItsPages},
		check{"a page that opens within NotifyTTL gets a notify once, and not again after Last-Event-ID", notifyKeptForLatePages},
		check{"a notify runs out after NotifyTTL on every instance", notifyRunsOut},
		check{"past MaxNotificationsPerVisit a notify is answered 503 with Retry-After", notifyPerVisitCap},
	)
}

// notify posts a notify request, its JSON array of messages, to the
// instance's notify API.
func (in *instance) notify(t *testing.T, visitID, messages string) reply {
	t.Helper()
	return in.post(t, "/server/data/notification/notify/"+url.PathEscape(visitID), "application/json", messages)
}

func (in *instance) mustNotify(t *testing.T, visitID, messages string) {
	t.Helper()
	if r := in.notify(t, visitID, messages); r.status != http.StatusOK {
		t.Fatalf("instance %s: notify %s %s: %v, want 200", in.name, visitID, messages, r)
	}
}

// wantNotify reads the next event and checks it is a notify on channel
// whose data's "n" is n; it returns the event's id.
func (s *stream) wantNotify(t *testing.T, channel string, n float64) string {
	t.Helper()
	ev := s.next(t)
	data, _ := ev.data["data"].(map[string]any)
	if ev.kind != "notify" || ev.data["channel"] != channel || data["n"] != n || !strings.HasPrefix(ev.id, "~") {
		t.Fatalf("%s: got %v, want the notify on %s with n=%v", s.name, ev, channel, n)
	}
	return ev.id
}

func message(page, channel string, n int) string {
	m := map[string]any{"channel": channel, "data": map[string]any{"n": n}}
	if page != "" {
		m["page"] = page
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func messages(ms ...string) string { return "[" + strings.Join(ms, ",") + "]" }

func notifyReachesItsPages(t *testing.T, nc func(*testing.T, int) *Cluster) {
	_, in := start(t, nc, 2, strict)
	cart := in[0].subscribe(t, "v-1", "pageID=cart", "")
	home := in[1].subscribe(t, "v-1", "pageID=home", "")
	every := in[1].subscribe(t, "v-1", "", "")
	other := in[0].subscribe(t, "v-2", "", "")
	in[1].mustNotify(t, "v-1", messages(message("cart", "gpe.appendContent", 1), message("", "shop.cart", 2)))
	cart.wantNotify(t, "gpe.appendContent", 1)
	cart.wantNotify(t, "shop.cart", 2)
	home.wantNotify(t, "shop.cart", 2)
	every.wantNotify(t, "shop.cart", 2)
	// The fences: the next event of each page is its own, so the page
	// message reached no other page, and v-1's none of v-2.
	in[0].mustNotify(t, "v-2", messages(message("", "fence", 3)))
	other.wantNotify(t, "fence", 3)
	in[0].mustNotify(t, "v-1", messages(message("home", "fence", 4), message("", "fence", 5)))
	home.wantNotify(t, "fence", 4)
	for _, p := range []*stream{cart, home, every} {
		p.wantNotify(t, "fence", 5)
	}
}

func notifyKeptForLatePages(t *testing.T, nc func(*testing.T, int) *Cluster) {
	_, in := start(t, nc, 2, lenient)
	first := in[0].subscribe(t, "v-1", "", "")
	in[0].mustEngage(t, "v-1", "i-1")
	first.wantEngage(t, "i-1")
	in[0].mustNotify(t, "v-1", messages(message("", "c", 1)))
	id := first.wantNotify(t, "c", 1)
	in[1].mustEngage(t, "v-1", "i-2")
	first.wantEngage(t, "i-2")

	// A page that opens later, on either instance, gets both
	// invitations and the message between them, in order.
	for _, x := range in {
		late := x.subscribe(t, "v-1", "", "")
		late.wantEngage(t, "i-1")
		late.wantNotify(t, "c", 1)
		late.wantEngage(t, "i-2")
	}
	// A page that had i-1 gets the message and i-2; one that had the
	// message gets only i-2; one that had i-2 gets nothing, which the
	// fence shows.
	hadI1 := in[1].subscribe(t, "v-1", "", "i-1")
	hadI1.wantNotify(t, "c", 1)
	hadI1.wantEngage(t, "i-2")
	hadNote := in[1].subscribe(t, "v-1", "", id)
	hadNote.wantEngage(t, "i-2")
	hadI2 := in[0].subscribe(t, "v-1", "", "i-2")
	in[1].mustNotify(t, "v-1", messages(message("", "fence", 2)))
	for _, p := range []*stream{hadI1, hadNote, hadI2} {
		p.wantNotify(t, "fence", 2)
	}
}

func notifyRunsOut(t *testing.T, nc func(*testing.T, int) *Cluster) {
	opts := lenient
	opts.NotifyTTL = time.Second
	_, in := start(t, nc, 2, opts)
	seen := in[1].subscribe(t, "v-1", "", "")
	in[0].mustNotify(t, "v-1", messages(message("", "c", 1)))
	id := seen.wantNotify(t, "c", 1)
	for _, x := range in {
		eventually(t, "the message runs out on instance "+x.name, func() bool {
			return x.broker.Stats().Notifications == 0
		})
	}
	// A page that opens now does not get it; one that reconnects naming
	// it gets only what came after.
	late := in[0].subscribe(t, "v-1", "", "")
	back := in[1].subscribe(t, "v-1", "", id)
	in[1].mustEngage(t, "v-1", "i-1")
	late.wantEngage(t, "i-1")
	back.wantEngage(t, "i-1")
}

func notifyPerVisitCap(t *testing.T, nc func(*testing.T, int) *Cluster) {
	opts := lenient
	opts.MaxNotificationsPerVisit = 2
	_, in := start(t, nc, 2, opts)
	page := in[1].subscribe(t, "v-1", "", "")
	in[0].mustNotify(t, "v-1", messages(message("", "c", 1), message("", "c", 2)))
	page.wantNotify(t, "c", 1)
	page.wantNotify(t, "c", 2)
	// Instance B has applied both: it refuses a third for v-1, and takes
	// one for another visit.
	if r := in[1].notify(t, "v-1", messages(message("", "c", 3))); r.status != http.StatusServiceUnavailable || r.code != "UNAVAILABLE" || r.retryAfter == "" {
		t.Errorf("a third message for the visit: %v (Retry-After %q), want 503 UNAVAILABLE with Retry-After", r, r.retryAfter)
	}
	in[1].mustNotify(t, "v-2", messages(message("", "c", 4)))
}
