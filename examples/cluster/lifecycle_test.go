package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/engagekit/gateway/examples/internal/engageauth"
	"github.com/engagekit/gateway/examples/internal/fanout/fanouttest"
	"github.com/engagekit/gateway/examples/internal/lifecycle"
	"github.com/engagekit/gateway/examples/internal/shop"
	"github.com/engagekit/gateway/push"
	"github.com/engagekit/gateway/webhook"
)

// TestClusterSendsEachOutcomeOnce starts the cluster with -webhook,
// -webhook-secret and -cooldown on each backend: an outcome seen by both
// instances reaches the webhook once, and a rejection on one instance
// suppresses the next engage on the other.
func TestClusterSendsEachOutcomeOnce(t *testing.T) {
	for _, backend := range []string{"nats", "redis"} {
		t.Run(backend, func(t *testing.T) {
			if backend == "redis" {
				fanouttest.NeedRedisServer(t)
			}
			sendsEachOutcomeOnce(t, backend)
		})
	}
}

func sendsEachOutcomeOnce(t *testing.T, backend string) {
	var mu sync.Mutex
	got := map[string]int{} // requests by webhook-id
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get("webhook-id")]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	setup := lifecycle.Flags(fs)
	if err := fs.Parse([]string{"-webhook", hook.URL, "-webhook-secret", webhook.NewSecret(), "-cooldown", "10m"}); err != nil {
		t.Fatal(err)
	}
	lc, err := setup(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Start(ctx, Config{Addrs: []string{"127.0.0.1:0", "127.0.0.1:0"}, Backend: backend, Log: slog.New(slog.DiscardHandler), Security: shop.Security{Credentials: engageauth.Credentials{Insecure: true}}, Lifecycle: lc})
	if err != nil {
		t.Fatal(err)
	}
	post := func(u, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(u, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	engage := func(i int, visitID, interactionID string) (int, string) {
		return post(c.URLs[i]+"/server/data/gateway/engage?ixnProfile="+url.QueryEscape(`{"interactionID":"`+interactionID+`","visitID":"`+visitID+`","channels":["chat"]}`), "")
	}
	if code, body := engage(0, "v-1", "i-1"); code != 200 {
		t.Fatalf("engage: %d %s", code, body)
	}
	if code, body := post(c.URLs[1]+"/server/data/gateway/noengage?cancelData="+url.QueryEscape(`{"interactionID":"i-1","visitID":"v-1"}`), ""); code != 200 {
		t.Fatalf("cancel: %d %s", code, body)
	}
	if code, body := engage(1, "v-2", "i-1"); code != 200 {
		t.Fatalf("engage: %d %s", code, body)
	}
	// The answer on the other instance, once the engage has reached it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := post(c.URLs[0]+"/notification/v-2/disposition", `{"interactionID":"i-1","result":"rejected"}`)
		if code == 200 {
			break
		}
		if code != 404 || time.Now().After(deadline) {
			t.Fatalf("disposition: %d %s", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := engage(1, "v-2", "i-2"); code != 400 || !strings.Contains(body, `"code":"ENGAGEMENT_SUPPRESSED"`) || !strings.Contains(body, `"reason":"cooldown"`) {
		t.Errorf("an engage after the rejection, on the other instance: %d %s, want 400 ENGAGEMENT_SUPPRESSED cooldown", code, body)
	}
	c.Stop(ctx) // every outcome queued is sent before the brokers stop
	if err := lc.Close(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, o := range []push.Outcome{
		{VisitID: "v-1", InteractionID: "i-1", Result: push.ResultCancelled},
		{VisitID: "v-2", InteractionID: "i-1", Result: push.ResultRejected},
		{VisitID: "v-2", InteractionID: "i-2", Result: push.ResultSuppressed},
	} {
		want[webhook.MessageID(o)] = 1
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("webhook requests by webhook-id (-want +got):\n%s", diff)
	}
}
