package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/engagekit/gateway/examples/internal/engageauth"
	"github.com/engagekit/gateway/examples/internal/shop"
	"github.com/engagekit/gateway/push"
)

// TestSecureByDefault: with credentials and a key, engage wants the
// credentials and a stream its token; -insecure (Security.Insecure) lets
// both in without, as the demo did before.
func TestSecureByDefault(t *testing.T) {
	key, _ := push.NewTokenKey("k1")
	for _, tc := range []struct {
		name             string
		sec              shop.Security
		engage, withAuth int // without credentials, with them
		stream           int // with the visitID alone
	}{
		{"secure", shop.Security{Credentials: engageauth.Credentials{User: user, Password: password}, TokenKey: &key}, 401, 200, 401},
		{"insecure", shop.Security{Credentials: engageauth.Credentials{Insecure: true}}, 200, 200, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDemo(Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Security: tc.sec})
			srv := httptest.NewServer(d.Handler)
			defer func() {
				d.Broker.Shutdown(context.Background())
				srv.Close()
			}()
			status := func(req *http.Request) int {
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			engage := func(id string, auth bool) int {
				req, _ := http.NewRequest("POST", srv.URL+"/server/data/gateway/engage",
					strings.NewReader(url.Values{"ixnProfile": {`{"interactionID":"` + id + `","visitID":"v-` + id + `","channels":["chat"]}`}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if auth {
					req.SetBasicAuth(user, password)
				}
				return status(req)
			}
			if got := engage("i-1", false); got != tc.engage {
				t.Errorf("engage without credentials: %d, want %d", got, tc.engage)
			}
			if got := engage("i-2", true); got != tc.withAuth {
				t.Errorf("engage with credentials: %d, want %d", got, tc.withAuth)
			}
			// A page on another site posting through the visitor's
			// browser (a form, no preflight) is refused, credentials or not.
			req, _ := http.NewRequest("POST", srv.URL+"/server/data/gateway/engage",
				strings.NewReader(url.Values{"ixnProfile": {`{"interactionID":"i-3","visitID":"v-3","channels":["chat"]}`}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", "https://elsewhere.example")
			req.SetBasicAuth(user, password)
			if got := status(req); got != http.StatusForbidden {
				t.Errorf("engage from a browser on another site: %d, want 403", got)
			}
			req, _ = http.NewRequest("GET", srv.URL+"/notification/v-1", nil)
			if got := status(req); got != tc.stream {
				t.Errorf("stream with the visitID alone: %d, want %d", got, tc.stream)
			}
		})
	}
}
