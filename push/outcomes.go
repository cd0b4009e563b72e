package push

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// This file reports each invitation's outcome to Options.OnOutcome once
// across the brokers sharing a backend. Every broker applies every end to
// its view (an answer, a cancel, an expiry), so every broker sees each
// outcome; each then tries to create the outcome's record in the backend,
// and the one whose create succeeds reports it. An election is a network
// round trip, so elections run on goroutines of their own (electors of
// them at once), fed by a bounded queue, never under a shard's lock.

// electors is how many elections a broker holds at once, each a round
// trip to the backend.
const electors = 8

// minOutcomeQueue is the fewest outcomes that may wait for their
// election, whatever Options.MaxInvitations says.
const minOutcomeQueue = 4096

// outcomeCallTimeout bounds one election's call to the backend.
const outcomeCallTimeout = 2 * time.Second

// outcomeLogEvery is how often, at most, dropped outcomes are logged.
const outcomeLogEvery = 10 * time.Second

// unelectedFor is how long after a slow failed election (one that took
// slowElection or more) the next outcomes are reported without one: a
// backend cut off may make each election wait its whole timeout, and the
// queue would fill meanwhile. An election that fails at once (the
// connection known down) costs nothing, so the next is held.
const (
	unelectedFor = time.Second
	slowElection = 100 * time.Millisecond
)

// reporter elects and reports outcomes.
type reporter struct {
	on      func(Outcome)
	onMu    sync.Mutex    // on is called one outcome at a time
	max     int           // how many outcomes may wait
	ttl     time.Duration // how long an election's record is kept
	dropped atomic.Uint64
	lastLog atomic.Int64 // Unix nanoseconds of the last "dropped" line

	// The queue: outcomes waiting for their election, oldest first, and a
	// signal to an elector that it is not empty.
	mu      sync.Mutex
	pending []pendingOutcome
	more    chan struct{}

	unelected atomic.Int64 // Unix nanoseconds until which outcomes are reported without an election
}

func newReporter(on func(Outcome), maxInvitations int, ttl time.Duration) *reporter {
	return &reporter{on: on, max: max(maxInvitations, minOutcomeQueue), ttl: ttl, more: make(chan struct{}, 1)}
}

type pendingOutcome struct {
	o    Outcome
	kind byte   // recordOutcome or recordSuppressed
	of   string // what else names it in its election's key: see queueOutcome
}

// outcomeOf is the outcome of inv, ended by ev (a cancel or an answer),
// or expired when ev is nil.
func outcomeOf(visitID string, inv *invitation, ev *Event) Outcome {
	o := Outcome{VisitID: visitID, InteractionID: inv.id, Result: ResultExpired, Time: inv.expiresAt}
	switch {
	case ev == nil:
	case ev.op == opAnswer:
		o.Result, o.Channel, o.Time = Result(ev.answer.Result), ev.answer.Channel, ev.at
	default:
		o.Result, o.Time = ResultCancelled, ev.at
	}
	return o
}

// queueOutcome hands o to the reporter without waiting. It may be called
// with a shard's lock held. of is what tells o from the outcome of another
// invitation of the same visit and interactionID, made after the first
// ended and was forgotten: for an end, when its engage was accepted, which
// every broker reads from the same event.
func (b *Broker) queueOutcome(o Outcome, kind byte, of string) {
	r := b.reporter
	r.mu.Lock()
	if len(r.pending) < r.max {
		r.pending = append(r.pending, pendingOutcome{o, kind, of})
		r.mu.Unlock()
		r.signal()
		return
	}
	r.mu.Unlock()
	n := r.dropped.Add(1)
	now := time.Now().UnixNano()
	if last := r.lastLog.Load(); now-last >= int64(outcomeLogEvery) && r.lastLog.CompareAndSwap(last, now) {
		b.log(slog.LevelWarn, "push: the outcome queue is full; outcomes dropped", slog.Int("queue", r.max), slog.Uint64("dropped", n))
	}
}

// signal wakes an elector, unless one is to wake already.
func (r *reporter) signal() {
	select {
	case r.more <- struct{}{}:
	default:
	}
}

// next takes the oldest waiting outcome, and wakes another elector when
// more wait.
func (r *reporter) next() (pendingOutcome, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) == 0 {
		return pendingOutcome{}, false
	}
	p := r.pending[0]
	r.pending[0] = pendingOutcome{}
	r.pending = r.pending[1:]
	if len(r.pending) == 0 {
		r.pending = nil // the burst's array goes
	} else {
		r.signal()
	}
	return p, true
}

// elect elects and reports the queued outcomes until Shutdown, then those
// still queued: one of the broker's electors.
func (b *Broker) elect() {
	defer b.wg.Done()
	r := b.reporter
	for {
		if p, ok := r.next(); ok {
			b.reportOutcome(p)
			continue
		}
		select {
		case <-r.more:
		case <-b.closing:
			for p, ok := r.next(); ok; p, ok = r.next() {
				b.reportOutcome(p)
			}
			return
		}
	}
}

// reportOutcome reports p if this broker wins its election. When the
// backend cannot be reached it reports it all the same, and when that took
// long, those of the next unelectedFor without holding their elections: a
// receiver deduplicates on the outcome's (VisitID, InteractionID, Result),
// as the webhook module's stable IDs let it, while a lost outcome is lost.
func (b *Broker) reportOutcome(p pendingOutcome) {
	r := b.reporter
	start := time.Now()
	if start.UnixNano() < r.unelected.Load() {
		r.report(p.o)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), outcomeCallTimeout)
	won, err := b.backend.Store(ctx, recordKey(p.kind, p.o.VisitID, p.o.InteractionID, p.of), []byte(p.o.Result), 0, r.ttl)
	cancel()
	if err != nil {
		b.log(slog.LevelWarn, "push: the backend could not elect the broker that reports an outcome; reporting it here", slog.String("visitID", p.o.VisitID), slog.String("interactionID", p.o.InteractionID), slog.Any("err", err))
		if now := time.Now(); now.Sub(start) >= slowElection {
			r.unelected.Store(now.Add(unelectedFor).UnixNano())
		}
		won = true
	}
	if won {
		r.report(p.o)
	}
}

// report calls OnOutcome, one outcome at a time.
func (r *reporter) report(o Outcome) {
	r.onMu.Lock()
	defer r.onMu.Unlock()
	r.on(o)
}
