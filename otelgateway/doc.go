// Package otelgateway reports what a gateway does as OpenTelemetry metrics
// and traces: requests by operation and code, the engagement funnel
// (offered, delivered, shown, answered), open streams, live invitations,
// and the latencies, through the hooks of the core handler
// ([gateway.Options].Observe) and of the broker ([push.Options].Observer).
// The core module knows nothing of OpenTelemetry; this module uses only the
// OpenTelemetry API, so the host picks the SDK and the exporter
// (Prometheus, OTLP…) and passes its providers.
//
//	t, err := otelgateway.New(&otelgateway.Options{MeterProvider: mp, TracerProvider: tp})
//	…
//	b := push.NewBroker(&push.Options{Observer: t.Observer(), Backend: t.Backend(backend)})
//	t.Watch(b) // the gauges read b.Stats
//	gw := gateway.NewHandler(t.Notifier(b), &gateway.Options{Observe: t.Observe})
//
// Each piece is optional: Observe and Observer give the counters and
// histograms, Watch the gauges, Notifier and Backend the spans; the
// Observer also carries the trace context from the instance that accepts
// an engage to the one that delivers it.
//
// # Metrics
//
// Names and units follow OpenTelemetry's semantic conventions (a
// Prometheus exporter shows gateway.requests as gateway_requests_total and
// gateway.request.duration as gateway_request_duration_seconds). The meter
// is named [ScopeName].
//
//	instrument                 kind                       unit            attributes
//	gateway.requests           counter                    {request}       gateway.operation, gateway.code
//	gateway.request.duration   histogram                  s               gateway.operation, gateway.code
//	gateway.invitations        counter                    {invitation}    gateway.invitation.stage
//	gateway.delivery.duration  histogram                  s               none
//	gateway.streams.opened     counter                    {stream}        none
//	gateway.streams            gauge (observable)         {stream}        none
//	gateway.invitations.live   gauge (observable)         {invitation}    none
//	gateway.tombstones         gauge (observable)         {interaction}   none
//
// What each one measures:
//
//   - gateway.requests counts the engage and noengage requests the handler
//     answered; gateway.operation is engage, noengage, or other (a path
//     that names neither), and gateway.code is OK or the FAULT code
//     (VALIDATION, UNAUTHORIZED, UNAVAILABLE…, contract §5.3).
//   - gateway.request.duration is the time from the request reaching the
//     handler to its answer being written, with the same attributes.
//   - gateway.invitations counts the steps of the funnel, one attribute
//     value per step: offered (an engage admitted, on the instance that
//     accepted it), delivered (sent to a stream, once per invitation on the
//     instance that holds the stream), shown (the page reported it
//     displayed, contract §6.6), then how a delivered invitation ended:
//     accepted, rejected, timeout, closed, cancelled, expired, or
//     suppressed (refused by offer gating, once the broker reports it). In
//     a deployment of several instances, summing over the instances counts
//     each step once; an invitation that reached no page counts as offered
//     only. See [push.Observer].
//   - gateway.delivery.duration is the time from an engage being accepted
//     to its invitation being queued for a stream that was open when it
//     arrived, across instances (skewed by their clocks' difference). An
//     invitation sent to a page that connects later is counted delivered,
//     not timed: its wait is the page's.
//   - gateway.streams.opened counts the streams registered (a high rate
//     with few open streams means pages reconnecting).
//   - The gauges read [push.Broker.Stats] of the brokers passed to
//     [Telemetry.Watch], summed: open streams, live invitations, and the
//     ended interactionIDs remembered (tombstones, bounded by
//     push.Options.MaxTombstones).
//
// Every attribute takes a bounded set of values, so the number of series
// is fixed; visitIDs and interactionIDs never become attributes of a
// metric. Past 256 (operation, code) pairs, which only a notifier that
// makes up FAULT codes reaches, the rest are counted and timed under the
// one attribute otel.metric.overflow=true, as the SDK does past its
// cardinality limit.
//
// The three counters are kept in atomics that the meter reads at each
// collection (observable counters): an exporter sees the same monotonic,
// cumulative sums as from synchronous counters, added up over the
// Telemetries that share a meter, without exemplars; counting costs a
// request an atomic add where the SDK's synchronous Add costs about
// 150 ns.
//
// # Traces
//
// [Telemetry.Notifier] wraps the notifier with a span per engage
// (gateway.engage) and cancel (gateway.cancel), children of the request's
// span when the host traces its HTTP server; [Telemetry.Backend] wraps the
// backend with a client span per call (gateway.backend.claim, .release,
// .end, .ended, .publish), children of those. The broker gives the event
// it publishes the traceparent of the engage's span, which natsfanout and
// redisfanout carry in their messages' headers (contract §7.3), and the
// broker that delivers the invitation, on any instance,
// records a span gateway.deliver in the same trace, from the engage's
// acceptance to the delivery: one trace shows the engage accepted on one
// instance and delivered on another. With Options.SpanIDs, spans carry
// gateway.visit.id and gateway.interaction.id (not by default: a visitID
// names a visitor); a refused request's span has status Error and
// gateway.code.
//
// # Cost
//
// Observe and the Observer's hooks use attribute sets built once, so with
// the SDK they add no allocation of their own to a request. While the
// tracer is the global provider and no program has set one, the adapter
// starts no span (see [Options].TracerProvider), and tracing costs an
// engage no allocation either; a span the SDK records costs the SDK's two
// (the span and its context), two more with Options.SpanIDs. The
// module's BenchmarkEngage measures the handler with and without the
// adapter, with no provider set, the API's no-op one and the SDK's;
// BenchmarkEngageAdded measures what the adapter adds to a whole engage,
// in interleaved rounds.
package otelgateway
