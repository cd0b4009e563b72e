package webhook_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/engagekit/gateway/push"
	"github.com/engagekit/gateway/webhook"
)

// testSecret is a 24-byte secret, the shortest New takes.
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// outcomeTime is when the test outcomes happened, in a zone other than
// UTC so that the body's conversion shows.
var outcomeTime = time.Date(2026, 11, 29, 11, 32, 25, 123e6, time.FixedZone("CET", 3600))

func outcome(i int) push.Outcome {
	return push.Outcome{
		VisitID:       "v-" + strconv.Itoa(i),
		InteractionID: "i-" + strconv.Itoa(i),
		Result:        push.ResultRejected,
		Time:          outcomeTime,
	}
}

// A hit is one request a receiver got.
type hit struct {
	header http.Header
	body   []byte
	at     time.Time
}

// receiver is a webhook endpoint on loopback that records every request
// and answers through answer (200 when nil); n counts requests from 0.
type receiver struct {
	*httptest.Server
	got chan struct{} // a value per request, before it is answered

	mu   sync.Mutex
	hits []hit
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{got: make(chan struct{}, 1024)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading the body: %v", err)
		}
		rc.mu.Lock()
		n := len(rc.hits)
		rc.hits = append(rc.hits, hit{header: r.Header.Clone(), body: body, at: time.Now()})
		rc.mu.Unlock()
		rc.got <- struct{}{}
		if answer != nil {
			answer(n, w, r)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) Hits() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

// wait returns once the receiver has got n more requests.
func (rc *receiver) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-rc.got:
		case <-time.After(10 * time.Second):
			t.Fatal("the receiver got no request within 10 s")
		}
	}
}

// ids returns the distinct webhook-ids of hits, in order of first arrival.
func ids(hits []hit) []string {
	var out []string
	seen := make(map[string]bool)
	for _, h := range hits {
		if id := h.header.Get("webhook-id"); !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// fast returns options with retries a few milliseconds apart.
func fast(o webhook.Options) *webhook.Options {
	if o.MinBackoff == 0 {
		o.MinBackoff = time.Millisecond
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 10 * time.Millisecond
	}
	return &o
}

// newSender returns a Sender closed at the end of the test, before the
// receivers made earlier are.
func newSender(t *testing.T, url string, opts *webhook.Options) *webhook.Sender {
	t.Helper()
	s, err := webhook.New(url, testSecret, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s
}

func closeSender(t *testing.T, s *webhook.Sender) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func send(t *testing.T, s *webhook.Sender, o push.Outcome) {
	t.Helper()
	if err := s.Send(t.Context(), o); err != nil {
		t.Fatalf("Send: %v", err)
	}
}

// verify checks a hit's signature with the svix library, the independent
// implementation, and its timestamp with the library's tolerance (5 min).
func verify(t *testing.T, h hit) {
	t.Helper()
	wh, err := svix.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(h.body, h.header); err != nil {
		t.Errorf("svix does not verify the message %s: %v", h.header.Get("webhook-id"), err)
	}
}

// failures collects what OnFailure gets.
type failures struct {
	mu   sync.Mutex
	list []failure
}

type failure struct {
	o   push.Outcome
	err error
}

// deliveryError returns the DeliveryError err is, or a zero one; a value,
// so that cmp compares its fields.
func deliveryError(err error) webhook.DeliveryError {
	var de *webhook.DeliveryError
	if !errors.As(err, &de) {
		return webhook.DeliveryError{}
	}
	return *de
}

func (f *failures) add(o push.Outcome, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = append(f.list, failure{o, err})
}

func (f *failures) get() []failure {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]failure(nil), f.list...)
}

// syncBuffer is a log destination read while workers write to it.
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

func logger(b *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestMessagesAreSignedAsSvixVerifies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		o    push.Outcome
		data map[string]any
	}{
		{
			name: "an acceptance carries its channel",
			o:    push.Outcome{VisitID: "v-1", InteractionID: "i-1", Result: push.ResultAccepted, Channel: "chat", Time: outcomeTime},
			data: map[string]any{"visitID": "v-1", "interactionID": "i-1", "result": "accepted", "channel": "chat", "time": "2026-11-29T10:32:25.123Z"},
		},
		{
			name: "a rejection has no channel",
			o:    push.Outcome{VisitID: "v-2", InteractionID: "i-2", Result: push.ResultRejected, Time: outcomeTime},
			data: map[string]any{"visitID": "v-2", "interactionID": "i-2", "result": "rejected", "time": "2026-11-29T10:32:25.123Z"},
		},
		{
			name: "IDs that JSON escapes are signed as sent",
			o:    push.Outcome{VisitID: `v-"é"<&>`, InteractionID: "i-\u2028", Result: push.ResultSuppressed, Time: outcomeTime},
			data: map[string]any{"visitID": `v-"é"<&>`, "interactionID": "i-\u2028", "result": "suppressed", "time": "2026-11-29T10:32:25.123Z"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t, nil)
			s := newSender(t, rc.URL, nil)
			send(t, s, tc.o)
			closeSender(t, s)

			hits := rc.Hits()
			if len(hits) != 1 {
				t.Fatalf("the receiver got %d requests, want 1", len(hits))
			}
			h := hits[0]
			verify(t, h)
			other, err := svix.NewWebhook(webhook.NewSecret())
			if err != nil {
				t.Fatal(err)
			}
			if err := other.Verify(h.body, h.header); err == nil {
				t.Error("svix verifies the message with another secret")
			}
			if err := func() error {
				wh, _ := svix.NewWebhook(testSecret)
				return wh.Verify(append(bytes.Clone(h.body), ' '), h.header)
			}(); err == nil {
				t.Error("svix verifies the message with a body changed")
			}

			if got, want := h.header.Get("webhook-id"), webhook.MessageID(tc.o); got != want {
				t.Errorf("webhook-id = %q, want MessageID %q", got, want)
			}
			ts, err := strconv.ParseInt(h.header.Get("webhook-timestamp"), 10, 64)
			if err != nil {
				t.Fatalf("webhook-timestamp %q: %v", h.header.Get("webhook-timestamp"), err)
			}
			if d := h.at.Sub(time.Unix(ts, 0)); d < -time.Second || d > 5*time.Second {
				t.Errorf("webhook-timestamp is %v from the time the receiver got it, want within 5 s", d)
			}
			if got := h.header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
			var body map[string]any
			if err := json.Unmarshal(h.body, &body); err != nil {
				t.Fatalf("the body is not JSON: %v", err)
			}
			want := map[string]any{"type": "engagement.outcome", "timestamp": "2026-11-29T10:32:25.123Z", "data": tc.data}
			if diff := cmp.Diff(want, body); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

// dedup is a receiver's processing as the specification advises: verify,
// then process each webhook-id once. fail, when it returns true, makes the
// request fail before processing; late processes it, then answers too late.
type dedup struct {
	fail      func(n int, w http.ResponseWriter) bool
	late      func(n int) bool
	mu        sync.Mutex
	processed map[string]int
}

func (d *dedup) answer(n int, w http.ResponseWriter, r *http.Request) {
	if d.fail != nil && d.fail(n, w) {
		return
	}
	d.mu.Lock()
	id := r.Header.Get("webhook-id")
	if d.processed == nil {
		d.processed = make(map[string]int)
	}
	d.processed[id]++
	d.mu.Unlock()
	if d.late != nil && d.late(n) {
		<-r.Context().Done()
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (d *dedup) accepted() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.processed
}

// wantProcessedOnce checks that the receiver got n requests, each signed,
// all under o's MessageID, and that d processed that ID once.
func wantProcessedOnce(t *testing.T, hits []hit, n int, d *dedup, o push.Outcome) {
	t.Helper()
	if len(hits) != n {
		t.Fatalf("the receiver got %d requests, want %d", len(hits), n)
	}
	for _, h := range hits {
		verify(t, h)
	}
	id := webhook.MessageID(o)
	if diff := cmp.Diff([]string{id}, ids(hits)); diff != "" {
		t.Errorf("webhook-ids (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{id: 1}, d.accepted()); diff != "" {
		t.Errorf("processed (-want +got):\n%s", diff)
	}
}

func TestRetriesKeepOneID(t *testing.T) {
	t.Parallel()
	t.Run("a receiver that fails with 500, then 429 with Retry-After, then succeeds gets one ID and accepts once", func(t *testing.T) {
		t.Parallel()
		d := &dedup{fail: func(n int, w http.ResponseWriter) bool {
			switch n {
			case 0:
				w.WriteHeader(http.StatusInternalServerError)
			case 1:
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
			default:
				return false
			}
			return true
		}}
		rc := newReceiver(t, d.answer)
		s := newSender(t, rc.URL, fast(webhook.Options{MaxBackoff: 2 * time.Second}))
		o := outcome(1)
		send(t, s, o)
		closeSender(t, s)

		hits := rc.Hits()
		wantProcessedOnce(t, hits, 3, d, o)
		if gap := hits[1].at.Sub(hits[0].at); gap >= time.Second {
			t.Errorf("the retry after the 500 came %v later, want the backoff of a few ms", gap)
		}
		if gap := hits[2].at.Sub(hits[1].at); gap < time.Second {
			t.Errorf("the retry after Retry-After: 1 came %v later, want at least 1 s", gap)
		}
		if diff := cmp.Diff(webhook.Stats{Delivered: 1, Retried: 2}, s.Stats()); diff != "" {
			t.Errorf("Stats (-want +got):\n%s", diff)
		}
	})
	t.Run("a receiver whose answer comes too late gets the outcome again under the same ID and processes it once", func(t *testing.T) {
		t.Parallel()
		d := &dedup{late: func(n int) bool { return n == 0 }}
		// The dedup receiver processes an ID it has seen again; wrap it to
		// answer a duplicate at once, as a receiver that deduplicates does.
		var mu sync.Mutex
		seen := make(map[string]bool)
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get("webhook-id")
			mu.Lock()
			dup := seen[id]
			seen[id] = true
			mu.Unlock()
			if dup {
				w.WriteHeader(http.StatusOK)
				return
			}
			d.answer(n, w, r)
		})
		s := newSender(t, rc.URL, fast(webhook.Options{AttemptTimeout: 200 * time.Millisecond}))
		o := outcome(2)
		send(t, s, o)
		closeSender(t, s)

		wantProcessedOnce(t, rc.Hits(), 2, d, o)
		if diff := cmp.Diff(webhook.Stats{Delivered: 1, Retried: 1}, s.Stats()); diff != "" {
			t.Errorf("Stats (-want +got):\n%s", diff)
		}
	})
}

func TestAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		status   int
		attempts int // with MaxAttempts 3
	}{
		{"400 is final", http.StatusBadRequest, 1},
		{"401 is final", http.StatusUnauthorized, 1},
		{"403 is final", http.StatusForbidden, 1},
		{"404 is final", http.StatusNotFound, 1},
		{"408 is final", http.StatusRequestTimeout, 1},
		{"410 is final", http.StatusGone, 1},
		{"422 is final", http.StatusUnprocessableEntity, 1},
		{"a redirect is not followed, and final", http.StatusMovedPermanently, 1},
		{"429 is retried", http.StatusTooManyRequests, 3},
		{"500 is retried", http.StatusInternalServerError, 3},
		{"502 is retried", http.StatusBadGateway, 3},
		{"503 is retried", http.StatusServiceUnavailable, 3},
		{"504 is retried", http.StatusGatewayTimeout, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if tc.status/100 == 3 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.status)
			})
			var f failures
			s := newSender(t, rc.URL, fast(webhook.Options{MaxAttempts: 3, OnFailure: f.add}))
			o := outcome(1)
			send(t, s, o)
			closeSender(t, s)

			hits := rc.Hits()
			if len(hits) != tc.attempts {
				t.Errorf("the receiver got %d requests, want %d", len(hits), tc.attempts)
			}
			if diff := cmp.Diff([]string{webhook.MessageID(o)}, ids(hits)); diff != "" {
				t.Errorf("webhook-ids (-want +got):\n%s", diff)
			}
			got := f.get()
			if len(got) != 1 {
				t.Fatalf("OnFailure was called %d times, want once", len(got))
			}
			want := webhook.DeliveryError{ID: webhook.MessageID(o), Attempts: tc.attempts, StatusCode: tc.status}
			if diff := cmp.Diff(want, deliveryError(got[0].err), cmpopts.EquateErrors()); diff != "" {
				t.Errorf("OnFailure's error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(o.VisitID, got[0].o.VisitID); diff != "" {
				t.Errorf("OnFailure's outcome (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(webhook.Stats{Retried: uint64(tc.attempts - 1), Failed: 1}, s.Stats()); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTimeoutsAndConnectionErrorsAreRetried(t *testing.T) {
	t.Parallel()
	t.Run("an attempt that times out is retried", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 0 {
				<-r.Context().Done()
			}
		})
		s := newSender(t, rc.URL, fast(webhook.Options{AttemptTimeout: 100 * time.Millisecond}))
		send(t, s, outcome(1))
		closeSender(t, s)
		if got := len(rc.Hits()); got != 2 {
			t.Errorf("the receiver got %d requests, want 2", got)
		}
		if diff := cmp.Diff(webhook.Stats{Delivered: 1, Retried: 1}, s.Stats()); diff != "" {
			t.Errorf("Stats (-want +got):\n%s", diff)
		}
	})
	t.Run("a refused connection is retried, then given up on without the URL's query in the error or the log", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		var f failures
		var logs syncBuffer
		s := newSender(t, "http://"+addr+"/hook?token=hush", fast(webhook.Options{MaxAttempts: 3, OnFailure: f.add, Logger: logger(&logs)}))
		send(t, s, outcome(1))
		closeSender(t, s)
		got := f.get()
		if len(got) != 1 {
			t.Fatalf("OnFailure was called %d times, want once", len(got))
		}
		var de *webhook.DeliveryError
		if !errors.As(got[0].err, &de) || de.Attempts != 3 || de.StatusCode != 0 || de.Err == nil {
			t.Errorf("OnFailure's error = %#v, want a DeliveryError of 3 attempts, no status, and a cause", got[0].err)
		}
		if strings.Contains(got[0].err.Error(), "hush") || strings.Contains(logs.String(), "hush") {
			t.Errorf("the URL's query shows in the error %q or the log:\n%s", got[0].err, logs.String())
		}
		if diff := cmp.Diff(webhook.Stats{Retried: 2, Failed: 1}, s.Stats()); diff != "" {
			t.Errorf("Stats (-want +got):\n%s", diff)
		}
	})
}

func TestQueueOverflowDropsTheNewest(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	})
	var logs syncBuffer
	s := newSender(t, rc.URL, fast(webhook.Options{Workers: 1, QueueSize: 2, Logger: logger(&logs)}))

	send(t, s, outcome(1))
	rc.wait(t, 1) // the one worker holds outcome 1; the queue is empty
	send(t, s, outcome(2))
	send(t, s, outcome(3))
	for _, i := range []int{4, 5} {
		if err := s.Send(t.Context(), outcome(i)); !errors.Is(err, webhook.ErrQueueFull) {
			t.Errorf("Send of outcome %d with the queue full = %v, want ErrQueueFull", i, err)
		}
	}
	if diff := cmp.Diff(webhook.Stats{Dropped: 2, Queued: 2}, s.Stats()); diff != "" {
		t.Errorf("Stats with the queue full (-want +got):\n%s", diff)
	}
	if n := strings.Count(logs.String(), "queue full"); n != 1 {
		t.Errorf("%d log lines say the queue is full, want 1 for two drops in a row:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "dropped=1") {
		t.Errorf("the log line does not count the drops:\n%s", logs.String())
	}

	close(release)
	closeSender(t, s)
	want := []string{webhook.MessageID(outcome(1)), webhook.MessageID(outcome(2)), webhook.MessageID(outcome(3))}
	if diff := cmp.Diff(want, ids(rc.Hits())); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(webhook.Stats{Delivered: 3, Dropped: 2}, s.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	t.Run("Close delivers what is queued, retries included, then Send is refused", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			time.Sleep(2 * time.Millisecond)
			if n%5 == 0 {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		})
		s := newSender(t, rc.URL, fast(webhook.Options{Workers: 2}))
		const n = 20
		for i := range n {
			send(t, s, outcome(i))
		}
		closeSender(t, s)
		st := s.Stats()
		if st.Delivered != n || st.Failed != 0 || st.Queued != 0 || st.Retried == 0 {
			t.Errorf("Stats after Close = %+v, want %d delivered, none failed or queued, some retried", st, n)
		}
		if got := len(ids(rc.Hits())); got != n {
			t.Errorf("the receiver got %d distinct IDs, want %d", got, n)
		}
		if err := s.Send(t.Context(), outcome(n)); !errors.Is(err, webhook.ErrClosed) {
			t.Errorf("Send after Close = %v, want ErrClosed", err)
		}
		if got := s.Stats().Dropped; got != 1 {
			t.Errorf("Stats.Dropped = %d after a Send refused by Close, want 1", got)
		}
		if err := s.Close(t.Context()); err != nil {
			t.Errorf("a second Close = %v, want nil", err)
		}
	})
	t.Run("Close whose context ends gives up on the rest and reports each", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // never answers
		})
		var f failures
		s := newSender(t, rc.URL, &webhook.Options{Workers: 1, OnFailure: f.add})
		for i := range 3 {
			send(t, s, outcome(i))
		}
		rc.wait(t, 1)
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := s.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Close took %v after its context ended, want it to stop the attempt at once", d)
		}
		got := f.get()
		if len(got) != 3 {
			t.Fatalf("OnFailure was called %d times, want 3", len(got))
		}
		for _, g := range got {
			if !errors.Is(g.err, webhook.ErrClosed) {
				t.Errorf("OnFailure's error for %s = %v, want ErrClosed", g.o.VisitID, g.err)
			}
		}
		if diff := cmp.Diff(webhook.Stats{Failed: 3}, s.Stats()); diff != "" {
			t.Errorf("Stats (-want +got):\n%s", diff)
		}
	})
	t.Run("Close gives up waiting out a backoff", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
		})
		var f failures
		s := newSender(t, rc.URL, &webhook.Options{MinBackoff: time.Hour, MaxBackoff: time.Hour, OnFailure: f.add})
		send(t, s, outcome(1))
		rc.wait(t, 1)
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		if err := s.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close = %v, want DeadlineExceeded", err)
		}
		got := f.get()
		if len(got) != 1 {
			t.Fatalf("OnFailure was called %d times, want once", len(got))
		}
		if diff := cmp.Diff(outcome(1), got[0].o); diff != "" {
			t.Errorf("OnFailure's outcome (-want +got):\n%s", diff)
		}
		want := webhook.DeliveryError{ID: webhook.MessageID(outcome(1)), Attempts: 1, StatusCode: 500, Err: webhook.ErrClosed}
		if diff := cmp.Diff(want, deliveryError(got[0].err), cmpopts.EquateErrors()); diff != "" {
			t.Errorf("OnFailure's error (-want +got):\n%s", diff)
		}
	})
}

type ctxKey struct{}

// recordingTransport records the value of ctxKey in each request's context.
type recordingTransport struct {
	http.Transport
	mu     sync.Mutex
	values []any
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.values = append(rt.values, r.Context().Value(ctxKey{}))
	rt.mu.Unlock()
	return rt.Transport.RoundTrip(r)
}

func TestSendWithACancelledContext(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	rt := new(recordingTransport)
	t.Cleanup(rt.CloseIdleConnections)
	s := newSender(t, rc.URL, &webhook.Options{Client: &http.Client{Transport: rt}})

	// A disposition's request context, cancelled once it is answered.
	ctx, cancel := context.WithCancel(context.WithValue(t.Context(), ctxKey{}, "trace-1"))
	cancel()
	if err := s.Send(ctx, outcome(1)); err != nil {
		t.Fatalf("Send with a cancelled context = %v, want nil: the outcome outlives its request", err)
	}
	closeSender(t, s)
	if diff := cmp.Diff(webhook.Stats{Delivered: 1}, s.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if diff := cmp.Diff([]any{"trace-1"}, rt.values); diff != "" {
		t.Errorf("the attempt's context values (-want +got):\n%s", diff)
	}
}

func TestSendRefusesInvalidOutcomes(t *testing.T) {
	t.Parallel()
	s := newSender(t, "http://127.0.0.1:1/", nil)
	valid := outcome(1)
	for _, tc := range []struct {
		name   string
		change func(*push.Outcome)
	}{
		{"an outcome without a visitID", func(o *push.Outcome) { o.VisitID = "" }},
		{"an outcome without an interactionID", func(o *push.Outcome) { o.InteractionID = "" }},
		{"an outcome without a result", func(o *push.Outcome) { o.Result = "" }},
		{"an outcome of the year 10000", func(o *push.Outcome) { o.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := valid
			tc.change(&o)
			if err := s.Send(t.Context(), o); !errors.Is(err, webhook.ErrInvalidOutcome) {
				t.Errorf("Send = %v, want ErrInvalidOutcome", err)
			}
		})
	}
	if diff := cmp.Diff(webhook.Stats{}, s.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

func TestAZeroTimeIsTheTimeOfSend(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	s := newSender(t, rc.URL, nil)
	o := outcome(1)
	o.Time = time.Time{}
	before := time.Now()
	send(t, s, o)
	closeSender(t, s)
	var body struct {
		Timestamp time.Time `json:"timestamp"`
		Data      push.Outcome
	}
	hits := rc.Hits()
	if len(hits) != 1 {
		t.Fatalf("the receiver got %d requests, want 1", len(hits))
	}
	if err := json.Unmarshal(hits[0].body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Timestamp.Before(before.Truncate(time.Second)) || body.Timestamp.After(time.Now()) || !body.Data.Time.Equal(body.Timestamp) {
		t.Errorf("timestamp %v, data.time %v: want both the time of Send (%v)", body.Timestamp, body.Data.Time, before)
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	long := "whsec_" + strings.Repeat("QUFB", 22) // 66 bytes
	short := "whsec_" + strings.Repeat("QUFB", 7) // 21 bytes
	for _, tc := range []struct {
		name, url, secret string
		opts              *webhook.Options
	}{
		{name: "a relative URL", url: "/hook", secret: testSecret},
		{name: "a URL of another scheme", url: "ftp://127.0.0.1/hook", secret: testSecret},
		{name: "a URL without a host", url: "http:///hook", secret: testSecret},
		{name: "a secret without whsec_", url: "http://127.0.0.1/", secret: strings.TrimPrefix(testSecret, "whsec_")},
		{name: "a secret that is not base64", url: "http://127.0.0.1/", secret: "whsec_not*base64*at*all*not*base64*at*all"},
		{name: "a secret under 24 bytes", url: "http://127.0.0.1/", secret: short},
		{name: "a secret over 64 bytes", url: "http://127.0.0.1/", secret: long},
		{name: "a negative queue", url: "http://127.0.0.1/", secret: testSecret, opts: &webhook.Options{QueueSize: -1}},
		{name: "negative workers", url: "http://127.0.0.1/", secret: testSecret, opts: &webhook.Options{Workers: -1}},
		{name: "a negative timeout", url: "http://127.0.0.1/", secret: testSecret, opts: &webhook.Options{AttemptTimeout: -1}},
		{name: "a minimum backoff above the maximum", url: "http://127.0.0.1/", secret: testSecret, opts: &webhook.Options{MinBackoff: 2 * time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := webhook.New(tc.url, tc.secret, tc.opts)
			if err == nil {
				s.Close(t.Context())
				t.Fatal("New = nil error")
			}
			if secret, _ := strings.CutPrefix(tc.secret, "whsec_"); strings.Contains(err.Error(), secret) {
				t.Errorf("the error %q quotes the secret", err)
			}
		})
	}
}

func TestConcurrentSends(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n%7 == 0 {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	s := newSender(t, rc.URL, fast(webhook.Options{}))
	const senders, each = 8, 50
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				if err := s.Send(context.Background(), outcome(g*each+i)); err != nil {
					t.Errorf("Send: %v", err)
				}
				_ = s.Stats()
			}
		})
	}
	wg.Wait()
	closeSender(t, s)
	if got := len(ids(rc.Hits())); got != senders*each {
		t.Errorf("the receiver got %d distinct IDs, want %d", got, senders*each)
	}
	if st := s.Stats(); st.Delivered != senders*each || st.Failed != 0 || st.Dropped != 0 {
		t.Errorf("Stats = %+v, want %d delivered, none failed or dropped", st, senders*each)
	}
}

func TestTheSecretNeverShows(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	var logs syncBuffer
	s := newSender(t, rc.URL+"/hook?token=hush", fast(webhook.Options{MaxAttempts: 2, Logger: logger(&logs)}))
	send(t, s, outcome(1))
	closeSender(t, s)

	secret := strings.TrimPrefix(testSecret, "whsec_")
	key, err := base64.StdEncoding.DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	printed := fmt.Sprintf("%v %+v %#v %s %d %x %q", s, s, s, s, s, s, s)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("sender", "s", s)
	if want := "webhook.Sender(" + rc.URL + "/hook)"; !strings.Contains(printed, want) {
		t.Errorf("printed %q, want it to show %q", printed, want)
	}
	for _, h := range rc.Hits() {
		sig := strings.TrimPrefix(h.header.Get("webhook-signature"), "v1,")
		for name, text := range map[string]string{"the log": logs.String(), "a printed Sender": printed} {
			for what, needle := range map[string]string{
				"the secret":         secret,
				"the key":            string(key),
				"the key in decimal": strings.Trim(fmt.Sprint(key), "[]")[:24],
				"the key in hex":     hex.EncodeToString(key)[:24],
				"a signature":        sig,
				"the body":           string(h.body),
				"the query":          "hush",
			} {
				if strings.Contains(text, needle) {
					t.Errorf("%s shows %s:\n%s", name, what, text)
				}
			}
		}
	}
}
