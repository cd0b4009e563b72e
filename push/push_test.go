package push_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
	"github.com/google/go-cmp/cmp"
)

// TestMain fails the run if any goroutine of package push outlives the
// tests: every broker is shut down, every stream has ended.
func TestMain(m *testing.M) {
	if kind := os.Getenv(benchServerEnv); kind != "" {
		serveForBenchmark(kind)
		return
	}
	code := m.Run()
	if code == 0 {
		if leaked := pushGoroutines(2 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines of package push left after the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// pushGoroutines waits up to d for the goroutines running package push
// code to end and returns the stacks of those left.
func pushGoroutines(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var left []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "engagekit/gateway/push.") {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return strings.Join(left, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a broker behind a real HTTP server, as a host mounts it.
type env struct {
	b     *push.Broker
	srv   *httptest.Server
	clock *clock
	gw    http.Handler

	mu           sync.Mutex
	dispositions []push.Disposition
}

func newEnv(t *testing.T, opts *push.Options) *env {
	t.Helper()
	e := &env{clock: &clock{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}}
	if opts == nil {
		opts = &push.Options{}
	}
	if opts.Now == nil {
		opts.Now = e.clock.Now
	}
	if opts.Heartbeat == 0 {
		opts.Heartbeat = 40 * time.Millisecond // the tests' "nothing more is coming" marker
	}
	opts.OnDisposition = func(_ context.Context, d push.Disposition) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.dispositions = append(e.dispositions, d)
	}
	e.b = push.NewBroker(opts)
	e.gw = gateway.NewHandler(e.b, nil)
	mux := http.NewServeMux()
	mux.Handle("/notification/", e.b)
	mux.Handle("/server/data/gateway/", e.gw)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.b.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		e.srv.Close()
	})
	return e
}

func (e *env) engage(t *testing.T, p gateway.Profile) error {
	t.Helper()
	if p.Channels == nil {
		p.Channels = []string{"chat"}
	}
	return e.b.Engage(context.Background(), &p)
}

func (e *env) cancel(t *testing.T, visitID, id string) {
	t.Helper()
	if err := e.b.Cancel(context.Background(), &gateway.CancelData{InteractionID: id, VisitID: visitID}); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
}

type event struct {
	Type, ID string
	Data     map[string]any
}

// stream is a page's subscription, read by a goroutine into events.
type stream struct {
	events chan event
	body   io.Closer
}

func (e *env) subscribe(t *testing.T, path string, hdr http.Header) *stream {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if e.srv.EnableHTTP2 && resp.ProtoMajor != 2 {
		t.Fatalf("the stream is %s, want HTTP/2", resp.Proto)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("subscribe %s: %d %s", path, resp.StatusCode, b)
	}
	s := &stream{events: make(chan event, 64), body: resp.Body}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		var ev event
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Type != "" {
					s.events <- ev
				}
				ev = event{}
			case strings.HasPrefix(line, ":"):
				s.events <- event{Type: "heartbeat"}
			case strings.HasPrefix(line, "event: "):
				ev.Type = line[len("event: "):]
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[len("id: "):]
			case strings.HasPrefix(line, "data: "):
				json.Unmarshal([]byte(line[len("data: "):]), &ev.Data)
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *stream) close() { s.body.Close() }

// next returns the next engage or cancel event, skipping heartbeats.
func (s *stream) next(t *testing.T) event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				t.Fatal("stream ended")
			}
			if ev.Type != "heartbeat" {
				return ev
			}
		case <-timeout:
			t.Fatal("no event within 5s")
		}
	}
}

// quiet checks that nothing but heartbeats arrives before the next two
// heartbeats: all queued events are written before a heartbeat can be.
func (s *stream) quiet(t *testing.T) {
	t.Helper()
	beats := 0
	timeout := time.After(5 * time.Second)
	for beats < 2 {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return
			}
			if ev.Type != "heartbeat" {
				t.Fatalf("unexpected %s event %v", ev.Type, ev.Data)
			}
			beats++
		case <-timeout:
			t.Fatal("no heartbeat within 5s")
		}
	}
}

func wantEngage(t *testing.T, ev event, id string) {
	t.Helper()
	if ev.Type != "engage" || ev.ID != id || ev.Data["interactionID"] != id {
		t.Fatalf("got %s id=%q %v, want engage %s", ev.Type, ev.ID, ev.Data, id)
	}
}

func wantCancel(t *testing.T, ev event, id, reason string) {
	t.Helper()
	if ev.Type != "cancel" || ev.Data["interactionID"] != id || ev.Data["reason"] != reason {
		t.Fatalf("got %s %v, want cancel %s (%s)", ev.Type, ev.Data, id, reason)
	}
}

func TestEngageBeforeSubscribeIsShown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	if err := e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1", PageID: "", Channels: []string{"chat", "callback"},
		Language: "en", Invitation: &gateway.Invitation{Title: "Need a hand?", Message: "An agent <b>can</b> help"}}); err != nil {
		t.Fatal(err)
	}
	s := e.subscribe(t, "/notification/v-1", nil)
	ev := s.next(t)
	wantEngage(t, ev, "i-1")
	want := map[string]any{"interactionID": "i-1", "visitID": "v-1", "channels": []any{"chat", "callback"}, "language": "en",
		"invitation": map[string]any{"title": "Need a hand?", "message": "An agent <b>can</b> help"},
		"expiresAt":  "2026-11-27T12:00:30Z"}
	if diff := cmp.Diff(want, ev.Data); diff != "" {
		t.Errorf("invitation (-want +got):\n%s", diff)
	}
}

func TestEngageReachesSubscribedPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	s := e.subscribe(t, "/notification/v-1", nil)
	s.quiet(t)
	// Through the real engage endpoint, as a strategy calls it.
	resp, err := e.srv.Client().Post(e.srv.URL+"/server/data/gateway/engage", "application/json",
		strings.NewReader(`{"interactionID":"i-1","visitID":"v-1","channels":["chat"],"expiresIn":60}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("engage: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	ev := s.next(t)
	wantEngage(t, ev, "i-1")
	if ev.Data["expiresAt"] != "2026-11-27T12:01:00Z" {
		t.Errorf("expiresAt = %v, want now+60s", ev.Data["expiresAt"])
	}
}

func TestCancelBeforeEngageWins(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	s := e.subscribe(t, "/notification/v-1", nil)
	e.cancel(t, "v-1", "i-1")
	if err := e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"}); err != nil {
		t.Fatalf("late engage must be accepted and dropped, got %v", err)
	}
	s.quiet(t)
	e.subscribe(t, "/notification/v-1", nil).quiet(t)
	if got := e.b.Stats().Invitations; got != 0 {
		t.Errorf("live invitations = %d, want 0", got)
	}
}

func TestCancelHidesAndIsIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	s := e.subscribe(t, "/notification/v-1", nil)
	e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"})
	wantEngage(t, s.next(t), "i-1")
	e.cancel(t, "v-1", "i-1")
	wantCancel(t, s.next(t), "i-1", "cancelled")
	e.cancel(t, "v-1", "i-1")
	e.cancel(t, "v-1", "unknown")
	s.quiet(t)
	e.subscribe(t, "/notification/v-1", nil).quiet(t)
}

// TestAnswerTellsOtherPagesTheResult: the cancel event an answer sends to
// the visit's pages carries the visitor's result, so that each page can say
// what became of the invitation.
func TestAnswerTellsOtherPagesTheResult(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, body, want string }{
		{"an acceptance says accepted", `{"interactionID":"i-1","result":"accepted","channel":"chat"}`, "accepted"},
		{"a decline says rejected", `{"interactionID":"i-1","result":"rejected"}`, "rejected"},
		{"an invitation that ran out on screen says timeout", `{"interactionID":"i-1","result":"timeout"}`, "timeout"},
		{"a page that went away says closed", `{"interactionID":"i-1","result":"closed"}`, "closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			s := e.subscribe(t, "/notification/v-1", nil)
			e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"})
			wantEngage(t, s.next(t), "i-1")
			resp, err := e.srv.Client().Post(e.srv.URL+"/notification/v-1/disposition", "application/json", strings.NewReader(tc.body))
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("disposition: %v %v", err, resp.Status)
			}
			resp.Body.Close()
			wantCancel(t, s.next(t), "i-1", tc.want)
		})
	}
}

func TestTwoTabsOneAnswerHidesBoth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	tab1 := e.subscribe(t, "/notification/v-1", nil)
	e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1", Channels: []string{"chat", "callback"}})
	tab2 := e.subscribe(t, "/notification/v-1", nil)
	wantEngage(t, tab1.next(t), "i-1")
	wantEngage(t, tab2.next(t), "i-1")

	resp, err := e.srv.Client().Post(e.srv.URL+"/notification/v-1/disposition", "application/json",
		strings.NewReader(`{"interactionID":"i-1","result":"accepted","channel":"callback"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("disposition: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	// The pages hear why it went: the visitor's result.
	wantCancel(t, tab1.next(t), "i-1", "accepted")
	wantCancel(t, tab2.next(t), "i-1", "accepted")
	// The other tab answering too is harmless, and the hook hears once.
	resp, _ = e.srv.Client().Post(e.srv.URL+"/notification/v-1/disposition", "text/plain;charset=UTF-8",
		strings.NewReader(`{"interactionID":"i-1","result":"rejected"}`))
	if resp.StatusCode != 200 {
		t.Errorf("second answer: %v", resp.Status)
	}
	resp.Body.Close()
	e.mu.Lock()
	defer e.mu.Unlock()
	want := []push.Disposition{{VisitID: "v-1", InteractionID: "i-1", Result: "accepted", Channel: "callback"}}
	if diff := cmp.Diff(want, e.dispositions); diff != "" {
		t.Errorf("dispositions (-want +got):\n%s", diff)
	}
	// Answered is no longer live; accepted, the visit stays engaged while
	// the visitor's form is open (form_test.go), so strict mode lets the
	// next one in once the page reports the form submitted.
	if resp, body := e.request(t, "POST", "/notification/v-1/disposition", jsonType, `{"interactionID":"i-1","result":"submitted"}`); resp.StatusCode != 200 {
		t.Fatalf("submitted: %s %s", resp.Status, body)
	}
	if err := e.engage(t, gateway.Profile{InteractionID: "i-2", VisitID: "v-1"}); err != nil {
		t.Errorf("engage after the form: %v", err)
	}
}

func TestReconnectWithLastEventIDIsNotShownTwice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &push.Options{Lenient: true})
	e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"})
	e.engage(t, gateway.Profile{InteractionID: "i-2", VisitID: "v-1"})
	s := e.subscribe(t, "/notification/v-1", nil)
	wantEngage(t, s.next(t), "i-1")
	wantEngage(t, s.next(t), "i-2")
	s.close()

	again := e.subscribe(t, "/notification/v-1", http.Header{"Last-Event-Id": {"i-2"}})
	again.quiet(t)
	// A page that had only i-1 gets i-2.
	partial := e.subscribe(t, "/notification/v-1?lastEventId=i-1", nil)
	wantEngage(t, partial.next(t), "i-2")
	partial.quiet(t)
	// A new page (a reload) gets both.
	fresh := e.subscribe(t, "/notification/v-1", nil)
	wantEngage(t, fresh.next(t), "i-1")
	wantEngage(t, fresh.next(t), "i-2")
}

func TestNeverTwiceToOneSubscription(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	s := e.subscribe(t, "/notification/v-1", nil)
	for range 3 {
		if err := e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"}); err != nil {
			t.Fatal(err)
		}
	}
	wantEngage(t, s.next(t), "i-1")
	s.quiet(t)
}

func TestPageIDTargeting(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	cart := e.subscribe(t, "/notification/v-1?pageID=cart", nil)
	home := e.subscribe(t, "/notification/v-1?pageID=home", nil)
	e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1", PageID: "cart"})
	wantEngage(t, cart.next(t), "i-1")
	home.quiet(t)
	e.subscribe(t, "/notification/v-1", nil).quiet(t)
	wantEngage(t, e.subscribe(t, "/notification/v-1?pageID=cart", nil).next(t), "i-1")
}

func TestStrictMode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"})
	if err := e.engage(t, gateway.Profile{InteractionID: "i-2", VisitID: "v-1"}); !errors.Is(err, gateway.ErrEngagementInProgress) {
		t.Errorf("second engage: %v, want ErrEngagementInProgress", err)
	}
	// Through the handler it is the documented 400.
	resp, _ := e.srv.Client().Post(e.srv.URL+"/server/data/gateway/engage", "application/json",
		strings.NewReader(`{"interactionID":"i-3","visitID":"v-1","channels":["chat"]}`))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), `"ENGAGEMENT_IN_PROGRESS"`) {
		t.Errorf("got %d %s", resp.StatusCode, body)
	}
	if err := e.engage(t, gateway.Profile{InteractionID: "i-9", VisitID: "v-2"}); err != nil {
		t.Errorf("another visit: %v", err)
	}
	e.cancel(t, "v-1", "i-1")
	if err := e.engage(t, gateway.Profile{InteractionID: "i-2", VisitID: "v-1"}); err != nil {
		t.Errorf("after cancel: %v", err)
	}
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &push.Options{TombstoneTTL: time.Minute})
	s := e.subscribe(t, "/notification/v-1", nil)
	e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1", ExpiresIn: 10})
	wantEngage(t, s.next(t), "i-1")
	e.clock.Add(9 * time.Second)
	e.b.Sweep()
	s.quiet(t)
	e.clock.Add(time.Second)
	e.b.Sweep()
	wantCancel(t, s.next(t), "i-1", "expired")
	e.subscribe(t, "/notification/v-1", nil).quiet(t)
	if err := e.engage(t, gateway.Profile{InteractionID: "i-2", VisitID: "v-1"}); err != nil {
		t.Errorf("strict mode after expiry: %v", err)
	}
	if err := e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"}); err != nil {
		t.Errorf("expired engage again: %v", err)
	}
	if st := e.b.Stats(); st.Invitations != 1 || st.Tombstones != 1 {
		t.Errorf("stats %+v, want 1 live and 1 tombstone", st)
	}
	// A tombstone lasts TombstoneTTL from the end of its invitation: i-1's
	// (ended at 12:00:10) goes at 12:01:10; i-2 expires at 12:00:40 and
	// its tombstone lasts until 12:01:40.
	e.clock.Add(65 * time.Second)
	e.b.Sweep()
	if st := e.b.Stats(); st.Invitations != 0 || st.Tombstones != 1 {
		t.Errorf("after the TTL: %+v, want i-2 expired into the one tombstone left", st)
	}
	e.clock.Add(2 * time.Minute)
	e.b.Sweep()
	if st := e.b.Stats(); st.Invitations != 0 || st.Tombstones != 0 {
		t.Errorf("memory not swept: %+v", st)
	}
}

// blockingWriter is a ResponseWriter whose writes hang until released, a
// browser that stopped reading.
type blockingWriter struct {
	h       http.Header
	release chan struct{}
}

func (w *blockingWriter) Header() http.Header { return w.h }
func (w *blockingWriter) WriteHeader(int)     {}
func (w *blockingWriter) Write(b []byte) (int, error) {
	<-w.release
	return 0, errors.New("gone")
}

func TestSlowSubscriberIsDroppedWithoutDelayingOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &push.Options{QueueSize: 2, Lenient: true})
	slow := &blockingWriter{h: http.Header{}, release: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		e.b.ServeHTTP(slow, httptest.NewRequest("GET", "/notification/v-1", nil))
		close(done)
	}()
	fast := e.subscribe(t, "/notification/v-1", nil)
	eventually(t, "both subscribed", func() bool { return e.b.Stats().Subscribers == 2 })
	for i := range 5 {
		start := time.Now()
		if err := e.engage(t, gateway.Profile{InteractionID: fmt.Sprint("i-", i), VisitID: "v-1"}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("engage took %v with a stuck subscriber", d)
		}
		wantEngage(t, fast.next(t), fmt.Sprint("i-", i))
	}
	close(slow.release)
	<-done
	eventually(t, "the slow subscriber is gone", func() bool { return e.b.Stats().Subscribers == 1 })
	// Its invitations wait for its reconnect.
	back := e.subscribe(t, "/notification/v-1", nil)
	for i := range 5 {
		wantEngage(t, back.next(t), fmt.Sprint("i-", i))
	}
}

func TestVanishedBrowserIsForgotten(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &push.Options{Heartbeat: time.Hour}) // found by the sweeper's probe, not a heartbeat
	s := e.subscribe(t, "/notification/v-1", nil)
	eventually(t, "subscribed", func() bool { return e.b.Stats().Subscribers == 1 })
	s.close()
	eventually(t, "the closed stream is forgotten", func() bool { return e.b.Stats().Subscribers == 0 })
}

func TestShutdownEndsStreams(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	s := e.subscribe(t, "/notification/v-1", nil)
	s.quiet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for range s.events {
	}
	if err := e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"}); !errors.Is(err, gateway.ErrUnavailable) {
		t.Errorf("Engage after Shutdown: %v, want ErrUnavailable", err)
	}
	resp, _ := e.srv.Client().Get(e.srv.URL + "/notification/v-1")
	if resp.StatusCode != 503 {
		t.Errorf("subscribe after Shutdown: %d, want 503", resp.StatusCode)
	}
	resp.Body.Close()
}

func TestVisitorScript(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	resp, err := e.srv.Client().Get(e.srv.URL + "/notification/visitor.js")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" || !strings.Contains(string(body), "EventSource") {
		t.Errorf("got %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
}

// eventually waits up to 5 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestHTTP2Stream covers streams that cannot be hijacked: over HTTP/2 a
// goroutine holds the stream, with the same delivery rules.
func TestHTTP2Stream(t *testing.T) {
	t.Parallel()
	b := push.NewBroker(&push.Options{Heartbeat: 40 * time.Millisecond})
	srv := httptest.NewUnstartedServer(b)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(func() {
		b.Shutdown(context.Background())
		srv.Close()
	})
	e := &env{b: b, srv: srv}
	s := e.subscribe(t, "/notification/v-1", nil)
	if err := b.Engage(context.Background(), &gateway.Profile{InteractionID: "i-1", VisitID: "v-1", Channels: []string{"chat"}}); err != nil {
		t.Fatal(err)
	}
	wantEngage(t, s.next(t), "i-1")
	e.cancel(t, "v-1", "i-1")
	wantCancel(t, s.next(t), "i-1", "cancelled")
	s.quiet(t)
	s.close()
	eventually(t, "the HTTP/2 stream is forgotten", func() bool { return b.Stats().Subscribers == 0 })
}

// TestShutdownRacingSubscribes opens streams while Shutdown runs: every
// stream that was opened is closed by the time Shutdown returns, and the
// goroutine check in TestMain finds none left.
func TestShutdownRacingSubscribes(t *testing.T) {
	t.Parallel()
	b := push.NewBroker(nil)
	srv := httptest.NewServer(b)
	defer srv.Close()
	var wg sync.WaitGroup
	bodies := make(chan io.ReadCloser, 1000)
	for i := range 20 {
		wg.Go(func() {
			for j := range 20 {
				resp, err := srv.Client().Get(fmt.Sprintf("%s/notification/v-%d-%d", srv.URL, i, j))
				if err != nil {
					return
				}
				if resp.StatusCode != 200 {
					resp.Body.Close()
					continue
				}
				bodies <- resp.Body
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(bodies)
	for body := range bodies {
		done := make(chan struct{})
		go func() { io.Copy(io.Discard, body); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("a stream opened before Shutdown returned is still open")
		}
		body.Close()
	}
}
