package redisfanout_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway/push"
	"github.com/engagekit/gateway/redisfanout"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

// seq returns the IDs prefix0 … prefix(n-1).
func seq(prefix string, from, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprint(prefix, from+i)
	}
	return ids
}

func TestPublishListen(t *testing.T) {
	t.Run("every listener gets every event in the order published", func(t *testing.T) {
		c := newCluster(t, 2)
		la, lb := listen(t, c.Backends[0]), listen(t, c.Backends[1])
		for i := range 100 {
			// Alternate publishers and visits: one log, one order.
			publish(t, c.Backends[i%2], engage(t, fmt.Sprint("e", i), fmt.Sprint("v", i%3), fmt.Sprint("i", i)))
		}
		want := seq("e", 0, 100)
		if diff := cmp.Diff(want, la.ids(100)); diff != "" {
			t.Errorf("listener on A (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, lb.ids(100)); diff != "" {
			t.Errorf("listener on B (-want +got):\n%s", diff)
		}
	})
	t.Run("a listener that starts late gets the events kept", func(t *testing.T) {
		c := newCluster(t, 2)
		publish(t, c.Backends[0], engage(t, "e0", "v", "i0"), cancelEvent(t, "e1", "v", "i0"), engage(t, "e2", "v", "i2"))
		l := listen(t, c.Backends[1])
		if diff := cmp.Diff(seq("e", 0, 3), l.ids(3)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("deployments with distinct prefixes do not hear each other", func(t *testing.T) {
		srv := startRedis(t)
		x := newBackend(t, srv.client(t), &redisfanout.Options{Prefix: "x:"})
		y := newBackend(t, srv.client(t), &redisfanout.Options{Prefix: "y:"})
		l := listen(t, y)
		publish(t, x, engage(t, "x0", "v", "i"))
		publish(t, y, engage(t, "y0", "v", "i"))
		if diff := cmp.Diff([]string{"y0"}, l.ids(1)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		l.quiet(100 * time.Millisecond)
	})
	t.Run("Listen needs a deliver func", func(t *testing.T) {
		c := newCluster(t, 1)
		if err := c.Backends[0].Listen(context.Background(), nil); err == nil {
			t.Error("Listen(nil) returned no error")
		}
	})
}

// TestPublishTrims publishes past MaxLen and past History: the stream
// keeps about MaxLen entries, and none much older than History (Redis
// trims whole nodes of 100 entries).
func TestPublishTrims(t *testing.T) {
	tests := []struct {
		name    string
		opts    redisfanout.Options
		pause   bool // sleep past History before the last publish
		maxKept int64
	}{
		{"to about MaxLen entries", redisfanout.Options{MaxLen: 10}, false, 200},
		{"to about History", redisfanout.Options{History: 50 * time.Millisecond}, true, 101},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startRedis(t)
			rc := srv.client(t)
			b := newBackend(t, rc, &tt.opts)
			for i := range 500 {
				publish(t, b, engage(t, fmt.Sprint("e", i), "v", "i"))
			}
			if tt.pause {
				time.Sleep(100 * time.Millisecond)
			}
			publish(t, b, engage(t, "last", "v", "i"))
			n, err := rc.XLen(context.Background(), redisfanout.DefaultPrefix+"events").Result()
			if err != nil {
				t.Fatal(err)
			}
			if n < 1 || n > tt.maxKept {
				t.Errorf("the stream keeps %d entries of 501, want 1 to %d", n, tt.maxKept)
			}
		})
	}
}

// TestListenDropsJunk writes entries to the stream that no Backend
// writes: each is dropped and counted, and the events around them are
// delivered.
func TestListenDropsJunk(t *testing.T) {
	srv := startRedis(t)
	rc := srv.client(t)
	b := newBackend(t, rc, nil)
	stream := redisfanout.DefaultPrefix + "events"
	raw := func(values ...any) {
		t.Helper()
		if err := rc.XAdd(context.Background(), &redis.XAddArgs{Stream: stream, Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	publish(t, b, engage(t, "e0", "v", "i0"))
	raw("id", "j1", "data", "no ev field")
	raw("id", "j2", "ev", "not json")
	raw("id", "j3", "ev", `{"op":"cancel","id":"j3","at":"2026-01-01T00:00:00Z","cancel":{"interactionID":"i\r\nevent: cancel","visitID":"v"}}`)
	raw("id", "j4", "ev", `{"op":"engage","id":"j4","at":"2026-01-01T00:00:00Z","expiresAt":"2026-01-01T00:00:30Z","profile":{"interactionID":"i","visitID":"v","channels":["Not A Channel"]}}`)
	raw("id", "j5", "ev", `{"op":"cancel","id":"j5","at":"2026-01-01T00:00:00Z","cancel":{"interactionID":"i","visitID":"v"},"pad":"`+strings.Repeat("x", push.MaxEventBytes)+`"}`)
	publish(t, b, engage(t, "e1", "v", "i1"))

	l := listen(t, b)
	if diff := cmp.Diff([]string{"e0", "e1"}, l.ids(2)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	l.quiet(100 * time.Millisecond)
	if got := b.Stats().Dropped; got != 5 {
		t.Errorf("Stats().Dropped = %d, want 5", got)
	}
}

// TestListenCatchesUp cuts a listener's connections (the server stays up,
// the other instances go on publishing): once it can connect again it
// delivers what it missed, and nothing twice.
func TestListenCatchesUp(t *testing.T) {
	srv := startRedis(t)
	a := newBackend(t, srv.client(t), nil)
	p := newProxy(t, srv.addr())
	b := newBackend(t, newClient(t, p.addr()), nil)
	l := listen(t, b)
	publish(t, a, engage(t, "e0", "v", "i0"))
	if diff := cmp.Diff([]string{"e0"}, l.ids(1)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}

	restore := p.cutOff()
	for i := 1; i <= 10; i++ {
		publish(t, a, engage(t, fmt.Sprint("e", i), fmt.Sprint("v", i), "i"))
	}
	time.Sleep(200 * time.Millisecond) // the listener retries, and fails, meanwhile
	l.quiet(0)
	restore()

	if diff := cmp.Diff(seq("e", 1, 10), l.ids(10)); diff != "" {
		t.Errorf("after the cut (-want +got):\n%s", diff)
	}
	l.quiet(200 * time.Millisecond)
	if s := b.Stats(); s.Reconnects == 0 || s.Resets != 0 {
		t.Errorf("Stats() = %+v, want reconnects and no reset", s)
	}
}

// TestListenAfterTheStoreIsLost loses the stream under a listener that has
// delivered events: every event published afterwards is delivered, even
// when the new stream numbers its entries below the listener's cursor (a
// store that comes back with a clock behind the old entries' IDs, shown
// here by an old entry numbered an hour ahead).
func TestListenAfterTheStoreIsLost(t *testing.T) {
	tests := []struct {
		name       string
		ahead      bool // the last entry delivered is numbered an hour ahead
		lose       func(*redisServer, *redis.Client)
		wantResets bool // restarted with nothing ahead, a reset depends on timing
	}{
		{"restarted empty", false, (*redisServer).wipeFor, false},
		{"restarted empty, the old entries numbered ahead", true, (*redisServer).wipeFor, true},
		{"flushed while listening, the old entries numbered ahead", true, flushAll, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startRedis(t)
			rc := srv.client(t)
			a := newBackend(t, rc, nil)
			b := newBackend(t, srv.client(t), nil)
			redisfanout.SetBlock(b, 200*time.Millisecond)
			l := listen(t, b)
			publish(t, a, engage(t, "e0", "v", "i0"))
			want := []string{"e0"}
			if tt.ahead {
				data, err := engage(t, "ahead", "v", "i0").MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				id := fmt.Sprintf("%d-0", time.Now().Add(time.Hour).UnixMilli())
				if err := rc.XAdd(context.Background(), &redis.XAddArgs{Stream: redisfanout.DefaultPrefix + "events", ID: id, Values: []any{"id", "ahead", "ev", data}}).Err(); err != nil {
					t.Fatal(err)
				}
				want = append(want, "ahead")
			}
			if diff := cmp.Diff(want, l.ids(len(want))); diff != "" {
				t.Fatalf("before (-want +got):\n%s", diff)
			}

			tt.lose(srv, rc)
			waitUp(t, a)
			publish(t, a, engage(t, "e1", "v", "i1"), engage(t, "e2", "v", "i2"))
			if diff := cmp.Diff([]string{"e1", "e2"}, l.ids(2)); diff != "" {
				t.Errorf("after (-want +got):\n%s", diff)
			}
			if got := b.Stats().Resets; tt.wantResets && got == 0 {
				t.Errorf("Stats().Resets = %d, want some", got)
			}
		})
	}
}

func (s *redisServer) wipeFor(*redis.Client) { s.wipe() }

func flushAll(_ *redisServer, rc *redis.Client) {
	rc.FlushAll(context.Background())
}

// TestListenTrimmedIsNotReset: a listener away while the stream was
// trimmed past its cursor reads on from the cursor, without starting over.
func TestListenTrimmedIsNotReset(t *testing.T) {
	srv := startRedis(t)
	rc := srv.client(t)
	a := newBackend(t, rc, nil)
	p := newProxy(t, srv.addr())
	b := newBackend(t, newClient(t, p.addr()), nil)
	l := listen(t, b)
	publish(t, a, engage(t, "e0", "v", "i0"))
	l.ids(1)

	restore := p.cutOff()
	publish(t, a, engage(t, "e1", "v", "i1"), engage(t, "e2", "v", "i2"))
	if err := rc.XTrimMaxLen(context.Background(), redisfanout.DefaultPrefix+"events", 1).Err(); err != nil {
		t.Fatal(err)
	}
	restore()
	if diff := cmp.Diff([]string{"e2"}, l.ids(1)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	l.quiet(200 * time.Millisecond)
	if s := b.Stats(); s.Resets != 0 {
		t.Errorf("Stats() = %+v, want no reset", s)
	}
}

// TestListenReturnsPromptly cancels a listener blocked in a read that
// would wait 5 s: Listen returns at once.
func TestListenReturnsPromptly(t *testing.T) {
	c := newCluster(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	got := make(chan *push.Event, 1)
	go func() { done <- c.Backends[0].Listen(ctx, func(ev *push.Event) { got <- ev }) }()
	publish(t, c.Backends[0], engage(t, "e0", "v", "i0"))
	<-got
	time.Sleep(50 * time.Millisecond) // blocked in XREAD by now
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Errorf("Listen returned %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("Listen returned %v after its context was canceled", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Listen did not return")
	}
}

// TestListenWithoutClientUnblock runs a listener as an ACL user that may
// not CLIENT UNBLOCK (as "+@all -@dangerous" gives): it delivers, and
// returns within about a second of its context's end.
func TestListenWithoutClientUnblock(t *testing.T) {
	srv := startRedis(t)
	ctx := context.Background()
	if err := srv.client(t).Do(ctx, "ACL", "SETUSER", "gw", "on", ">pw", "~*", "+@all", "-@dangerous").Err(); err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(&redis.Options{Addr: srv.addr(), Username: "gw", Password: "pw"})
	t.Cleanup(func() { rc.Close() })
	if err := rc.ClientUnblock(ctx, 1).Err(); err == nil {
		t.Fatal("the user may CLIENT UNBLOCK: the test proves nothing")
	}
	b := newBackend(t, rc, nil)
	l := listen(t, b)
	publish(t, b, engage(t, "e0", "v", "i0"))
	if diff := cmp.Diff([]string{"e0"}, l.ids(1)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	time.Sleep(50 * time.Millisecond) // blocked in XREAD by now
	start := time.Now()
	if err := l.stop(); err != context.Canceled {
		t.Errorf("Listen returned %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("Listen returned %v after its context was canceled", d)
	}
	if s := b.Stats(); s.Reconnects != 0 {
		t.Errorf("Stats() = %+v, want no reconnect", s)
	}
}
