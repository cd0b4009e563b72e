package push_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
	"github.com/google/go-cmp/cmp"
)

// recorder is an Observer that writes down what it hears, one line per
// report.
type recorder struct {
	mu         sync.Mutex
	lines      []string
	deliveries []push.Delivery
	outcomes   []push.Outcome
	open       int
}

type traceKey struct{}

func (r *recorder) observer() *push.Observer {
	add := func(format string, a ...any) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.lines = append(r.lines, fmt.Sprintf(format, a...))
	}
	return &push.Observer{
		Offered: func(_ context.Context, p *gateway.Profile) { add("offered %s %s", p.VisitID, p.InteractionID) },
		Delivered: func(d push.Delivery) {
			how := "to an open stream"
			if d.OnConnect {
				how = "on connect"
			}
			add("delivered %s %s %s", d.VisitID, d.InteractionID, how)
			r.mu.Lock()
			defer r.mu.Unlock()
			r.deliveries = append(r.deliveries, d)
		},
		Shown: func(_ context.Context, visitID, id string) { add("shown %s %s", visitID, id) },
		Ended: func(o push.Outcome) {
			add("ended %s %s %s %s", o.VisitID, o.InteractionID, o.Result, o.Channel)
			r.mu.Lock()
			defer r.mu.Unlock()
			r.outcomes = append(r.outcomes, o)
		},
		StreamOpened: func() { r.mu.Lock(); r.open++; r.mu.Unlock() },
		StreamClosed: func() { r.mu.Lock(); r.open--; r.mu.Unlock() },
		TraceParent: func(ctx context.Context) string {
			s, _ := ctx.Value(traceKey{}).(string)
			return s
		},
	}
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lines)
}

func (r *recorder) delivery(i int) push.Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.deliveries[i]
}

func (r *recorder) streams() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.open
}

// report posts a disposition or a shown report, with the env's token when
// the env requires one, and returns its status and body.
func (e *env) report(t *testing.T, visitID, body string) (int, string) {
	t.Helper()
	resp, text := e.request(t, "POST", "/notification/"+visitID+"/disposition", jsonType, body)
	return resp.StatusCode, text
}

func TestObserverHearsTheFunnel(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	e := newEnv(t, &push.Options{Observer: r.observer()})
	s := e.subscribe(t, "/notification/v-1", nil)
	e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1", Channels: []string{"chat", "callback"}})
	wantEngage(t, s.next(t), "i-1")
	for range 2 { // a second report, from another tab, is not heard again
		if code, body := e.report(t, "v-1", `{"interactionID":"i-1","result":"shown"}`); code != 200 || body != "{\"status\":\"OK\",\"interactionID\":\"i-1\"}\n" {
			t.Fatalf("shown: %d %s", code, body)
		}
	}
	if got := e.b.Stats().Invitations; got != 1 {
		t.Errorf("after shown, live invitations = %d, want 1: a report ends nothing", got)
	}
	if code, body := e.report(t, "v-1", `{"interactionID":"i-1","result":"accepted","channel":"callback"}`); code != 200 {
		t.Fatalf("accepted: %d %s", code, body)
	}
	want := []string{
		"delivered v-1 i-1 to an open stream", // a MemoryBackend applies the engage in Publish
		"offered v-1 i-1",
		"shown v-1 i-1",
		"ended v-1 i-1 accepted callback",
	}
	if diff := cmp.Diff(want, r.got()); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
	now := e.clock.Now()
	if diff := cmp.Diff([]push.Delivery{{VisitID: "v-1", InteractionID: "i-1", Accepted: now, Time: now}}, r.deliveries); diff != "" {
		t.Errorf("delivery (-want +got):\n%s", diff)
	}
	if got := r.outcomes[0].Time; !got.Equal(now) {
		t.Errorf("outcome time = %v, want the answer's, %v", got, now)
	}
	if got := r.streams(); got != 1 {
		t.Errorf("open streams = %d, want 1", got)
	}
	s.close()
	eventually(t, "the closed stream is reported", func() bool { e.b.Sweep(); return r.streams() == 0 })
}

func TestObserverHearsHowDeliveredInvitationsEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, e *env)
		want string
	}{
		{"a cancel, whatever its reason, is cancelled", func(t *testing.T, e *env) {
			if err := e.b.Cancel(context.Background(), &gateway.CancelData{VisitID: "v-1", InteractionID: "i-1", Reason: "timeout"}); err != nil {
				t.Fatal(err)
			}
		}, "ended v-1 i-1 cancelled "},
		{"an invitation past its time is expired", func(t *testing.T, e *env) {
			e.clock.Add(31 * time.Second)
			e.b.Sweep()
		}, "ended v-1 i-1 expired "},
		{"a decline is rejected", func(t *testing.T, e *env) {
			e.report(t, "v-1", `{"interactionID":"i-1","result":"rejected"}`)
		}, "ended v-1 i-1 rejected "},
		{"a page that ran out is timeout", func(t *testing.T, e *env) {
			e.report(t, "v-1", `{"interactionID":"i-1","result":"timeout"}`)
		}, "ended v-1 i-1 timeout "},
		{"a page that went away is closed", func(t *testing.T, e *env) {
			e.report(t, "v-1", `{"interactionID":"i-1","result":"closed"}`)
		}, "ended v-1 i-1 closed "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := &recorder{}
			e := newEnv(t, &push.Options{Observer: r.observer()})
			e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"})
			s := e.subscribe(t, "/notification/v-1", nil)
			wantEngage(t, s.next(t), "i-1")
			tc.end(t, e)
			want := []string{"offered v-1 i-1", "delivered v-1 i-1 on connect", tc.want}
			if diff := cmp.Diff(want, r.got()); diff != "" {
				t.Errorf("reports (-want +got):\n%s", diff)
			}
		})
	}
}

func TestObserverIsNotToldOfWhatReachedNoPage(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	e := newEnv(t, &push.Options{Observer: r.observer()})
	s := e.subscribe(t, "/notification/v-1?pageID=p-1", nil)
	e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1", PageID: "p-2"}) // another page
	e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1", PageID: "p-2"}) // live already: nothing admitted
	s.quiet(t)
	e.cancel(t, "v-1", "i-1")
	e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"}) // ended: dropped
	s.quiet(t)
	if diff := cmp.Diff([]string{"offered v-1 i-1"}, r.got()); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
}

func TestShownReport(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		status     int
		heard      bool
	}{
		{"a live invitation is heard once", `{"interactionID":"i-1","result":"shown"}`, 200, true},
		{"an ended invitation is answered and not heard", `{"interactionID":"i-2","result":"shown"}`, 200, false},
		{"an unknown invitation is not found", `{"interactionID":"i-3","result":"shown"}`, 404, false},
		{"a channel is refused", `{"interactionID":"i-1","result":"shown","channel":"chat"}`, 400, false},
		{"an invalid interactionID is refused", `{"interactionID":"i 1","result":"shown"}`, 400, false},
		{"a missing interactionID is refused", `{"result":"shown"}`, 400, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := &recorder{}
			e := newEnv(t, &push.Options{Observer: r.observer(), Lenient: true})
			e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"})
			e.engage(t, gateway.Profile{InteractionID: "i-2", VisitID: "v-1"})
			e.cancel(t, "v-1", "i-2")
			code, body := e.report(t, "v-1", tc.body)
			if code != tc.status {
				t.Errorf("status = %d (%s), want %d", code, body, tc.status)
			}
			heard := slices.Contains(r.got(), "shown v-1 i-1")
			if heard != tc.heard {
				t.Errorf("heard = %v, want %v", heard, tc.heard)
			}
			if got := e.b.Stats().Invitations; got != 1 {
				t.Errorf("live invitations = %d, want 1", got)
			}
		})
	}
}

func TestShownReportNeedsTheVisitorToken(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	e := tokenEnv(t, &push.Options{Observer: r.observer()})
	e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"})
	const body = `{"interactionID":"i-1","result":"shown"}`
	if resp, text := e.request(t, "POST", "/notification/v-1/disposition", jsonType, body); resp.StatusCode != 401 {
		t.Errorf("without a token: %d %s, want 401", resp.StatusCode, text)
	}
	if resp, text := e.request(t, "POST", "/notification/v-1/disposition", merge(jsonType, bearer(e.token(t, "v-2", "", time.Minute))), body); resp.StatusCode != 401 {
		t.Errorf("with another visit's token: %d %s, want 401", resp.StatusCode, text)
	}
	if slices.Contains(r.got(), "shown v-1 i-1") {
		t.Fatal("a refused report was heard")
	}
	if resp, text := e.request(t, "POST", "/notification/v-1/disposition", merge(jsonType, bearer(e.token(t, "v-1", "", time.Minute))), body); resp.StatusCode != 200 {
		t.Errorf("with the visit's token: %d %s, want 200", resp.StatusCode, text)
	}
	if !slices.Contains(r.got(), "shown v-1 i-1") {
		t.Error("the report was not heard")
	}
}

// TestObserverAcrossBrokers: with two brokers sharing a backend that
// encodes its events, the engage is offered where it was accepted and
// delivered where the stream is, with the engage's trace context.
func TestObserverAcrossBrokers(t *testing.T) {
	t.Parallel()
	l := &logStore{changed: make(chan struct{})}
	l.state.Store(push.NewMemoryBackend(nil))
	var rs [2]recorder
	var envs [2]*env
	for i := range envs {
		envs[i] = newEnv(t, &push.Options{Backend: &logBackend{l}, Observer: rs[i].observer()})
	}
	s := envs[1].subscribe(t, "/notification/v-1", nil)
	const trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := context.WithValue(context.Background(), traceKey{}, trace)
	if err := envs[0].b.Engage(ctx, &gateway.Profile{InteractionID: "i-1", VisitID: "v-1", Channels: []string{"chat"}}); err != nil {
		t.Fatal(err)
	}
	wantEngage(t, s.next(t), "i-1")
	envs[0].cancel(t, "v-1", "i-1")
	wantCancel(t, s.next(t), "i-1", "cancelled")
	if diff := cmp.Diff([]string{"offered v-1 i-1"}, rs[0].got()); diff != "" {
		t.Errorf("the accepting broker's reports (-want +got):\n%s", diff)
	}
	want := []string{"delivered v-1 i-1 to an open stream", "ended v-1 i-1 cancelled "}
	if diff := cmp.Diff(want, rs[1].got()); diff != "" {
		t.Errorf("the delivering broker's reports (-want +got):\n%s", diff)
	}
	if got := rs[1].delivery(0).TraceParent; got != trace {
		t.Errorf("TraceParent = %q, want %q", got, trace)
	}
}

func TestEventTraceParent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, trace, want string }{
		{"a valid traceparent is carried", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"an unsampled one too", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"},
		{"none is none", "", ""},
		{"an all-zero trace ID is dropped", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", ""},
		{"upper case is dropped", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", ""},
		{"another version is dropped", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ""},
		{"CR LF is dropped", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := &logStore{changed: make(chan struct{})}
			l.state.Store(push.NewMemoryBackend(nil))
			var rs [2]recorder
			var envs [2]*env
			for i := range envs {
				envs[i] = newEnv(t, &push.Options{Backend: &logBackend{l}, Observer: rs[i].observer()})
			}
			s := envs[1].subscribe(t, "/notification/v-1", nil)
			ctx := context.WithValue(context.Background(), traceKey{}, tc.trace)
			if err := envs[0].b.Engage(ctx, &gateway.Profile{InteractionID: "i-1", VisitID: "v-1", Channels: []string{"chat"}}); err != nil {
				t.Fatal(err)
			}
			wantEngage(t, s.next(t), "i-1") // the event is applied, whatever its traceparent
			if got := rs[1].delivery(0).TraceParent; got != tc.want {
				t.Errorf("TraceParent = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestReady: Ready answers nil while the backend answers, ErrUnavailable
// within a second of it going down (what a Ping found is reused for a
// second), nil again within a second of it coming back, and
// ErrUnavailable once the broker is shut down.
func TestReady(t *testing.T) {
	t.Parallel()
	f := &faults{}
	f.state.Store(push.NewMemoryBackend(nil))
	b := push.NewBroker(&push.Options{Backend: &faultyBackend{MemoryBackend: push.NewMemoryBackend(nil), faults: f}})
	defer b.Shutdown(context.Background())
	if err := b.Ready(context.Background()); err != nil {
		t.Errorf("Ready: %v, want nil", err)
	}
	f.down.Store(true)
	eventually(t, "Ready with the backend down is not ErrUnavailable", func() bool {
		return errors.Is(b.Ready(context.Background()), gateway.ErrUnavailable)
	})
	f.down.Store(false)
	eventually(t, "Ready with the backend back is not nil", func() bool { return b.Ready(context.Background()) == nil })
	b.Shutdown(context.Background())
	if err := b.Ready(context.Background()); !errors.Is(err, gateway.ErrUnavailable) {
		t.Errorf("Ready after Shutdown: %v, want ErrUnavailable", err)
	}
}

// pingCounter is a backend whose Ping is counted and takes a while, as a
// networked one's does.
type pingCounter struct {
	*push.MemoryBackend
	pings atomic.Int64
}

func (p *pingCounter) Ping(ctx context.Context) error {
	p.pings.Add(1)
	time.Sleep(20 * time.Millisecond)
	return p.MemoryBackend.Ping(ctx)
}

// TestReadyProbesShareOnePing: a flood of readiness probes, which anyone
// who reaches /readyz may send, costs the backend one Ping a second, not
// one each; a probe that gives up early (its context ends) gets an error
// and spoils nothing for the others.
func TestReadyProbesShareOnePing(t *testing.T) {
	t.Parallel()
	be := &pingCounter{MemoryBackend: push.NewMemoryBackend(nil)}
	b := push.NewBroker(&push.Options{Backend: be})
	defer b.Shutdown(context.Background())

	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Ready(gone); !errors.Is(err, gateway.ErrUnavailable) {
		t.Errorf("Ready with an ended context: %v, want ErrUnavailable", err)
	}
	probe := func(n int) {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() { errs <- b.Ready(context.Background()) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("Ready: %v, want nil", err)
			}
		}
	}
	// At most one Ping a second: one, unless a busy machine stretches the
	// probes past a second.
	atMost := func(start time.Time) int64 { return 1 + int64(time.Since(start)/time.Second) }
	start := time.Now()
	probe(500)
	probe(500)
	if got, want := be.pings.Load(), atMost(start); got > want {
		t.Errorf("1,000 probes in %v made %d Pings, want at most %d", time.Since(start), got, want)
	}
	time.Sleep(1100 * time.Millisecond) // the answer is stale
	before, start := be.pings.Load(), time.Now()
	probe(500)
	if got, want := be.pings.Load()-before, atMost(start); got < 1 || got > want {
		t.Errorf("500 probes a second later made %d Pings, want 1 to %d", got, want)
	}
}

// TestObserverOverHTTP2: a stream held by a goroutine is reported opened
// and closed too.
func TestObserverOverHTTP2(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	b := push.NewBroker(&push.Options{Heartbeat: 40 * time.Millisecond, Observer: r.observer()})
	srv := httptest.NewUnstartedServer(b)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(func() {
		b.Shutdown(context.Background())
		srv.Close()
	})
	e := &env{b: b, srv: srv}
	s := e.subscribe(t, "/notification/v-1", http.Header{})
	eventually(t, "the stream is reported opened", func() bool { return r.streams() == 1 })
	s.close()
	eventually(t, "the stream is reported closed", func() bool { return r.streams() == 0 })
}
