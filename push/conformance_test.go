package push_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
	"github.com/engagekit/gateway/push/pushtest"
)

// TestConformance runs the conformance suite against brokers sharing one
// MemoryBackend, as it is.
func TestConformance(t *testing.T) {
	t.Parallel()
	pushtest.Run(t, func(t *testing.T, n int) *pushtest.Cluster {
		m := push.NewMemoryBackend(nil)
		c := &pushtest.Cluster{}
		for range n {
			c.Backends = append(c.Backends, m)
		}
		return c
	})
}

// TestNotifierConformance runs the Notifier suite against brokers sharing
// one MemoryBackend, the page on another broker than the engage.
func TestNotifierConformance(t *testing.T) {
	t.Parallel()
	pushtest.RunNotifier(t, func(t *testing.T, n int) *pushtest.Cluster {
		m := push.NewMemoryBackend(nil)
		c := &pushtest.Cluster{}
		for range n {
			c.Backends = append(c.Backends, m)
		}
		return c
	})
}

// TestConformanceWithFaults runs the suite with outages and wipes: the
// brokers share a MemoryBackend for their events and another for their
// claims and ended IDs, which a wipe replaces by an empty one, and every
// call fails while the store is down.
func TestConformanceWithFaults(t *testing.T) {
	t.Parallel()
	pushtest.Run(t, func(t *testing.T, n int) *pushtest.Cluster {
		f := &faults{}
		f.state.Store(push.NewMemoryBackend(nil))
		log := push.NewMemoryBackend(nil)
		c := &pushtest.Cluster{
			Outage: func() func() {
				f.down.Store(true)
				return func() { f.down.Store(false) }
			},
			Wipe: func() { f.state.Store(push.NewMemoryBackend(nil)) },
		}
		for range n {
			c.Backends = append(c.Backends, &faultyBackend{MemoryBackend: log, faults: f})
		}
		return c
	})
}

// faults is the shared state of a cluster of faultyBackends.
type faults struct {
	down  atomic.Bool
	state atomic.Pointer[push.MemoryBackend] // claims and ended IDs
}

// errDown is what a faultyBackend answers while the store is down.
var errDown = &gateway.Fault{Code: gateway.CodeUnavailable, RetryAfter: 3 * time.Second, Err: errors.New("store unreachable")}

// faultyBackend is a MemoryBackend whose store can go down or lose its
// state. It embeds the MemoryBackend that carries the events, so that a
// broker registers with it at once, as with a MemoryBackend.
type faultyBackend struct {
	*push.MemoryBackend
	*faults
}

func (f *faultyBackend) Claim(ctx context.Context, visitID, interactionID string, ttl time.Duration) (string, error) {
	if f.down.Load() {
		return "", errDown
	}
	return f.state.Load().Claim(ctx, visitID, interactionID, ttl)
}

func (f *faultyBackend) Release(ctx context.Context, visitID, interactionID string) error {
	if f.down.Load() {
		return errDown
	}
	return f.state.Load().Release(ctx, visitID, interactionID)
}

func (f *faultyBackend) End(ctx context.Context, visitID, interactionID string, ttl time.Duration) error {
	if f.down.Load() {
		return errDown
	}
	return f.state.Load().End(ctx, visitID, interactionID, ttl)
}

func (f *faultyBackend) Ended(ctx context.Context, visitID, interactionID string) (bool, error) {
	if f.down.Load() {
		return false, errDown
	}
	return f.state.Load().Ended(ctx, visitID, interactionID)
}

func (f *faultyBackend) Publish(ctx context.Context, ev *push.Event) error {
	if f.down.Load() {
		return errDown
	}
	return f.MemoryBackend.Publish(ctx, ev)
}

func (f *faultyBackend) Ping(ctx context.Context) error {
	if f.down.Load() {
		return errDown
	}
	return nil
}

// TestConformanceAsync runs the suite against a backend that works as a
// network backend does: its events are stored encoded in a log, and each
// broker reads them from its own goroutine, so delivery happens after
// Publish returns; a wipe empties the log too.
func TestConformanceAsync(t *testing.T) {
	t.Parallel()
	pushtest.Run(t, func(t *testing.T, n int) *pushtest.Cluster {
		l := &logStore{changed: make(chan struct{})}
		l.state.Store(push.NewMemoryBackend(nil))
		c := &pushtest.Cluster{
			Outage: func() func() {
				l.down.Store(true)
				return func() { l.down.Store(false) }
			},
			Wipe: l.wipe,
		}
		for range n {
			c.Backends = append(c.Backends, &logBackend{l})
		}
		return c
	})
}

// logStore is the store of logBackends: claims and ended IDs in a
// MemoryBackend, events in a log of encoded events.
type logStore struct {
	down  atomic.Bool
	state atomic.Pointer[push.MemoryBackend]

	mu      sync.Mutex
	log     []logEntry
	gen     int           // incremented when the log is wiped
	changed chan struct{} // closed and replaced when the log changes
}

func (l *logStore) wipe() {
	l.state.Store(push.NewMemoryBackend(nil))
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log, l.gen = nil, l.gen+1
	close(l.changed)
	l.changed = make(chan struct{})
}

// logEntry is an encoded event and its traceparent, as a message and its
// header.
type logEntry struct {
	data        []byte
	traceParent string
}

// logBackend is one broker's connection to a logStore.
type logBackend struct{ *logStore }

func (b *logBackend) Claim(ctx context.Context, visitID, interactionID string, ttl time.Duration) (string, error) {
	if b.down.Load() {
		return "", errDown
	}
	return b.state.Load().Claim(ctx, visitID, interactionID, ttl)
}

func (b *logBackend) Release(ctx context.Context, visitID, interactionID string) error {
	if b.down.Load() {
		return errDown
	}
	return b.state.Load().Release(ctx, visitID, interactionID)
}

func (b *logBackend) End(ctx context.Context, visitID, interactionID string, ttl time.Duration) error {
	if b.down.Load() {
		return errDown
	}
	return b.state.Load().End(ctx, visitID, interactionID, ttl)
}

func (b *logBackend) Ended(ctx context.Context, visitID, interactionID string) (bool, error) {
	if b.down.Load() {
		return false, errDown
	}
	return b.state.Load().Ended(ctx, visitID, interactionID)
}

func (b *logBackend) Publish(_ context.Context, ev *push.Event) error {
	if b.down.Load() {
		return errDown
	}
	data, err := ev.MarshalBinary()
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.log = append(b.log, logEntry{data, ev.TraceParent()})
	close(b.changed)
	b.changed = make(chan struct{})
	return nil
}

// Listen reads the log from its oldest event, from this goroutine; after
// a wipe it starts again from the oldest.
func (b *logBackend) Listen(ctx context.Context, deliver func(*push.Event)) error {
	next, gen := 0, 0
	for {
		b.mu.Lock()
		if b.gen != gen {
			next, gen = 0, b.gen
		}
		batch := b.log[next:]
		next = len(b.log)
		changed := b.changed
		b.mu.Unlock()
		for _, e := range batch {
			ev, err := push.DecodeEvent(e.data, e.traceParent)
			if err != nil {
				continue // junk is dropped
			}
			deliver(ev)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

func (b *logBackend) Ping(context.Context) error {
	if b.down.Load() {
		return errDown
	}
	return nil
}

func (f *faultyBackend) Load(ctx context.Context, key string) ([]byte, uint64, error) {
	if f.down.Load() {
		return nil, 0, errDown
	}
	return f.state.Load().Load(ctx, key)
}

func (f *faultyBackend) Store(ctx context.Context, key string, data []byte, rev uint64, ttl time.Duration) (bool, error) {
	if f.down.Load() {
		return false, errDown
	}
	return f.state.Load().Store(ctx, key, data, rev, ttl)
}

func (b *logBackend) Load(ctx context.Context, key string) ([]byte, uint64, error) {
	if b.down.Load() {
		return nil, 0, errDown
	}
	return b.state.Load().Load(ctx, key)
}

func (b *logBackend) Store(ctx context.Context, key string, data []byte, rev uint64, ttl time.Duration) (bool, error) {
	if b.down.Load() {
		return false, errDown
	}
	return b.state.Load().Store(ctx, key, data, rev, ttl)
}
