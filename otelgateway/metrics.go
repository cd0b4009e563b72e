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
	s.count.Add(1)
	t.reqDuration.Record(context.Background(), o.Duration.Seconds(), s.rec...)
}

// Observer returns the hooks to set as [push.Options].Observer: they count
// the funnel's steps (gateway.invitations), time deliveries
// (gateway.delivery.duration), count the streams opened, carry the trace
// context of engages in their events, and record a gateway.deliver span
// where an engage that carried one is delivered. Each call returns a new
// Observer with the same hooks.
func (t *Telemetry) Observer() *push.Observer {
	return &push.Observer{
		Offered: func(context.Context, *gateway.Profile) {
			t.stageAttrs.get(stageOffered).count.Add(1)
		},
		Delivered: t.delivered,
		Shown: func(context.Context, string, string) {
			t.stageAttrs.get(stageShown).count.Add(1)
		},
		Ended: func(o push.Outcome) {
			t.stageAttrs.get(string(o.Result)).count.Add(1)
		},
		StreamOpened: func() { t.opened.Add(1) },
		TraceParent:  traceParent,
	}
}

func (t *Telemetry) delivered(d push.Delivery) {
	ctx := context.Background()
	t.stageAttrs.get(stageDelivered).count.Add(1)
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
