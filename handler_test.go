package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// recorder is a Notifier that keeps copies of what it was given.
type recorder struct {
	mu        sync.Mutex
	engaged   []gateway.Profile
	cancelled []gateway.CancelData
	err       error
}

var _ gateway.Notifier = (*recorder)(nil)

func (r *recorder) Engage(_ context.Context, p *gateway.Profile) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.engaged = append(r.engaged, *p)
	return nil
}

func (r *recorder) Cancel(_ context.Context, c *gateway.CancelData) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.cancelled = append(r.cancelled, *c)
	return nil
}

// response is a decoded answer of the handler.
type response struct {
	Status        string               `json:"status"`
	InteractionID string               `json:"interactionID,omitempty"`
	Code          string               `json:"code,omitempty"`
	Message       string               `json:"message,omitempty"`
	Fields        []gateway.FieldError `json:"fields,omitempty"`
	Reason        string               `json:"reason,omitempty"`
}

func do(t *testing.T, h http.Handler, method, target, contentType, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func decode(t *testing.T, w *httptest.ResponseRecorder) response {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" && w.Code != http.StatusNoContent {
		t.Errorf("Content-Type = %q, want application/json; charset=utf-8", ct)
	}
	var resp response
	if w.Code != http.StatusNoContent {
		dec := json.NewDecoder(w.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&resp); err != nil {
			t.Fatalf("response is not the documented JSON: %v", err)
		}
	}
	return resp
}

const profileJSON = `{"interactionID":"0001Ba8MHP5U000A","visitID":"f24c60f6-0728-4f3d-b8b4-1e7bad2dc8a3",` +
	`"pageID":"5c911f90-3fa3-11e2-aee5-00505625a04f","channels":["chat","callback"],"language":"en",` +
	`"invitation":{"title":"Need a hand?","message":"An agent can help you finish your order."},` +
	`"userData":{"segment":"gold","cartValue":129.5},"strategyTag":{"step":3,"list":[1,"two",null]}}`

var wantProfile = gateway.Profile{
	InteractionID: "0001Ba8MHP5U000A",
	VisitID:       "f24c60f6-0728-4f3d-b8b4-1e7bad2dc8a3",
	PageID:        "5c911f90-3fa3-11e2-aee5-00505625a04f",
	Channels:      []string{"chat", "callback"},
	Language:      "en",
	Invitation:    &gateway.Invitation{Title: "Need a hand?", Message: "An agent can help you finish your order."},
	UserData:      json.RawMessage(`{"segment":"gold","cartValue":129.5}`),
	Extra:         map[string]json.RawMessage{"strategyTag": json.RawMessage(`{"step":3,"list":[1,"two",null]}`)},
}

func multipartBody(t *testing.T, fields map[string]string) (string, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	mw.Close()
	return mw.FormDataContentType(), b.String()
}

func TestEveryEncodingGivesTheSameProfile(t *testing.T) {
	t.Parallel()
	form := "ixnProfile=" + url.QueryEscape(profileJSON)
	doubled, _ := json.Marshal(profileJSON)
	mpType, mpBody := multipartBody(t, map[string]string{"ixnProfile": profileJSON, "other": "x"})
	const path = "/server/data/gateway/engage"
	for _, tc := range []struct {
		name, target, contentType, body string
	}{
		{"form body, as ORS sends it", path, "application/x-www-form-urlencoded", form},
		{"form body with charset and other parameters", path, "application/x-www-form-urlencoded; charset=UTF-8", "a=1&" + form + "&b=%20"},
		{"form body with an escaped parameter name", path, "application/x-www-form-urlencoded", "ixn%50rofile=" + url.QueryEscape(profileJSON)},
		{"query string and empty body", path + "?" + form, "application/x-www-form-urlencoded", ""},
		{"query string and no content type", path + "?" + form, "", ""},
		{"body wins over query", path + "?ixnProfile=" + url.QueryEscape(`{"broken`), "application/x-www-form-urlencoded", form},
		{"multipart form", path, mpType, mpBody},
		{"JSON wrapper holding the object", path, "application/json", `{"ixnProfile":` + profileJSON + `}`},
		{"JSON wrapper holding the object as text", path, "application/json", `{"ixnProfile":` + string(doubled) + `}`},
		{"bare JSON object", path, "application/json; charset=utf-8", profileJSON},
		{"+json media type", path, "application/vnd.gwe+json", profileJSON},
		{"no content type, JSON sniffed", path, "", "  \n" + profileJSON},
		{"no content type, form sniffed", path, "", form},
		{"older Backend Server path", "/backend/data/gateway/engage", "application/x-www-form-urlencoded", form},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			w := do(t, gateway.NewHandler(rec, nil), http.MethodPost, tc.target, tc.contentType, tc.body)
			resp := decode(t, w)
			if diff := cmp.Diff(response{Status: "OK", InteractionID: wantProfile.InteractionID}, resp); w.Code != 200 || diff != "" {
				t.Fatalf("status %d, response (-want +got):\n%s", w.Code, diff)
			}
			if len(rec.engaged) != 1 {
				t.Fatalf("notifier got %d engages, want 1", len(rec.engaged))
			}
			if diff := cmp.Diff(wantProfile, rec.engaged[0]); diff != "" {
				t.Errorf("Profile (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCancelReachesTheNotifier(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	h := gateway.NewHandler(rec, nil)
	body := "cancelData=" + url.QueryEscape(`{"interactionID":"0001Ba8MHP5U000A","visitID":"v-1","reason":"agentUnavailable","ors":{"session":"s1"}}`)
	w := do(t, h, http.MethodPost, "/server/data/gateway/noengage", "application/x-www-form-urlencoded", body)
	if resp := decode(t, w); w.Code != 200 || resp.Status != "OK" || resp.InteractionID != "0001Ba8MHP5U000A" {
		t.Fatalf("got %d %+v", w.Code, resp)
	}
	want := []gateway.CancelData{{InteractionID: "0001Ba8MHP5U000A", VisitID: "v-1", Reason: "agentUnavailable",
		Extra: map[string]json.RawMessage{"ors": json.RawMessage(`{"session":"s1"}`)}}}
	if diff := cmp.Diff(want, rec.cancelled); diff != "" {
		t.Errorf("CancelData (-want +got):\n%s", diff)
	}
}

// TestFaultResponses produces every row of contract §5 and compares the
// body with its golden file.
func TestFaultResponses(t *testing.T) {
	t.Parallel()
	form := "application/x-www-form-urlencoded"
	valid := "ixnProfile=" + url.QueryEscape(profileJSON)
	for _, tc := range []struct {
		name     string
		notifier error
		opts     *gateway.Options
		method   string
		path     string
		ct, body string
		status   int
		header   http.Header
	}{
		{name: "ok", status: 200},
		{name: "bad_request", body: "ixnProfile=" + url.QueryEscape(`{"visitID":`), status: 400},
		{name: "validation", body: "ixnProfile=" + url.QueryEscape(`{"interactionID":"a b","channels":["chat","chat","Bad"],"expiresIn":"soon","invitation":{"url":"ftp://x"}}`), status: 400},
		{name: "engagement_in_progress", notifier: fmt.Errorf("visit busy: %w", gateway.ErrEngagementInProgress), status: 400},
		{name: "unauthorized", opts: &gateway.Options{Authenticate: gateway.BasicAuth("ors", "secret", "gwe")}, status: 401,
			header: http.Header{"Www-Authenticate": {`Basic realm="gwe", charset="UTF-8"`}}},
		{name: "not_found", path: "/server/data/gateway/other", status: 404},
		{name: "method_not_allowed", method: http.MethodGet, status: 405, header: http.Header{"Allow": {"POST, OPTIONS"}}},
		{name: "payload_too_large", opts: &gateway.Options{MaxBodyBytes: 100}, status: 413},
		{name: "unsupported_media_type", ct: "text/plain", status: 415},
		{name: "unavailable", notifier: &gateway.Fault{Code: gateway.CodeUnavailable, RetryAfter: 2500 * time.Millisecond, Err: errors.New("nats down")}, status: 503,
			header: http.Header{"Retry-After": {"3"}}},
		{name: "internal", notifier: errors.New("db password wrong at 10.0.0.7"), status: 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := gateway.NewHandler(&recorder{err: tc.notifier}, tc.opts)
			method, path, ct, body := or(tc.method, http.MethodPost), or(tc.path, "/server/data/gateway/engage"), or(tc.ct, form), or(tc.body, valid)
			w := do(t, h, method, path, ct, body)
			if w.Code != tc.status {
				t.Errorf("status = %d, want %d", w.Code, tc.status)
			}
			for k, v := range tc.header {
				if diff := cmp.Diff(v, w.Header()[k]); diff != "" {
					t.Errorf("header %s (-want +got):\n%s", k, diff)
				}
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			golden := filepath.Join("testdata", "golden", tc.name+".json")
			if *update {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				if err := os.WriteFile(golden, w.Body.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), w.Body.String()); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func TestNewHandlerPanicsWithoutNotifier(t *testing.T) {
	t.Parallel()
	defer func() {
		if r := recover(); r == nil || !strings.HasPrefix(fmt.Sprint(r), "gateway: ") {
			t.Errorf("recover() = %v, want a panic prefixed gateway:", r)
		}
	}()
	gateway.NewHandler(nil, nil)
}

func TestRouting(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	h := gateway.NewHandler(rec, nil)
	mux := http.NewServeMux()
	mux.Handle("/server/data/gateway/", h)
	mux.Handle("/custom/", http.StripPrefix("/custom", h))
	mux.Handle("POST /go", h.Engage())
	mux.Handle("POST /stop", h.Cancel())
	body := "ixnProfile=" + url.QueryEscape(profileJSON)
	cancel := "cancelData=" + url.QueryEscape(`{"interactionID":"i-1","visitID":"v-1"}`)
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/server/data/gateway/engage", body, 200},
		{"POST", "/server/data/gateway/noengage", cancel, 200},
		{"POST", "/custom/gateway/engage", body, 200},
		{"POST", "/go", body, 200},
		{"POST", "/stop", cancel, 200},
		{"POST", "/server/data/gateway/engaged", body, 404},
		{"POST", "/server/data/gateway/", body, 404},
		{"OPTIONS", "/server/data/gateway/engage", "", 204},
		{"PUT", "/server/data/gateway/noengage", cancel, 405},
		{"DELETE", "/server/data/gateway/engage", "", 405},
	} {
		w := do(t, mux, tc.method, tc.path, "application/x-www-form-urlencoded", tc.body)
		if w.Code != tc.status {
			t.Errorf("%s %s: status %d, want %d: %s", tc.method, tc.path, w.Code, tc.status, w.Body)
		}
		if tc.method == "OPTIONS" && w.Header().Get("Allow") != "POST, OPTIONS" {
			t.Errorf("OPTIONS: Allow = %q", w.Header().Get("Allow"))
		}
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	h := gateway.NewHandler(gateway.Discard, &gateway.Options{Authenticate: gateway.BasicAuth("ors", "s3cret", "gwe")})
	body := "cancelData=" + url.QueryEscape(`{"interactionID":"i-1","visitID":"v-1"}`)
	for _, tc := range []struct {
		name       string
		user, pass string
		set        bool
		status     int
	}{
		{"right credentials", "ors", "s3cret", true, 200},
		{"wrong password", "ors", "s3cre", true, 401},
		{"wrong user", "orz", "s3cret", true, 401},
		{"no credentials", "", "", false, 401},
	} {
		r := httptest.NewRequest("POST", "/gateway/noengage", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tc.set {
			r.SetBasicAuth(tc.user, tc.pass)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, w.Code, tc.status)
		}
	}
	// Any error from a custom hook denies with 401.
	h = gateway.NewHandler(gateway.Discard, &gateway.Options{Authenticate: func(*http.Request) error { return errors.New("token expired") }})
	w := do(t, h, "POST", "/gateway/noengage", "application/x-www-form-urlencoded", body)
	if resp := decode(t, w); w.Code != 401 || resp.Code != "UNAUTHORIZED" || strings.Contains(resp.Message, "expired") {
		t.Errorf("custom hook: %d %+v", w.Code, resp)
	}
}

func TestObserveAndLog(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []gateway.Observation
	var durations []time.Duration
	var logs bytes.Buffer
	h := gateway.NewHandler(&recorder{err: errors.New("boom")}, &gateway.Options{
		Observe: func(o gateway.Observation) {
			mu.Lock()
			defer mu.Unlock()
			durations = append(durations, o.Duration)
			o.Duration = 0 // compared below, against the test's own clock
			got = append(got, o)
		},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	start := time.Now()
	do(t, h, "POST", "/gateway/engage", "application/x-www-form-urlencoded", "ixnProfile="+url.QueryEscape(profileJSON))
	do(t, h, "GET", "/gateway/noengage", "", "")
	do(t, h, "POST", "/nowhere", "", "")
	do(t, h, "OPTIONS", "/gateway/engage", "", "")
	elapsed := time.Since(start)
	want := []gateway.Observation{
		{Operation: "engage", Code: gateway.CodeInternal, Status: 500},
		{Operation: "noengage", Code: gateway.CodeMethodNotAllowed, Status: 405},
		{Operation: "", Code: gateway.CodeNotFound, Status: 404},
		{Operation: "engage", Code: gateway.CodeOK, Status: 204},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("observations (-want +got):\n%s", diff)
	}
	for i, d := range durations {
		if d < 0 || d > elapsed {
			t.Errorf("observation %d took %v, not within the %v the requests took", i, d, elapsed)
		}
	}
	if !strings.Contains(logs.String(), "boom") {
		t.Errorf("the 500 was not logged with its cause:\n%s", logs.String())
	}
	// A refusal is the sender's business (DEBUG), a 500 the operator's.
	var levels []string
	for line := range strings.Lines(logs.String()) {
		level, _, _ := strings.Cut(line[strings.Index(line, "level=")+len("level="):], " ")
		status, _, _ := strings.Cut(line[strings.Index(line, "status=")+len("status="):], " ")
		levels = append(levels, status+" "+level)
	}
	if diff := cmp.Diff([]string{"500 ERROR", "405 DEBUG", "404 DEBUG"}, levels); diff != "" {
		t.Errorf("log levels by status (-want +got):\n%s", diff)
	}
}

func TestNotifierErrorsMapToCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{gateway.ErrEngagementInProgress, 400, "ENGAGEMENT_IN_PROGRESS"},
		{&gateway.Fault{Code: gateway.CodeEngagementSuppressed, Reason: "cooldown"}, 400, "ENGAGEMENT_SUPPRESSED"},
		{fmt.Errorf("wrapped: %w", gateway.ErrUnavailable), 503, "UNAVAILABLE"},
		{context.DeadlineExceeded, 500, "INTERNAL"},
		// A notifier must not be able to pass its own failure off as the
		// sender's: a bare validation or bad-request error is a 500.
		{gateway.ErrBadRequest, 500, "INTERNAL"},
	} {
		h := gateway.NewHandler(&recorder{err: tc.err}, nil)
		w := do(t, h, "POST", "/gateway/engage", "application/json", profileJSON)
		if resp := decode(t, w); w.Code != tc.status || resp.Code != tc.code {
			t.Errorf("notifier error %v: got %d %s, want %d %s", tc.err, w.Code, resp.Code, tc.status, tc.code)
		}
		if tc.status == 503 && w.Header().Get("Retry-After") != "1" {
			t.Errorf("Retry-After = %q, want the default 1", w.Header().Get("Retry-After"))
		}
	}
}

// TestConcurrentEngageAndCancel runs 1,000 goroutines engaging and
// cancelling one visit through one handler; the race detector checks them.
func TestConcurrentEngageAndCancel(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	live := map[string]bool{}
	var engages, cancels int
	n := gateway.Funcs{
		EngageFunc: func(_ context.Context, p *gateway.Profile) error {
			mu.Lock()
			defer mu.Unlock()
			live[p.InteractionID] = true
			engages++
			return nil
		},
		CancelFunc: func(_ context.Context, c *gateway.CancelData) error {
			mu.Lock()
			defer mu.Unlock()
			delete(live, c.InteractionID)
			cancels++
			return nil
		},
	}
	h := gateway.NewHandler(n, nil)
	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Go(func() {
			id := fmt.Sprintf("i-%d", i/2)
			var w *httptest.ResponseRecorder
			if i%2 == 0 {
				w = do(t, h, "POST", "/gateway/engage", "application/json", `{"interactionID":"`+id+`","visitID":"v-1","channels":["chat"]}`)
			} else {
				w = do(t, h, "POST", "/gateway/noengage", "application/json", `{"interactionID":"`+id+`","visitID":"v-1"}`)
			}
			if w.Code != 200 {
				t.Errorf("status %d: %s", w.Code, w.Body)
			}
		})
	}
	wg.Wait()
	if engages != 500 || cancels != 500 {
		t.Errorf("engages=%d cancels=%d, want 500 each", engages, cancels)
	}
}

// TestRefuseBrowsers checks Options.RefuseBrowsers: with it, a request that
// a browser sent (it carries Origin or Sec-Fetch-Site) is 403 FORBIDDEN
// before authentication, unless its Origin is allowed; servers' requests
// pass. Without it, a form POST from any web page engaged and cancelled
// through a visitor's browser (issue 10, finding 5).
func TestRefuseBrowsers(t *testing.T) {
	t.Parallel()
	refuse := &gateway.Options{RefuseBrowsers: true}
	allow := &gateway.Options{RefuseBrowsers: true, AllowedOrigins: []string{"https://console.example.com", "http://127.0.0.1:8080/"}}
	authed := &gateway.Options{RefuseBrowsers: true, Authenticate: gateway.BasicAuth("ors", "s3cret", "gwe")}
	forbidden := verdict{403, "FORBIDDEN"}
	for _, tc := range []struct {
		name   string
		opts   *gateway.Options
		header http.Header
		want   verdict
	}{
		{"a server's request", refuse, nil, ok200},
		{"a form POST from another site", refuse, http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}, forbidden},
		{"a POST from an old browser, Origin only", refuse, http.Header{"Origin": {"https://evil.example"}}, forbidden},
		{"a POST from a sandboxed frame", refuse, http.Header{"Origin": {"null"}}, forbidden},
		{"Sec-Fetch-Site only", refuse, http.Header{"Sec-Fetch-Site": {"cross-site"}}, forbidden},
		{"a page of the same origin", refuse, http.Header{"Origin": {"http://example.com"}, "Sec-Fetch-Site": {"same-origin"}}, forbidden},
		{"an empty Origin", refuse, http.Header{"Origin": {""}}, forbidden},
		{"an allowed origin", allow, http.Header{"Origin": {"https://console.example.com"}, "Sec-Fetch-Site": {"cross-site"}}, ok200},
		{"an allowed origin in capitals", allow, http.Header{"Origin": {"HTTPS://Console.Example.com"}}, ok200},
		{"an allowed origin written with a slash", allow, http.Header{"Origin": {"http://127.0.0.1:8080"}}, ok200},
		{"an allowed origin on another port", allow, http.Header{"Origin": {"https://console.example.com:8443"}}, forbidden},
		{"another scheme of an allowed origin", allow, http.Header{"Origin": {"http://console.example.com"}}, forbidden},
		{"two Origin lines, one allowed", allow, http.Header{"Origin": {"https://console.example.com", "https://evil.example"}}, forbidden},
		{"a server's request with no allowed origin", allow, nil, ok200},
		{"a browser with the right credentials", authed, http.Header{"Origin": {"https://evil.example"}, "Authorization": {"Basic b3JzOnMzY3JldA=="}}, forbidden},
		{"a browser, by default", nil, http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}, ok200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := gateway.NewHandler(gateway.Discard, tc.opts)
			for _, path := range []string{"/gateway/engage", "/gateway/noengage"} {
				body := engageForm
				if strings.HasSuffix(path, "noengage") {
					body = "cancelData=" + url.QueryEscape(`{"interactionID":"i-1","visitID":"v-1"}`)
				}
				w := request{target: path, contentType: "application/x-www-form-urlencoded", body: body, header: tc.header}.serve(t, h)
				got := verdictOf(t, w)
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("%s: answer (-want +got):\n%s\n%s", path, diff, w.Body)
				}
				if got == forbidden && w.Header().Get("Access-Control-Allow-Origin") != "" {
					t.Errorf("%s: a refusal allows the origin", path)
				}
			}
		})
	}
}

// TestAllowedOriginsMustBeOrigins checks that NewHandler refuses
// AllowedOrigins that no browser could send, and AllowedOrigins without
// RefuseBrowsers, which would check nothing.
func TestAllowedOriginsMustBeOrigins(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts gateway.Options
	}{
		{"without RefuseBrowsers", gateway.Options{AllowedOrigins: []string{"https://console.example.com"}}},
		{"a bare host", gateway.Options{RefuseBrowsers: true, AllowedOrigins: []string{"console.example.com"}}},
		{"a wildcard", gateway.Options{RefuseBrowsers: true, AllowedOrigins: []string{"*"}}},
		{"null", gateway.Options{RefuseBrowsers: true, AllowedOrigins: []string{"null"}}},
		{"a path", gateway.Options{RefuseBrowsers: true, AllowedOrigins: []string{"https://console.example.com/admin"}}},
		{"a query", gateway.Options{RefuseBrowsers: true, AllowedOrigins: []string{"https://console.example.com?x=1"}}},
		{"a user", gateway.Options{RefuseBrowsers: true, AllowedOrigins: []string{"https://me@console.example.com"}}},
		{"empty", gateway.Options{RefuseBrowsers: true, AllowedOrigins: []string{""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(fmt.Sprint(r), "gateway: Options.AllowedOrigins") {
					t.Errorf("recover() = %v, want a panic prefixed gateway: Options.AllowedOrigins", r)
				}
			}()
			gateway.NewHandler(gateway.Discard, &tc.opts)
		})
	}
}

func TestRetryAfterOption(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		option time.Duration
		err    error
		want   string
	}{
		{"zero means one second", 0, gateway.ErrUnavailable, "1"},
		{"the option, when the error names no delay", 5 * time.Second, gateway.ErrUnavailable, "5"},
		{"the option rounded up to whole seconds", 1500 * time.Millisecond, gateway.ErrUnavailable, "2"},
		{"a sub-second option is one second", 10 * time.Millisecond, gateway.ErrUnavailable, "1"},
		{"the error's own delay over the option", 5 * time.Second, &gateway.Fault{Code: gateway.CodeUnavailable, RetryAfter: 2 * time.Second}, "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := gateway.NewHandler(&recorder{err: tc.err}, &gateway.Options{RetryAfter: tc.option})
			w := do(t, h, "POST", "/gateway/engage", "application/json", profileJSON)
			if w.Code != http.StatusServiceUnavailable {
				t.Fatalf("status = %d, want 503", w.Code)
			}
			if got := w.Header().Get("Retry-After"); got != tc.want {
				t.Errorf("Retry-After = %q, want %q", got, tc.want)
			}
		})
	}
}
