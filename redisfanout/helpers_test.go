package redisfanout_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/engagekit/gateway/push"
	"github.com/engagekit/gateway/redisfanout"
	"github.com/redis/go-redis/v9"
)

// newBackend returns a Backend on c, logging to the test.
func newBackend(tb testing.TB, c redis.UniversalClient, opts *redisfanout.Options) *redisfanout.Backend {
	tb.Helper()
	if opts == nil {
		opts = &redisfanout.Options{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b, err := redisfanout.New(context.Background(), c, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// waitUp waits until b reaches the store again: after an outage the
// client's pool refuses at once for a while, from its last dial error.
func waitUp(tb testing.TB, b push.Backend) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := b.Ping(context.Background())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("store still unreachable after 10 s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// engage makes a valid engage event, through UnmarshalBinary as a backend
// receives one.
func engage(tb testing.TB, id, visitID, interactionID string) *push.Event {
	tb.Helper()
	at := time.Now().UTC()
	return event(tb, fmt.Sprintf(`{"op":"engage","id":%q,"at":%q,"expiresAt":%q,"profile":{"interactionID":%q,"visitID":%q,"channels":["chat"]}}`,
		id, at.Format(time.RFC3339Nano), at.Add(30*time.Second).Format(time.RFC3339Nano), interactionID, visitID))
}

// cancelEvent makes a valid cancel event.
func cancelEvent(tb testing.TB, id, visitID, interactionID string) *push.Event {
	tb.Helper()
	return event(tb, fmt.Sprintf(`{"op":"cancel","id":%q,"at":%q,"cancel":{"interactionID":%q,"visitID":%q}}`,
		id, time.Now().UTC().Format(time.RFC3339Nano), interactionID, visitID))
}

func event(tb testing.TB, js string) *push.Event {
	tb.Helper()
	ev := new(push.Event)
	if err := ev.UnmarshalBinary([]byte(js)); err != nil {
		tb.Fatalf("%s: %v", js, err)
	}
	return ev
}

func publish(tb testing.TB, b push.Backend, evs ...*push.Event) {
	tb.Helper()
	for _, ev := range evs {
		if err := b.Publish(context.Background(), ev); err != nil {
			tb.Fatalf("Publish %s: %v", ev.ID(), err)
		}
	}
}

// listening is a Listen call running for a test, with the events it
// delivered.
type listening struct {
	tb     testing.TB
	events chan *push.Event
	stop   func() error // cancels Listen and returns what it returned
}

// listen runs b.Listen until the test ends, and fails the test if Listen
// returns anything but context.Canceled.
func listen(tb testing.TB, b push.Backend) *listening {
	l := &listening{tb: tb, events: make(chan *push.Event, 10_000)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Listen(ctx, func(ev *push.Event) { l.events <- ev }) }()
	l.stop = sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	tb.Cleanup(func() {
		if err := l.stop(); !errors.Is(err, context.Canceled) {
			tb.Errorf("Listen returned %v, want context.Canceled", err)
		}
	})
	return l
}

// ids waits for n events and returns their IDs.
func (l *listening) ids(n int) []string {
	l.tb.Helper()
	ids := make([]string, 0, n)
	timeout := time.After(10 * time.Second)
	for len(ids) < n {
		select {
		case ev := <-l.events:
			ids = append(ids, ev.ID())
		case <-timeout:
			l.tb.Fatalf("%d events of %d after 10 s: %v", len(ids), n, ids)
		}
	}
	return ids
}

// quiet fails the test if an event arrives within d.
func (l *listening) quiet(d time.Duration) {
	l.tb.Helper()
	select {
	case ev := <-l.events:
		l.tb.Fatalf("unexpected event %s", ev.ID())
	case <-time.After(d):
	}
}

// proxy forwards loopback TCP connections to a Redis server, and can cut
// them: a connection cut is a network failure the server does not see.
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	conns map[net.Conn]bool
	cut   bool
	wg    sync.WaitGroup
}

func newProxy(tb testing.TB, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Go(p.accept)
	tb.Cleanup(func() {
		ln.Close()
		p.closeAll()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut := p.cut
		p.mu.Unlock()
		if cut {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[s] = true, true
		p.mu.Unlock()
		p.wg.Go(func() { io.Copy(s, c); s.Close() })
		p.wg.Go(func() { io.Copy(c, s); c.Close() })
	}
}

func (p *proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// cutOff closes every connection and refuses new ones until restore.
func (p *proxy) cutOff() (restore func()) {
	p.mu.Lock()
	p.cut = true
	p.mu.Unlock()
	p.closeAll()
	return func() {
		p.mu.Lock()
		p.cut = false
		p.mu.Unlock()
	}
}
