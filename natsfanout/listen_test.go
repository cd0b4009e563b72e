package natsfanout_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engagekit/gateway/natsfanout"
	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"
)

// TestListenDeliversInOrder: what one instance publishes reaches every
// listener, in order, and a listener that starts later gets every event
// the stream keeps.
func TestListenDeliversInOrder(t *testing.T) {
	c := newCluster(t, 2, nil)
	a, b := c.backends[0], c.backends[1]
	la, lb := listen(t, a), listen(t, b)
	var want []string
	for i := range 100 {
		visit := fmt.Sprint("v-", i%7)
		want = append(want, publish(t, a, engageEvent(t, visit, fmt.Sprint("i-", i))))
		if i%3 == 0 {
			want = append(want, publish(t, b, cancelEvent(t, visit, fmt.Sprint("i-", i))))
		}
	}
	late := listen(t, b)
	for name, l := range map[string]*listening{"A": la, "B": lb, "a late listener": late} {
		if diff := cmp.Diff(want, l.next(t, len(want))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

// TestSameInteractionIDForTwoVisits: one interactionID engaged for two
// visits is two events, both delivered. The first natsfanout used
// e.<interactionID> as the message ID, and the second engage vanished in
// JetStream's two-minute duplicate window.
func TestSameInteractionIDForTwoVisits(t *testing.T) {
	c := newCluster(t, 2, nil)
	l := listen(t, c.backends[1])
	want := []string{
		publish(t, c.backends[0], engageEvent(t, "v-1", "i-1")),
		publish(t, c.backends[0], engageEvent(t, "v-2", "i-1")),
		publish(t, c.backends[1], cancelEvent(t, "v-1", "i-1")),
		publish(t, c.backends[1], cancelEvent(t, "v-2", "i-1")),
	}
	if diff := cmp.Diff(want, l.next(t, len(want))); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
}

// TestPublishDropsARetriedEvent: the same event published twice (a retry)
// is stored and delivered once.
func TestPublishDropsARetriedEvent(t *testing.T) {
	c := newCluster(t, 1, nil)
	l := listen(t, c.backends[0])
	ev := engageEvent(t, "v-1", "i-1")
	publish(t, c.backends[0], ev)
	publish(t, c.backends[0], ev)
	next := publish(t, c.backends[0], cancelEvent(t, "v-1", "i-1"))
	if diff := cmp.Diff([]string{ev.ID(), next}, l.next(t, 2)); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	l.quiet(t, 100*time.Millisecond)
}

// TestJunkIsDropped: what is published raw onto the stream's subject is
// checked with the engage handler's rules before it is delivered; what
// fails is dropped, counted and logged, and the listeners go on. The first
// natsfanout delivered a forged interactionID with CR LF in it, which
// injected an `event: cancel` frame into a browser's stream, and an
// invalid channel name.
func TestJunkIsDropped(t *testing.T) {
	var log logBuffer
	c := newCluster(t, 2, &natsfanout.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	a, b := c.backends[0], c.backends[1]
	la, lb := listen(t, a), listen(t, b)
	now := time.Now().UTC()
	at, expires := now.Format(time.RFC3339Nano), now.Add(time.Minute).Format(time.RFC3339Nano)
	junk := []string{
		`{`, `null`, `[]`, `{"op":"explode","id":"j1","at":"` + at + `"}`,
		// CR LF in an interactionID: a forged SSE frame.
		`{"op":"engage","id":"j2","at":"` + at + `","expiresAt":"` + expires + `","profile":{"interactionID":"x\r\nevent: cancel\r\ndata: {\"interactionID\":\"i-0\"}\r\n","visitID":"v-1","channels":["chat"]}}`,
		`{"op":"cancel","id":"j3","at":"` + at + `","cancel":{"interactionID":"i-0\nevent: engage","visitID":"v-1"}}`,
		// A channel name a handler refuses.
		`{"op":"engage","id":"j4","at":"` + at + `","expiresAt":"` + expires + `","profile":{"interactionID":"i-bad","visitID":"v-1","channels":["Not A Channel"]}}`,
		// The first natsfanout's events.
		`{"op":"engage","profile":{"interactionID":"old","visitID":"v-1","channels":["chat"]},"expiresAt":"` + expires + `"}`,
		`{"op":"cancel","cancel":{"interactionID":"old","visitID":"v-1"}}`,
	}
	for i, data := range junk {
		if i%2 == 0 { // both a plain publish, which the stream stores too, and a JetStream one
			if err := c.conns[0].Publish("gwe.events", []byte(data)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		js, _ := jetstream.New(c.conns[0])
		if _, err := js.Publish(context.Background(), "gwe.events", []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	c.conns[0].Flush()
	good := publish(t, a, engageEvent(t, "v-1", "i-1"))
	for name, l := range map[string]*listening{"A": la, "B": lb} {
		if diff := cmp.Diff([]string{good}, l.next(t, 1)); diff != "" {
			t.Errorf("%s delivered (-want +got):\n%s", name, diff)
		}
		l.quiet(t, 50*time.Millisecond)
	}
	for i, be := range c.backends {
		if got := be.Stats().Dropped; got != uint64(len(junk)) {
			t.Errorf("instance %d: Stats().Dropped = %d, want %d", i, got, len(junk))
		}
	}
	if got := strings.Count(log.String(), "dropped an event that does not decode"); got != 2*len(junk) {
		t.Errorf("%d log lines of dropped events, want %d:\n%s", got, 2*len(junk), log.String())
	}
}

// TestPartitionedListenerCatchesUp: an instance cut off from NATS while
// the others publish gets, once it is back, every event it missed, once
// and in order.
func TestPartitionedListenerCatchesUp(t *testing.T) {
	ns := startNATS(t)
	px := newProxy(t, fmt.Sprintf("127.0.0.1:%d", ns.port))
	a, _ := newBackend(t, ns.url(), nil)
	b, bc := newBackend(t, px.url(), nil)
	lb := listen(t, b)
	want := []string{publish(t, a, engageEvent(t, "v-0", "i-0"))}
	if diff := cmp.Diff(want, lb.next(t, 1)); diff != "" {
		t.Fatalf("before the partition (-want +got):\n%s", diff)
	}
	px.sever(true)
	eventually(t, "B is cut off", func() bool { return !bc.IsConnected() })
	want = nil
	for i := 1; i <= 5; i++ {
		want = append(want, publish(t, a, engageEvent(t, fmt.Sprint("v-", i), fmt.Sprint("i-", i))))
	}
	want = append(want, publish(t, a, cancelEvent(t, "v-0", "i-0")))
	time.Sleep(200 * time.Millisecond)
	px.sever(false)
	if diff := cmp.Diff(want, lb.next(t, len(want))); diff != "" {
		t.Errorf("after the partition (-want +got):\n%s", diff)
	}
	lb.quiet(t, 3*time.Second) // past a lost consumer's two heartbeats: nothing is repeated
}

// TestStoreWipedCallsRecover: NATS restarted with an empty store. The
// first natsfanout answered every engage 503 for as long as anyone
// watched; now the first call that finds the store missing recreates it.
func TestStoreWipedCallsRecover(t *testing.T) {
	ctx := context.Background()
	calls := []struct {
		name string
		call func(*natsfanout.Backend) error
	}{
		{"Claim", func(be *natsfanout.Backend) error { _, err := be.Claim(ctx, "v-1", "i-1", time.Minute); return err }},
		{"Release", func(be *natsfanout.Backend) error { return be.Release(ctx, "v-1", "i-1") }},
		{"End", func(be *natsfanout.Backend) error { return be.End(ctx, "v-1", "i-1", time.Minute) }},
		{"Ended", func(be *natsfanout.Backend) error { _, err := be.Ended(ctx, "v-1", "i-1"); return err }},
		{"Publish", func(be *natsfanout.Backend) error { return be.Publish(ctx, engageEvent(t, "v-1", "i-1")) }},
		{"Load", func(be *natsfanout.Backend) error { _, _, err := be.Load(ctx, "k"); return err }},
		{"Store", func(be *natsfanout.Backend) error {
			_, err := be.Store(ctx, "k", []byte("x"), 0, time.Minute)
			return err
		}},
		{"Ping", func(be *natsfanout.Backend) error { return be.Ping(ctx) }},
	}
	for _, call := range calls {
		t.Run(call.name+" recreates the store", func(t *testing.T) {
			c := newCluster(t, 1, nil)
			be := c.backends[0]
			c.wipe()
			if err := call.call(be); err != nil {
				t.Fatalf("the first call after the wipe: %v", err)
			}
			if got := be.Stats().Recreated; got != 1 {
				t.Errorf("Stats().Recreated = %d, want 1", got)
			}
			for _, other := range calls {
				if err := other.call(be); err != nil {
					t.Errorf("%s after: %v", other.name, err)
				}
			}
		})
	}
}

// TestStoreWipedNothingSkipped: NATS restarted with an empty store while
// instances listen. An instance started afterwards recreates the stream
// and publishes 60 events, and the running instances publish too: every
// event acknowledged after the restart reaches every listener. The first
// natsfanout's listeners resumed at their old cursor, past the new
// stream's first events, and skipped them.
func TestStoreWipedNothingSkipped(t *testing.T) {
	c := newCluster(t, 2, nil)
	a, b := c.backends[0], c.backends[1]
	la, lb := listen(t, a), listen(t, b)
	var before []string
	for i := range 50 {
		before = append(before, publish(t, a, engageEvent(t, fmt.Sprint("old-", i), fmt.Sprint("old-", i))))
	}
	la.next(t, len(before))
	lb.next(t, len(before))

	c.wipe()
	fresh, _ := newBackend(t, c.ns.url(), nil)
	lf := listen(t, fresh)
	var after []string
	for i := range 60 {
		after = append(after, publish(t, fresh, engageEvent(t, fmt.Sprint("v-", i), fmt.Sprint("i-", i))))
	}
	after = append(after, publish(t, a, cancelEvent(t, "v-0", "i-0")), publish(t, b, cancelEvent(t, "v-1", "i-1")))
	for name, l := range map[string]*listening{"A": la, "B": lb, "the new instance": lf} {
		if diff := cmp.Diff(after, l.next(t, len(after))); diff != "" {
			t.Errorf("%s after the wipe (-want +got):\n%s", name, diff)
		}
	}
	if got := a.Stats().Rewound + b.Stats().Rewound; got != 2 {
		t.Errorf("the running listeners rewound %d times, want once each", got)
	}
}

// TestStoreWipedUnderLoad: an instance publishes all along while NATS is
// restarted with an empty store; every publish acknowledged after the
// restart is delivered to every listener, and publishes that fail are
// 503s.
func TestStoreWipedUnderLoad(t *testing.T) {
	c := newCluster(t, 2, nil)
	a, b := c.backends[0], c.backends[1]
	la, lb := listen(t, a), listen(t, b)
	var (
		mu        sync.Mutex
		restarted bool
		acked     []string // acknowledged after the restart
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ev := engageEvent(t, fmt.Sprint("v-", i), fmt.Sprint("i-", i))
			mu.Lock()
			counts := restarted // decided before the call: a publish that straddles the restart does not count
			mu.Unlock()
			if err := a.Publish(context.Background(), ev); err == nil && counts {
				mu.Lock()
				acked = append(acked, ev.ID())
				mu.Unlock()
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
	time.Sleep(200 * time.Millisecond)
	c.ns.wipe()
	mu.Lock()
	restarted = true
	mu.Unlock()
	c.reconnected()
	eventually(t, "20 publishes are acknowledged after the restart", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 20
	})
	close(stop)
	wg.Wait()
	for name, l := range map[string]*listening{"A": la, "B": lb} {
		got := map[string]bool{}
		eventually(t, name+" gets every acknowledged event", func() bool {
			for {
				select {
				case ev := <-l.events:
					got[ev.ID()] = true
					continue
				default:
				}
				break
			}
			for _, id := range acked {
				if !got[id] {
					return false
				}
			}
			return true
		})
	}
}

// TestStreamDeletedWhileListening: someone deletes the stream and the
// buckets while instances listen and NATS keeps running; the next call
// recreates them and the listeners read the new stream from its start.
func TestStreamDeletedWhileListening(t *testing.T) {
	c := newCluster(t, 2, nil)
	a, b := c.backends[0], c.backends[1]
	la, lb := listen(t, a), listen(t, b)
	var before []string
	for i := range 10 {
		before = append(before, publish(t, a, engageEvent(t, "v-1", fmt.Sprint("old-", i))))
	}
	la.next(t, len(before))
	lb.next(t, len(before))
	js, _ := jetstream.New(c.conns[0])
	for _, name := range []string{"GWE_EVENTS", "KV_GWE_CLAIMS", "KV_GWE_ENDED", "KV_GWE_RECORDS", "KV_GWE_ELECTIONS"} {
		if err := js.DeleteStream(context.Background(), name); err != nil {
			t.Fatal(err)
		}
	}
	if holder, err := b.Claim(context.Background(), "v-1", "i-1", time.Minute); err != nil || holder != "i-1" {
		t.Fatalf("Claim after the deletion: %q, %v", holder, err)
	}
	for _, key := range []string{gatingKey, electionKey(1)} {
		if ok, err := a.Store(context.Background(), key, []byte("x"), 0, time.Minute); err != nil || !ok {
			t.Fatalf("a record's create after the deletion (%q): %v, %v", key, ok, err)
		}
	}
	after := []string{publish(t, b, engageEvent(t, "v-1", "i-1")), publish(t, a, cancelEvent(t, "v-1", "i-1"))}
	for name, l := range map[string]*listening{"A": la, "B": lb} {
		if diff := cmp.Diff(after, l.next(t, len(after))); diff != "" {
			t.Errorf("%s after the deletion (-want +got):\n%s", name, diff)
		}
	}
}

// TestRecordBucketDeleted: someone deletes a records bucket alone (the
// gating state's or the elections') while NATS keeps running; whichever
// of Load and Store comes first recreates it, and records work again: a
// create succeeds, a load reads it.
func TestRecordBucketDeleted(t *testing.T) {
	ctx := context.Background()
	for bucket, key := range map[string]string{"KV_GWE_RECORDS": gatingKey, "KV_GWE_ELECTIONS": electionKey(1)} {
		for _, first := range []string{"Load", "Store"} {
			t.Run(bucket+", "+first+" first", func(t *testing.T) {
				c := newCluster(t, 2, nil)
				a, b := c.backends[0], c.backends[1]
				if ok, err := a.Store(ctx, key, []byte("before"), 0, time.Minute); err != nil || !ok {
					t.Fatalf("Store before: %v, %v", ok, err)
				}
				js, _ := jetstream.New(c.conns[0])
				if err := js.DeleteStream(ctx, bucket); err != nil {
					t.Fatal(err)
				}
				if first == "Load" {
					if data, rev, err := b.Load(ctx, key); err != nil || data != nil || rev != 0 {
						t.Fatalf("Load after the deletion: %q at %d, %v; want nothing", data, rev, err)
					}
				}
				if ok, err := b.Store(ctx, key, []byte("after"), 0, time.Minute); err != nil || !ok {
					t.Fatalf("a create after the deletion: %v, %v", ok, err)
				}
				if data, rev, err := a.Load(ctx, key); err != nil || string(data) != "after" || rev == 0 {
					t.Errorf("Load on the other instance: %q at %d, %v; want after", data, rev, err)
				}
				if got := a.Stats().Recreated + b.Stats().Recreated; got != 1 {
					t.Errorf("Stats().Recreated = %d in all, want 1", got)
				}
			})
		}
	}
}
