package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/examples/internal/engageauth"
	"github.com/google/go-cmp/cmp"
)

// edgeCredentials are the relay's own, which strategies send it.
var edgeCredentials = engageauth.Credentials{User: "engage", Password: "edge-pw"}

// TestRelayEndToEnd: a strategy's request to gateway A, whose notifier is
// a Client, reaches gateway B's notifier unchanged, and B's answers come
// back through A.
func TestRelayEndToEnd(t *testing.T) {
	var mu sync.Mutex
	var got []gateway.Profile
	var cancelled []gateway.CancelData
	b := httptest.NewServer(gateway.NewHandler(gateway.Funcs{
		EngageFunc: func(_ context.Context, p *gateway.Profile) error {
			mu.Lock()
			defer mu.Unlock()
			if p.VisitID == "busy" {
				return gateway.ErrEngagementInProgress
			}
			got = append(got, *p)
			return nil
		},
		CancelFunc: func(_ context.Context, c *gateway.CancelData) error {
			mu.Lock()
			defer mu.Unlock()
			cancelled = append(cancelled, *c)
			return nil
		},
	}, &gateway.Options{Authenticate: gateway.BasicAuth("relay", "pw", "b")}))
	defer b.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := NewRelay(b.URL, &gateway.ClientOptions{Paths: gateway.Paths812, Username: "relay", Password: "pw"}, edgeCredentials, quiet)
	if err != nil {
		t.Fatal(err)
	}
	edge := httptest.NewServer(a)
	defer edge.Close()

	post := func(path, param, object string) (int, map[string]any) {
		r, _ := http.NewRequest("POST", edge.URL+path, strings.NewReader(url.Values{param: {object}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(edgeCredentials.User, edgeCredentials.Password)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	profile := `{"interactionID":"i-1","visitID":"v-1","channels":["chat"],"userData":{"cart":1},"orsSession":"s-9"}`
	if code, body := post("/server/data/gateway/engage", "ixnProfile", profile); code != 200 || body["status"] != "OK" {
		t.Fatalf("engage through the relay: %d %v", code, body)
	}
	if code, _ := post("/server/data/gateway/noengage", "cancelData", `{"interactionID":"i-1","visitID":"v-1"}`); code != 200 {
		t.Fatalf("cancel through the relay: %d", code)
	}
	var want gateway.Profile
	json.Unmarshal([]byte(profile), &want)
	if diff := cmp.Diff([]gateway.Profile{want}, got); diff != "" {
		t.Errorf("B got (-want +got):\n%s", diff)
	}
	if len(cancelled) != 1 || cancelled[0].InteractionID != "i-1" {
		t.Errorf("B cancelled %+v", cancelled)
	}
	// B's strict-mode refusal reaches the strategy as B said it.
	code, body := post("/server/data/gateway/engage", "ixnProfile", strings.Replace(profile, "v-1", "busy", 1))
	if code != 400 || body["code"] != "ENGAGEMENT_IN_PROGRESS" {
		t.Errorf("refusal through the relay: %d %v", code, body)
	}
	// A bad payload never leaves the edge.
	code, body = post("/server/data/gateway/engage", "ixnProfile", `{"visitID":"v-1"}`)
	if code != 400 || body["code"] != "VALIDATION" || len(got) != 1 {
		t.Errorf("invalid payload: %d %v, upstream saw %d", code, body, len(got))
	}
}

// TestRelayPassesUpstreamValidation: an upstream with stricter rules than
// the edge answers VALIDATION, and the strategy sees that answer, fields
// and all, rather than a 500.
func TestRelayPassesUpstreamValidation(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		io.WriteString(w, `{"status":"FAULT","code":"VALIDATION","message":"ixnProfile is invalid","fields":[{"field":"language","rule":"oneof","message":"language must be en or fr"}]}`)
	}))
	defer upstream.Close()
	a, _ := NewRelay(upstream.URL, nil, edgeCredentials, slog.New(slog.NewTextHandler(io.Discard, nil)))
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/server/data/gateway/engage", strings.NewReader(`{"interactionID":"i","visitID":"v","channels":["chat"],"language":"de"}`))
	r.Header.Set("Content-Type", "application/json")
	r.SetBasicAuth(edgeCredentials.User, edgeCredentials.Password)
	a.ServeHTTP(w, r)
	want := `{"status":"FAULT","code":"VALIDATION","message":"ixnProfile is invalid","fields":[{"field":"language","rule":"oneof","message":"language must be en or fr"}]}` + "\n"
	if w.Code != 400 || w.Body.String() != want {
		t.Errorf("got %d %s", w.Code, w.Body)
	}
}

// messenger is an upstream notifier that serves notify too.
type messenger struct {
	gateway.Funcs
	notify func(context.Context, *gateway.Notification) error
}

func (m messenger) Notify(ctx context.Context, n *gateway.Notification) error {
	return m.notify(ctx, n)
}

// TestRelayAuthenticates: the relay refuses engage, noengage and notify
// without its credentials (401, before the upstream is asked) and relays
// them with its credentials, or with none under -insecure; it relays with
// the upstream's credentials, never with the ones the strategy sent.
func TestRelayAuthenticates(t *testing.T) {
	var mu sync.Mutex
	var seen []string // the upstream's paths, each with the user it was sent
	record := func(r *http.Request) {
		user, _, _ := r.BasicAuth()
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r.URL.Path+" as "+user)
	}
	upstreamHandler := gateway.NewHandler(messenger{
		Funcs:  gateway.Funcs{},
		notify: func(context.Context, *gateway.Notification) error { return nil },
	}, &gateway.Options{Authenticate: gateway.BasicAuth("relay", "upstream-pw", "upstream")})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(r)
		upstreamHandler.ServeHTTP(w, r)
	}))
	defer upstream.Close()

	requests := []struct{ path, param, object string }{
		{"/server/data/gateway/engage", "ixnProfile", `{"interactionID":"i-1","visitID":"v-1","channels":["chat"]}`},
		{"/server/data/gateway/noengage", "cancelData", `{"interactionID":"i-1","visitID":"v-1"}`},
		{"/server/data/notification/notify/v-1", "messages", `[{"channel":"shop.cart","data":{"items":2}}]`},
	}
	for _, tc := range []struct {
		name       string
		flags      []string
		user, pass string // empty: no Authorization header
		wantStatus int
	}{
		{"no credentials are refused", nil, "", "", 401},
		{"a wrong password is refused", nil, "engage", "wrong", 401},
		{"the upstream's credentials are refused", nil, "relay", "upstream-pw", 401},
		{"the relay's credentials are relayed", []string{"-password", "edge-pw"}, "engage", "edge-pw", 200},
		{"-insecure relays without credentials", []string{"-insecure"}, "", "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(engageauth.EnvUser, "")
			t.Setenv(engageauth.EnvPassword, "")
			fs := flag.NewFlagSet("relay", flag.ContinueOnError)
			credentials := engageauth.Flags(fs)
			if err := fs.Parse(tc.flags); err != nil {
				t.Fatal(err)
			}
			a, err := NewRelay(upstream.URL, &gateway.ClientOptions{Username: "relay", Password: "upstream-pw"}, credentials(), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			seen = nil
			mu.Unlock()
			var want []string
			for _, req := range requests {
				w := httptest.NewRecorder()
				r := httptest.NewRequest("POST", req.path, strings.NewReader(url.Values{req.param: {req.object}}.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if tc.user != "" {
					r.SetBasicAuth(tc.user, tc.pass)
				}
				a.ServeHTTP(w, r)
				if w.Code != tc.wantStatus {
					t.Errorf("%s: %d %s, want %d", req.path, w.Code, w.Body, tc.wantStatus)
				}
				if tc.wantStatus == 401 && w.Header().Get("WWW-Authenticate") != `Basic realm="gateway", charset="UTF-8"` {
					t.Errorf("%s: WWW-Authenticate %q", req.path, w.Header().Get("WWW-Authenticate"))
				}
				if tc.wantStatus == 200 {
					want = append(want, req.path+" as relay") // the client's default paths are 8.5's
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(want, seen); diff != "" {
				t.Errorf("the upstream saw (-want +got):\n%s", diff)
			}
		})
	}
}
