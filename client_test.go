package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/google/go-cmp/cmp"
)

func newClient(t *testing.T, url string, opts *gateway.ClientOptions) *gateway.Client {
	t.Helper()
	c, err := gateway.NewClient(url, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestClientRoundTrip sends through the Client, the real Handler and a
// recording Notifier, for both encodings and both path families: what the
// notifier gets equals what was sent, unknown keys included.
func TestClientRoundTrip(t *testing.T) {
	t.Parallel()
	for _, paths := range []gateway.PathFamily{gateway.Paths85, gateway.Paths812} {
		for _, asJSON := range []bool{false, true} {
			rec := &recorder{}
			var contentType, path atomic.Value
			h := gateway.NewHandler(rec, nil)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				contentType.Store(r.Header.Get("Content-Type"))
				path.Store(r.URL.Path)
				h.ServeHTTP(w, r)
			}))
			defer srv.Close()
			c := newClient(t, srv.URL, &gateway.ClientOptions{Paths: paths, JSON: asJSON})
			p := wantProfile
			if err := c.Engage(context.Background(), &p); err != nil {
				t.Fatalf("%s json=%v: %v", paths, asJSON, err)
			}
			if diff := cmp.Diff([]gateway.Profile{wantProfile}, rec.engaged); diff != "" {
				t.Errorf("%s json=%v: Profile (-want +got):\n%s", paths, asJSON, diff)
			}
			wantType := "application/x-www-form-urlencoded"
			if asJSON {
				wantType = "application/json"
			}
			if contentType.Load() != wantType || path.Load() != string(paths)+"/engage" {
				t.Errorf("sent %v to %v, want %s to %s/engage", contentType.Load(), path.Load(), wantType, paths)
			}
			cd := gateway.CancelData{InteractionID: "i-1", VisitID: "v-1", Reason: "timeout",
				Extra: map[string]json.RawMessage{"ors": json.RawMessage(`{"s":1}`)}}
			if err := c.Cancel(context.Background(), &cd); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]gateway.CancelData{cd}, rec.cancelled); diff != "" {
				t.Errorf("CancelData (-want +got):\n%s", diff)
			}
		}
	}
}

func TestClientBasicAuth(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(gateway.NewHandler(gateway.Discard, &gateway.Options{Authenticate: gateway.BasicAuth("ors", "pw", "gwe")}))
	defer srv.Close()
	p := wantProfile
	if err := newClient(t, srv.URL, &gateway.ClientOptions{Username: "ors", Password: "pw"}).Engage(context.Background(), &p); err != nil {
		t.Errorf("right credentials: %v", err)
	}
	err := newClient(t, srv.URL, &gateway.ClientOptions{Username: "ors", Password: "no"}).Engage(context.Background(), &p)
	if !errors.Is(err, gateway.ErrUnauthorized) {
		t.Errorf("wrong credentials: %v, want ErrUnauthorized", err)
	}
}

// TestClientFaults: every FAULT code of the contract arrives as a *Fault
// carrying status, code, message, fields and headers, and matches its
// sentinel.
func TestClientFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code     gateway.Code
		status   int
		sentinel error
	}{
		{gateway.CodeBadRequest, 400, gateway.ErrBadRequest},
		{gateway.CodeValidation, 400, gateway.ErrValidation},
		{gateway.CodeEngagementInProgress, 400, gateway.ErrEngagementInProgress},
		{gateway.CodeEngagementSuppressed, 400, gateway.ErrEngagementSuppressed},
		{gateway.CodeUnauthorized, 401, gateway.ErrUnauthorized},
		{gateway.CodeNotFound, 404, gateway.ErrNotFound},
		{gateway.CodeMethodNotAllowed, 405, gateway.ErrMethodNotAllowed},
		{gateway.CodePayloadTooLarge, 413, gateway.ErrPayloadTooLarge},
		{gateway.CodeUnsupportedMediaType, 415, gateway.ErrUnsupportedMediaType},
		{gateway.CodeUnavailable, 503, gateway.ErrUnavailable},
		{gateway.CodeInternal, 500, nil},
	} {
		t.Run(string(tc.code), func(t *testing.T) {
			t.Parallel()
			fields := []gateway.FieldError{{Field: "visitID", Rule: "required", Message: "visitID is required"}}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "7")
				w.Header().Set("WWW-Authenticate", `Basic realm="gwe"`)
				w.WriteHeader(tc.status)
				json.NewEncoder(w).Encode(map[string]any{"status": "FAULT", "code": tc.code, "message": "msg", "fields": fields})
			}))
			defer srv.Close()
			p := wantProfile
			err := newClient(t, srv.URL, &gateway.ClientOptions{MaxAttempts: 1}).Engage(context.Background(), &p)
			var fe *gateway.Fault
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *Fault", err)
			}
			want := &gateway.Fault{Status: tc.status, Code: tc.code, Message: "msg", Fields: fields,
				RetryAfter: 7 * time.Second, Challenge: `Basic realm="gwe"`}
			if diff := cmp.Diff(want, fe); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("errors.Is(err, %v) = false", tc.sentinel)
			}
		})
	}
}

func TestClientValidatesBeforeSending(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	c := newClient(t, srv.URL, nil)
	if err := c.Engage(context.Background(), &gateway.Profile{VisitID: "v"}); !errors.Is(err, gateway.ErrValidation) {
		t.Errorf("Engage = %v, want ErrValidation", err)
	}
	if err := c.Cancel(context.Background(), &gateway.CancelData{}); !errors.Is(err, gateway.ErrValidation) {
		t.Errorf("Cancel = %v, want ErrValidation", err)
	}
	if hits.Load() != 0 {
		t.Errorf("the server was called %d times", hits.Load())
	}
}

// flaky answers each request from a script, then 200.
type flaky struct {
	mu     sync.Mutex
	script []func(w http.ResponseWriter)
	calls  int
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	i := f.calls
	f.calls++
	f.mu.Unlock()
	if i < len(f.script) {
		f.script[i](w)
		return
	}
	w.Write([]byte(`{"status":"OK","interactionID":"x"}`))
}

func status(code int, retryAfter string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(code)
		w.Write([]byte(`{"status":"FAULT","code":"UNAVAILABLE","message":"later"}`))
	}
}

func TestClientRetries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		script     []func(http.ResponseWriter)
		attempts   int
		wantCalls  int
		wantErr    error
		wantDelays []time.Duration // exact where the server set Retry-After; else bounds checked below
	}{
		{"503 with Retry-After, then OK", []func(http.ResponseWriter){status(503, "2"), status(503, "1")}, 4, 3, nil,
			[]time.Duration{2 * time.Second, time.Second}},
		{"502 and 504 back off", []func(http.ResponseWriter){status(502, ""), status(504, "")}, 4, 3, nil, nil},
		{"gives up after MaxAttempts", []func(http.ResponseWriter){status(503, ""), status(503, ""), status(503, ""), status(503, "")}, 3, 3, gateway.ErrUnavailable, nil},
		{"a 400 is sent once", []func(http.ResponseWriter){status(400, "")}, 4, 1, gateway.ErrUnavailable /* the body says UNAVAILABLE; the status decides retrying */, nil},
		{"a 500 is sent once", []func(http.ResponseWriter){status(500, "")}, 4, 1, gateway.ErrUnavailable, nil},
		{"a 300 is neither success nor retried", []func(http.ResponseWriter){status(300, "")}, 4, 1, gateway.ErrUnavailable, nil},
		{"Retry-After is capped by MaxDelay", []func(http.ResponseWriter){status(503, "3600")}, 4, 2, nil, []time.Duration{5 * time.Second}},
		{"Retry-After as an HTTP date", []func(http.ResponseWriter){status(503, time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))}, 4, 2, nil, []time.Duration{5 * time.Second}},
		{"Retry-After in the past falls back to backoff", []func(http.ResponseWriter){status(503, "Mon, 02 Jan 2006 15:04:05 GMT")}, 4, 2, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &flaky{script: tc.script}
			srv := httptest.NewServer(f)
			defer srv.Close()
			c := newClient(t, srv.URL, &gateway.ClientOptions{MaxAttempts: tc.attempts})
			var delays []time.Duration
			gateway.SetClientSleep(c, func(_ context.Context, d time.Duration) error { delays = append(delays, d); return nil })
			p := wantProfile
			err := c.Engage(context.Background(), &p)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if f.calls != tc.wantCalls {
				t.Errorf("server saw %d requests, want %d", f.calls, tc.wantCalls)
			}
			if len(delays) != tc.wantCalls-1 {
				t.Errorf("waited %d times, want %d", len(delays), tc.wantCalls-1)
			}
			if tc.wantDelays != nil {
				if diff := cmp.Diff(tc.wantDelays, delays); diff != "" {
					t.Errorf("delays (-want +got):\n%s", diff)
				}
				return
			}
			// Backoff: base 200 ms doubling, jittered within [d/2, d].
			for i, d := range delays {
				full := 200 * time.Millisecond << i
				if d < full/2 || d > full {
					t.Errorf("delay %d = %v, want within [%v, %v]", i, d, full/2, full)
				}
			}
		})
	}
}

// The backoff stays within [MaxDelay/2, MaxDelay] at the extremes: a
// MaxDelay too small to halve, and a BaseDelay whose doubling overflows.
func TestClientBackoffAtTheExtremes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts gateway.ClientOptions
	}{
		{"a one-nanosecond MaxDelay", gateway.ClientOptions{BaseDelay: time.Second, MaxDelay: 1, MaxAttempts: 3}},
		{"a three-nanosecond MaxDelay", gateway.ClientOptions{BaseDelay: time.Second, MaxDelay: 3, MaxAttempts: 3}},
		{"a BaseDelay doubled past int64", gateway.ClientOptions{BaseDelay: 1 << 34, MaxDelay: time.Hour, MaxAttempts: 33}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { status(503, "")(w) }))
			defer srv.Close()
			c := newClient(t, srv.URL, &tc.opts)
			var delays []time.Duration
			gateway.SetClientSleep(c, func(_ context.Context, d time.Duration) error { delays = append(delays, d); return nil })
			p := wantProfile
			if err := c.Engage(context.Background(), &p); !errors.Is(err, gateway.ErrUnavailable) {
				t.Errorf("err = %v, want the last answer", err)
			}
			if len(delays) != tc.opts.MaxAttempts-1 {
				t.Fatalf("waited %d times, want %d", len(delays), tc.opts.MaxAttempts-1)
			}
			full := tc.opts.BaseDelay // BaseDelay·2^i, capped without overflowing
			for i, d := range delays {
				switch {
				case full > tc.opts.MaxDelay/2:
					full = tc.opts.MaxDelay
				case i > 0:
					full *= 2
				}
				if d < full/2 || d > full {
					t.Errorf("delay %d = %v, want within [%v, %v]", i, d, full/2, full)
				}
			}
		})
	}
}

func TestClientRetriesConnectionErrors(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(gateway.NewHandler(gateway.Discard, nil))
	url := srv.URL
	srv.Close() // nothing listens there now
	c := newClient(t, url, &gateway.ClientOptions{MaxAttempts: 3})
	waits := 0
	gateway.SetClientSleep(c, func(context.Context, time.Duration) error { waits++; return nil })
	p := wantProfile
	err := c.Engage(context.Background(), &p)
	var fe *gateway.Fault
	if err == nil || errors.As(err, &fe) {
		t.Errorf("err = %v, want the transport's error", err)
	}
	if waits != 2 {
		t.Errorf("retried %d times, want 2", waits)
	}
}

func TestClientStopsWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	f := &flaky{script: []func(http.ResponseWriter){status(503, ""), status(503, ""), status(503, "")}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := newClient(t, srv.URL, &gateway.ClientOptions{BaseDelay: time.Hour, MaxDelay: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	start := time.Now()
	p := wantProfile
	err := c.Engage(ctx, &p)
	if !errors.Is(err, gateway.ErrUnavailable) {
		t.Errorf("err = %v, want the last answer", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("returned after %v: the backoff ignored the context", d)
	}
	if f.calls != 1 {
		t.Errorf("server saw %d requests, want 1", f.calls)
	}
	// A deadline shorter than the next backoff ends the call at once.
	ctx, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	start = time.Now()
	c.Engage(ctx, &p)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("waited %v for a backoff past the deadline", d)
	}
}

func TestNewClientRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url  string
		opts *gateway.ClientOptions
	}{
		{"ftp://x", nil}, {"/relative", nil}, {"http://", nil}, {"http://h", &gateway.ClientOptions{Paths: "/other"}},
		{"http://h", &gateway.ClientOptions{MaxAttempts: -1}},
	} {
		if _, err := gateway.NewClient(tc.url, tc.opts); err == nil {
			t.Errorf("NewClient(%q, %+v) accepted", tc.url, tc.opts)
		}
	}
}

// TestRelay: a gateway whose notifier is a Client passes the upstream
// server's verdict on the payload through to its own caller.
func TestRelay(t *testing.T) {
	t.Parallel()
	upstreamRec := &recorder{}
	upstream := httptest.NewServer(gateway.NewHandler(gateway.Chain(gateway.Funcs{
		EngageFunc: func(_ context.Context, p *gateway.Profile) error {
			if p.VisitID == "busy" {
				return gateway.ErrEngagementInProgress
			}
			return nil
		},
	}, upstreamRec), nil))
	defer upstream.Close()
	edge := gateway.NewHandler(newClient(t, upstream.URL, &gateway.ClientOptions{Paths: gateway.Paths812}), nil)
	w := do(t, edge, "POST", "/server/data/gateway/engage", "application/json", profileJSON)
	if w.Code != 200 {
		t.Fatalf("relay: %d %s", w.Code, w.Body)
	}
	if diff := cmp.Diff([]gateway.Profile{wantProfile}, upstreamRec.engaged); diff != "" {
		t.Errorf("upstream got (-want +got):\n%s", diff)
	}
	w = do(t, edge, "POST", "/server/data/gateway/engage", "application/json", strings.Replace(profileJSON, wantProfile.VisitID, "busy", 1))
	if resp := decode(t, w); w.Code != 400 || resp.Code != "ENGAGEMENT_IN_PROGRESS" {
		t.Errorf("upstream refusal: %d %+v", w.Code, resp)
	}
}

// TestClientReadsTheSuppressionReason: a notifier's ENGAGEMENT_SUPPRESSED
// Fault crosses a Handler and a Client with its reason, and the reason is
// written for that code only.
func TestClientReadsTheSuppressionReason(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want *gateway.Fault
	}{
		{
			name: "a suppressed engage arrives with its reason and matches the sentinel",
			err:  fmt.Errorf("gated: %w", &gateway.Fault{Code: gateway.CodeEngagementSuppressed, Reason: "quiet-hours"}),
			want: &gateway.Fault{Status: 400, Code: gateway.CodeEngagementSuppressed, Message: "an offer-gating rule suppressed the engagement", Reason: "quiet-hours"},
		},
		{
			name: "another code carries no reason",
			err:  &gateway.Fault{Code: gateway.CodeEngagementInProgress, Reason: "cooldown"},
			want: &gateway.Fault{Status: 400, Code: gateway.CodeEngagementInProgress, Message: "the visit already has a live invitation"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(gateway.NewHandler(&recorder{err: tc.err}, nil))
			defer srv.Close()
			p := wantProfile
			err := newClient(t, srv.URL, &gateway.ClientOptions{MaxAttempts: 1}).Engage(context.Background(), &p)
			var got *gateway.Fault
			if !errors.As(err, &got) {
				t.Fatalf("err = %v, want a *Fault", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if !errors.Is(err, &gateway.Fault{Code: tc.want.Code}) {
				t.Errorf("errors.Is(err, the sentinel of %s) = false", tc.want.Code)
			}
		})
	}
}
