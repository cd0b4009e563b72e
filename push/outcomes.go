package push

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// This file reports each invitation's outcome to Options.OnOutcome once
// across the brokers sharing a backend. Every broker applies every end to
// its view (an answer, a cancel, an expiry), so every broker sees each
// outcome; each then tries to create the outcome's record in the backend,
// and the one whose create succeeds reports it. The election is a
// network round trip, so it runs on a goroutine of its own, fed by a
// bounded queue, never under a shard's lock.

// outcomeQueue bounds the outcomes waiting for their election; past it
// the newest are dropped, counted and logged.
const outcomeQueue = 4096

// outcomeCallTimeout bounds one election's call to the backend.
const outcomeCallTimeout = 2 * time.Second

// outcomeLogEvery is how often, at most, dropped outcomes are logged.
const outcomeLogEvery = 10 * time.Second

// unelectedFor is how long after a slow failed election (one that took
// slowElection or more) the next outcomes are reported without one: a
// backend cut off may make each election wait its whole timeout, and one
// at a time the queue would fill meanwhile. An election that fails at
// once (the connection known down) costs nothing, so the next is held.
const (
	unelectedFor = time.Second
	slowElection = 100 * time.Millisecond
)

// reporter elects and reports outcomes.
type reporter struct {
	on      func(Outcome)
	queue   chan pendingOutcome
	ttl     time.Duration // how long an election's record is kept
	dropped atomic.Uint64
	lastLog atomic.Int64 // Unix nanoseconds of the last "dropped" line

	unelected time.Time // until when outcomes are reported without an election; the reporter's goroutine's alone
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
	select {
	case r.queue <- pendingOutcome{o, kind, of}:
		return
	default:
	}
	n := r.dropped.Add(1)
	now := time.Now().UnixNano()
	if last := r.lastLog.Load(); now-last >= int64(outcomeLogEvery) && r.lastLog.CompareAndSwap(last, now) {
		b.log(slog.LevelWarn, "push: the outcome queue is full; outcomes dropped", slog.Int("queue", outcomeQueue), slog.Uint64("dropped", n))
	}
}

// reportOutcomes elects and reports the queued outcomes until Shutdown,
// then those still queued.
func (b *Broker) reportOutcomes() {
	defer b.wg.Done()
	r := b.reporter
	for {
		select {
		case p := <-r.queue:
			b.reportOutcome(p)
		case <-b.closing:
			for {
				select {
				case p := <-r.queue:
					b.reportOutcome(p)
				default:
					return
				}
			}
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
	if start.Before(r.unelected) {
		r.on(p.o)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), outcomeCallTimeout)
	won, err := b.backend.Store(ctx, recordKey(p.kind, p.o.VisitID, p.o.InteractionID, p.of), []byte(p.o.Result), 0, r.ttl)
	cancel()
	if err != nil {
		b.log(slog.LevelWarn, "push: the backend could not elect the broker that reports an outcome; reporting it here", slog.String("visitID", p.o.VisitID), slog.String("interactionID", p.o.InteractionID), slog.Any("err", err))
		if now := time.Now(); now.Sub(start) >= slowElection {
			r.unelected = now.Add(unelectedFor)
		}
		won = true
	}
	if won {
		r.on(p.o)
	}
}
