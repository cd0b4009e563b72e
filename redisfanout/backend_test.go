package redisfanout_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
	"github.com/engagekit/gateway/redisfanout"
	"github.com/google/go-cmp/cmp"
)

func TestNew(t *testing.T) {
	t.Run("a nil client is refused", func(t *testing.T) {
		if _, err := redisfanout.New(context.Background(), nil, nil); err == nil {
			t.Error("New(nil client) returned no error")
		}
	})
	t.Run("a negative MaxLen is refused", func(t *testing.T) {
		srv := startRedis(t)
		if _, err := redisfanout.New(context.Background(), srv.client(t), &redisfanout.Options{MaxLen: -1}); err == nil {
			t.Error("New returned no error")
		}
	})
	t.Run("a server that does not answer fails New", func(t *testing.T) {
		srv := startRedis(t)
		addr := srv.addr()
		srv.kill()
		if _, err := redisfanout.New(context.Background(), newClient(t, addr), nil); err == nil {
			t.Error("New returned no error")
		}
	})
}

// step is one call in TestClaimsAndEnds, on backend A (0) or B (1) of two
// sharing a store.
type step struct {
	call                   string // "claim", "release", "end", "ended", "sleep"
	on                     int
	visitID, interactionID string
	ttl                    time.Duration // claim and end; default a minute
	wantHolder             string        // claim
	wantEnded              bool          // ended
}

func TestClaimsAndEnds(t *testing.T) {
	srv := startRedis(t)
	tests := []struct {
		name  string
		steps []step
	}{
		{"the first claim wins and the second learns its holder", []step{
			{call: "claim", on: 0, visitID: "v", interactionID: "i1", wantHolder: "i1"},
			{call: "claim", on: 1, visitID: "v", interactionID: "i2", wantHolder: "i1"},
		}},
		{"a claim is its holder's again", []step{
			{call: "claim", on: 0, visitID: "v", interactionID: "i1", wantHolder: "i1"},
			{call: "claim", on: 1, visitID: "v", interactionID: "i1", wantHolder: "i1"},
		}},
		{"a released claim goes to the next", []step{
			{call: "claim", on: 0, visitID: "v", interactionID: "i1", wantHolder: "i1"},
			{call: "release", on: 1, visitID: "v", interactionID: "i1"},
			{call: "claim", on: 1, visitID: "v", interactionID: "i2", wantHolder: "i2"},
		}},
		{"only the holder releases a claim", []step{
			{call: "claim", on: 0, visitID: "v", interactionID: "i1", wantHolder: "i1"},
			{call: "release", on: 1, visitID: "v", interactionID: "i2"},
			{call: "claim", on: 1, visitID: "v", interactionID: "i2", wantHolder: "i1"},
		}},
		{"releasing no claim does nothing", []step{
			{call: "release", on: 0, visitID: "v", interactionID: "i1"},
			{call: "claim", on: 1, visitID: "v", interactionID: "i2", wantHolder: "i2"},
		}},
		{"a claim lapses after its ttl", []step{
			{call: "claim", on: 0, visitID: "v", interactionID: "i1", ttl: 100 * time.Millisecond, wantHolder: "i1"},
			{call: "claim", on: 1, visitID: "v", interactionID: "i2", wantHolder: "i1"},
			{call: "sleep", ttl: 150 * time.Millisecond},
			{call: "claim", on: 1, visitID: "v", interactionID: "i2", wantHolder: "i2"},
		}},
		{"claims of two visits are independent", []step{
			{call: "claim", on: 0, visitID: "v1", interactionID: "i1", wantHolder: "i1"},
			{call: "claim", on: 1, visitID: "v2", interactionID: "i2", wantHolder: "i2"},
			{call: "claim", on: 1, visitID: "v2", interactionID: "i1", wantHolder: "i2"},
		}},
		{"an end is seen by every backend", []step{
			{call: "ended", on: 1, visitID: "v", interactionID: "i1", wantEnded: false},
			{call: "end", on: 0, visitID: "v", interactionID: "i1"},
			{call: "ended", on: 1, visitID: "v", interactionID: "i1", wantEnded: true},
			{call: "ended", on: 1, visitID: "v", interactionID: "i2", wantEnded: false},
		}},
		{"ending twice is harmless", []step{
			{call: "end", on: 0, visitID: "v", interactionID: "i1"},
			{call: "end", on: 1, visitID: "v", interactionID: "i1"},
			{call: "ended", on: 0, visitID: "v", interactionID: "i1", wantEnded: true},
		}},
		{"the same interactionID ends on its own visit only", []step{
			{call: "end", on: 0, visitID: "v1", interactionID: "i"},
			{call: "ended", on: 1, visitID: "v2", interactionID: "i", wantEnded: false},
			{call: "ended", on: 1, visitID: "v1", interactionID: "i", wantEnded: true},
		}},
		{"pairs whose IDs join to the same text are distinct", []step{
			{call: "end", on: 0, visitID: "a:1", interactionID: "b"},
			{call: "ended", on: 1, visitID: "a", interactionID: "1:b", wantEnded: false},
			{call: "end", on: 0, visitID: "x", interactionID: "1:y"},
			{call: "ended", on: 1, visitID: "x:1", interactionID: "y", wantEnded: false},
		}},
		{"an end is forgotten after its ttl", []step{
			{call: "end", on: 0, visitID: "v", interactionID: "i1", ttl: 100 * time.Millisecond},
			{call: "ended", on: 1, visitID: "v", interactionID: "i1", wantEnded: true},
			{call: "sleep", ttl: 150 * time.Millisecond},
			{call: "ended", on: 1, visitID: "v", interactionID: "i1", wantEnded: false},
		}},
		{"claims and ends do not share keys", []step{
			{call: "end", on: 0, visitID: "v", interactionID: "i1"},
			{call: "claim", on: 1, visitID: "v", interactionID: "i1", wantHolder: "i1"},
			{call: "ended", on: 1, visitID: "v", interactionID: "i2", wantEnded: false},
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A prefix per case: the cases share the server, not keys.
			opts := &redisfanout.Options{Prefix: "case" + strconv.Itoa(i) + ":"}
			b := []push.Backend{newBackend(t, srv.client(t), opts), newBackend(t, srv.client(t), opts)}
			ctx := context.Background()
			for n, s := range tt.steps {
				ttl := s.ttl
				if ttl == 0 {
					ttl = time.Minute
				}
				var err error
				switch s.call {
				case "claim":
					var holder string
					holder, err = b[s.on].Claim(ctx, s.visitID, s.interactionID, ttl)
					if err == nil && holder != s.wantHolder {
						t.Errorf("step %d: Claim(%s, %s) = %q, want %q", n, s.visitID, s.interactionID, holder, s.wantHolder)
					}
				case "release":
					err = b[s.on].Release(ctx, s.visitID, s.interactionID)
				case "end":
					err = b[s.on].End(ctx, s.visitID, s.interactionID, ttl)
				case "ended":
					var ended bool
					ended, err = b[s.on].Ended(ctx, s.visitID, s.interactionID)
					if err == nil && ended != s.wantEnded {
						t.Errorf("step %d: Ended(%s, %s) = %v, want %v", n, s.visitID, s.interactionID, ended, s.wantEnded)
					}
				case "sleep":
					time.Sleep(s.ttl)
				}
				if err != nil {
					t.Fatalf("step %d: %s: %v", n, s.call, err)
				}
			}
		})
	}
}

// TestClaimRace races two backends, each with its own connections, for the
// claim of one visit, 200 rounds: each round exactly one wins, and both
// name it.
func TestClaimRace(t *testing.T) {
	c := newCluster(t, 2)
	ctx := context.Background()
	for round := range 200 {
		visit := fmt.Sprint("race-", round)
		var holders [2]string
		var errs [2]error
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, b := range c.Backends {
			wg.Go(func() {
				<-start
				holders[i], errs[i] = b.Claim(ctx, visit, fmt.Sprint("i", i), time.Minute)
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs[:]...); err != nil {
			t.Fatal(err)
		}
		won := 0
		for i, h := range holders {
			if h == fmt.Sprint("i", i) {
				won++
			}
		}
		if won != 1 || holders[0] != holders[1] {
			t.Fatalf("round %d: holders %q: want one winner both agree on", round, holders)
		}
	}
}

// TestOutage stops the server: every call fails as a 503 with Retry-After,
// promptly, and a listener delivers what is published once the server is
// back, with its data.
func TestOutage(t *testing.T) {
	c := newCluster(t, 2)
	a, b := c.Backends[0], c.Backends[1]
	l := listen(t, b)
	publish(t, a, engage(t, "e1", "v", "i1"))
	if _, err := a.Claim(context.Background(), "v", "i1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"e1"}, l.ids(1)); diff != "" {
		t.Fatalf("before the outage (-want +got):\n%s", diff)
	}

	restore := c.Outage()
	calls := []struct {
		name string
		call func(context.Context) error
	}{
		{"Publish", func(ctx context.Context) error { return a.Publish(ctx, engage(t, "e2", "v", "i2")) }},
		{"Claim", func(ctx context.Context) error { _, err := a.Claim(ctx, "v", "i2", time.Minute); return err }},
		{"Release", func(ctx context.Context) error { return a.Release(ctx, "v", "i1") }},
		{"End", func(ctx context.Context) error { return a.End(ctx, "v", "i1", time.Minute) }},
		{"Ended", func(ctx context.Context) error { _, err := a.Ended(ctx, "v", "i1"); return err }},
		{"Ping", a.Ping},
	}
	for _, tt := range calls {
		t.Run(tt.name+" fails as unavailable", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			err := tt.call(ctx)
			// What the broker answers, through the one function that
			// writes the gateway's errors.
			w := httptest.NewRecorder()
			gateway.WriteError(w, err)
			if !errors.Is(err, gateway.ErrUnavailable) || w.Code != 503 || w.Header().Get("Retry-After") == "" {
				t.Fatalf("%s during an outage: %v, answered %d with Retry-After %q; want 503 with a Retry-After", tt.name, err, w.Code, w.Header().Get("Retry-After"))
			}
			if ctx.Err() != nil {
				t.Errorf("%s took its whole deadline", tt.name)
			}
		})
	}
	restore()
	waitUp(t, a)

	publish(t, a, engage(t, "e3", "v2", "i3"))
	if diff := cmp.Diff([]string{"e3"}, l.ids(1)); diff != "" {
		t.Errorf("after the outage (-want +got):\n%s", diff)
	}
	holder, err := b.Claim(context.Background(), "v", "i9", time.Minute)
	if err != nil || holder != "i1" {
		t.Errorf("claim after the outage: %q, %v; want the claim made before, i1", holder, err)
	}
}
