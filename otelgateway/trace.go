package otelgateway

import (
	"context"
	"encoding/hex"
	"errors"
	"reflect"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Notifier returns n with a span around each call: gateway.engage and
// gateway.cancel, children of the span in the request's context, with the
// visit and interaction as attributes; an error sets the span's status to
// Error and, for a [*gateway.Fault], gateway.code. The result implements
// [gateway.Notifier] only: wrap the notifier that the handler calls.
func (t *Telemetry) Notifier(n gateway.Notifier) gateway.Notifier {
	return &notifier{n: n, t: t}
}

type notifier struct {
	n gateway.Notifier
	t *Telemetry
}

func (n *notifier) Engage(ctx context.Context, p *gateway.Profile) error {
	ctx, span := n.t.start(ctx, "gateway.engage", trace.SpanKindInternal, p.VisitID, p.InteractionID)
	err := n.n.Engage(ctx, p)
	endSpan(span, err)
	return err
}

func (n *notifier) Cancel(ctx context.Context, c *gateway.CancelData) error {
	ctx, span := n.t.start(ctx, "gateway.cancel", trace.SpanKindInternal, c.VisitID, c.InteractionID)
	err := n.n.Cancel(ctx, c)
	endSpan(span, err)
	return err
}

// spanKinds are the options of a span of each kind, made once: a span
// that does not record then costs no allocation of ours.
var spanKinds = func() (o [trace.SpanKindConsumer + 1][]trace.SpanStartOption) {
	for k := range o {
		o[k] = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKind(k))}
	}
	return o
}()

// apiDefault reports whether tp is the OpenTelemetry API's default global
// provider, the one otel.GetTracerProvider returns until a program sets
// one: its spans record nothing and carry their parent's span context,
// which the API gives no other way to know. Another package path, in a
// later API, makes it false: spans are then started as for any provider.
func apiDefault(tp trace.TracerProvider) bool {
	t := reflect.TypeOf(tp)
	return t != nil && t.Kind() == reflect.Pointer && t.Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global"
}

// tracing reports whether spans are to be started: unless the tracer is
// the API's default global provider's and no provider has been set since
// (one load and one comparison). Once a program sets a provider, the
// default's tracer delegates to it, and spans are started.
func (t *Telemetry) tracing() bool {
	return t.unset == nil || otel.GetTracerProvider() != t.unset
}

// start starts a span, with the invitation's attributes when it records
// and Options.SpanIDs asks for them.
// It returns ctx and a nil span when the adapter does not trace (see
// tracing): endSpan accepts that.
func (t *Telemetry) start(ctx context.Context, name string, kind trace.SpanKind, visitID, interactionID string) (context.Context, trace.Span) {
	if !t.tracing() {
		return ctx, nil
	}
	ctx, span := t.tracer.Start(ctx, name, spanKinds[kind]...)
	if t.ids && span.IsRecording() {
		if interactionID != "" {
			span.SetAttributes(KeyVisitID.String(visitID), KeyInteractionID.String(interactionID))
		} else {
			span.SetAttributes(KeyVisitID.String(visitID))
		}
	}
	return ctx, span
}

// endSpan ends a span of start, nil or not, with err's status and code.
func endSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil && span.IsRecording() {
		var f *gateway.Fault
		if errors.As(err, &f) && f.Code != "" {
			span.SetAttributes(KeyCode.String(string(f.Code)))
		}
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Backend returns b with a client span around each call that changes or
// reads shared state (gateway.backend.claim, .release, .end, .ended,
// .publish), children of the span of the engage, cancel or answer that
// makes it; Listen and Ping, which run all the time or often, have none.
// A [*push.MemoryBackend] stays one for the broker, which then still
// registers with it at once.
func (t *Telemetry) Backend(b push.Backend) push.Backend {
	tb := tracedBackend{Backend: b, t: t}
	if m, ok := b.(*push.MemoryBackend); ok {
		return &tracedMemory{MemoryBackend: m, b: tb}
	}
	return tb
}

type tracedBackend struct {
	push.Backend
	t *Telemetry
}

func (b tracedBackend) Claim(ctx context.Context, visitID, interactionID string, ttl time.Duration) (string, error) {
	ctx, span := b.t.start(ctx, "gateway.backend.claim", trace.SpanKindClient, visitID, interactionID)
	holder, err := b.Backend.Claim(ctx, visitID, interactionID, ttl)
	endSpan(span, err)
	return holder, err
}

func (b tracedBackend) Release(ctx context.Context, visitID, interactionID string) error {
	ctx, span := b.t.start(ctx, "gateway.backend.release", trace.SpanKindClient, visitID, interactionID)
	err := b.Backend.Release(ctx, visitID, interactionID)
	endSpan(span, err)
	return err
}

func (b tracedBackend) End(ctx context.Context, visitID, interactionID string, ttl time.Duration) error {
	ctx, span := b.t.start(ctx, "gateway.backend.end", trace.SpanKindClient, visitID, interactionID)
	err := b.Backend.End(ctx, visitID, interactionID, ttl)
	endSpan(span, err)
	return err
}

func (b tracedBackend) Ended(ctx context.Context, visitID, interactionID string) (bool, error) {
	ctx, span := b.t.start(ctx, "gateway.backend.ended", trace.SpanKindClient, visitID, interactionID)
	ended, err := b.Backend.Ended(ctx, visitID, interactionID)
	endSpan(span, err)
	return ended, err
}

func (b tracedBackend) Publish(ctx context.Context, ev *push.Event) error {
	ctx, span := b.t.start(ctx, "gateway.backend.publish", trace.SpanKindProducer, ev.VisitID(), "")
	err := b.Backend.Publish(ctx, ev)
	endSpan(span, err)
	return err
}

// tracedMemory is a traced MemoryBackend. It embeds the MemoryBackend so
// that the broker finds the methods it uses to register and sweep without
// a goroutine; the calls of the Backend interface go through the spans.
type tracedMemory struct {
	*push.MemoryBackend
	b tracedBackend
}

func (m *tracedMemory) Claim(ctx context.Context, visitID, interactionID string, ttl time.Duration) (string, error) {
	return m.b.Claim(ctx, visitID, interactionID, ttl)
}

func (m *tracedMemory) Release(ctx context.Context, visitID, interactionID string) error {
	return m.b.Release(ctx, visitID, interactionID)
}

func (m *tracedMemory) End(ctx context.Context, visitID, interactionID string, ttl time.Duration) error {
	return m.b.End(ctx, visitID, interactionID, ttl)
}

func (m *tracedMemory) Ended(ctx context.Context, visitID, interactionID string) (bool, error) {
	return m.b.Ended(ctx, visitID, interactionID)
}

func (m *tracedMemory) Publish(ctx context.Context, ev *push.Event) error {
	return m.b.Publish(ctx, ev)
}

// traceParent is the W3C traceparent of the span in ctx, or "" when ctx
// has no valid span context: the Observer's TraceParent.
func traceParent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	var b [55]byte
	tid, sid := sc.TraceID(), sc.SpanID()
	copy(b[:], "00-")
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:], []byte{byte(sc.TraceFlags())})
	return string(b[:])
}

// parseTraceParent reads a traceparent that push checked (version 00) into
// a remote span context.
func parseTraceParent(s string) (trace.SpanContext, bool) {
	if len(s) != 55 {
		return trace.SpanContext{}, false
	}
	var tid trace.TraceID
	var sid trace.SpanID
	var flags [1]byte
	if _, err := hex.Decode(tid[:], []byte(s[3:35])); err != nil {
		return trace.SpanContext{}, false
	}
	if _, err := hex.Decode(sid[:], []byte(s[36:52])); err != nil {
		return trace.SpanContext{}, false
	}
	if _, err := hex.Decode(flags[:], []byte(s[53:55])); err != nil {
		return trace.SpanContext{}, false
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.TraceFlags(flags[0]), Remote: true})
	return sc, sc.IsValid()
}
