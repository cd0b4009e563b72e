package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/examples/internal/fanout"
	"github.com/engagekit/gateway/examples/internal/fanout/fanouttest"
	"github.com/engagekit/gateway/otelgateway"
	"github.com/engagekit/gateway/push"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestOneTraceAcrossInstances: an engage accepted by instance A, with a
// span in its context, and delivered to a stream on instance B, is one
// trace on NATS and on Redis: B's gateway.deliver span is a child of A's
// gateway.engage span, whose context crossed the backend in the message's
// headers (contract §7.3). Each instance has a tracer provider of its
// own, as a process of its own would; both export to one in-memory
// exporter.
func TestOneTraceAcrossInstances(t *testing.T) {
	for _, backend := range []string{"nats", "redis"} {
		t.Run(backend, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			log := slog.New(slog.DiscardHandler)
			if backend == "redis" {
				fanouttest.NeedRedisServer(t)
			}
			backends, stop, err := fanout.Backends(ctx, backend, "", 2, log)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(stop) // after the brokers' Shutdown, registered below

			exp := tracetest.NewInMemoryExporter()
			var tps [2]*sdktrace.TracerProvider
			var brokers [2]*push.Broker
			var notifiers [2]gateway.Notifier
			for i, be := range backends {
				tps[i] = sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
				tel, err := otelgateway.New(&otelgateway.Options{TracerProvider: tps[i]})
				if err != nil {
					t.Fatal(err)
				}
				brokers[i] = push.NewBroker(&push.Options{Backend: tel.Backend(be), Observer: tel.Observer(), Logger: log})
				notifiers[i] = tel.Notifier(brokers[i])
				t.Cleanup(func() {
					brokers[i].Shutdown(context.Background())
					tps[i].Shutdown(context.Background())
				})
			}

			srv := httptest.NewServer(brokers[1])
			t.Cleanup(srv.Close)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/notification/v-1", nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close() // after cancel, which ends the stream
			if resp.StatusCode != 200 {
				t.Fatalf("stream on B: %d", resp.StatusCode)
			}
			waitFor(t, "B registers the stream", func() bool { return brokers[1].Stats().Subscribers == 1 })

			reqCtx, request := tps[0].Tracer("test").Start(ctx, "POST /server/data/gateway/engage")
			if err := notifiers[0].Engage(reqCtx, &gateway.Profile{VisitID: "v-1", InteractionID: "i-1", Channels: []string{"chat"}}); err != nil {
				t.Fatal(err)
			}
			request.End()
			named := func(name string) (tracetest.SpanStub, bool) {
				spans := exp.GetSpans()
				i := slices.IndexFunc(spans, func(s tracetest.SpanStub) bool { return s.Name == name })
				if i < 0 {
					return tracetest.SpanStub{}, false
				}
				return spans[i], true
			}
			waitFor(t, "B records gateway.deliver", func() bool { _, ok := named("gateway.deliver"); return ok })

			engage, _ := named("gateway.engage")
			deliver, _ := named("gateway.deliver")
			traceID := request.SpanContext().TraceID()
			if engage.SpanContext.TraceID() != traceID || engage.Parent.SpanID() != request.SpanContext().SpanID() {
				t.Errorf("gateway.engage on A: trace %s, parent %s; want trace %s, parent the request %s",
					engage.SpanContext.TraceID(), engage.Parent.SpanID(), traceID, request.SpanContext().SpanID())
			}
			if deliver.SpanContext.TraceID() != traceID || deliver.Parent.SpanID() != engage.SpanContext.SpanID() || !deliver.Parent.IsRemote() {
				t.Errorf("gateway.deliver on B: trace %s, parent %s (remote %t); want trace %s, the remote parent gateway.engage %s",
					deliver.SpanContext.TraceID(), deliver.Parent.SpanID(), deliver.Parent.IsRemote(), traceID, engage.SpanContext.SpanID())
			}
			if deliver.SpanKind != trace.SpanKindConsumer || deliver.InstrumentationScope.Name != otelgateway.ScopeName {
				t.Errorf("gateway.deliver: kind %v, scope %q", deliver.SpanKind, deliver.InstrumentationScope.Name)
			}
		})
	}
}

// waitFor fails the test if cond is not true within 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
