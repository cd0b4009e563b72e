// Package ops is what the demo and the cluster serve to their operators:
// /metrics (Prometheus, through OpenTelemetry and the otelgateway module),
// /healthz, /readyz, and the console at /console.
package ops

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/otelgateway"
	"github.com/engagekit/gateway/push"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Ops is one instance's telemetry: a MeterProvider of its own whose
// metrics a Prometheus registry of its own serves, so that two instances
// in one process (the cluster) each have their own figures.
type Ops struct {
	tel     *otelgateway.Telemetry
	mp      *sdkmetric.MeterProvider
	metrics http.Handler
	console *console
	once    sync.Once
}

// New makes an instance's telemetry.
func New() (*Ops, error) {
	reg := prometheus.NewRegistry()
	// Prometheus names (gateway_requests_total), and neither the scope's
	// labels nor target_info: each instance serves one scope, its own.
	exp, err := otelprom.New(otelprom.WithRegisterer(reg),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
		otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, err
	}
	o := &Ops{
		mp:      sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)),
		metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		console: newConsole(),
	}
	if o.tel, err = otelgateway.New(&otelgateway.Options{MeterProvider: o.mp}); err != nil {
		return nil, err
	}
	return o, nil
}

// Observe is the handler's gateway.Options.Observe.
func (o *Ops) Observe(obs gateway.Observation) {
	o.tel.Observe(obs)
	o.console.observe(obs)
}

// Observer is the broker's push.Options.Observer: the metrics' hooks and
// the console's.
func (o *Ops) Observer() *push.Observer { return chain(o.tel.Observer(), o.console.observer()) }

// chain returns an Observer that calls a's hooks, then b's; the trace
// context is a's.
func chain(a, b *push.Observer) *push.Observer {
	return &push.Observer{
		Offered:      func(ctx context.Context, p *gateway.Profile) { a.Offered(ctx, p); b.Offered(ctx, p) },
		Delivered:    func(d push.Delivery) { a.Delivered(d); b.Delivered(d) },
		Shown:        func(ctx context.Context, visitID, id string) { a.Shown(ctx, visitID, id); b.Shown(ctx, visitID, id) },
		Ended:        func(x push.Outcome) { a.Ended(x); b.Ended(x) },
		StreamOpened: a.StreamOpened,
		TraceParent:  a.TraceParent,
	}
}

// Handle mounts, on mux, /metrics and /console behind auth (the engage
// credentials; nil lets everyone in), and /healthz and /readyz for probes,
// which tell nothing but up or down. The gauges and the console read b.
// Call it once.
func (o *Ops) Handle(mux *http.ServeMux, b *push.Broker, auth func(*http.Request) error) {
	o.tel.Watch(b)
	o.console.b = b
	o.console.handle(mux, auth)
	mux.Handle("GET /metrics", guard(auth, o.metrics))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := b.Ready(ctx); err != nil {
			gateway.WriteError(w, err)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ready\n"))
	})
}

// Shutdown ends the console's streams, which would hold
// http.Server.Shutdown, and stops the MeterProvider.
func (o *Ops) Shutdown(ctx context.Context) error {
	o.once.Do(func() { close(o.console.done) })
	return o.mp.Shutdown(ctx)
}

// guard answers 401 (with the challenge auth's error carries) unless auth
// lets r in.
func guard(auth func(*http.Request) error, h http.Handler) http.Handler {
	if auth == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := auth(r); err != nil {
			gateway.WriteError(w, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}
