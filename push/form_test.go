package push_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
	"github.com/google/go-cmp/cmp"
)

// formHarness is a broker behind a server, over a memory backend with a
// clock of its own, reached as the fast path or the general path.
type formHarness struct {
	t                    *testing.T
	e                    *env
	brokerNow, backendAt *clock
	backend              *scripted
}

func (h *formHarness) engage(id string, expiresIn int) string {
	err := h.e.engage(h.t, gateway.Profile{InteractionID: id, VisitID: "v-1", ExpiresIn: expiresIn})
	switch {
	case err == nil:
		return "engaged"
	case errors.Is(err, gateway.ErrEngagementInProgress):
		return "in progress"
	default:
		return err.Error()
	}
}

// post sends a disposition body and returns its status and FAULT code.
func (h *formHarness) post(body string) string {
	resp, text := h.e.request(h.t, "POST", "/notification/v-1/disposition", jsonType, body)
	var f struct{ Code string }
	json.Unmarshal([]byte(text), &f)
	return fmt.Sprint(resp.StatusCode, " ", f.Code)
}

// TestRegistrationForm: an accepted invitation used to free its visit at
// once, so strict mode let a second invitation in while the visitor was
// filling in the first one's form. As GWE's registrationFormExpirationTime,
// the visit now stays engaged until the page reports the form submitted,
// the interaction is cancelled, or RegistrationFormExpiry runs out.
func TestRegistrationForm(t *testing.T) {
	t.Parallel()
	type step struct {
		do   func(h *formHarness) string
		want string
	}
	engage := func(id string, want string) step {
		return step{func(h *formHarness) string { return h.engage(id, 0) }, want}
	}
	answer := func(id, result, want string) step {
		body := `{"interactionID":"` + id + `","result":"` + result + `"}`
		if result == "accepted" {
			body = `{"interactionID":"` + id + `","result":"accepted","channel":"chat"}`
		}
		return step{func(h *formHarness) string { return h.post(body) }, want}
	}
	accept := func(id string) step { return answer(id, "accepted", "200 ") }
	submitted := func(id, want string) step { return answer(id, "submitted", want) }
	cancel := func(id string) step {
		return step{func(h *formHarness) string { h.e.cancel(h.t, "v-1", id); return "cancelled" }, "cancelled"}
	}
	wait := func(d time.Duration) step {
		return step{func(h *formHarness) string {
			h.brokerNow.Add(d)
			h.backendAt.Add(d)
			return "waited"
		}, "waited"}
	}
	tests := []struct {
		name    string
		opts    push.Options
		general bool // the general path only: the backend fails on demand
		steps   []step
	}{
		{name: "an accepted invitation keeps the visit engaged until the form is submitted", steps: []step{
			engage("i-1", "engaged"),
			accept("i-1"),
			engage("i-2", "in progress"),
			wait(119 * time.Second),
			engage("i-2", "in progress"),
			submitted("i-1", "200 "),
			engage("i-2", "engaged"),
		}},
		{name: "the visit is free once RegistrationFormExpiry has run out", steps: []step{
			engage("i-1", "engaged"),
			accept("i-1"),
			wait(119 * time.Second),
			engage("i-2", "in progress"),
			wait(time.Second),
			engage("i-2", "engaged"),
		}},
		{name: "RegistrationFormExpiry is the broker's option", opts: push.Options{RegistrationFormExpiry: 10 * time.Second}, steps: []step{
			engage("i-1", "engaged"),
			accept("i-1"),
			wait(9 * time.Second),
			engage("i-2", "in progress"),
			wait(time.Second),
			engage("i-2", "engaged"),
		}},
		{name: "the form outlives the invitation's own expiry", steps: []step{
			{func(h *formHarness) string { return h.engage("i-1", 10) }, "engaged"},
			wait(9 * time.Second),
			accept("i-1"),
			wait(30 * time.Second),
			engage("i-2", "in progress"),
		}},
		{name: "a form this broker saw run out frees a claim the backend still holds", steps: []step{
			engage("i-1", "engaged"),
			accept("i-1"),
			{func(h *formHarness) string { h.brokerNow.Add(120 * time.Second); return "ran out here" }, "ran out here"},
			engage("i-2", "engaged"),
			engage("i-3", "in progress"),
		}},
		{name: "a cancel of the accepted interaction frees the visit", steps: []step{
			engage("i-1", "engaged"),
			accept("i-1"),
			cancel("i-1"),
			engage("i-2", "engaged"),
		}},
		{name: "a rejection frees the visit at once", steps: []step{
			engage("i-1", "engaged"),
			answer("i-1", "rejected", "200 "),
			engage("i-2", "engaged"),
		}},
		{name: "submitted before the invitation is answered is refused and frees nothing", steps: []step{
			engage("i-1", "engaged"),
			submitted("i-1", "400 VALIDATION"),
			engage("i-2", "in progress"),
			accept("i-1"),
			engage("i-2", "in progress"),
		}},
		{name: "only the accepted interaction's report frees the visit", steps: []step{
			engage("i-0", "engaged"),
			answer("i-0", "rejected", "200 "),
			engage("i-1", "engaged"),
			accept("i-1"),
			submitted("i-0", "200 "), // ended, but not the holder
			submitted("never", "404 NOT_FOUND"),
			engage("i-2", "in progress"),
		}},
		{name: "a report sent again frees nothing more", steps: []step{
			engage("i-1", "engaged"),
			accept("i-1"),
			submitted("i-1", "200 "),
			engage("i-2", "engaged"),
			submitted("i-1", "200 "),
			engage("i-3", "in progress"),
		}},
		{name: "a report of an invitation that expired is answered and changes nothing", steps: []step{
			{func(h *formHarness) string { return h.engage("i-1", 10) }, "engaged"},
			wait(10 * time.Second),
			submitted("i-1", "200 "),
			engage("i-2", "engaged"),
		}},
		{name: "a report with a channel is refused", steps: []step{
			engage("i-1", "engaged"),
			accept("i-1"),
			{func(h *formHarness) string {
				return h.post(`{"interactionID":"i-1","result":"submitted","channel":"chat"}`)
			}, "400 VALIDATION"},
			engage("i-2", "in progress"),
		}},
		{name: "lenient mode claims nothing: an accepted invitation holds no visit", opts: push.Options{Lenient: true}, steps: []step{
			engage("i-1", "engaged"),
			accept("i-1"),
			engage("i-2", "engaged"),
			submitted("i-1", "200 "),
			submitted("never", "404 NOT_FOUND"),
		}},
		{name: "an acceptance whose hold fails is answered 503 and can be posted again", general: true, steps: []step{
			engage("i-1", "engaged"),
			{func(h *formHarness) string {
				h.backend.failNext("Claim", 1)
				return h.post(`{"interactionID":"i-1","result":"accepted","channel":"chat"}`)
			}, "503 UNAVAILABLE"},
			accept("i-1"),
			engage("i-2", "in progress"),
		}},
		{name: "a report whose release fails is answered 503 and can be posted again", general: true, steps: []step{
			engage("i-1", "engaged"),
			accept("i-1"),
			{func(h *formHarness) string {
				h.backend.failNext("Release", 1)
				return h.post(`{"interactionID":"i-1","result":"submitted"}`)
			}, "503 UNAVAILABLE"},
			engage("i-2", "in progress"),
			submitted("i-1", "200 "),
			engage("i-2", "engaged"),
		}},
	}
	for _, tc := range tests {
		for _, general := range []bool{false, true} {
			if tc.general && !general {
				continue
			}
			path := "fast path"
			if general {
				path = "general path"
			}
			t.Run(tc.name+", "+path, func(t *testing.T) {
				t.Parallel()
				start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
				h := &formHarness{t: t, brokerNow: &clock{now: start}, backendAt: &clock{now: start}}
				mem := push.NewMemoryBackend(&push.MemoryOptions{Now: h.backendAt.Now})
				opts := tc.opts
				opts.Now = h.brokerNow.Now
				opts.Backend = mem
				if general {
					h.backend = &scripted{MemoryBackend: mem}
					opts.Backend = h.backend
				}
				h.e = newEnv(t, &opts)
				var want, got []string
				for _, s := range tc.steps {
					want = append(want, s.want)
					got = append(got, s.do(h))
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("steps (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestRegistrationFormExpiryRange: the option takes GWE's range for
// registrationFormExpirationTime, 10 to 1800 seconds; zero is the
// default.
func TestRegistrationFormExpiryRange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d         time.Duration
		wantPanic bool
	}{
		{0, false},
		{10 * time.Second, false},
		{30 * time.Minute, false},
		{-time.Second, true},
		{9 * time.Second, true},
		{30*time.Minute + time.Second, true},
	} {
		t.Run(fmt.Sprint(tc.d), func(t *testing.T) {
			t.Parallel()
			defer func() {
				if got := recover() != nil; got != tc.wantPanic {
					t.Errorf("NewBroker panicked: %v, want %v", got, tc.wantPanic)
				}
			}()
			push.NewBroker(&push.Options{RegistrationFormExpiry: tc.d}).Shutdown(t.Context())
		})
	}
}
