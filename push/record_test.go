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

// keyLog is a backend that keeps the key of every Store.
type keyLog struct {
	*push.MemoryBackend
	mu   sync.Mutex
	keys []string
}

func (k *keyLog) Store(ctx context.Context, key string, data []byte, rev uint64, ttl time.Duration) (bool, error) {
	k.mu.Lock()
	k.keys = append(k.keys, key)
	k.mu.Unlock()
	return k.MemoryBackend.Store(ctx, key, data, rev, ttl)
}

func (k *keyLog) take() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	keys := k.keys
	k.keys = nil
	return keys
}

// TestIsElection: the records a broker writes while it admits an engage
// (its visit's gating state) are not elections; those it writes to elect
// the broker that reports an outcome, cancelled or suppressed, are.
func TestIsElection(t *testing.T) {
	t.Parallel()
	be := &keyLog{MemoryBackend: push.NewMemoryBackend(nil)}
	outcomes := make(chan push.Outcome, 4)
	b := push.NewBroker(&push.Options{Backend: be, Lenient: true, Gate: &push.Gate{MinGap: time.Hour},
		OnOutcome: func(o push.Outcome) { outcomes <- o }})
	defer b.Shutdown(context.Background())
	ctx := context.Background()
	if err := b.Engage(ctx, &gateway.Profile{VisitID: "v-1", InteractionID: "i-1", Channels: []string{"chat"}}); err != nil {
		t.Fatal(err)
	}
	gating := be.take()
	if err := b.Cancel(ctx, &gateway.CancelData{VisitID: "v-1", InteractionID: "i-1"}); err != nil {
		t.Fatal(err)
	}
	if o := <-outcomes; o.Result != push.ResultCancelled {
		t.Fatalf("outcome %v, want cancelled", o)
	}
	cancelled := be.take()
	if err := b.Engage(ctx, &gateway.Profile{VisitID: "v-1", InteractionID: "i-2", Channels: []string{"chat"}}); !errors.Is(err, gateway.ErrEngagementSuppressed) {
		t.Fatalf("engage within the gap: %v, want suppressed", err)
	}
	if o := <-outcomes; o.Result != push.ResultSuppressed {
		t.Fatalf("outcome %v, want suppressed", o)
	}
	suppressed := be.take()
	for _, tc := range []struct {
		what string
		keys []string
		want bool
	}{
		{"gating state", gating, false},
		{"the election of a cancel", cancelled, true},
		{"the election of a suppressed engage", suppressed, true},
	} {
		if len(tc.keys) == 0 {
			t.Errorf("%s: no record stored", tc.what)
		}
		for _, k := range tc.keys {
			if got := push.IsElection(k); got != tc.want {
				t.Errorf("%s: IsElection(%q) = %v, want %v", tc.what, k, got, tc.want)
			}
		}
	}
	if push.IsElection("") {
		t.Error(`IsElection("") = true`)
	}
}
