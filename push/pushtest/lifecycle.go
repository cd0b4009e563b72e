package pushtest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engagekit/gateway/push"
)

// This file checks what the lifecycle of an invitation needs of a
// Backend beyond delivery: its records (Load and Store), offer gating and
// the election of the broker that reports an outcome.

// keep is the ttl of records that must not age out during a check.
const keep = time.Minute

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

func recordCreateRace(t *testing.T, nc func(*testing.T, int) *Cluster) {
	c := nc(t, 2)
	ctx := ctxFor(t)
	const keys, perBackend = 20, 5
	for k := range keys {
		key := "race-" + strconv.Itoa(k)
		var won atomic.Int32
		var wg sync.WaitGroup
		for i := range 2 * perBackend {
			wg.Go(func() {
				ok, err := c.Backends[i%2].Store(ctx, key, []byte(strconv.Itoa(i)), 0, keep)
				if err != nil {
					t.Errorf("Store %s: %v", key, err)
				}
				if ok {
					won.Add(1)
				}
			})
		}
		wg.Wait()
		if n := won.Load(); n != 1 {
			t.Errorf("%s: %d creates succeeded, want exactly 1", key, n)
		}
	}
}

func recordRevisions(t *testing.T, nc func(*testing.T, int) *Cluster) {
	c := nc(t, 2)
	ctx := ctxFor(t)
	a, b := c.Backends[0], c.Backends[1]
	load := func(be push.Backend) (string, uint64) {
		t.Helper()
		data, rev, err := be.Load(ctx, "k")
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		return string(data), rev
	}
	store := func(be push.Backend, data string, rev uint64) bool {
		t.Helper()
		ok, err := be.Store(ctx, "k", []byte(data), rev, keep)
		if err != nil {
			t.Fatalf("Store: %v", err)
		}
		return ok
	}
	if data, rev := load(a); data != "" || rev != 0 {
		t.Fatalf("a key never stored: %q at revision %d, want nothing at 0", data, rev)
	}
	if store(a, "one", 5) {
		t.Error("a store at a revision the key never had succeeded")
	}
	if !store(a, "one", 0) {
		t.Fatal("the create of a new key failed")
	}
	data, r1 := load(b)
	if data != "one" || r1 == 0 {
		t.Fatalf("after the create, the other instance reads %q at revision %d", data, r1)
	}
	if store(b, "again", 0) {
		t.Error("a second create succeeded")
	}
	if !store(b, "two", r1) {
		t.Fatal("a store at the revision read failed")
	}
	if store(a, "stale", r1) {
		t.Error("a store at a revision that was replaced succeeded")
	}
	data, r2 := load(a)
	if data != "two" || r2 == 0 || r2 == r1 {
		t.Errorf("after the update: %q at revision %d (was %d), want two at a new revision", data, r2, r1)
	}
}

func recordCounter(t *testing.T, nc func(*testing.T, int) *Cluster) {
	c := nc(t, 2)
	ctx := ctxFor(t)
	const per = 25
	var wg sync.WaitGroup
	for i := range 4 {
		be := c.Backends[i%2]
		wg.Go(func() {
			for range per {
				for {
					data, rev, err := be.Load(ctx, "counter")
					if err != nil {
						t.Errorf("Load: %v", err)
						return
					}
					n, _ := strconv.Atoi(string(data))
					ok, err := be.Store(ctx, "counter", []byte(strconv.Itoa(n+1)), rev, keep)
					if err != nil {
						t.Errorf("Store: %v", err)
						return
					}
					if ok {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	data, _, err := c.Backends[0].Load(ctx, "counter")
	if err != nil || string(data) != strconv.Itoa(4*per) {
		t.Errorf("the counter reads %q, %v, want %d", data, err, 4*per)
	}
}

func recordTTL(t *testing.T, nc func(*testing.T, int) *Cluster) {
	c := nc(t, 2)
	ctx := ctxFor(t)
	a, b := c.Backends[0], c.Backends[1]
	// A backend's ttl has a resolution of up to a second: the times leave
	// a second and more on either side.
	start := time.Now()
	if ok, err := a.Store(ctx, "brief", []byte("x"), 0, time.Second); err != nil || !ok {
		t.Fatalf("Store: %v, %v", ok, err)
	}
	if ok, err := a.Store(ctx, "renewed", []byte("1"), 0, 3*time.Second); err != nil || !ok {
		t.Fatalf("Store: %v, %v", ok, err)
	}
	time.Sleep(time.Until(start.Add(1500 * time.Millisecond)))
	_, rev, err := b.Load(ctx, "renewed")
	if err != nil || rev == 0 {
		t.Fatalf("renewed, 1.5 s into its 3 s: revision %d, %v", rev, err)
	}
	if ok, err := b.Store(ctx, "renewed", []byte("2"), rev, 3*time.Second); err != nil || !ok {
		t.Fatalf("the renewing Store: %v, %v", ok, err)
	}
	eventually(t, "a record of 1 s ages out", func() bool {
		data, rev, err := b.Load(ctx, "brief")
		return err == nil && data == nil && rev == 0
	})
	if elapsed := time.Since(start); elapsed < time.Second {
		t.Errorf("a record of 1 s aged out after %v", elapsed)
	}
	if ok, err := b.Store(ctx, "brief", []byte("y"), 0, keep); err != nil || !ok {
		t.Errorf("creating a record that aged out: %v, %v", ok, err)
	}
	// The first ttl of renewed would have ended at 3 s, the second ends
	// at 4.5 s.
	time.Sleep(time.Until(start.Add(3700 * time.Millisecond)))
	if data, _, err := a.Load(ctx, "renewed"); err != nil || string(data) != "2" {
		t.Errorf("a renewed record, after its first ttl: %q, %v, want it kept", data, err)
	}
}

func recordBounds(t *testing.T, nc func(*testing.T, int) *Cluster) {
	c := nc(t, 2)
	ctx := ctxFor(t)
	// Keys that a NATS subject, a Redis pattern or a path would choke on.
	for _, key := range []string{"a.b.c", "*", ">", "with space", "nul\x00byte", "\xff\xfe not UTF-8", "/slash/", "v\x02ab\x03cde", strings.Repeat("k", push.MaxRecordKeyBytes)} {
		ok, err := c.Backends[0].Store(ctx, key, []byte(key), 0, keep)
		if err != nil || !ok {
			t.Errorf("Store of key %q: %v, %v", key, ok, err)
			continue
		}
		data, rev, err := c.Backends[1].Load(ctx, key)
		if err != nil || string(data) != key || rev == 0 {
			t.Errorf("Load of key %q: %q at %d, %v", key, data, rev, err)
		}
	}
	if _, _, err := c.Backends[0].Load(ctx, "nul\x00"); err != nil {
		t.Errorf("Load of a key that shares a prefix: %v", err)
	}
	for _, tc := range []struct {
		name string
		key  string
		data []byte
	}{
		{"a key over MaxRecordKeyBytes", strings.Repeat("k", push.MaxRecordKeyBytes+1), nil},
		{"data over MaxRecordBytes", "big", make([]byte, push.MaxRecordBytes+1)},
	} {
		if ok, err := c.Backends[0].Store(ctx, tc.key, tc.data, 0, keep); err == nil || ok {
			t.Errorf("%s: Store = %v, %v, want an error", tc.name, ok, err)
		}
	}
	if ok, err := c.Backends[0].Store(ctx, "largest", make([]byte, push.MaxRecordBytes), 0, keep); err != nil || !ok {
		t.Errorf("a record of MaxRecordBytes: %v, %v", ok, err)
	}
	if c.Outage == nil {
		return
	}
	restore := down(t, c)
	_, _, lerr := c.Backends[0].Load(ctx, "a.b.c")
	_, serr := c.Backends[1].Store(ctx, "x", nil, 0, keep)
	restore()
	if lerr == nil || serr == nil {
		t.Errorf("during an outage Load = %v and Store = %v, want errors", lerr, serr)
	}
}

// gatingOptions are the broker options of the gating checks.
var gatingOptions = push.Options{Gate: &push.Gate{Cooldown: time.Hour, MinGap: time.Hour}}

func gatingAcrossInstances(t *testing.T, nc func(*testing.T, int) *Cluster) {
	_, in := start(t, nc, 2, gatingOptions)
	suppressed := func(r reply, reason string) {
		t.Helper()
		if r.status != http.StatusBadRequest || r.code != "ENGAGEMENT_SUPPRESSED" || r.reason != reason {
			t.Errorf("got %v, want 400 ENGAGEMENT_SUPPRESSED %s", r, reason)
		}
	}
	// A rejection on B cools the visit down on A.
	page := in[1].subscribe(t, "v-1", "", "")
	in[0].mustEngage(t, "v-1", "i-1")
	page.wantEngage(t, "i-1")
	if r := in[1].answer(t, "v-1", `{"interactionID":"i-1","result":"rejected"}`); r.status != http.StatusOK {
		t.Fatalf("answer: %v", r)
	}
	suppressed(in[0].engage(t, profile("v-1", "i-2", "")), "cooldown")
	// An invitation on A holds B to the gap, once it is cancelled too.
	in[0].mustEngage(t, "v-2", "i-1")
	in[0].mustCancel(t, "v-2", "i-1", "")
	suppressed(in[1].engage(t, profile("v-2", "i-2", "")), "gap")
	// Repeating an admitted engage is no new invitation, and other
	// visits are not held.
	in[1].mustEngage(t, "v-3", "i-1")
	in[0].mustEngage(t, "v-3", "i-1")
	in[1].mustEngage(t, "v-4", "i-1")
}

func gatingRace(t *testing.T, nc func(*testing.T, int) *Cluster) {
	_, in := start(t, nc, 2, push.Options{Lenient: true, Gate: &push.Gate{MaxPerWindow: 2, Window: time.Hour}})
	for round := range 20 {
		visitID := "v-" + strconv.Itoa(round)
		replies := make([]reply, 6)
		var wg sync.WaitGroup
		for i := range replies {
			wg.Go(func() { replies[i] = in[i%2].engage(t, profile(visitID, "i-"+strconv.Itoa(i), "")) })
		}
		wg.Wait()
		admitted := 0
		for _, r := range replies {
			switch {
			case r.status == http.StatusOK:
				admitted++
			case r.code != "ENGAGEMENT_SUPPRESSED" || r.reason != "window":
				t.Errorf("round %d: %v, want 200 or 400 ENGAGEMENT_SUPPRESSED window", round, r)
			}
		}
		if admitted != 2 {
			t.Fatalf("round %d: %d engages admitted, want 2: %v", round, admitted, replies)
		}
	}
}

// outcomes collects what OnOutcome reports, from every broker.
type outcomes struct {
	mu   sync.Mutex
	seen []push.Outcome
}

func (o *outcomes) add(x push.Outcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	x.Time = time.Time{} // each broker's clock: not compared
	o.seen = append(o.seen, x)
}

func (o *outcomes) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seen)
}

func outcomesOnce(t *testing.T, nc func(*testing.T, int) *Cluster) {
	var got outcomes
	_, in := start(t, nc, 3, push.Options{Lenient: true, Gate: &push.Gate{MinGap: time.Hour}, OnOutcome: got.add})
	page := in[1].subscribe(t, "v-1", "", "")
	in[0].mustEngage(t, "v-1", "i-1")
	page.wantEngage(t, "i-1")
	if r := in[1].answer(t, "v-1", `{"interactionID":"i-1","result":"accepted","channel":"chat"}`); r.status != http.StatusOK {
		t.Fatalf("answer: %v", r)
	}
	in[1].mustEngage(t, "v-2", "i-1")
	in[2].mustCancel(t, "v-2", "i-1", "")
	if r := in[0].engage(t, profile("v-3", "i-1", `,"expiresIn":1`)); r.status != http.StatusOK {
		t.Fatalf("engage: %v", r)
	}
	in[0].mustEngage(t, "v-4", "i-1")
	for _, i := range []int{0, 2, 1} { // the strategy retries a suppressed engage
		if r := in[i].engage(t, profile("v-4", "i-2", "")); r.code != "ENGAGEMENT_SUPPRESSED" {
			t.Fatalf("engage within the gap: %v, want 400 ENGAGEMENT_SUPPRESSED", r)
		}
	}
	want := []push.Outcome{
		{VisitID: "v-1", InteractionID: "i-1", Result: push.ResultAccepted, Channel: "chat"},
		{VisitID: "v-2", InteractionID: "i-1", Result: push.ResultCancelled},
		{VisitID: "v-3", InteractionID: "i-1", Result: push.ResultExpired},
		{VisitID: "v-4", InteractionID: "i-2", Result: push.ResultSuppressed},
	}
	eventually(t, "every outcome is reported", func() bool { return got.count() >= len(want) })
	// Every broker has seen every end by now, or sees it within the
	// second its sweep takes to expire v-3 on each: time enough for a
	// repeat to show.
	time.Sleep(1500 * time.Millisecond)
	got.mu.Lock()
	defer got.mu.Unlock()
	seen := slices.SortedFunc(slices.Values(got.seen), func(a, b push.Outcome) int {
		return strings.Compare(a.VisitID+"/"+a.InteractionID, b.VisitID+"/"+b.InteractionID)
	})
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("outcomes reported:\n%v\nwant each once:\n%v", seen, want)
	}
}

// outcomeBurst: when many invitations expire at once on three instances,
// each outcome is reported once, none is lost, and the instances' elections
// run at once (several at a time on each) without a repeat.
func outcomeBurst(t *testing.T, nc func(*testing.T, int) *Cluster) {
	const n = 600
	var mu sync.Mutex
	reported := map[string]int{}
	_, in := start(t, nc, 3, push.Options{Lenient: true, OnOutcome: func(o push.Outcome) {
		mu.Lock()
		defer mu.Unlock()
		reported[o.VisitID+" "+string(o.Result)]++
	}})
	for i := range n {
		if r := in[i%3].engage(t, profile(fmt.Sprintf("v-%d", i), "i-1", `,"expiresIn":1`)); r.status != http.StatusOK {
			t.Fatalf("engage %d: %v", i, r)
		}
	}
	total := func() int {
		mu.Lock()
		defer mu.Unlock()
		k := 0
		for _, c := range reported {
			k += c
		}
		return k
	}
	eventually(t, fmt.Sprintf("the %d outcomes are reported", n), func() bool { return total() >= n })
	time.Sleep(1500 * time.Millisecond) // time for a repeat to show
	mu.Lock()
	defer mu.Unlock()
	var wrong []string
	for i := range n {
		if c := reported[fmt.Sprintf("v-%d expired", i)]; c != 1 {
			wrong = append(wrong, fmt.Sprintf("v-%d reported %d times", i, c))
		}
	}
	if len(reported) != n || len(wrong) > 0 {
		t.Errorf("%d outcomes reported for %d invitations; %d wrong, the first: %v", total(), n, len(wrong), wrong[:min(len(wrong), 5)])
	}
	for _, x := range in {
		if d := x.broker.Stats().OutcomesDropped; d != 0 {
			t.Errorf("instance %s dropped %d outcomes", x.name, d)
		}
	}
}
