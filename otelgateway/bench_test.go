package otelgateway_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/otelgateway"
	"github.com/engagekit/gateway/push"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// benchProfile is the ixnProfile of the root module's BenchmarkEngage.
const benchProfile = `{"interactionID":"0001Ba8MHP5U000A","visitID":"f24c60f6-0728-4f3d-b8b4-1e7bad2dc8a3",` +
	`"pageID":"5c911f90-3fa3-11e2-aee5-00505625a04f","channels":["chat","callback"],"language":"en",` +
	`"invitation":{"title":"Need a hand?","message":"An agent can help you finish your order."},` +
	`"userData":{"segment":"gold","cartValue":129.5}}`

var benchForm = []byte("ixnProfile=" + url.QueryEscape(benchProfile))

// benchWriter is a ResponseWriter that keeps nothing.
type benchWriter struct{ h http.Header }

func (w *benchWriter) Header() http.Header               { return w.h }
func (w *benchWriter) Write(b []byte) (int, error)       { return len(b), nil }
func (w *benchWriter) WriteString(s string) (int, error) { return len(s), nil }
func (w *benchWriter) WriteHeader(int)                   {}

func benchServe(b *testing.B, h http.Handler) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchForm)))
	q := newBenchRequest()
	for b.Loop() {
		q.serve(h)
	}
}

// benchRequest is the engage of benchForm, made once and served again and
// again.
type benchRequest struct {
	body *bytes.Reader
	r    *http.Request
	w    *benchWriter
}

func newBenchRequest() *benchRequest {
	body := bytes.NewReader(benchForm)
	r, _ := http.NewRequest(http.MethodPost, "http://gw.test/server/data/gateway/engage", body)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return &benchRequest{body: body, r: r, w: &benchWriter{h: make(http.Header)}}
}

func (q *benchRequest) serve(h http.Handler) {
	q.body.Reset(benchForm)
	q.r.Body = io.NopCloser(q.body)
	q.r.ContentLength = int64(len(benchForm))
	q.r.Form, q.r.PostForm = nil, nil
	clear(q.w.h)
	h.ServeHTTP(q.w, q.r)
}

// sdkTelemetry is the adapter on the SDK's MeterProvider with a manual
// reader and no exporter: the measurements are aggregated as for any
// exporter, and never exported. Tracing is on tp; nil means the global
// provider, which records nothing.
func sdkTelemetry(b *testing.B, tp trace.TracerProvider) *otelgateway.Telemetry {
	return sdkTelemetryIDs(b, tp, false)
}

// sdkTelemetryIDs is sdkTelemetry with Options.SpanIDs set to ids.
func sdkTelemetryIDs(b *testing.B, tp trace.TracerProvider, ids bool) *otelgateway.Telemetry {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { mp.Shutdown(context.Background()) })
	tel, err := otelgateway.New(&otelgateway.Options{MeterProvider: mp, TracerProvider: tp, SpanIDs: ids})
	if err != nil {
		b.Fatal(err)
	}
	return tel
}

// BenchmarkEngage is the root module's BenchmarkEngage/Handler (one
// form-encoded ixnProfile, gateway.Discard as the notifier) without and
// with the adapter, in one run: Handler+otel is Observe (the metrics),
// Handler+otel+spans adds Notifier's span, with the global tracer provider
// of a program that set none. The last two trace through a provider given
// in Options: the API's no-op provider (a span that records nothing), and
// the SDK's with no exporter, which records every span, without and with
// the invitation's IDs on it (Options.SpanIDs).
func BenchmarkEngage(b *testing.B) {
	b.Run("Handler", func(b *testing.B) { benchServe(b, gateway.NewHandler(gateway.Discard, nil)) })
	b.Run("Handler+otel", func(b *testing.B) {
		tel := sdkTelemetry(b, nil)
		benchServe(b, gateway.NewHandler(gateway.Discard, &gateway.Options{Observe: tel.Observe}))
	})
	spans := func(b *testing.B, tp trace.TracerProvider, ids bool) {
		tel := sdkTelemetryIDs(b, tp, ids)
		benchServe(b, gateway.NewHandler(tel.Notifier(gateway.Discard), &gateway.Options{Observe: tel.Observe}))
	}
	b.Run("Handler+otel+spans", func(b *testing.B) { spans(b, nil, false) })
	b.Run("Handler+otel+spans+noop", func(b *testing.B) { spans(b, noop.NewTracerProvider(), false) })
	for _, ids := range []bool{false, true} {
		name := "Handler+otel+spans+sdk"
		if ids {
			name += "+ids"
		}
		b.Run(name, func(b *testing.B) {
			tp := sdktrace.NewTracerProvider()
			b.Cleanup(func() { tp.Shutdown(context.Background()) })
			spans(b, tp, ids)
		})
	}
}

// BenchmarkEngageAdded is what the adapter adds to a whole engage, which
// BenchmarkEngage's separate runs measure poorly: there a whole engage
// varies by a few hundred ns from one run to the next on a busy machine.
// Each of its iterations is a round of roundEngages engages on the bare
// handler and as many with the adapter, in alternate order, each timed; it
// reports the medians over the rounds of the difference per engage in time
// (ns-added/engage) and in allocations (allocs-added/engage), and the bare
// handler's time (ns-bare/engage); B/op and allocs/op are a round's. A
// round lasts tens of ms, so the collections the adapter's garbage causes
// fall mostly in its own half. The adapter is installed as in
// BenchmarkEngage: metrics only (/otel), and metrics with a span the SDK
// records (/otel+sdk).
func BenchmarkEngageAdded(b *testing.B) {
	const roundEngages = 10_000
	var bare http.Handler = gateway.NewHandler(gateway.Discard, nil)
	q := newBenchRequest()
	run := func(b *testing.B, with http.Handler) {
		var added, allocs, base []float64
		var ms runtime.MemStats
		for b.Loop() {
			var d [2]time.Duration
			var n [2]uint64
			for k := range 2 {
				h, i := bare, 0
				if (k+len(added))%2 == 1 {
					h, i = with, 1
				}
				runtime.ReadMemStats(&ms)
				mallocs := ms.Mallocs
				start := time.Now()
				for range roundEngages {
					q.serve(h)
				}
				d[i] = time.Since(start)
				runtime.ReadMemStats(&ms)
				n[i] = ms.Mallocs - mallocs
			}
			added = append(added, float64(d[1]-d[0])/roundEngages)
			allocs = append(allocs, (float64(n[1])-float64(n[0]))/roundEngages)
			base = append(base, float64(d[0])/roundEngages)
		}
		b.ReportMetric(median(added), "ns-added/engage")
		b.ReportMetric(median(allocs), "allocs-added/engage")
		b.ReportMetric(median(base), "ns-bare/engage")
		b.ReportMetric(0, "ns/op") // a round's: see ns-bare/engage
	}
	b.Run("otel", func(b *testing.B) {
		tel := sdkTelemetry(b, nil)
		run(b, gateway.NewHandler(gateway.Discard, &gateway.Options{Observe: tel.Observe}))
	})
	b.Run("otel+sdk", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider()
		b.Cleanup(func() { tp.Shutdown(context.Background()) })
		tel := sdkTelemetry(b, tp)
		run(b, gateway.NewHandler(tel.Notifier(gateway.Discard), &gateway.Options{Observe: tel.Observe}))
	})
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

// BenchmarkEngageBroker is an engage and its cancel through a broker on
// the memory backend, with a page's stream open over loopback, without
// and with the adapter's Observer: the cost of the broker's hooks
// (offered, delivered and its duration, cancelled).
func BenchmarkEngageBroker(b *testing.B) {
	run := func(b *testing.B, obs *push.Observer) {
		br := push.NewBroker(&push.Options{Observer: obs, QueueSize: 1 << 16, Heartbeat: time.Hour})
		srv := httptest.NewServer(br)
		defer srv.Close()
		defer br.Shutdown(context.Background())
		resp, err := srv.Client().Get(srv.URL + "/notification/v-1")
		if err != nil {
			b.Fatal(err)
		}
		go io.Copy(io.Discard, resp.Body) // until Shutdown closes the stream
		p := &gateway.Profile{VisitID: "v-1", Channels: []string{"chat"}}
		c := &gateway.CancelData{VisitID: "v-1"}
		ctx := context.Background()
		n := 0
		b.ReportAllocs()
		for b.Loop() {
			n++
			p.InteractionID = "i-" + strconv.Itoa(n)
			c.InteractionID = p.InteractionID
			if err := br.Engage(ctx, p); err != nil {
				b.Fatal(err)
			}
			if err := br.Cancel(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("Broker", func(b *testing.B) { run(b, nil) })
	b.Run("Broker+otel", func(b *testing.B) { run(b, sdkTelemetry(b, nil).Observer()) })
}

// BenchmarkEngageAdapterCost is what the adapter adds to one engage, alone
// and so less at the mercy of a busy machine than the difference of two
// whole engages: Observe once (the request); Notifier's span around an
// engage (of gateway.Discard), with the global provider of a program that
// set none and with the SDK's, which records it; and the Observer's hooks
// that an engage delivered to an open stream and then answered calls
// (offered, delivered with its duration, ended).
func BenchmarkEngageAdapterCost(b *testing.B) {
	obs := gateway.Observation{Operation: "engage", Code: gateway.CodeOK, Status: 200, Duration: 40 * time.Microsecond}
	at := time.Now()
	d := push.Delivery{VisitID: "v-1", InteractionID: "i-1", Accepted: at, Time: at.Add(30 * time.Microsecond)}
	o := push.Outcome{VisitID: "v-1", InteractionID: "i-1", Result: push.ResultAccepted, Channel: "chat", Time: at}
	p := &gateway.Profile{VisitID: "v-1", InteractionID: "i-1", Channels: []string{"chat"}}
	ctx := context.Background()
	b.Run("Observe", func(b *testing.B) {
		tel := sdkTelemetry(b, nil)
		b.ReportAllocs()
		for b.Loop() {
			tel.Observe(obs)
		}
	})
	b.Run("Notifier", func(b *testing.B) {
		n := sdkTelemetry(b, nil).Notifier(gateway.Discard)
		b.ReportAllocs()
		for b.Loop() {
			n.Engage(ctx, p)
		}
	})
	b.Run("Notifier+sdk", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider()
		b.Cleanup(func() { tp.Shutdown(context.Background()) })
		n := sdkTelemetry(b, tp).Notifier(gateway.Discard)
		b.ReportAllocs()
		for b.Loop() {
			n.Engage(ctx, p)
		}
	})
	b.Run("Observe+hooks", func(b *testing.B) {
		tel := sdkTelemetry(b, nil)
		h := tel.Observer()
		b.ReportAllocs()
		for b.Loop() {
			tel.Observe(obs)
			h.Offered(ctx, p)
			h.Delivered(d)
			h.Ended(o)
		}
	})
}
