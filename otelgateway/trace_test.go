package otelgateway_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/otelgateway"
	"github.com/engagekit/gateway/push"
	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// instance is one gateway instance with a tracer provider of its own, as
// in a process of its own, exporting to a shared exporter.
type instance struct {
	tp  *sdktrace.TracerProvider
	tel *otelgateway.Telemetry
	b   *push.Broker
	n   gateway.Notifier
}

func newInstance(t *testing.T, exp *tracetest.InMemoryExporter, backend push.Backend) *instance {
	t.Helper()
	in := &instance{tp: sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))}
	tel, err := otelgateway.New(&otelgateway.Options{TracerProvider: in.tp, SpanIDs: true})
	if err != nil {
		t.Fatal(err)
	}
	in.tel = tel
	in.b = push.NewBroker(&push.Options{Backend: tel.Backend(backend), Observer: tel.Observer()})
	in.n = tel.Notifier(in.b)
	t.Cleanup(func() {
		in.b.Shutdown(context.Background())
		in.tp.Shutdown(context.Background())
	})
	return in
}

// tree describes spans as "name < parent name" (or "name < remote parent
// name" when the parent came from another instance), in the order they
// ended, and checks that they all belong to one trace.
func tree(t *testing.T, spans tracetest.SpanStubs) []string {
	t.Helper()
	names := map[trace.SpanID]string{}
	for _, s := range spans {
		names[s.SpanContext.SpanID()] = s.Name
	}
	var out []string
	for _, s := range spans {
		if s.SpanContext.TraceID() != spans[0].SpanContext.TraceID() {
			t.Errorf("%s is in trace %s, want %s", s.Name, s.SpanContext.TraceID(), spans[0].SpanContext.TraceID())
		}
		line := s.Name
		if s.Parent.IsValid() {
			line += " < "
			if s.Parent.IsRemote() {
				line += "remote "
			}
			line += names[s.Parent.SpanID()]
		}
		out = append(out, line)
	}
	return out
}

func attr(s tracetest.SpanStub, k attribute.Key) string {
	for _, a := range s.Attributes {
		if a.Key == k {
			return a.Value.Emit()
		}
	}
	return ""
}

// TestOneTraceAcrossInstances: an engage accepted by instance A and
// delivered by instance B, which share a backend, is one trace: A's
// request, its engage and backend calls, and B's delivery.
func TestOneTraceAcrossInstances(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	m := push.NewMemoryBackend(nil)
	a, b := newInstance(t, exp, m), newInstance(t, exp, m)
	events := subscribeBroker(t, b.b, "v-1")

	ctx, request := a.tp.Tracer("test").Start(context.Background(), "POST /server/data/gateway/engage")
	if err := a.n.Engage(ctx, &gateway.Profile{VisitID: "v-1", InteractionID: "i-1", Channels: []string{"chat"}}); err != nil {
		t.Fatal(err)
	}
	request.End()
	next(t, events, "engage")
	want := []string{
		"gateway.backend.claim < gateway.engage",
		"gateway.backend.ended < gateway.engage",
		"gateway.deliver < remote gateway.engage", // on B, during A's publish
		"gateway.backend.publish < gateway.engage",
		"gateway.engage < POST /server/data/gateway/engage",
		"POST /server/data/gateway/engage",
	}
	spans := exp.GetSpans()
	if diff := cmp.Diff(want, tree(t, spans)); diff != "" {
		t.Fatalf("spans (-want +got):\n%s", diff)
	}
	for _, s := range spans[:len(spans)-1] {
		if got := attr(s, otelgateway.KeyVisitID); got != "v-1" {
			t.Errorf("%s: gateway.visit.id = %q, want v-1", s.Name, got)
		}
	}
	deliver := spans[slices.IndexFunc(spans, func(s tracetest.SpanStub) bool { return s.Name == "gateway.deliver" })]
	if deliver.InstrumentationScope.Name != otelgateway.ScopeName || deliver.SpanKind != trace.SpanKindConsumer || attr(deliver, otelgateway.KeyInteractionID) != "i-1" {
		t.Errorf("deliver span: scope %q, kind %v, attributes %v", deliver.InstrumentationScope.Name, deliver.SpanKind, deliver.Attributes)
	}
	if deliver.EndTime.Before(deliver.StartTime) {
		t.Errorf("deliver span ends at %v, before it starts at %v", deliver.EndTime, deliver.StartTime)
	}

	exp.Reset()
	if err := a.n.Cancel(context.Background(), &gateway.CancelData{VisitID: "v-1", InteractionID: "i-1"}); err != nil {
		t.Fatal(err)
	}
	next(t, events, "cancel")
	want = []string{
		"gateway.backend.end < gateway.cancel",
		"gateway.backend.publish < gateway.cancel",
		"gateway.backend.release < gateway.cancel",
		"gateway.cancel",
	}
	if diff := cmp.Diff(want, tree(t, exp.GetSpans())); diff != "" {
		t.Errorf("cancel spans (-want +got):\n%s", diff)
	}
}

// TestRefusedEngageSpan: a refusal sets the span's status and code.
func TestRefusedEngageSpan(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	a := newInstance(t, exp, push.NewMemoryBackend(nil))
	a.n.Engage(context.Background(), &gateway.Profile{VisitID: "v-1", InteractionID: "i-1", Channels: []string{"chat"}})
	exp.Reset()
	err := a.n.Engage(context.Background(), &gateway.Profile{VisitID: "v-1", InteractionID: "i-2", Channels: []string{"chat"}})
	if !errors.Is(err, gateway.ErrEngagementInProgress) {
		t.Fatalf("second engage: %v, want ENGAGEMENT_IN_PROGRESS", err)
	}
	spans := exp.GetSpans()
	s := spans[len(spans)-1]
	if s.Name != "gateway.engage" || s.Status.Code != codes.Error || attr(s, otelgateway.KeyCode) != string(gateway.CodeEngagementInProgress) {
		t.Errorf("span %s: status %v, code %q", s.Name, s.Status, attr(s, otelgateway.KeyCode))
	}
}

// TestNoSpanWithoutTrace: an engage made without a span carries no trace
// context, and its delivery records no span of a trace of its own.
func TestNoSpanWithoutTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	m := push.NewMemoryBackend(nil)
	a, b := newInstance(t, exp, m), newInstance(t, exp, m)
	events := subscribeBroker(t, b.b, "v-1")
	if err := a.b.Engage(context.Background(), &gateway.Profile{VisitID: "v-1", InteractionID: "i-1", Channels: []string{"chat"}}); err != nil {
		t.Fatal(err)
	}
	next(t, events, "engage")
	for _, s := range exp.GetSpans() {
		if s.Name == "gateway.deliver" {
			t.Errorf("a delivery without a trace context recorded %s", s.Name)
		}
	}
}

// TestGlobalTracerProvider: with no TracerProvider in Options, the adapter
// traces through the global provider. While none is set, its spans would
// record nothing and carry their parent's context, so none is started and
// an engage costs no allocation for them; once a program sets one, even
// after New, the spans go to it. Setting the global provider cannot be
// undone, so the second half runs in a process of its own.
func TestGlobalTracerProvider(t *testing.T) {
	if os.Getenv("OTELGATEWAY_SET_GLOBAL") == "1" {
		globalProviderSetAfterNew(t)
		return
	}
	t.Run("while none is set, the notifier starts no span", func(t *testing.T) {
		tel, err := otelgateway.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		var got context.Context
		n := tel.Notifier(notifierFunc(func(ctx context.Context) { got = ctx }))
		ctx, p := context.Background(), &gateway.Profile{VisitID: "v-1", InteractionID: "i-1", Channels: []string{"chat"}}
		allocs := testing.AllocsPerRun(100, func() { n.Engage(ctx, p) })
		if got != ctx || allocs != 0 {
			t.Errorf("the inner notifier got the request's context: %t; %v allocations per engage, want 0", got == ctx, allocs)
		}
	})
	t.Run("once one is set, spans go to it", func(t *testing.T) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestGlobalTracerProvider$", "-test.v")
		cmd.Env = append(os.Environ(), "OTELGATEWAY_SET_GLOBAL=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestGlobalTracerProvider") {
			t.Errorf("%v:\n%s", err, out)
		}
	})
}

func globalProviderSetAfterNew(t *testing.T) {
	tel, err := otelgateway.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	n := tel.Notifier(notifierFunc(func(context.Context) {}))
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	otel.SetTracerProvider(tp)
	n.Engage(context.Background(), &gateway.Profile{VisitID: "v-1", InteractionID: "i-1", Channels: []string{"chat"}})
	var names []string
	for _, s := range exp.GetSpans() {
		names = append(names, s.Name)
	}
	if diff := cmp.Diff([]string{"gateway.engage"}, names); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
}

// notifierFunc is a Notifier whose Engage and Cancel call f with their
// context and succeed.
type notifierFunc func(context.Context)

func (f notifierFunc) Engage(ctx context.Context, _ *gateway.Profile) error {
	f(ctx)
	return nil
}

func (f notifierFunc) Cancel(ctx context.Context, _ *gateway.CancelData) error {
	f(ctx)
	return nil
}

// TestSpansCarryNoIDsByDefault: without Options.SpanIDs, no span of an
// engage carries its visitID or interactionID, and they still form one
// trace.
func TestSpansCarryNoIDsByDefault(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	tel, err := otelgateway.New(&otelgateway.Options{TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	b := push.NewBroker(&push.Options{Backend: tel.Backend(push.NewMemoryBackend(nil)), Observer: tel.Observer()})
	defer b.Shutdown(context.Background())
	ctx, request := tp.Tracer("test").Start(context.Background(), "POST /server/data/gateway/engage")
	if err := tel.Notifier(b).Engage(ctx, &gateway.Profile{VisitID: "v-1", InteractionID: "i-1", Channels: []string{"chat"}}); err != nil {
		t.Fatal(err)
	}
	request.End()
	spans := exp.GetSpans()
	if len(spans) < 2 {
		t.Fatalf("%d spans, want the engage's and the request's", len(spans))
	}
	tree(t, spans) // one trace
	for _, s := range spans {
		for _, k := range []attribute.Key{otelgateway.KeyVisitID, otelgateway.KeyInteractionID} {
			if v := attr(s, k); v != "" {
				t.Errorf("span %s carries %s=%s without SpanIDs", s.Name, k, v)
			}
		}
	}
}
