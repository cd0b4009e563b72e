package push_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
	"github.com/google/go-cmp/cmp"
)

// scripted is a MemoryBackend whose calls fail when the test says so.
type scripted struct {
	*push.MemoryBackend
	mu         sync.Mutex
	fail       map[string]int // call name → which of its next calls fails (1: the next)
	calls      []string       // the calls made, in order
	afterClaim func()         // runs after each claim
}

func (s *scripted) failing(call string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
	if s.fail[call] == 0 {
		return nil
	}
	if s.fail[call]--; s.fail[call] > 0 {
		return nil
	}
	return &gateway.Fault{Code: gateway.CodeUnavailable, RetryAfter: 7 * time.Second, Err: errors.New(call + " failed")}
}

// failNext makes the nth next call named call fail.
func (s *scripted) failNext(call string, nth int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail == nil {
		s.fail = map[string]int{}
	}
	s.fail[call] = nth
}

func (s *scripted) Claim(ctx context.Context, visitID, interactionID string, ttl time.Duration) (string, error) {
	if err := s.failing("Claim"); err != nil {
		return "", err
	}
	holder, err := s.MemoryBackend.Claim(ctx, visitID, interactionID, ttl)
	if s.afterClaim != nil {
		s.afterClaim()
	}
	return holder, err
}

func (s *scripted) Ended(ctx context.Context, visitID, interactionID string) (bool, error) {
	if err := s.failing("Ended"); err != nil {
		return false, err
	}
	return s.MemoryBackend.Ended(ctx, visitID, interactionID)
}

func (s *scripted) End(ctx context.Context, visitID, interactionID string, ttl time.Duration) error {
	if err := s.failing("End"); err != nil {
		return err
	}
	return s.MemoryBackend.End(ctx, visitID, interactionID, ttl)
}

func (s *scripted) Release(ctx context.Context, visitID, interactionID string) error {
	if err := s.failing("Release"); err != nil {
		return err
	}
	return s.MemoryBackend.Release(ctx, visitID, interactionID)
}

func (s *scripted) Publish(ctx context.Context, ev *push.Event) error {
	if err := s.failing("Publish"); err != nil {
		return err
	}
	return s.MemoryBackend.Publish(ctx, ev)
}

// TestStrictEngageRoundTrips: over a backend other than the memory one,
// a strict-mode engage makes three calls (Claim, Ended, Publish), and an
// engage of an interactionID that another broker ended is still dropped
// (200) when another interaction holds the visit, not refused as in
// progress.
func TestStrictEngageRoundTrips(t *testing.T) {
	t.Parallel()
	be := &scripted{MemoryBackend: push.NewMemoryBackend(nil)}
	e := newEnv(t, &push.Options{Backend: be})
	calls := func() []string {
		be.mu.Lock()
		defer be.mu.Unlock()
		c := be.calls
		be.calls = nil
		return c
	}
	if err := e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"Claim", "Ended", "Publish"}, calls()); diff != "" {
		t.Errorf("an engage's calls (-want +got):\n%s", diff)
	}
	// Another broker cancelled i-2 before its engage: the backend has it
	// ended, and its event has not reached this broker yet.
	if err := be.MemoryBackend.End(context.Background(), "v-1", "i-2", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := e.engage(t, gateway.Profile{InteractionID: "i-2", VisitID: "v-1"}); err != nil {
		t.Errorf("an engage of an ended ID while i-1 holds the visit: %v, want nil (dropped)", err)
	}
	if diff := cmp.Diff([]string{"Claim", "Ended"}, calls()); diff != "" {
		t.Errorf("its calls (-want +got):\n%s", diff)
	}
	if err := e.engage(t, gateway.Profile{InteractionID: "i-3", VisitID: "v-1"}); !errors.Is(err, gateway.ErrEngagementInProgress) {
		t.Errorf("an engage of a new ID while i-1 holds the visit: %v, want ENGAGEMENT_IN_PROGRESS", err)
	}
}

// TestBackendFailures: whichever call fails, the engage or cancel is
// answered 503 with the backend's Retry-After, nothing was admitted, and
// no claim is left behind to block the visit.
func TestBackendFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, call string
		nth        int // the engage's call that fails: strict mode calls Claim, Ended, Publish
	}{
		{"Claim", "Claim", 1},
		{"Ended after the claim", "Ended", 1},
		{"Publish", "Publish", 1},
	} {
		t.Run("an engage whose "+tc.name+" fails", func(t *testing.T) {
			t.Parallel()
			be := &scripted{MemoryBackend: push.NewMemoryBackend(nil)}
			e := newEnv(t, &push.Options{Backend: be})
			s := e.subscribe(t, "/notification/v-1", nil)
			be.failNext(tc.call, tc.nth)
			resp, err := e.srv.Client().Post(e.srv.URL+"/server/data/gateway/engage", "application/json",
				strings.NewReader(`{"interactionID":"i-1","visitID":"v-1","channels":["chat"]}`))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "7" || !strings.Contains(string(body), `"UNAVAILABLE"`) {
				t.Errorf("got %d Retry-After %q %s, want 503 UNAVAILABLE with the backend's Retry-After, 7", resp.StatusCode, resp.Header.Get("Retry-After"), body)
			}
			if strings.Contains(string(body), "failed") {
				t.Errorf("the answer shows the backend's error: %s", body)
			}
			// Nothing was admitted, and the visit is free for another.
			if err := e.engage(t, gateway.Profile{InteractionID: "i-2", VisitID: "v-1"}); err != nil {
				t.Fatalf("the next engage: %v", err)
			}
			wantEngage(t, s.next(t), "i-2")
		})
	}
	for _, call := range []string{"End", "Publish", "Release"} {
		t.Run("a cancel whose "+call+" fails", func(t *testing.T) {
			t.Parallel()
			be := &scripted{MemoryBackend: push.NewMemoryBackend(nil)}
			e := newEnv(t, &push.Options{Backend: be})
			s := e.subscribe(t, "/notification/v-1", nil)
			e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"})
			wantEngage(t, s.next(t), "i-1")
			be.failNext(call, 1)
			err := e.b.Cancel(context.Background(), &gateway.CancelData{InteractionID: "i-1", VisitID: "v-1"})
			var f *gateway.Fault
			if !errors.Is(err, gateway.ErrUnavailable) || !errors.As(err, &f) || f.RetryAfter != 7*time.Second {
				t.Fatalf("Cancel = %v, want an UNAVAILABLE *gateway.Fault with the backend's RetryAfter", err)
			}
			// The strategy's retry completes it.
			e.cancel(t, "v-1", "i-1")
			wantCancel(t, s.next(t), "i-1", "cancelled")
			if err := e.engage(t, gateway.Profile{InteractionID: "i-2", VisitID: "v-1"}); err != nil {
				t.Fatalf("the next engage: %v", err)
			}
			wantEngage(t, s.next(t), "i-2")
		})
	}
}

// TestCancelRacingTheClaim: a cancel on another broker that records its
// end between this broker's first check and its claim wins, and the claim
// is released.
func TestCancelRacingTheClaim(t *testing.T) {
	t.Parallel()
	be := &scripted{MemoryBackend: push.NewMemoryBackend(nil)}
	e := newEnv(t, &push.Options{Backend: be})
	s := e.subscribe(t, "/notification/v-1", nil)
	be.afterClaim = func() {
		be.afterClaim = nil
		be.MemoryBackend.End(context.Background(), "v-1", "i-1", time.Minute)
	}
	if err := e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1"}); err != nil {
		t.Fatalf("the engage that lost to its cancel: %v, want nil (dropped)", err)
	}
	if err := e.engage(t, gateway.Profile{InteractionID: "i-2", VisitID: "v-1"}); err != nil {
		t.Fatalf("the next engage: %v", err)
	}
	wantEngage(t, s.next(t), "i-2")
}

// TestClaimThatOutlivesItsInvitation: a backend's claim may lapse later
// than the invitation expires (a TTL of coarse resolution, a clock behind
// the broker's). The broker that saw the invitation expire releases the
// claim and takes it.
func TestClaimThatOutlivesItsInvitation(t *testing.T) {
	t.Parallel()
	backendClock := &clock{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	be := push.NewMemoryBackend(&push.MemoryOptions{Now: backendClock.Now})
	e := newEnv(t, &push.Options{Backend: be})
	e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1", ExpiresIn: 10})
	e.clock.Add(10 * time.Second) // the broker's clock: expired; the backend's: not
	if err := e.engage(t, gateway.Profile{InteractionID: "i-2", VisitID: "v-1"}); err != nil {
		t.Fatalf("engage after the expiry: %v", err)
	}
	// A claim whose invitation the broker has not seen end still refuses.
	if err := e.engage(t, gateway.Profile{InteractionID: "i-3", VisitID: "v-1"}); !errors.Is(err, gateway.ErrEngagementInProgress) {
		t.Errorf("engage while i-2 is live: %v, want ErrEngagementInProgress", err)
	}
}

// TestShutdownStopsListening: a broker that has shut down applies nothing
// that the brokers sharing its backend publish.
func TestShutdownStopsListening(t *testing.T) {
	t.Parallel()
	be := push.NewMemoryBackend(nil)
	a := push.NewBroker(&push.Options{Backend: be})
	b := push.NewBroker(&push.Options{Backend: be})
	defer a.Shutdown(context.Background())
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Engage(context.Background(), &gateway.Profile{InteractionID: "i-1", VisitID: "v-1", Channels: []string{"chat"}}); err != nil {
		t.Fatal(err)
	}
	if got := []int{a.Stats().Invitations, b.Stats().Invitations}; got[0] != 1 || got[1] != 0 {
		t.Errorf("live invitations on the running and the stopped broker: %v, want [1 0]", got)
	}
}
