package gateway

import "context"

// Notifier gets an accepted engage to the visitor's browser, or takes it
// back. The [Handler] calls it once a request has decoded and validated;
// hosts implement it, or use one of this module's: [Discard], package push
// (browser delivery over Server-Sent Events), [Client] (relay to another
// server), or the natsfanout module (across instances).
//
// The contract:
//   - Methods are called concurrently, from the request's goroutine, with the
//     request's context: they should return when it is done.
//   - A nil error means the engage or cancel is accepted, and only then does
//     the handler answer 200 OK. Accept only what you will not lose.
//   - A returned error is answered by its code (see [Fault]), wrapped or
//     not: [ErrEngagementInProgress] gives 400 ENGAGEMENT_IN_PROGRESS,
//     [ErrUnavailable] (or a Fault of that code with a RetryAfter) 503 with
//     Retry-After; a relaying [Client]'s VALIDATION or BAD_REQUEST from
//     upstream passes through; anything else is 500 INTERNAL with a generic
//     message. The error's text is only logged; a Fault's Message is shown.
//   - Cancel must be idempotent: cancelling an unknown, cancelled or
//     delivered attempt succeeds. A cancel that arrives before its engage
//     should make that engage a no-op (contract §4).
//   - The *Profile and *CancelData are valid, and belong to the notifier
//     only for the call: it must not keep the pointer after returning, but
//     may keep the field values, which are immutable strings and slices.
type Notifier interface {
	Engage(ctx context.Context, p *Profile) error
	Cancel(ctx context.Context, c *CancelData) error
}

// Funcs adapts ordinary functions to a [Notifier], as [net/http.HandlerFunc]
// does for handlers. A nil field accepts its operation and does nothing.
type Funcs struct {
	EngageFunc func(ctx context.Context, p *Profile) error
	CancelFunc func(ctx context.Context, c *CancelData) error
}

// Engage calls f.EngageFunc, if set.
func (f Funcs) Engage(ctx context.Context, p *Profile) error {
	if f.EngageFunc == nil {
		return nil
	}
	return f.EngageFunc(ctx, p)
}

// Cancel calls f.CancelFunc, if set.
func (f Funcs) Cancel(ctx context.Context, c *CancelData) error {
	if f.CancelFunc == nil {
		return nil
	}
	return f.CancelFunc(ctx, c)
}

// Discard is a [Notifier] that accepts everything and delivers nothing, for
// tests and benchmarks.
var Discard Notifier = discard{}

type discard struct{}

func (discard) Engage(context.Context, *Profile) error    { return nil }
func (discard) Cancel(context.Context, *CancelData) error { return nil }

// Chain returns a [Notifier] that calls each of ns in order and stops at
// the first error, which it returns: a later notifier never sees an engage
// that an earlier one refused (a strict-mode refusal, say). The earlier ones
// have then accepted it, and a strategy that retries calls them again, so
// every notifier but the last should be idempotent per interactionID. Put
// the notifier whose refusal matters (package push's Broker) first.
//
// When one of ns is a [Messenger], so is the Notifier Chain returns: its
// Notify calls, in order, those of ns that are Messengers, and stops at the
// first error in the same way. When none is, it is not a Messenger, and a
// [Handler] answers notify 404 NOT_FOUND. Chain panics if any of ns is nil.
func Chain(ns ...Notifier) Notifier {
	for _, n := range ns {
		if n == nil {
			panic("gateway: Chain given a nil Notifier")
		}
	}
	c := chain(append([]Notifier(nil), ns...))
	for _, n := range c {
		if _, ok := n.(Messenger); ok {
			return messengerChain{c}
		}
	}
	return c
}

type chain []Notifier

func (f chain) Engage(ctx context.Context, p *Profile) error {
	for _, n := range f {
		if err := n.Engage(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

func (f chain) Cancel(ctx context.Context, c *CancelData) error {
	for _, n := range f {
		if err := n.Cancel(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// messengerChain is a chain with at least one Messenger.
type messengerChain struct{ chain }

func (f messengerChain) Notify(ctx context.Context, n *Notification) error {
	for _, x := range f.chain {
		if m, ok := x.(Messenger); ok {
			if err := m.Notify(ctx, n); err != nil {
				return err
			}
		}
	}
	return nil
}
