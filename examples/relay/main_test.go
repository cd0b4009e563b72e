package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/engagekit/gateway"
	"github.com/google/go-cmp/cmp"
)

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
	a, err := NewRelay(b.URL, &gateway.ClientOptions{Paths: gateway.Paths812, Username: "relay", Password: "pw"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	edge := httptest.NewServer(a)
	defer edge.Close()

	post := func(path, param, object string) (int, map[string]any) {
		resp, err := http.PostForm(edge.URL+path, url.Values{param: {object}})
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
	a, _ := NewRelay(upstream.URL, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/server/data/gateway/engage", strings.NewReader(`{"interactionID":"i","visitID":"v","channels":["chat"],"language":"de"}`))
	r.Header.Set("Content-Type", "application/json")
	a.ServeHTTP(w, r)
	want := `{"status":"FAULT","code":"VALIDATION","message":"ixnProfile is invalid","fields":[{"field":"language","rule":"oneof","message":"language must be en or fr"}]}` + "\n"
	if w.Code != 400 || w.Body.String() != want {
		t.Errorf("got %d %s", w.Code, w.Body)
	}
}
