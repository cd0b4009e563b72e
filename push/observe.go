package push

import (
	"context"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/internal/rules"
)

// Observer holds the hooks through which a [Broker] reports what happens
// on it, for metrics and traces: the module otelgateway turns them into
// OpenTelemetry instruments and spans. Every hook is optional; a nil hook
// costs the broker one comparison. Set it as [Options.Observer].
//
// Together the hooks make the engagement funnel: offered, delivered,
// shown, and how it ended. Each broker reports what happens on it, so that
// the sum over the instances of a deployment counts each step once:
//
//   - Offered: the broker whose Engage admitted the invitation, once.
//   - Delivered: a broker that sends the invitation to one of its own
//     streams, once per invitation on that broker (a visitor whose tabs
//     are held by two instances is counted by each).
//   - Shown: the broker that receives the page's report (contract §6.6),
//     once per invitation on that broker.
//   - Ended: each broker that delivered the invitation, when it ends
//     there: an invitation that reached no page is offered and never
//     delivered, and its end is not reported.
//   - StreamOpened and StreamClosed: the broker that holds the stream.
//
// Hooks are called synchronously, concurrently, and some with a lock of
// the broker held: they must return quickly, must not block, must not call
// the Broker, and must not keep the strings or the profile they are given
// past their return.
type Observer struct {
	// Offered is called when Engage has admitted an invitation: its event
	// is in the backend's log and Engage is about to return nil. ctx is
	// Engage's. An engage for an interactionID that is live or has ended
	// admits nothing and is not reported.
	Offered func(ctx context.Context, p *gateway.Profile)

	// Delivered is called the first time the broker sends an invitation
	// to one of its streams.
	Delivered func(Delivery)

	// Shown is called the first time a page reports to the broker that
	// it displayed a live invitation (contract §6.6). ctx is the report's
	// request's.
	Shown func(ctx context.Context, visitID, interactionID string)

	// Ended is called when an invitation this broker delivered ends here:
	// answered (accepted, rejected, timeout, closed), cancelled, or
	// expired. Outcome.Time is when the answer or the cancel was accepted,
	// or when the invitation expired.
	Ended func(Outcome)

	// StreamOpened is called when a stream is registered, and
	// StreamClosed once when it is closed, for whatever reason.
	StreamOpened, StreamClosed func()

	// TraceParent, when set, returns the W3C traceparent of the span in
	// ctx ("00-<trace-id>-<span-id>-<flags>"), or "" when there is none.
	// The broker calls it with the context of Engage, Cancel and a
	// disposition, and carries what it returns with the event it publishes
	// ([Event.TraceParent]; a backend puts it in its message's headers,
	// contract §7.3), so that the broker that delivers the invitation, on
	// any instance, reports it in [Delivery].TraceParent. A value that is
	// not a valid version-00 traceparent is not carried.
	TraceParent func(ctx context.Context) string
}

// Delivery describes an invitation's first delivery by a broker, for
// [Observer].Delivered.
type Delivery struct {
	// VisitID and InteractionID name the invitation.
	VisitID, InteractionID string
	// Accepted is when the engage was accepted, by the clock of the
	// instance that accepted it; Time is when this broker queued the
	// invitation for its stream. Time minus Accepted is the latency from
	// engage to delivery, skewed by the difference of the two clocks.
	Accepted, Time time.Time
	// OnConnect reports that the stream opened after the invitation was
	// live (a page that loaded, reloaded or opened later): the latency then
	// includes the wait for the page. Otherwise the stream was open when
	// the engage arrived, and the latency is the gateway's own.
	OnConnect bool
	// TraceParent is the traceparent of the engage, from the event
	// (see [Observer].TraceParent and [Event.TraceParent]); "" when it
	// had none.
	TraceParent string
}

// observed is what the Observer has been told of an invitation. It is
// guarded by the invitation's shard's mutex.
type observed struct {
	at              time.Time // when the engage was accepted
	trace           string    // the engage's traceparent, when the Observer traces
	delivered, seen bool      // reported as delivered, as shown
}

// shownReport is the result a page posts to the disposition path to report
// that it displayed an invitation: not an answer, it ends nothing.
const shownReport = "shown"

var interactionIDRule = rules.FieldOf(reflect.TypeFor[Disposition](), "InteractionID")

// observer returns the Observer of opts, the zero Observer when unset.
func observer(opts *Options) Observer {
	if opts.Observer == nil {
		return Observer{}
	}
	return *opts.Observer
}

// traced sets ev's traceparent from ctx, when the Observer traces and
// gives a valid one.
func (b *Broker) traced(ctx context.Context, ev *Event) *Event {
	if b.obs.TraceParent != nil {
		if tp := b.obs.TraceParent(ctx); validTraceParent(tp) {
			ev.trace = tp
		}
	}
	return ev
}

// observeOffered reports an admitted engage.
func (b *Broker) observeOffered(ctx context.Context, p *gateway.Profile) {
	if b.obs.Offered != nil {
		b.obs.Offered(ctx, p)
	}
}

// observeApplied notes what the Observer needs of a new live invitation
// and reports it delivered if ev's application sent it to a stream. The
// caller holds the shard's mutex.
func (b *Broker) observeApplied(visitID string, inv *invitation, ev *Event, now time.Time) {
	inv.obs.at = ev.at
	if ev.trace != "" && b.obs.Delivered != nil {
		inv.obs.trace = strings.Clone(ev.trace) // the event's string may pin a message
	}
	if len(inv.sentTo) > 0 {
		b.observeDelivered(visitID, inv, now, false)
	}
}

// observeDelivered reports inv's first delivery by this broker. The
// caller holds the shard's mutex.
func (b *Broker) observeDelivered(visitID string, inv *invitation, now time.Time, onConnect bool) {
	if inv.obs.delivered {
		return
	}
	inv.obs.delivered = true
	if b.obs.Delivered != nil {
		b.obs.Delivered(Delivery{VisitID: visitID, InteractionID: inv.id, Accepted: inv.obs.at, Time: now, OnConnect: onConnect, TraceParent: inv.obs.trace})
	}
}

// observeEnd reports the end of inv, if this broker delivered it. ev is
// the cancel or answer that ends it, nil when it expired. The caller holds
// the shard's mutex.
func (b *Broker) observeEnd(visitID string, inv *invitation, ev *Event) {
	if !inv.obs.delivered || b.obs.Ended == nil {
		return
	}
	b.obs.Ended(outcomeOf(visitID, inv, ev))
}

// observeStream reports a stream opened or closed.
func (b *Broker) observeStream(opened bool) {
	f := b.obs.StreamClosed
	if opened {
		f = b.obs.StreamOpened
	}
	if f != nil {
		f()
	}
}

// serveShown answers a page's report that it displayed an invitation
// (contract §6.6): {"interactionID":"…","result":"shown"}, posted to the
// disposition path with the same checks. It changes no delivery state: it
// reports the invitation shown to the Observer, once, if it is live. An
// invitation that has ended but is remembered is answered 200 and not
// reported; one the broker never had is 404.
func (b *Broker) serveShown(w http.ResponseWriter, r *http.Request, d Disposition) {
	if broken := interactionIDRule.Check(d.InteractionID); broken != nil {
		gateway.WriteError(w, invalidDisposition([]rules.FieldError{*broken}))
		return
	}
	if d.Channel != "" {
		gateway.WriteError(w, invalidDisposition([]rules.FieldError{{Field: "channel", Rule: "excluded", Message: "channel must be absent when result is shown"}}))
		return
	}
	now := b.now()
	sh := b.shard(d.VisitID)
	sh.mu.Lock()
	var known, first bool
	if v := sh.visits[d.VisitID]; v != nil {
		b.expire(sh, d.VisitID, v, now)
		if i := v.live(d.InteractionID); i >= 0 {
			inv := v.invs[i]
			known, first = true, !inv.obs.seen
			inv.obs.seen = true
		}
	}
	if !known {
		_, known = sh.tomb(d.VisitID, d.InteractionID, now)
	}
	sh.mu.Unlock()
	if !known {
		gateway.WriteError(w, errNoInvitation)
		return
	}
	if first && b.obs.Shown != nil {
		b.obs.Shown(r.Context(), d.VisitID, d.InteractionID)
	}
	writeDispositionOK(w, d.InteractionID)
}

var errNoInvitation = &gateway.Fault{Code: gateway.CodeNotFound, Message: "no such invitation"}

// writeDispositionOK writes the 200 answer of a disposition or a shown
// report.
func writeDispositionOK(w http.ResponseWriter, interactionID string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	io.WriteString(w, `{"status":"OK","interactionID":"`+interactionID+"\"}\n")
}
