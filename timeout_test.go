package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/google/go-cmp/cmp"
)

// deadlineWriter is a ResponseWriter that can set read deadlines, as the
// servers of net/http can, and records them.
type deadlineWriter struct {
	*httptest.ResponseRecorder
	mu        sync.Mutex
	deadlines []time.Time
	err       error // returned by SetReadDeadline
}

func (w *deadlineWriter) SetReadDeadline(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deadlines = append(w.deadlines, t)
	return w.err
}

// wrapper wraps a ResponseWriter as middleware does, with or without the
// Unwrap method that http.ResponseController looks for.
type wrapper struct{ http.ResponseWriter }

type unwrapper struct{ http.ResponseWriter }

func (w unwrapper) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var engageForm = "ixnProfile=" + url.QueryEscape(profileJSON)

func engageRequest() *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/server/data/gateway/engage", strings.NewReader(engageForm))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

// TestBodyReadIsBounded checks that the handler sets a read deadline on the
// connection before it reads a body, by default, and clears it once the
// body is read, through wrappers that unwrap as http.ResponseController
// expects. Before, it set none, and a client could take as long as it
// liked to send a body (issue 10, finding 3).
func TestBodyReadIsBounded(t *testing.T) {
	t.Parallel()
	const (
		set   = "set"
		clear = "clear"
	)
	for _, tc := range []struct {
		name    string
		opts    *gateway.Options
		wrap    func(w *deadlineWriter) http.ResponseWriter
		err     error // from SetReadDeadline
		timeout time.Duration
		want    []string
	}{
		{"by default", nil, nil, nil, gateway.DefaultReadBodyTimeout, []string{set, clear}},
		{"with a timeout of the host's", &gateway.Options{ReadBodyTimeout: 1500 * time.Millisecond}, nil, nil, 1500 * time.Millisecond, []string{set, clear}},
		{"through a wrapper with Unwrap", nil, func(w *deadlineWriter) http.ResponseWriter { return unwrapper{unwrapper{w}} }, nil, gateway.DefaultReadBodyTimeout, []string{set, clear}},
		{"not through a wrapper without Unwrap", nil, func(w *deadlineWriter) http.ResponseWriter { return wrapper{w} }, nil, 0, nil},
		{"not when the connection refuses", nil, nil, http.ErrNotSupported, gateway.DefaultReadBodyTimeout, []string{set}},
		{"not when turned off", &gateway.Options{ReadBodyTimeout: gateway.NoTimeout}, nil, nil, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dw := &deadlineWriter{ResponseRecorder: httptest.NewRecorder(), err: tc.err}
			var w http.ResponseWriter = dw
			if tc.wrap != nil {
				w = tc.wrap(dw)
			}
			h := gateway.NewHandler(gateway.Discard, tc.opts)
			before := time.Now()
			h.ServeHTTP(w, engageRequest())
			after := time.Now()
			if dw.Code != http.StatusOK {
				t.Fatalf("status %d: %s", dw.Code, dw.Body)
			}
			var got []string
			for i, d := range dw.deadlines {
				switch {
				case d.IsZero():
					got = append(got, clear)
				case i == 0 && !d.Before(before.Add(tc.timeout)) && !d.After(after.Add(tc.timeout)):
					got = append(got, set)
				default:
					got = append(got, fmt.Sprintf("deadline %v after the request", d.Sub(before)))
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("read deadlines (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNoDeadlineWithoutABody checks that a request without a body (the
// parameter in the query) costs no deadline.
func TestNoDeadlineWithoutABody(t *testing.T) {
	t.Parallel()
	dw := &deadlineWriter{ResponseRecorder: httptest.NewRecorder()}
	r := httptest.NewRequest(http.MethodPost, "/gateway/engage?"+engageForm, http.NoBody)
	gateway.NewHandler(gateway.Discard, nil).ServeHTTP(dw, r)
	if dw.Code != http.StatusOK || len(dw.deadlines) != 0 {
		t.Errorf("status %d, deadlines %v; want 200 and none", dw.Code, dw.deadlines)
	}
}

func TestNegativeReadBodyTimeoutPanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if r := recover(); r == nil || !strings.HasPrefix(fmt.Sprint(r), "gateway: ") {
			t.Errorf("recover() = %v, want a panic prefixed gateway:", r)
		}
	}()
	gateway.NewHandler(gateway.Discard, &gateway.Options{ReadBodyTimeout: -time.Second})
}

// trickle is a request body that yields one byte per interval until it is
// closed, as a slow or hostile client sends it.
type trickle struct {
	interval time.Duration
	done     chan struct{}
	once     sync.Once
}

func newTrickle(interval time.Duration) *trickle {
	return &trickle{interval: interval, done: make(chan struct{})}
}

func (tr *trickle) Read(p []byte) (int, error) {
	select {
	case <-time.After(tr.interval):
		p[0] = 'x'
		return 1, nil
	case <-tr.done:
		return 0, io.EOF
	}
}

func (tr *trickle) Close() error {
	tr.once.Do(func() { close(tr.done) })
	return nil
}

// loopbackServers starts the handler on a loopback HTTP/1.1 server and on
// an HTTP/2 server (TLS), and returns each with its client.
func loopbackServers(t *testing.T, h http.Handler) map[string]*httptest.Server {
	t.Helper()
	h1 := httptest.NewServer(h)
	h2 := httptest.NewUnstartedServer(h)
	h2.EnableHTTP2 = true
	h2.StartTLS()
	t.Cleanup(func() {
		h1.Close()
		h2.Close()
	})
	return map[string]*httptest.Server{"HTTP/1.1": h1, "HTTP/2": h2}
}

func decodeJSON(t *testing.T, r io.Reader, v any) {
	t.Helper()
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Errorf("answer is not the documented JSON: %v", err)
	}
}

// TestSlowBodyIsCutOff sends bodies (form and multipart) a byte at a time
// over loopback, to the handler with a short ReadBodyTimeout: each is
// answered 400 within the timeout (and a little); over HTTP/1.1 the
// connection is closed, over HTTP/2 it serves on. Before, the handler waited
// for as long as the client kept sending.
func TestSlowBodyIsCutOff(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	h := gateway.NewHandler(gateway.Discard, &gateway.Options{ReadBodyTimeout: timeout})
	for proto, srv := range loopbackServers(t, h) {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			var wg sync.WaitGroup
			for i := range 3 {
				wg.Go(func() {
					body := newTrickle(50 * time.Millisecond)
					defer body.Close()
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/gateway/engage", body)
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					if i == 2 {
						req.Header.Set("Content-Type", "multipart/form-data; boundary=b0undary")
					}
					start := time.Now()
					resp, err := srv.Client().Do(req)
					if err != nil {
						t.Errorf("request %d: %v", i, err)
						return
					}
					defer resp.Body.Close()
					took := time.Since(start)
					var got response
					decodeJSON(t, resp.Body, &got)
					want := response{Status: "FAULT", Code: "BAD_REQUEST", Message: "the request body was not received in time"}
					if diff := cmp.Diff(want, got); resp.StatusCode != 400 || diff != "" {
						t.Errorf("request %d: status %d, answer (-want +got):\n%s", i, resp.StatusCode, diff)
					}
					if took > timeout+2*time.Second {
						t.Errorf("request %d answered after %v, want about %v", i, took, timeout)
					}
					if proto == "HTTP/1.1" && !resp.Close {
						t.Errorf("request %d: the connection stays open", i)
					}
				})
			}
			wg.Wait()
			if proto != "HTTP/2" {
				return
			}
			// Over HTTP/2 only the stream was lost: the connection serves on.
			reused := false
			trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { reused = ci.Reused }}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
				http.MethodPost, srv.URL+"/gateway/engage", strings.NewReader(engageForm))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || !reused {
				t.Errorf("after the slow bodies: status %d, connection reused %v; want 200 on the same connection", resp.StatusCode, reused)
			}
		})
	}
}

// TestBoundEndsWithTheBody checks, over loopback, that the deadline set
// for the body does not outlive it: a notifier slower than ReadBodyTimeout
// keeps its context, and the next request on the same keep-alive
// connection, sent after the deadline would have passed, is served.
func TestBoundEndsWithTheBody(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	var mu sync.Mutex
	var ctxErrs []error
	slow := gateway.Funcs{EngageFunc: func(ctx context.Context, _ *gateway.Profile) error {
		select {
		case <-time.After(2 * timeout):
		case <-ctx.Done():
		}
		mu.Lock()
		defer mu.Unlock()
		ctxErrs = append(ctxErrs, ctx.Err())
		return nil
	}}
	h := gateway.NewHandler(slow, &gateway.Options{ReadBodyTimeout: timeout})
	for proto, srv := range loopbackServers(t, h) {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			var reused []bool
			for i := range 2 {
				if i > 0 {
					time.Sleep(2 * timeout)
				}
				trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { reused = append(reused, ci.Reused) }}
				req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
					http.MethodPost, srv.URL+"/gateway/engage", strings.NewReader(engageForm))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("request %d: status %d", i, resp.StatusCode)
				}
			}
			if diff := cmp.Diff([]bool{false, true}, reused); diff != "" {
				t.Errorf("connection reused (-want +got):\n%s", diff)
			}
		})
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for i, err := range ctxErrs {
			if err != nil {
				t.Errorf("notifier call %d: context ended: %v", i, err)
			}
		}
	})
}

// TestSlowBodyOnARawConnection is the case at small scale: a client
// that declares a Content-Length and sends one byte at a time on a raw TCP
// connection is answered and disconnected when ReadBodyTimeout passes.
func TestSlowBodyOnARawConnection(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	srv := httptest.NewServer(gateway.NewHandler(gateway.Discard, &gateway.Options{ReadBodyTimeout: timeout}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /gateway/engage HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", len(engageForm))
	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range len(engageForm) {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := conn.Write([]byte{engageForm[i]}); err != nil {
				return
			}
		}
	})
	defer wg.Wait()
	defer close(stop)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	// Read to the server's close: EOF, or a reset, as the server closes
	// with bytes of ours unread.
	answer, err := io.ReadAll(conn)
	took := time.Since(start)
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open for 5 s; read so far: %q", answer)
	}
	if !strings.HasPrefix(string(answer), "HTTP/1.1 400 ") || !strings.Contains(string(answer), "not received in time") {
		t.Errorf("answer: %q", answer)
	}
	if took > timeout+2*time.Second {
		t.Errorf("answered and closed after %v, want about %v", took, timeout)
	}
}
