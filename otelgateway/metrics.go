package otelgateway

import (
	"context"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
	"go.opentelemetry.io/otel/trace"
)

// Observe records one handled request: set it as
// [gateway.Options].Observe. It counts gateway.requests and records
// gateway.request.duration.
func (t *Telemetry) Observe(o gateway.Observation) {
	s := t.reqAttrs.get(reqKey{o.Operation, o.Code})
	ctx := context.Background()
	t.requests.Add(ctx, 1, s.add...)
	t.reqDuration.Record(ctx, o.Duration.Seconds(), s.rec...)
}

// Observer returns the hooks to set as [push.Options].Observer: they count
// the funnel's steps (gateway.invitations), time deliveries
// (gateway.delivery.duration), count the streams opened, carry the trace
// context of engages in their events, and record a gateway.deliver span
// where an engage that carried one is delivered. Each call returns a new
// Observer with the same hooks.
func (t *Telemetry) Observer() *push.Observer {
	return &push.Observer{
		Offered: func(ctx context.Context, _ *gateway.Profile) {
			t.invitations.Add(ctx, 1, t.stageAttrs.get(stageOffered).add...)
		},
		Delivered: t.delivered,
		Shown: func(ctx context.Context, _, _ string) {
			t.invitations.Add(ctx, 1, t.stageAttrs.get(stageShown).add...)
		},
		Ended: func(o push.Outcome) {
			t.invitations.Add(context.Background(), 1, t.stageAttrs.get(string(o.Result)).add...)
		},
		StreamOpened: func() { t.opened.Add(context.Background(), 1) },
		TraceParent:  traceParent,
	}
}

func (t *Telemetry) delivered(d push.Delivery) {
	ctx := context.Background()
	t.invitations.Add(ctx, 1, t.stageAttrs.get(stageDelivered).add...)
	if !d.OnConnect {
		t.delivery.Record(ctx, max(0, d.Time.Sub(d.Accepted).Seconds()))
	}
	if d.TraceParent == "" || !t.tracing() {
		return
	}
	sc, ok := parseTraceParent(d.TraceParent)
	if !ok {
		return
	}
	// From the engage's acceptance to its delivery, in the engage's trace.
	_, span := t.tracer.Start(trace.ContextWithRemoteSpanContext(ctx, sc), "gateway.deliver",
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithTimestamp(d.Accepted))
	if t.ids && span.IsRecording() {
		span.SetAttributes(KeyVisitID.String(d.VisitID), KeyInteractionID.String(d.InteractionID))
	}
	span.End(trace.WithTimestamp(d.Time))
}
