package push

import (
	"context"
	"sync"
	"time"
)

// readyFor is how long Ready reuses what a Ping found: readiness probes,
// which anyone who reaches the server may send, then cost the backend at
// most one Ping per readyFor however many come.
const readyFor = time.Second

// readyTimeout bounds the Ping that Ready's callers share.
const readyTimeout = 2 * time.Second

// readiness is what Ready last learned from the backend, and the Ping
// under way.
type readiness struct {
	mu   sync.Mutex
	at   time.Time     // when err was learned; zero: never
	err  error         // nil: the backend answered
	wait chan struct{} // closed when the Ping under way ends; nil: none is
}

// Ready reports whether the broker can take engages and cancels now, for a
// readiness probe: nil, or a [*gateway.Fault] matching
// [gateway.ErrUnavailable] when the broker is shutting down or its
// backend's Ping fails. Callers share one Ping, bounded by 2 s, and what
// it finds is reused for a second, so that a flood of probes costs a
// networked backend one round trip a second; a caller's ctx bounds only
// its own wait.
func (b *Broker) Ready(ctx context.Context) error {
	if b.closed() {
		return errClosed
	}
	r := &b.readiness
	r.mu.Lock()
	if !r.at.IsZero() && time.Since(r.at) < readyFor {
		defer r.mu.Unlock()
		return r.err
	}
	wait := r.wait
	if wait == nil {
		if !b.join() {
			r.mu.Unlock()
			return errClosed
		}
		wait = make(chan struct{})
		r.wait = wait
		go b.ping(wait)
	}
	r.mu.Unlock()
	select {
	case <-wait:
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.err
	case <-ctx.Done():
		return backendUnavailable("Ping", ctx.Err())
	}
}

// ping asks the backend whether it answers, for Ready, and closes done.
func (b *Broker) ping(done chan struct{}) {
	defer b.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	var err error
	if perr := b.backend.Ping(ctx); perr != nil {
		err = backendUnavailable("Ping", perr)
	}
	r := &b.readiness
	r.mu.Lock()
	r.at, r.err, r.wait = time.Now(), err, nil
	r.mu.Unlock()
	close(done)
}
