package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/engagekit/gateway/examples/internal/engageauth"
	"github.com/engagekit/gateway/examples/internal/shop"
	"github.com/engagekit/gateway/push"
)

// TestBrowserRetriesARefusedStream has the demo's page's first three
// streams refused with 503, as a busy or draining server refuses them, in
// real headless Chromium: visitor.js tries again after waits that double
// (jittered: 1 to 2 s, then 2 to 4 s, after a first retry that may get a
// new token at once) and connects on the fourth.
func TestBrowserRetriesARefusedStream(t *testing.T) {
	ctx := newBrowser(t)
	key, _ := push.NewTokenKey("k1")
	d := NewDemo(Config{
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Security: shop.Security{Credentials: engageauth.Credentials{User: user, Password: password}, TokenKey: &key},
	})
	const refuse = 3
	var mu sync.Mutex
	var tries []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			mu.Lock()
			tries = append(tries, time.Now())
			n := len(tries)
			mu.Unlock()
			if n <= refuse {
				w.Header().Set("Retry-After", "5")
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
		}
		d.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.Broker.Shutdown(ctx)
		srv.Close()
	})
	do(t, ctx, "open the demo page", chromedp.Navigate(srv.URL), chromedp.WaitReady("#visit"))
	wantStatus(t, ctx, "connected")
	mu.Lock()
	defer mu.Unlock()
	if len(tries) != refuse+1 {
		t.Fatalf("%d stream requests, want %d", len(tries), refuse+1)
	}
	for i, least := range []time.Duration{0, 0, time.Second, 2 * time.Second} {
		if i == 0 {
			continue
		}
		if gap := tries[i].Sub(tries[i-1]); gap < least || gap > 2*least+time.Second {
			t.Errorf("try %d came %v after the one before, want %v to %v", i+1, gap, least, 2*least)
		}
	}
}
