package push_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

func TestBadRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &push.Options{
		MaxSubscribersPerVisit: 1,
		AllowedOrigins:         []string{"https://shop.example"},
		Authorize: func(r *http.Request, visitID string) error {
			if visitID == "locked" {
				return errors.New("no session")
			}
			return nil
		},
	})
	e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1", Channels: []string{"chat"}})
	long := strings.Repeat("v", 129)
	for _, tc := range []struct {
		name, method, path, ct, body, origin string
		status                               int
		code                                 string
	}{
		{"visitID with a space", "GET", "/notification/v%201", "", "", "", 404, "NOT_FOUND"},
		{"visitID too long", "GET", "/notification/" + long, "", "", "", 404, "NOT_FOUND"},
		{"visitID with a quote", "GET", "/notification/v%22", "", "", "", 404, "NOT_FOUND"},
		{"no visitID", "GET", "/notification/", "", "", "", 404, "NOT_FOUND"},
		{"bad pageID", "GET", "/notification/v-1?pageID=%3Cscript%3E", "", "", "", 400, "BAD_REQUEST"},
		{"POST to a stream", "POST", "/notification/v-1", "application/json", "{}", "", 405, "METHOD_NOT_ALLOWED"},
		{"GET a disposition", "GET", "/notification/v-1/disposition", "", "", "", 405, "METHOD_NOT_ALLOWED"},
		{"DELETE the script", "DELETE", "/notification/visitor.js", "", "", "", 405, "METHOD_NOT_ALLOWED"},
		{"origin not allowed", "GET", "/notification/v-1", "", "", "https://evil.example", 403, "FORBIDDEN"},
		{"not authorized", "GET", "/notification/locked", "", "", "", 401, "UNAUTHORIZED"},
		{"disposition not JSON", "POST", "/notification/v-1/disposition", "application/json", "result=accepted", "", 400, "BAD_REQUEST"},
		{"disposition as an array", "POST", "/notification/v-1/disposition", "application/json", `[]`, "", 400, "BAD_REQUEST"},
		{"disposition with unknown keys", "POST", "/notification/v-1/disposition", "application/json", `{"interactionID":"i-1","result":"rejected","x":1}`, "", 400, "BAD_REQUEST"},
		{"disposition with two objects", "POST", "/notification/v-1/disposition", "application/json", `{"interactionID":"i-1","result":"rejected"}{}`, "", 400, "BAD_REQUEST"},
		{"result unknown", "POST", "/notification/v-1/disposition", "application/json", `{"interactionID":"i-1","result":"maybe"}`, "", 400, "VALIDATION"},
		{"accepted without channel", "POST", "/notification/v-1/disposition", "application/json", `{"interactionID":"i-1","result":"accepted"}`, "", 400, "VALIDATION"},
		{"accepted on a channel not offered", "POST", "/notification/v-1/disposition", "application/json", `{"interactionID":"i-1","result":"accepted","channel":"video"}`, "", 400, "VALIDATION"},
		{"interactionID with spaces", "POST", "/notification/v-1/disposition", "application/json", `{"interactionID":"i 1","result":"rejected"}`, "", 400, "VALIDATION"},
		{"unknown invitation", "POST", "/notification/v-1/disposition", "application/json", `{"interactionID":"nope","result":"rejected"}`, "", 404, "NOT_FOUND"},
		{"unknown visit", "POST", "/notification/v-9/disposition", "application/json", `{"interactionID":"i-1","result":"rejected"}`, "", 404, "NOT_FOUND"},
		{"huge disposition", "POST", "/notification/v-1/disposition", "application/json", `{"interactionID":"` + strings.Repeat("a", 1<<20) + `"}`, "", 413, "PAYLOAD_TOO_LARGE"},
		{"disposition as a form", "POST", "/notification/v-1/disposition", "application/x-www-form-urlencoded", "a=b", "", 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"disposition in latin1", "POST", "/notification/v-1/disposition", "text/plain; charset=latin1", `{}`, "", 400, "BAD_REQUEST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.srv.URL+tc.path, strings.NewReader(tc.body))
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var f struct{ Status, Code, Message string }
			if err := json.NewDecoder(resp.Body).Decode(&f); err != nil {
				t.Fatalf("%d, body is not a FAULT: %v", resp.StatusCode, err)
			}
			if resp.StatusCode != tc.status || f.Status != "FAULT" || f.Code != tc.code {
				t.Errorf("got %d %s %s (%s), want %d FAULT %s", resp.StatusCode, f.Status, f.Code, f.Message, tc.status, tc.code)
			}
			if strings.Contains(f.Message, "script") || strings.Contains(f.Message, "evil") {
				t.Errorf("message quotes the input: %s", f.Message)
			}
		})
	}
	// Nothing was lost: the invitation is still live and answerable.
	if st := e.b.Stats(); st.Invitations != 1 {
		t.Errorf("live invitations = %d, want 1", st.Invitations)
	}
}

// TestTabLimitClosesTheOldest: at MaxSubscribersPerVisit a new tab is
// let in and the visit's oldest stream, the likeliest to be dead, closed.
func TestTabLimitClosesTheOldest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &push.Options{MaxSubscribersPerVisit: 1})
	old := e.subscribe(t, "/notification/v-1", nil)
	old.quiet(t)
	e.subscribe(t, "/notification/v-1", nil).quiet(t)
	for range old.events { // ends when the broker closes it
	}
	if n := e.b.Stats().Subscribers; n != 1 {
		t.Errorf("subscribers = %d, want 1", n)
	}
}

func TestCrossOriginAllowed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &push.Options{AllowedOrigins: []string{"https://shop.example"}})
	req, _ := http.NewRequest("OPTIONS", e.srv.URL+"/notification/v-1/disposition", nil)
	req.Header.Set("Origin", "https://shop.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.example" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	s := e.subscribe(t, "/notification/v-1", http.Header{"Origin": {"https://shop.example"}})
	s.quiet(t)
}

func TestSubscriberLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &push.Options{MaxSubscribers: 2})
	e.subscribe(t, "/notification/a", nil)
	e.subscribe(t, "/notification/b", nil)
	resp, _ := e.srv.Client().Get(e.srv.URL + "/notification/c")
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("third subscriber: %d Retry-After=%q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func TestInvitationLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &push.Options{MaxInvitations: 1})
	if err := e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"}); err != nil {
		t.Fatal(err)
	}
	if err := e.engage(t, gateway.Profile{InteractionID: "i-2", VisitID: "v-2"}); !errors.Is(err, gateway.ErrUnavailable) {
		t.Errorf("past the limit: %v, want ErrUnavailable", err)
	}
}

// TestThousandVisits interleaves engage, cancel, subscribe and disconnect
// across 1,000 visits, then checks each visit ended as the rules say: an
// engage that was not cancelled is live and shown to a new page; a
// cancelled one, before or after its engage, is not.
func TestThousandVisits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &push.Options{MaxSubscribers: 5000, MaxStreamsPerClient: 5000}) // every stream comes from 127.0.0.1
	const visits = 1000
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64) // bounded parallelism for the streams
	for i := range visits {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			visitID, id := fmt.Sprint("v-", i), fmt.Sprint("i-", i)
			var inner sync.WaitGroup
			inner.Go(func() { // a page that comes and goes meanwhile
				s := e.subscribe(t, "/notification/"+visitID, nil)
				if i%2 == 0 {
					<-s.events
				}
				s.close()
			})
			ctx := context.Background()
			switch i % 4 {
			case 0: // engage only
				e.b.Engage(ctx, &gateway.Profile{InteractionID: id, VisitID: visitID, Channels: []string{"chat"}})
			case 1: // cancel first
				e.b.Cancel(ctx, &gateway.CancelData{InteractionID: id, VisitID: visitID})
				e.b.Engage(ctx, &gateway.Profile{InteractionID: id, VisitID: visitID, Channels: []string{"chat"}})
			case 2: // engage then cancel
				e.b.Engage(ctx, &gateway.Profile{InteractionID: id, VisitID: visitID, Channels: []string{"chat"}})
				e.b.Cancel(ctx, &gateway.CancelData{InteractionID: id, VisitID: visitID})
			case 3: // both at once
				var both sync.WaitGroup
				both.Go(func() {
					e.b.Engage(ctx, &gateway.Profile{InteractionID: id, VisitID: visitID, Channels: []string{"chat"}})
				})
				both.Go(func() { e.b.Cancel(ctx, &gateway.CancelData{InteractionID: id, VisitID: visitID}) })
				both.Wait()
			}
			inner.Wait()
		})
	}
	wg.Wait()
	if st := e.b.Stats(); st.Invitations != visits/4 {
		t.Errorf("live invitations = %d, want %d", st.Invitations, visits/4)
	}
	for i := range visits {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			s := e.subscribe(t, fmt.Sprint("/notification/v-", i), nil)
			defer s.close()
			if i%4 == 0 {
				wantEngage(t, s.next(t), fmt.Sprint("i-", i))
			}
			s.quiet(t)
		})
	}
	wg.Wait()
	eventually(t, "every stream is forgotten", func() bool { return e.b.Stats().Subscribers == 0 })
}
