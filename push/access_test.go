package push_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
	"github.com/google/go-cmp/cmp"
)

// tokenEnv is newEnv with tokens signed by key1 required, unless opts says
// otherwise.
func tokenEnv(t *testing.T, opts *push.Options) *env {
	t.Helper()
	if opts == nil {
		opts = &push.Options{}
	}
	if opts.TokenKeys == nil {
		opts.TokenKeys = []push.TokenKey{key1}
		opts.RequireToken = true
	}
	return newEnv(t, opts)
}

// token mints a token signed by key1 at the env's time, for ttl.
func (e *env) token(t *testing.T, visitID, pageID string, ttl time.Duration) string {
	t.Helper()
	now := e.clock.Now()
	return mint(t, key1, push.TokenClaims{VisitID: visitID, PageID: pageID, IssuedAt: now, Expiry: now.Add(ttl)})
}

// request sends a request that is not a stream the broker opens, and
// returns the answer with its body read.
func (e *env) request(t *testing.T, method, path string, hdr http.Header, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	for k, v := range hdr {
		req.Header[k] = v
	}
	if host := hdr.Get("Host"); host != "" {
		req.Host = host
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == 200 && resp.Header.Get("Content-Type") == "text/event-stream" {
		return resp, "" // a stream: not read
	}
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

var jsonType = http.Header{"Content-Type": {"application/json"}}

func merge(hs ...http.Header) http.Header {
	out := http.Header{}
	for _, h := range hs {
		for k, v := range h {
			out[k] = append(out[k], v...)
		}
	}
	return out
}

// TestTokensAreRequired: with RequireToken, a stream or a disposition is
// let in only with a valid token for its visit (and page); the visitID
// alone, or any other token, is 401 with a Bearer challenge.
func TestTokensAreRequired(t *testing.T) {
	t.Parallel()
	e := tokenEnv(t, nil)
	if err := e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"}); err != nil {
		t.Fatal(err)
	}
	visit := e.token(t, "v-1", "", time.Minute)
	page := e.token(t, "v-1", "p-1", time.Minute)
	other := e.token(t, "v-2", "", time.Minute)
	expired := mint(t, key1, push.TokenClaims{VisitID: "v-1", IssuedAt: e.clock.Now().Add(-time.Hour), Expiry: e.clock.Now().Add(-time.Second)})
	unknownKey := mint(t, key0, push.TokenClaims{VisitID: "v-1", IssuedAt: e.clock.Now(), Expiry: e.clock.Now().Add(time.Minute)})
	const answer = `{"interactionID":"i-1","result":"rejected"}`

	type want struct {
		Status    int
		Challenge string
		Message   string
	}
	missing := want{401, `Bearer realm="visitor"`, "a visitor token is required"}
	invalid := want{401, `Bearer realm="visitor", error="invalid_token"`, "the visitor token is invalid"}
	for _, tc := range []struct {
		name, method, path string
		hdr                http.Header
		body               string
		want               want
	}{
		{"the visitID alone opens no stream", "GET", "/notification/v-1", nil, "", missing},
		{"a token of another visit opens no stream", "GET", "/notification/v-1?token=" + other, nil, "", invalid},
		{"a page's token opens no stream without its pageID", "GET", "/notification/v-1?token=" + page, nil, "", invalid},
		{"a page's token opens no stream of another page", "GET", "/notification/v-1?pageID=p-2&token=" + page, nil, "", invalid},
		{"an expired token opens no stream, and says so", "GET", "/notification/v-1?token=" + expired, nil, "", want{401, `Bearer realm="visitor", error="invalid_token"`, "the visitor token has expired"}},
		{"a token of a key not listed opens no stream", "GET", "/notification/v-1?token=" + unknownKey, nil, "", invalid},
		{"a bad token in the header is not saved by a good one in the query", "GET", "/notification/v-1?token=" + visit, bearer(other), "", invalid},
		{"a Basic Authorization is no token", "GET", "/notification/v-1", http.Header{"Authorization": {"Basic dTpw"}}, "", missing},
		{"the visitID alone answers nothing", "POST", "/notification/v-1/disposition", jsonType, answer, missing},
		{"a disposition takes no token from the query", "POST", "/notification/v-1/disposition?token=" + visit, jsonType, answer, missing},
		{"a token of another visit answers nothing", "POST", "/notification/v-1/disposition", merge(jsonType, bearer(other)), answer, invalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.request(t, tc.method, tc.path, tc.hdr, tc.body)
			var f struct{ Message string }
			gatewayFault(body, &f)
			got := want{resp.StatusCode, resp.Header.Get("WWW-Authenticate"), f.Message}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if n := len(e.dispositions); n != 0 {
		t.Errorf("%d dispositions applied, want none", n)
	}

	for _, tc := range []struct {
		name, path string
		hdr        http.Header
	}{
		{"a token in the query opens the stream", "/notification/v-1?token=" + visit, nil},
		{"a token in the Authorization header opens the stream", "/notification/v-1", bearer(visit)},
		{"a visit's token opens any page of it", "/notification/v-1?pageID=p-9&token=" + visit, nil},
		{"a page's token opens that page", "/notification/v-1?pageID=p-1&token=" + page, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := e.subscribe(t, tc.path, tc.hdr)
			wantEngage(t, s.next(t), "i-1")
			s.close()
		})
	}
	t.Run("a token in the Authorization header answers", func(t *testing.T) {
		resp, body := e.request(t, "POST", "/notification/v-1/disposition", merge(jsonType, bearer(page)), answer)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if diff := cmp.Diff([]push.Disposition{{VisitID: "v-1", InteractionID: "i-1", Result: "rejected"}}, e.dispositions); diff != "" {
			t.Errorf("dispositions (-want +got):\n%s", diff)
		}
	})
}

// gatewayFault reads a FAULT body.
func gatewayFault(body string, into any) { json.Unmarshal([]byte(body), into) }

// forge flips a bit of tok's signature.
func forge(tok string) string {
	i := strings.LastIndexByte(tok, '.')
	return tok[:i+1] + flipLast(tok[i+1:])
}

// TestRefusedRequestsTakeNoRoom: a request refused for its token is
// refused before it counts: it takes no subscriber slot and closes none
// of the visit's tabs.
func TestRefusedRequestsTakeNoRoom(t *testing.T) {
	t.Parallel()
	e := tokenEnv(t, &push.Options{MaxSubscribers: 2, MaxSubscribersPerVisit: 2})
	tab := e.subscribe(t, "/notification/v-1?token="+e.token(t, "v-1", "", time.Hour), nil)
	tab.quiet(t)
	forged := craft(`{"alg":"HS256","kid":"k1"}`, `{"sub":"v-1","exp":9999999999}`, key0.Secret)
	for i := range 40 {
		path := "/notification/v-1"
		if i%2 == 1 {
			path += "?token=" + forged
		}
		if resp, body := e.request(t, "GET", path, nil, ""); resp.StatusCode != 401 {
			t.Fatalf("request %d: %d %s, want 401", i, resp.StatusCode, body)
		}
	}
	if n := e.b.Stats().Subscribers; n != 1 {
		t.Errorf("subscribers = %d, want 1", n)
	}
	if err := e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"}); err != nil {
		t.Fatal(err)
	}
	wantEngage(t, tab.next(t), "i-1") // the tab is still open
	// and there is room for one more stream, of another visit
	e.subscribe(t, "/notification/v-2?token="+e.token(t, "v-2", "", time.Hour), nil).quiet(t)
}

// TestTokenExpiryClosesTheStream: a stream is closed with a token-expired
// event when its token expires; the page reconnects with a new token and
// Last-Event-ID and finds its invitation pending, and may answer it. Over
// HTTP/1.1 (a hijacked connection) and HTTP/2 (a waiting handler) alike.
func TestTokenExpiryClosesTheStream(t *testing.T) {
	t.Parallel()
	for _, h2 := range []bool{false, true} {
		name := "HTTP/1.1"
		if h2 {
			name = "HTTP/2"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := tokenEnv(t, nil)
			if h2 {
				e.srv.Close()
				e.srv = httptest.NewUnstartedServer(e.srv.Config.Handler)
				e.srv.EnableHTTP2 = true
				e.srv.StartTLS()
				t.Cleanup(e.srv.Close)
			}
			start := e.clock.Now()
			s := e.subscribe(t, "/notification/v-1?pageID=p-1&token="+e.token(t, "v-1", "p-1", 2*time.Minute), nil)
			if err := e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1", ExpiresIn: 600}); err != nil {
				t.Fatal(err)
			}
			wantEngage(t, s.next(t), "i-1")

			e.b.ExpireTokens(start.Add(2*time.Minute - time.Second))
			s.quiet(t) // not yet

			e.clock.Add(2 * time.Minute)
			e.b.ExpireTokens(e.clock.Now())
			if ev := s.next(t); ev.Type != "token-expired" {
				t.Fatalf("got %s %v, want token-expired", ev.Type, ev.Data)
			}
			for ev := range s.events {
				if ev.Type != "heartbeat" {
					t.Errorf("%s event after token-expired", ev.Type)
				}
			}
			eventually(t, "the stream is forgotten", func() bool { return e.b.Stats().Subscribers == 0 })
			if err := e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"}); err != nil {
				t.Fatal(err)
			}

			// The old token opens nothing now; a new one does.
			old := "/notification/v-1?pageID=p-1&token=" + e.token(t, "v-1", "p-1", 2*time.Minute)
			e.clock.Add(2 * time.Minute)
			if resp, body := e.request(t, "GET", old, nil, ""); resp.StatusCode != 401 || !strings.Contains(body, "expired") {
				t.Errorf("the old token: %d %s, want 401 expired", resp.StatusCode, body)
			}
			fresh := e.token(t, "v-1", "p-1", 2*time.Minute)
			back := e.subscribe(t, "/notification/v-1?pageID=p-1&lastEventId=i-1&token="+fresh, nil)
			back.quiet(t) // what the page shows is not sent again
			other := e.subscribe(t, "/notification/v-1?pageID=p-1&token="+fresh, nil)
			wantEngage(t, other.next(t), "i-1") // and it is still pending
			resp, body := e.request(t, "POST", "/notification/v-1/disposition", merge(jsonType, bearer(fresh)), `{"interactionID":"i-1","result":"accepted","channel":"chat"}`)
			if resp.StatusCode != 200 {
				t.Fatalf("answer with the new token: %d %s", resp.StatusCode, body)
			}
			wantCancel(t, other.next(t), "i-1", "accepted")
		})
	}
}

// TestTokenTimerClosesTheStreamOnTime: with the real clock, the broker's
// timer closes a stream within a second of its token's expiry, with no
// call from the test.
func TestTokenTimerClosesTheStreamOnTime(t *testing.T) {
	t.Parallel()
	b := push.NewBroker(&push.Options{TokenKeys: []push.TokenKey{key1}, RequireToken: true, Heartbeat: time.Hour})
	srv := httptest.NewServer(b)
	t.Cleanup(func() {
		b.Shutdown(context.Background())
		srv.Close()
	})
	e := &env{b: b, srv: srv}
	now := time.Now()
	expiry := now.Truncate(time.Second).Add(2 * time.Second) // as the token writes it
	var streams []*stream
	for i := range 3 { // three streams, expiring together and later
		tok := mint(t, key1, push.TokenClaims{VisitID: "v-1", IssuedAt: now, Expiry: expiry.Add(time.Duration(i/2) * time.Second)})
		streams = append(streams, e.subscribe(t, "/notification/v-1?token="+tok, nil))
	}
	for i, s := range streams {
		ev := s.next(t)
		if ev.Type != "token-expired" {
			t.Fatalf("stream %d: got %s, want token-expired", i, ev.Type)
		}
		due := expiry.Add(time.Duration(i/2) * time.Second)
		if late := time.Since(due); late < 0 || late > time.Second {
			t.Errorf("stream %d closed %v after its token expired, want within 1s", i, late)
		}
	}
}

// TestCredentialedCORS: a listed origin is answered with itself and
// Access-Control-Allow-Credentials, its preflight allows Authorization;
// an origin let in by "*" gets no credentials; another is 403, before its
// token is looked at.
func TestCredentialedCORS(t *testing.T) {
	t.Parallel()
	e := tokenEnv(t, &push.Options{TokenKeys: []push.TokenKey{key1}, RequireToken: true, AllowedOrigins: []string{"https://shop.example", "*"}})
	listedOnly := tokenEnv(t, &push.Options{TokenKeys: []push.TokenKey{key1}, RequireToken: true, AllowedOrigins: []string{"https://shop.example"}})
	tok := e.token(t, "v-1", "", time.Minute)
	type want struct {
		Status                                      int
		AllowOrigin, AllowCredentials, AllowHeaders string
	}
	preflight := http.Header{"Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"authorization,content-type"}}
	for _, tc := range []struct {
		name, method, path string
		env                *env
		hdr                http.Header
		want               want
	}{
		{"a listed origin's preflight allows the Authorization header with credentials", "OPTIONS", "/notification/v-1/disposition", e,
			merge(preflight, http.Header{"Origin": {"https://shop.example"}}),
			want{204, "https://shop.example", "true", "Authorization, Content-Type, Last-Event-ID"}},
		{"a listed origin's stream is answered with credentials", "GET", "/notification/v-1?token=" + tok, e,
			http.Header{"Origin": {"https://shop.example"}},
			want{200, "https://shop.example", "true", ""}},
		{"a listed origin reads its 401", "GET", "/notification/v-1", e,
			http.Header{"Origin": {"https://shop.example"}},
			want{401, "https://shop.example", "true", ""}},
		{"an origin let in by * gets no credentials", "GET", "/notification/v-1?token=" + tok, e,
			http.Header{"Origin": {"https://other.example"}},
			want{200, "https://other.example", "", ""}},
		{"an origin not listed is 403 before its token counts", "GET", "/notification/v-1?token=" + tok, listedOnly,
			http.Header{"Origin": {"https://other.example"}},
			want{403, "", "", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := tc.env.request(t, tc.method, tc.path, tc.hdr, "")
			h := resp.Header
			got := want{resp.StatusCode, h.Get("Access-Control-Allow-Origin"), h.Get("Access-Control-Allow-Credentials"), h.Get("Access-Control-Allow-Headers")}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s\n%s", diff, body)
			}
			if v := h.Values("Vary"); len(v) != 1 || v[0] != "Origin" {
				t.Errorf("Vary %q, want Origin", v)
			}
		})
	}
	if n := listedOnly.b.Stats().Subscribers; n != 0 {
		t.Errorf("the refused origin's stream counts: %d subscribers", n)
	}
}

// TestTrustedHosts: with TrustedHosts, a request to another Host is 403,
// and only an Origin of a trusted host is the server's own; a DNS-rebinding
// page, whose Origin and Host agree on its own name, is refused. Without
// TrustedHosts the Host header is trusted, as it always was.
func TestTrustedHosts(t *testing.T) {
	t.Parallel()
	trusting := newEnv(t, &push.Options{Authorize: func(*http.Request, string) error { return nil }})
	strict := newEnv(t, &push.Options{TrustedHosts: []string{"gwe.example", "GWE.example:8443"}, Authorize: func(*http.Request, string) error { return nil }})
	for _, tc := range []struct {
		name         string
		env          *env
		host, origin string
		want         int
	}{
		{"a trusted host without an Origin", strict, "gwe.example", "", 204},
		{"a trusted host in another case, with its port", strict, "gwe.EXAMPLE:8443", "", 204},
		{"a trusted host's own page", strict, "gwe.example", "https://gwe.example", 204},
		{"a trusted host's own page, on the port it is listed with", strict, "gwe.example", "https://gwe.example:8443", 204},
		{"a DNS-rebinding page", strict, "evil.example:80", "http://evil.example:80", 403},
		{"a DNS-rebinding request without an Origin", strict, "evil.example", "", 403},
		{"another page to a trusted host", strict, "gwe.example", "http://evil.example", 403},
		{"a DNS-rebinding page, Host trusted as before", trusting, "evil.example:80", "http://evil.example:80", 204},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := http.Header{"Host": {tc.host}}
			if tc.origin != "" {
				hdr.Set("Origin", tc.origin)
			}
			resp, body := tc.env.request(t, "OPTIONS", "/notification/v-1", hdr, "")
			if resp.StatusCode != tc.want {
				t.Errorf("%d %s, want %d", resp.StatusCode, body, tc.want)
			}
		})
	}
}

// TestStartupWarnings: NewBroker warns once when visits are open to whoever
// knows a visitID, and when tokens are checked but not required.
func TestStartupWarnings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts push.Options
		want int
	}{
		{"no keys and no Authorize", push.Options{}, 1},
		{"keys without RequireToken", push.Options{TokenKeys: []push.TokenKey{key1}}, 1},
		{"keys required", push.Options{TokenKeys: []push.TokenKey{key1}, RequireToken: true}, 0},
		{"an Authorize of the host's own", push.Options{Authorize: func(*http.Request, string) error { return nil }}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			tc.opts.Logger = slog.New(slog.NewTextHandler(&out, nil))
			b := push.NewBroker(&tc.opts)
			b.Shutdown(context.Background())
			if got := strings.Count(out.String(), "level=WARN"); got != tc.want {
				t.Errorf("%d warnings, want %d:\n%s", got, tc.want, out.String())
			}
		})
	}
}

func TestNewBrokerRefusesBadKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts push.Options
	}{
		{"RequireToken without keys", push.Options{RequireToken: true}},
		{"a secret of 31 bytes", push.Options{TokenKeys: []push.TokenKey{{ID: "k1", Secret: key1.Secret[:31]}}}},
		{"a key without an ID", push.Options{TokenKeys: []push.TokenKey{{Secret: key1.Secret}}}},
		{"two keys with one ID", push.Options{TokenKeys: []push.TokenKey{key1, {ID: "k1", Secret: key0.Secret}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(r.(string), "push: ") {
					t.Errorf("panic %v, want one that starts with push:", r)
				}
			}()
			push.NewBroker(&tc.opts).Shutdown(context.Background())
		})
	}
}

// TestNoTokenInAnyLog runs a full flow, with tokens valid, expired, forged
// and misplaced, and every log at its most verbose: the broker's, the
// handler's and net/http's (which, on Go 1.26, has nothing to say of these
// requests). No token, and no part of one, is ever written.
func TestNoTokenInAnyLog(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clk := &clock{now: time.Now()}
	b := push.NewBroker(&push.Options{
		TokenKeys: []push.TokenKey{key1}, RequireToken: true, Logger: logger, Now: clk.Now,
		AllowedOrigins: []string{"https://shop.example"}, Heartbeat: 40 * time.Millisecond,
		OnDisposition: func(ctx context.Context, d push.Disposition) { logger.InfoContext(ctx, "disposition", "d", d) },
	})
	mux := http.NewServeMux()
	mux.Handle("/notification/", b)
	mux.Handle("/server/data/gateway/", gateway.NewHandler(b, &gateway.Options{Logger: logger}))
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ErrorLog = log.New(&logs, "net/http: ", 0)
	srv.Start()
	t.Cleanup(func() {
		b.Shutdown(context.Background())
		srv.Close()
	})
	e := &env{b: b, srv: srv, clock: clk}

	var tokens []string
	tok := func(t *testing.T, visitID, pageID string, from, to time.Duration) string {
		t.Helper()
		now := clk.Now()
		s := mint(t, key1, push.TokenClaims{VisitID: visitID, PageID: pageID, IssuedAt: now.Add(from), Expiry: now.Add(to)})
		tokens = append(tokens, s)
		return s
	}
	valid := tok(t, "v-1", "p-1", 0, time.Minute)
	post := func(param, value string) {
		resp, err := srv.Client().PostForm(srv.URL+"/server/data/gateway/"+map[string]string{"ixnProfile": "engage", "cancelData": "noengage"}[param], url.Values{param: {value}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	post("ixnProfile", `{"interactionID":"i-1","visitID":"v-1","channels":["chat"]}`)
	post("ixnProfile", `{"interactionID":"i-2","visitID":"v-1"}`) // a VALIDATION fault, logged

	s := e.subscribe(t, "/notification/v-1?pageID=p-1&token="+valid, http.Header{"Origin": {"https://shop.example"}})
	wantEngage(t, s.next(t), "i-1")
	for _, path := range []string{
		"/notification/v-1?pageID=p-1&token=" + tok(t, "v-1", "p-1", -time.Hour, -time.Minute),         // expired
		"/notification/v-1?token=" + tok(t, "v-2", "", 0, time.Minute),                                 // another visit
		"/notification/v-1?pageID=p-2&token=" + tok(t, "v-1", "p-1", 0, time.Minute),                   // another page
		"/notification/v-1?token=" + tok(t, "v-1", "", time.Hour, 2*time.Hour),                         // not yet valid
		"/notification/v-1?token=" + forge(valid),                                                      // forged
		"/notification/v-1?token=" + valid + ";x=1",                                                    // net/http warns of the semicolon
		"/notification/" + strings.Repeat("v", 200) + "?token=" + valid,                                // an invalid visitID
		"/notification/v-1?pageID=p-1&token=" + tokenOfManyBytes(tok(t, "v-1", "p-1", 0, time.Minute)), // too long
	} {
		e.request(t, "GET", path, http.Header{"Origin": {"https://shop.example"}}, "")
	}
	e.request(t, "POST", "/notification/v-1/disposition", merge(jsonType, bearer(tok(t, "v-2", "", 0, time.Minute))), `{"interactionID":"i-1","result":"accepted","channel":"chat"}`)
	e.request(t, "POST", "/notification/v-1/disposition", merge(jsonType, bearer(valid)), `{"interactionID":"i-1","result":"accepted","channel":"nope"}`)
	if resp, body := e.request(t, "POST", "/notification/v-1/disposition", merge(jsonType, bearer(valid)), `{"interactionID":"i-1","result":"accepted","channel":"chat"}`); resp.StatusCode != 200 {
		t.Fatalf("disposition: %d %s", resp.StatusCode, body)
	}
	wantCancel(t, s.next(t), "i-1", "accepted")
	clk.Add(time.Minute)
	b.ExpireTokens(clk.Now())
	if ev := s.next(t); ev.Type != "token-expired" {
		t.Fatalf("got %s, want token-expired", ev.Type)
	}
	b.Shutdown(context.Background())

	text := logs.String()
	for _, want := range []string{"push: request refused", "push: streams closed as their tokens expired", "msg=disposition"} {
		if !strings.Contains(text, want) {
			t.Errorf("the logs do not say %q: the flow did not run as planned", want)
		}
	}
	for _, token := range tokens {
		for i, part := range strings.Split(token, ".") {
			if i == 0 {
				continue // the header is the same in every token: it is no secret
			}
			if strings.Contains(text, part[:16]) {
				t.Errorf("the logs hold a part of a token (%s):\n%s", part[:16], text)
			}
		}
	}
}

// tokenOfManyBytes is a token padded past MaxTokenBytes.
func tokenOfManyBytes(tok string) string {
	return tok + strings.Repeat("A", push.MaxTokenBytes)
}

// syncBuffer is a bytes.Buffer that several loggers may write at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
