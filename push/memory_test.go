package push

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/google/go-cmp/cmp"
)

// testClock is a settable clock for the internal tests.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
}

func TestMemoryClaims(t *testing.T) {
	clock := newTestClock()
	m := NewMemoryBackend(&MemoryOptions{Now: clock.Now})
	ctx := context.Background()
	claim := func(visit, id string) string {
		t.Helper()
		holder, err := m.Claim(ctx, visit, id, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return holder
	}
	steps := []struct {
		name       string
		do         func() string
		wantHolder string
	}{
		{"a free visit is claimed", func() string { return claim("v-1", "i-1") }, "i-1"},
		{"a held visit refuses another interaction", func() string { return claim("v-1", "i-2") }, "i-1"},
		{"the holder claims again", func() string { return claim("v-1", "i-1") }, "i-1"},
		{"another visit is independent", func() string { return claim("v-2", "i-2") }, "i-2"},
		{"a release by another interaction does nothing", func() string {
			m.Release(ctx, "v-1", "i-2")
			return claim("v-1", "i-2")
		}, "i-1"},
		{"a release by the holder frees the visit", func() string {
			m.Release(ctx, "v-1", "i-1")
			return claim("v-1", "i-2")
		}, "i-2"},
		{"a claim lapses at its ttl exactly", func() string {
			clock.Add(10 * time.Second)
			return claim("v-1", "i-3")
		}, "i-3"},
		{"and not before", func() string {
			clock.Add(10*time.Second - time.Nanosecond)
			return claim("v-1", "i-4")
		}, "i-3"},
	}
	for _, s := range steps {
		if got := s.do(); got != s.wantHolder {
			t.Errorf("%s: holder %q, want %q", s.name, got, s.wantHolder)
		}
	}
	clock.Add(time.Minute)
	m.sweep()
	for i := range m.shards {
		if n := len(m.shards[i].claims); n != 0 {
			t.Errorf("shard %d holds %d lapsed claims after a sweep", i, n)
		}
	}
}

// TestMemoryClaimRace: of many claims racing for one visit, exactly one
// wins.
func TestMemoryClaimRace(t *testing.T) {
	m := NewMemoryBackend(nil)
	for round := range 100 {
		visit := fmt.Sprint("v-", round)
		var wg sync.WaitGroup
		holders := make([]string, 8)
		for i := range holders {
			wg.Go(func() { holders[i], _ = m.Claim(context.Background(), visit, fmt.Sprint("i-", i), time.Minute) })
		}
		wg.Wait()
		won := 0
		for i, h := range holders {
			if h == fmt.Sprint("i-", i) {
				won++
			}
			if h != holders[0] {
				t.Fatalf("round %d: holders %v disagree", round, holders)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d claims won", round, won)
		}
	}
}

func TestMemoryEnded(t *testing.T) {
	clock := newTestClock()
	m := NewMemoryBackend(&MemoryOptions{Now: clock.Now, MaxEnded: 2 * numShards})
	ctx := context.Background()
	ended := func(visit, id string) bool {
		t.Helper()
		ok, err := m.Ended(ctx, visit, id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	m.End(ctx, "v-1", "i-1", time.Minute)
	if !ended("v-1", "i-1") || ended("v-2", "i-1") || ended("v-1", "i-2") {
		t.Error("Ended is keyed by visit and interaction together")
	}
	// One visit lies in one shard, which keeps 2: the oldest goes.
	m.End(ctx, "v-1", "i-2", time.Minute)
	m.End(ctx, "v-1", "i-3", time.Minute)
	if ended("v-1", "i-1") || !ended("v-1", "i-2") || !ended("v-1", "i-3") {
		t.Error("at the cap, the oldest record is not the one forgotten")
	}
	clock.Add(time.Minute)
	if ended("v-1", "i-2") {
		t.Error("a record outlives its ttl")
	}
	m.sweep()
	if n := m.endedLen(); n != 0 {
		t.Errorf("%d records left after their ttl and a sweep", n)
	}
}

// TestMemoryPublishOrder: each listener gets one visit's events in publish
// order, whatever the goroutines publishing other visits do.
func TestMemoryPublishOrder(t *testing.T) {
	m := NewMemoryBackend(nil)
	var mu sync.Mutex
	got := map[string][]string{}
	listen := func(ev *Event) {
		mu.Lock()
		defer mu.Unlock()
		got[ev.VisitID()] = append(got[ev.VisitID()], ev.cancel.InteractionID)
	}
	unregister := m.register(listen)
	ctx, stop := context.WithCancel(context.Background())
	listening := make(chan error)
	go func() { listening <- m.Listen(ctx, listen) }()
	const visits, events = 8, 200
	var wg sync.WaitGroup
	for v := range visits {
		wg.Go(func() {
			for i := range events {
				m.Publish(context.Background(), cancelEvent(&gateway.CancelData{VisitID: fmt.Sprint("v-", v), InteractionID: fmt.Sprint(i)}, time.Now()))
			}
		})
	}
	wg.Wait()
	stop()
	if err := <-listening; err != context.Canceled {
		t.Errorf("Listen returned %v, want context.Canceled", err)
	}
	unregister()
	m.Publish(context.Background(), cancelEvent(&gateway.CancelData{VisitID: "v-0", InteractionID: "after"}, time.Now()))
	var want []string
	for i := range events {
		want = append(want, fmt.Sprint(i))
	}
	for v := range visits {
		// Two listeners: each event twice, in order for each.
		var mine []string
		seen := map[string]int{}
		for _, id := range got[fmt.Sprint("v-", v)] {
			if seen[id] == 0 {
				mine = append(mine, id)
			}
			seen[id]++
		}
		if diff := cmp.Diff(want, mine); diff != "" {
			t.Errorf("visit %d (-want +got):\n%s", v, diff)
		}
	}
}

func TestRing(t *testing.T) {
	var r ring[int]
	next, want := 0, 0
	for round := range 3 {
		for range 1000 * (round + 1) {
			r.push(next)
			next++
		}
		for r.len() > 10 {
			if got := r.pop(); got != want {
				t.Fatalf("pop = %d, want %d", got, want)
			}
			want++
		}
		if len(r.buf) > 64 {
			t.Errorf("round %d: a ring of %d keeps %d slots", round, r.len(), len(r.buf))
		}
	}
}

// TestEndedSetShrinks: after a flood ages out, the set's map and queue are
// rebuilt small.
func TestEndedSetShrinks(t *testing.T) {
	var s endedSet[struct{}]
	const flood = 100_000
	key := func(i int) []byte { return endedKey(nil, "v", fmt.Sprint(i)) }
	for i := range flood {
		if g := s.add(key(i), int64(flood+i), struct{}{}, flood, 0); g != 1 {
			t.Fatalf("add %d gained %d", i, g)
		}
	}
	if g := s.add(key(1), 1, struct{}{}, flood, 0); g != 0 {
		t.Errorf("adding a key held gained %d", g)
	}
	if g := s.add(key(flood), 2*flood, struct{}{}, flood, 0); g != 0 {
		t.Errorf("adding at the limit gained %d, want 0 (one evicted)", g)
	}
	if s.holds(key(0)) || !s.holds(key(1)) {
		t.Error("at the limit, the oldest is not the one evicted")
	}
	oldMap := fmt.Sprintf("%p", s.m)
	// Left: 1 to flood; all but the last 10 age out.
	if removed := s.expire(2*flood - 10); removed != flood-10 {
		t.Errorf("expire removed %d, want %d", removed, flood-10)
	}
	if s.len() != 10 || s.order.len() != 10 {
		t.Errorf("%d entries, %d queued; want 10", s.len(), s.order.len())
	}
	if fmt.Sprintf("%p", s.m) == oldMap || s.peak != 10 {
		t.Error("the map of the flood was kept")
	}
	if len(s.order.buf) > 64 {
		t.Errorf("the queue keeps %d slots for 10 entries", len(s.order.buf))
	}
}

// TestEndedSetRenewsAnEntryThatAgedOut: an ID ended again after its
// record aged out, but before it was forgotten, is remembered anew, and
// its old place in the queue forgets nothing.
func TestEndedSetRenewsAnEntryThatAgedOut(t *testing.T) {
	var s endedSet[int]
	k := endedKey(nil, "v", "i-1")
	s.add(k, 10, 1, 100, 0)
	s.add(endedKey(nil, "v", "i-2"), 20, 2, 100, 0)
	if g := s.add(k, 40, 3, 100, 15); g != 0 {
		t.Errorf("renewing gained %d", g)
	}
	if v, ok := s.get(k, 15); !ok || v != 3 {
		t.Errorf("get after renewing = %d, %v; want 3, true", v, ok)
	}
	if removed := s.expire(30); removed != 1 { // i-2; i-1's old place is stale
		t.Errorf("expire removed %d, want 1", removed)
	}
	if _, ok := s.get(k, 30); !ok {
		t.Error("the renewed entry was forgotten by its old place in the queue")
	}
	if removed := s.expire(40); removed != 1 || s.len() != 0 || s.order.len() != 0 {
		t.Errorf("expire removed %d, left %d entries and %d refs", removed, s.len(), s.order.len())
	}
}
