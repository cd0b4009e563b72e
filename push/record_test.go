package push_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

// TestMemoryRecordsAreBounded: past MaxRecords a MemoryBackend forgets
// records to make room, the one closest to its end first, and Store
// never fails.
func TestMemoryRecordsAreBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := push.NewMemoryBackend(&push.MemoryOptions{MaxRecords: 64}) // one a shard
	const n = 1000
	for i := range n {
		ttl := time.Hour + time.Duration(i)*time.Second // later keys live longer
		if ok, err := m.Store(ctx, "k-"+strconv.Itoa(i), []byte("x"), 0, ttl); err != nil || !ok {
			t.Fatalf("Store %d: %v, %v", i, ok, err)
		}
	}
	kept := 0
	for i := range n {
		if _, rev, _ := m.Load(ctx, "k-"+strconv.Itoa(i)); rev != 0 {
			kept++
		}
	}
	if kept > 64 || kept == 0 {
		t.Errorf("%d records kept, want 1 to 64", kept)
	}
	if _, rev, _ := m.Load(ctx, "k-"+strconv.Itoa(n-1)); rev == 0 {
		t.Error("the last record stored was forgotten")
	}
	if data, rev, _ := m.Load(ctx, "never"); data != nil || rev != 0 {
		t.Errorf("a key never stored: %q at %d", data, rev)
	}
	if ok, err := m.Store(ctx, "empty", nil, 0, time.Hour); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if data, rev, _ := m.Load(ctx, "empty"); data == nil || rev == 0 {
		t.Errorf("a record of no bytes reads as %v at %d, want empty and non-nil", data, rev)
	}
}

// TestGatingAndOutcomesWhenTheBackendIsDown: a counting Gate answers 503
// when the backend cannot be reached, as every engage then; an outcome
// whose election cannot reach the backend is reported all the same.
func TestGatingAndOutcomesWhenTheBackendIsDown(t *testing.T) {
	t.Parallel()
	f := &faults{}
	f.state.Store(push.NewMemoryBackend(nil))
	var mu sync.Mutex
	var got []push.Outcome
	e := newEnv(t, &push.Options{
		Backend: &faultyBackend{MemoryBackend: push.NewMemoryBackend(nil), faults: f},
		Lenient: true,
		Gate:    &push.Gate{MinGap: time.Minute},
		OnOutcome: func(o push.Outcome) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, o)
		},
	})
	if err := e.engage(t, gateway.Profile{VisitID: "v-1", InteractionID: "i-1", ExpiresIn: 10}); err != nil {
		t.Fatal(err)
	}
	f.down.Store(true)
	if err := e.engage(t, gateway.Profile{VisitID: "v-2", InteractionID: "i-1"}); !errors.Is(err, gateway.ErrUnavailable) {
		t.Errorf("a gated engage while the backend is down: %v, want ErrUnavailable", err)
	}
	e.clock.Add(10 * time.Second)
	e.b.Sweep() // v-1's invitation expires
	eventually(t, "the expiry is reported", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 })
	mu.Lock()
	defer mu.Unlock()
	if got[0].VisitID != "v-1" || got[0].Result != push.ResultExpired {
		t.Errorf("reported %+v, want v-1 expired", got[0])
	}
}
