package push_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

// Load and Store of a scripted backend fail when the test says so, as its
// other calls do.
func (s *scripted) Load(ctx context.Context, key string) ([]byte, uint64, error) {
	if err := s.failing("Load"); err != nil {
		return nil, 0, err
	}
	return s.MemoryBackend.Load(ctx, key)
}

func (s *scripted) Store(ctx context.Context, key string, data []byte, rev uint64, ttl time.Duration) (bool, error) {
	if err := s.failing("Store"); err != nil {
		return false, err
	}
	return s.MemoryBackend.Store(ctx, key, data, rev, ttl)
}

// TestGateBackendFailures: an engage whose gating record cannot be read or
// written is answered 503 with the backend's Retry-After, shows nothing
// and holds no claim; its retry is admitted and counted.
func TestGateBackendFailures(t *testing.T) {
	t.Parallel()
	for _, call := range []string{"Load", "Store"} {
		t.Run("an engage whose "+call+" fails", func(t *testing.T) {
			t.Parallel()
			be := &scripted{MemoryBackend: push.NewMemoryBackend(nil)}
			e := newEnv(t, &push.Options{Backend: be, Gate: &push.Gate{MinGap: time.Hour}})
			s := e.subscribe(t, "/notification/v-1", nil)
			be.failNext(call, 1)
			err := e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"})
			var f *gateway.Fault
			if !errors.Is(err, gateway.ErrUnavailable) || !errors.As(err, &f) || f.RetryAfter != 7*time.Second {
				t.Fatalf("Engage = %v, want an UNAVAILABLE *gateway.Fault with the backend's RetryAfter", err)
			}
			// Nothing was shown or claimed: the retry is admitted, and
			// counted.
			if err := e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"}); err != nil {
				t.Fatalf("the retry: %v", err)
			}
			wantEngage(t, s.next(t), "i-1")
			e.cancel(t, "v-1", "i-1")
			wantCancel(t, s.next(t), "i-1", "cancelled")
			if err := e.engage(t, gateway.Profile{InteractionID: "i-2", VisitID: "v-1"}); !errors.Is(err, gateway.ErrEngagementSuppressed) {
				t.Errorf("an engage within the gap: %v, want ErrEngagementSuppressed", err)
			}
		})
	}
}

// TestRejectionAnswered200Cools: a rejection answered 200 starts the
// visit's cool-down, even when the backend fails as the rejection is
// recorded: the answer is then 503, and the page's retry records both.
// Before, the answer was published and answered 200, and the cool-down
// was only logged as lost.
func TestRejectionAnswered200Cools(t *testing.T) {
	t.Parallel()
	for _, call := range []string{"Load", "Store"} {
		t.Run("a rejection whose "+call+" fails", func(t *testing.T) {
			t.Parallel()
			be := &scripted{MemoryBackend: push.NewMemoryBackend(nil)}
			e := newEnv(t, &push.Options{Backend: be, Gate: &push.Gate{Cooldown: time.Hour}})
			s := e.subscribe(t, "/notification/v-1", nil)
			if err := e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"}); err != nil {
				t.Fatal(err)
			}
			wantEngage(t, s.next(t), "i-1")
			be.failNext(call, 1)
			reject := func() *http.Response {
				resp, _ := e.request(t, http.MethodPost, "/notification/v-1/disposition", jsonType, `{"interactionID":"i-1","result":"rejected"}`)
				return resp
			}
			resp := reject()
			switch resp.StatusCode {
			case http.StatusOK:
			case http.StatusServiceUnavailable:
				if resp.Header.Get("Retry-After") != "7" {
					t.Errorf("503 with Retry-After %q, want the backend's, 7", resp.Header.Get("Retry-After"))
				}
				if resp := reject(); resp.StatusCode != http.StatusOK {
					t.Fatalf("the page's retry: %d, want 200", resp.StatusCode)
				}
			default:
				t.Fatalf("the rejection: %d, want 200 or 503", resp.StatusCode)
			}
			wantCancel(t, s.next(t), "i-1", "rejected")
			if err := e.engage(t, gateway.Profile{InteractionID: "i-2", VisitID: "v-1"}); !errors.Is(err, gateway.ErrEngagementSuppressed) {
				t.Errorf("an engage after the rejection answered 200: %v, want ErrEngagementSuppressed (cooldown)", err)
			}
		})
	}
}

// stalled is a MemoryBackend whose Store, once stalled, hangs until its
// context is done: a store cut off by a partition the connection has not
// noticed yet.
type stalled struct {
	*push.MemoryBackend
	stall atomic.Bool
}

func (s *stalled) Store(ctx context.Context, key string, data []byte, rev uint64, ttl time.Duration) (bool, error) {
	if s.stall.Load() {
		<-ctx.Done()
		return false, ctx.Err()
	}
	return s.MemoryBackend.Store(ctx, key, data, rev, ttl)
}

// TestOutcomesWhileTheBackendHangs: while elections time out, outcomes are
// reported without one, at once, not one per election timeout. Before,
// each waited its own timeout, 2 s: 20 expiries took 40 s to report, and
// a partition of a few minutes filled the queue, dropping outcomes.
func TestOutcomesWhileTheBackendHangs(t *testing.T) {
	t.Parallel()
	be := &stalled{MemoryBackend: push.NewMemoryBackend(nil)}
	var mu sync.Mutex
	var got []push.Outcome
	b := push.NewBroker(&push.Options{Backend: be, Lenient: true, OnOutcome: func(o push.Outcome) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, o)
	}})
	t.Cleanup(func() {
		be.stall.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	const n = 20
	for i := range n {
		p := &gateway.Profile{InteractionID: "i-1", VisitID: "v-" + strconv.Itoa(i), Channels: []string{"chat"}, ExpiresIn: 1}
		if err := b.Engage(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	be.stall.Store(true)
	start := time.Now()
	deadline := start.Add(10 * time.Second)
	for {
		mu.Lock()
		k := len(got)
		mu.Unlock()
		if k == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d outcomes of %d reported after %v", k, n, time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The expiries come after a second; the first election then waits its
	// timeout (2 s); the others need not.
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the %d outcomes took %v to report, want them within 5 s", n, took)
	}
}

// slowStore is a backend whose Store, the outcome election's call, takes
// a networked backend's round trip.
type slowStore struct {
	*push.MemoryBackend
	delay time.Duration
}

func (s *slowStore) Store(ctx context.Context, key string, data []byte, rev uint64, ttl time.Duration) (bool, error) {
	time.Sleep(s.delay)
	return s.MemoryBackend.Store(ctx, key, data, rev, ttl)
}

// TestABurstOfOutcomesIsReported: when 6,000 invitations expire at once
// (a campaign's engages, sent together with one expiresIn), every outcome
// is reported, though each election takes a millisecond. Before, 4,096
// outcomes could wait, and one election ran at a time: 1,904 were dropped.
func TestABurstOfOutcomesIsReported(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	be := &slowStore{MemoryBackend: push.NewMemoryBackend(&push.MemoryOptions{Now: clk.Now}), delay: time.Millisecond}
	var reported atomic.Int64
	b := push.NewBroker(&push.Options{Backend: be, Lenient: true, Now: clk.Now, Heartbeat: time.Hour,
		OnOutcome: func(push.Outcome) { reported.Add(1) }})
	t.Cleanup(func() { b.Shutdown(context.Background()) })
	const n = 6000
	for i := range n {
		p := &gateway.Profile{InteractionID: "i-1", VisitID: "v-" + strconv.Itoa(i), Channels: []string{"chat"}, ExpiresIn: 5}
		if err := b.Engage(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(10 * time.Second)
	b.Sweep()
	start := time.Now()
	for reported.Load()+int64(b.Stats().OutcomesDropped) < n && time.Since(start) < 30*time.Second {
		time.Sleep(10 * time.Millisecond)
	}
	if got, dropped := reported.Load(), b.Stats().OutcomesDropped; got != n || dropped != 0 {
		t.Errorf("%d of %d outcomes reported and %d dropped after %v", got, n, dropped, time.Since(start).Round(time.Millisecond))
	}
}
