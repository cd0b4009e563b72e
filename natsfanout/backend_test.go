package natsfanout_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/natsfanout"
	"github.com/engagekit/gateway/push"
	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"
)

func TestNewRefuses(t *testing.T) {
	t.Run("no connection", func(t *testing.T) {
		if _, err := natsfanout.New(context.Background(), nil, nil); err == nil {
			t.Error("New(nil connection) succeeded")
		}
	})
	ns := startNATS(t)
	nc := connect(t, ns.url())
	for name, opts := range map[string]*natsfanout.Options{
		"a negative MaxBytes, which JetStream reads as no limit": {MaxBytes: -1},
		"a negative MaxClaimBytes":                               {MaxClaimBytes: -1},
		"a negative MaxEndedBytes":                               {MaxEndedBytes: -1},
		"a negative History":                                     {History: -time.Second},
		"a negative Timeout":                                     {Timeout: -time.Second},
		"negative Replicas":                                      {Replicas: -1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := natsfanout.New(context.Background(), nc, opts); err == nil {
				t.Error("New succeeded")
			}
		})
	}
}

func TestClaim(t *testing.T) {
	c := newCluster(t, 2, nil)
	a, b := c.backends[0], c.backends[1]
	ctx := context.Background()
	claim := func(t *testing.T, be *natsfanout.Backend, visit, id string, ttl time.Duration) string {
		t.Helper()
		holder, err := be.Claim(ctx, visit, id, ttl)
		if err != nil {
			t.Fatalf("Claim(%s, %s): %v", visit, id, err)
		}
		return holder
	}
	release := func(t *testing.T, be *natsfanout.Backend, visit, id string) {
		t.Helper()
		if err := be.Release(ctx, visit, id); err != nil {
			t.Fatalf("Release(%s, %s): %v", visit, id, err)
		}
	}
	t.Run("the first claim wins, on every instance", func(t *testing.T) {
		if got := claim(t, a, "v-1", "i-1", time.Minute); got != "i-1" {
			t.Errorf("first claim: holder %q, want i-1", got)
		}
		if got := claim(t, b, "v-1", "i-2", time.Minute); got != "i-1" {
			t.Errorf("second interaction on B: holder %q, want i-1", got)
		}
		if got := claim(t, b, "v-1", "i-1", time.Minute); got != "i-1" {
			t.Errorf("the holder again, on B: holder %q, want i-1", got)
		}
	})
	t.Run("another interaction's release does nothing", func(t *testing.T) {
		release(t, b, "v-1", "i-2")
		if got := claim(t, b, "v-1", "i-3", time.Minute); got != "i-1" {
			t.Errorf("after i-2's release: holder %q, want i-1", got)
		}
	})
	t.Run("the holder's release frees the visit at once", func(t *testing.T) {
		release(t, b, "v-1", "i-1")
		if got := claim(t, a, "v-1", "i-2", time.Minute); got != "i-2" {
			t.Errorf("after i-1's release: holder %q, want i-2", got)
		}
		release(t, a, "v-1", "i-2")
		if got := claim(t, b, "v-1", "i-1", time.Minute); got != "i-1" {
			t.Errorf("after a second release: holder %q, want i-1", got)
		}
	})
	t.Run("releasing a visit nobody holds does nothing", func(t *testing.T) {
		release(t, a, "v-none", "i-1")
	})
	t.Run("IDs with colons and dots make valid keys", func(t *testing.T) {
		if got := claim(t, a, "shop:v.1", "ixn:1.a", time.Minute); got != "ixn:1.a" {
			t.Errorf("holder %q", got)
		}
		if got := claim(t, b, "shop:v.1", "other", time.Minute); got != "ixn:1.a" {
			t.Errorf("holder %q, want ixn:1.a", got)
		}
	})
	t.Run("a claim lapses after its ttl", func(t *testing.T) {
		start := time.Now()
		claim(t, a, "v-ttl", "i-1", time.Second)
		if got := claim(t, b, "v-ttl", "i-2", time.Minute); got != "i-1" {
			t.Fatalf("within the ttl: holder %q, want i-1", got)
		}
		eventually(t, "the claim lapses", func() bool { return claim(t, b, "v-ttl", "i-2", time.Minute) == "i-2" })
		if took := time.Since(start); took < 900*time.Millisecond || took > 3*time.Second {
			t.Errorf("the claim of 1 s lapsed after %v", took)
		}
	})
}

// TestClaimRace: two instances claim one visit for two interactions at the
// same moment, 200 times: exactly one wins each time, and both see it.
func TestClaimRace(t *testing.T) {
	c := newCluster(t, 2, nil)
	for round := range 200 {
		visit := fmt.Sprint("race-", round)
		var holders [2]string
		var errs [2]error
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, be := range c.backends {
			wg.Go(func() {
				<-start
				holders[i], errs[i] = be.Claim(context.Background(), visit, fmt.Sprint("i-", i), time.Minute)
			})
		}
		close(start)
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("round %d: %v, %v", round, errs[0], errs[1])
		}
		if holders[0] != holders[1] || (holders[0] != "i-0" && holders[0] != "i-1") {
			t.Fatalf("round %d: holders %q, want one winner seen by both", round, holders)
		}
	}
}

func TestEnded(t *testing.T) {
	c := newCluster(t, 2, nil)
	a, b := c.backends[0], c.backends[1]
	ctx := context.Background()
	for _, rec := range [][2]string{{"v-1", "i-1"}, {"v-1", "i-1"}, {"shop:v.3", "ixn:1.a"}} {
		if err := a.End(ctx, rec[0], rec[1], time.Minute); err != nil {
			t.Fatalf("End(%s, %s): %v", rec[0], rec[1], err)
		}
	}
	if err := a.End(ctx, "v-ttl", "i-1", time.Second); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                   string
		visitID, interactionID string
		want                   bool
	}{
		{"an ended interaction, recorded twice", "v-1", "i-1", true},
		{"the same interactionID for another visit", "v-2", "i-1", false},
		{"another interaction of the visit", "v-1", "i-2", false},
		{"IDs with colons and dots", "shop:v.3", "ixn:1.a", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, be := range c.backends {
				got, err := be.Ended(ctx, tt.visitID, tt.interactionID)
				if err != nil || got != tt.want {
					t.Errorf("instance %d: Ended = %v, %v; want %v", i, got, err, tt.want)
				}
			}
		})
	}
	t.Run("a record lapses after its ttl", func(t *testing.T) {
		eventually(t, "the record lapses", func() bool {
			ended, err := b.Ended(ctx, "v-ttl", "i-1")
			return err == nil && !ended
		})
	})
}

// TestEndedIsBounded: past MaxEndedBytes the oldest records are forgotten,
// End never fails, and the records' size keeps the documented default
// bound (64 MiB for at least 250,000 records of 40-character IDs) true.
func TestEndedIsBounded(t *testing.T) {
	const bound = 64 << 10
	c := newCluster(t, 1, &natsfanout.Options{MaxEndedBytes: bound})
	be := c.backends[0]
	ctx := context.Background()
	id := func(prefix string, i int) string { return fmt.Sprintf("%s-%037d", prefix, i) } // 40 characters
	const n = 2000
	for i := range n {
		if err := be.End(ctx, id("vis", i), id("ixn", i), 5*time.Minute); err != nil {
			t.Fatalf("End #%d: %v", i, err)
		}
	}
	if ended, err := be.Ended(ctx, id("vis", n-1), id("ixn", n-1)); err != nil || !ended {
		t.Errorf("the newest record: Ended = %v, %v; want true", ended, err)
	}
	if ended, err := be.Ended(ctx, id("vis", 0), id("ixn", 0)); err != nil || ended {
		t.Errorf("the oldest record: Ended = %v, %v; want false (forgotten)", ended, err)
	}
	js, _ := jetstream.New(c.conns[0])
	s, err := js.Stream(ctx, "KV_GWE_ENDED")
	if err != nil {
		t.Fatal(err)
	}
	st := s.CachedInfo().State
	if st.Bytes > bound {
		t.Errorf("the bucket holds %d bytes, over its bound of %d", st.Bytes, bound)
	}
	perRecord := st.Bytes / st.Msgs
	t.Logf("%d records kept in %d bytes: %d bytes a record", st.Msgs, st.Bytes, perRecord)
	if perRecord > (64<<20)/250_000 {
		t.Errorf("%d bytes a record: the default bound keeps fewer than the 250,000 documented", perRecord)
	}
}

// TestClaimsAreBounded: past MaxClaimBytes a claim is refused with a 503,
// and the claims already held stay held: no claim pushes another out.
func TestClaimsAreBounded(t *testing.T) {
	c := newCluster(t, 1, &natsfanout.Options{MaxClaimBytes: 16 << 10})
	be := c.backends[0]
	ctx := context.Background()
	id := func(i int) string { return fmt.Sprintf("vis-%036d", i) } // 40 characters
	var err error
	held := 0
	for ; held < 10000; held++ {
		if _, err = be.Claim(ctx, id(held), "i-1", time.Minute); err != nil {
			break
		}
	}
	if err == nil {
		t.Fatal("10,000 claims fit in 16 KiB")
	}
	if !errors.Is(err, gateway.ErrUnavailable) {
		t.Errorf("a claim past the bound: %v, want a 503", err)
	}
	for _, i := range []int{0, held - 1} {
		if holder, err := be.Claim(ctx, id(i), "i-2", time.Minute); err != nil || holder != "i-1" {
			t.Errorf("claim #%d after the bound: holder %q, %v; want i-1", i, holder, err)
		}
	}
	js, _ := jetstream.New(c.conns[0])
	s, err := js.Stream(ctx, "KV_GWE_CLAIMS")
	if err != nil {
		t.Fatal(err)
	}
	st := s.CachedInfo().State
	t.Logf("%d claims held in %d bytes: %d bytes a claim", held, st.Bytes, st.Bytes/uint64(held))
	if perClaim := st.Bytes / uint64(held); perClaim > (16<<20)/80_000 {
		t.Errorf("%d bytes a claim: the default bound holds fewer than the 80,000 documented", perClaim)
	}
}

// TestStreamLimits: the stream is bounded as documented, and the server
// refuses a message larger than an event can be.
func TestStreamLimits(t *testing.T) {
	c := newCluster(t, 1, nil)
	ctx := context.Background()
	js, _ := jetstream.New(c.conns[0])
	s, err := js.Stream(ctx, "GWE_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	type limits struct {
		Subjects   []string
		MaxMsgSize int32
		MaxBytes   int64
		MaxAge     time.Duration
		Discard    jetstream.DiscardPolicy
	}
	want := limits{[]string{"gwe.events"}, push.MaxEventBytes, 256 << 20, 31 * time.Minute, jetstream.DiscardOld}
	got := limits{cfg.Subjects, cfg.MaxMsgSize, cfg.MaxBytes, cfg.MaxAge, cfg.Discard}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stream limits (-want +got):\n%s", diff)
	}
	if _, err := js.Publish(ctx, "gwe.events", []byte(strings.Repeat("x", push.MaxEventBytes+1))); err == nil {
		t.Error("the stream took a message over push.MaxEventBytes")
	}
}

// TestNATSDown: with the server gone, every call fails at once with a 503
// that carries Retry-After; once it is back, calls succeed again.
func TestNATSDown(t *testing.T) {
	c := newCluster(t, 1, nil)
	be := c.backends[0]
	ctx := context.Background()
	calls := []struct {
		name string
		call func() error
	}{
		{"Claim", func() error { _, err := be.Claim(ctx, "v-1", "i-1", time.Minute); return err }},
		{"Release", func() error { return be.Release(ctx, "v-1", "i-1") }},
		{"End", func() error { return be.End(ctx, "v-1", "i-1", time.Minute) }},
		{"Ended", func() error { _, err := be.Ended(ctx, "v-1", "i-1"); return err }},
		{"Publish", func() error { return be.Publish(ctx, engageEvent(t, "v-1", "i-1")) }},
		{"Ping", func() error { return be.Ping(ctx) }},
	}
	restore := c.outage()
	for _, call := range calls {
		t.Run(call.name+" fails at once with a 503 while NATS is down", func(t *testing.T) {
			start := time.Now()
			err := call.call()
			if !errors.Is(err, gateway.ErrUnavailable) {
				t.Errorf("%v, want an error that matches gateway.ErrUnavailable", err)
			}
			w := httptest.NewRecorder()
			gateway.WriteError(w, err)
			if w.Code != 503 || w.Header().Get("Retry-After") == "" {
				t.Errorf("answered %d with Retry-After %q, want 503 with one", w.Code, w.Header().Get("Retry-After"))
			}
			if took := time.Since(start); took > 100*time.Millisecond {
				t.Errorf("took %v", took)
			}
		})
	}
	restore()
	for _, call := range calls {
		t.Run(call.name+" succeeds once NATS is back", func(t *testing.T) {
			if err := call.call(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestNewUpdatesTheFirstStream: New takes over the stream the first
// natsfanout made (subjects gwe.events.>, no size limits); its old events
// are not delivered, and nothing counts them as junk.
func TestNewUpdatesTheFirstStream(t *testing.T) {
	ns := startNATS(t)
	nc := connect(t, ns.url())
	ctx := context.Background()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "GWE_EVENTS", Subjects: []string{"gwe.events.>"}, Storage: jetstream.FileStorage, MaxAge: 31 * time.Minute,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "gwe.events.engage", []byte(`{"op":"engage","profile":{"interactionID":"old","visitID":"v-1","channels":["chat"]}}`)); err != nil {
		t.Fatal(err)
	}
	be, _ := newBackend(t, ns.url(), nil)
	l := listen(t, be)
	want := publish(t, be, engageEvent(t, "v-1", "i-1"))
	if diff := cmp.Diff([]string{want}, l.next(t, 1)); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if got := be.Stats().Dropped; got != 0 {
		t.Errorf("Stats().Dropped = %d, want 0", got)
	}
	s, err := js.Stream(ctx, "GWE_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	if cfg := s.CachedInfo().Config; cfg.MaxMsgSize != push.MaxEventBytes {
		t.Errorf("MaxMsgSize = %d after New, want %d", cfg.MaxMsgSize, push.MaxEventBytes)
	}
}
