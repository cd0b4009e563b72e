package otelgateway

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the meter and the tracer.
const ScopeName = "github.com/engagekit/gateway/otelgateway"

// The attribute keys of the metrics and spans (see the package doc).
const (
	// KeyOperation is engage, noengage or other.
	KeyOperation = attribute.Key("gateway.operation")
	// KeyCode is OK or a FAULT code (contract §5.3).
	KeyCode = attribute.Key("gateway.code")
	// KeyStage is a step of the funnel: offered, delivered, shown, or a
	// [push.Result].
	KeyStage = attribute.Key("gateway.invitation.stage")
	// KeyVisitID and KeyInteractionID name an invitation, on spans only,
	// when Options.SpanIDs is set.
	KeyVisitID       = attribute.Key("gateway.visit.id")
	KeyInteractionID = attribute.Key("gateway.interaction.id")
)

const (
	stageOffered      = "offered"
	stageDelivered    = "delivered"
	stageShown        = "shown"
	operationOther    = "other"
	maxCachedAttrSets = 256
)

// Options configures [New]. The zero value, and a nil *Options, give the
// defaults each field names.
type Options struct {
	// MeterProvider makes the instruments. Nil means the global one,
	// otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// TracerProvider makes the spans. Nil means the global one,
	// otel.GetTracerProvider(); while no program has set a global provider
	// (otel.SetTracerProvider), the API's default records nothing, and the
	// adapter then starts no span at all, which saves each engage the
	// allocations of a span that records nothing. Set TracerProvider to
	// have every span started through it, set or not: eBPF
	// auto-instrumentation (go.opentelemetry.io/auto), which works through
	// the default provider, needs that.
	TracerProvider trace.TracerProvider
	// SpanIDs puts each invitation's visitID and interactionID on its
	// spans, as the attributes KeyVisitID and KeyInteractionID. False, the
	// default, leaves them out: a visitID names a visitor, and spans often
	// leave the site for a tracing service (the operator console masks
	// visitIDs for the same reason); the spans of one engage still form
	// one trace across instances. Without them a recorded span costs two
	// allocations fewer.
	SpanIDs bool
}

// Telemetry turns a gateway's hooks into instruments and spans. Create one
// with [New] per broker (or per set of brokers whose figures add up); it
// is safe for concurrent use.
type Telemetry struct {
	tracer trace.Tracer
	// unset is the API's default global provider when the tracer is
	// its; nil when the tracer is another provider's. See tracing.
	unset trace.TracerProvider
	ids   bool // Options.SpanIDs

	reqDuration metric.Float64Histogram
	delivery    metric.Float64Histogram

	// The counters are atomics, which the meter reads at each collection
	// (see attrSet): gateway.requests by reqAttrs, gateway.invitations by
	// stageAttrs, and gateway.streams.opened.
	reqAttrs   attrCache[reqKey]
	stageAttrs attrCache[string]
	opened     atomic.Int64

	mu      sync.Mutex
	brokers []*push.Broker
}

type reqKey struct {
	op   string
	code gateway.Code
}

// New creates the instruments of the package doc on opts.MeterProvider
// and the tracer on opts.TracerProvider. Nil opts means the defaults. It
// returns the first error the meter gives, and a Telemetry that records
// nothing to the instruments that failed.
func New(opts *Options) (*Telemetry, error) {
	if opts == nil {
		opts = &Options{}
	}
	mp, tp := opts.MeterProvider, opts.TracerProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	var unset trace.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
		if apiDefault(tp) {
			unset = tp
		}
	}
	m := mp.Meter(ScopeName)
	t := &Telemetry{tracer: tp.Tracer(ScopeName), unset: unset, ids: opts.SpanIDs}
	t.reqAttrs.make = func(k reqKey) *attrSet {
		op := k.op
		if op == "" {
			op = operationOther
		}
		return newAttrSet(KeyOperation.String(op), KeyCode.String(string(k.code)))
	}
	t.stageAttrs.make = func(stage string) *attrSet { return newAttrSet(KeyStage.String(stage)) }

	var errs [8]error
	var requests, invitations, opened metric.Int64ObservableCounter
	requests, errs[0] = m.Int64ObservableCounter("gateway.requests", metric.WithUnit("{request}"),
		metric.WithDescription("Engage and noengage requests answered, by operation and code."))
	t.reqDuration, errs[1] = m.Float64Histogram("gateway.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from an engage or noengage request reaching the handler to its answer."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	invitations, errs[2] = m.Int64ObservableCounter("gateway.invitations", metric.WithUnit("{invitation}"),
		metric.WithDescription("Invitations by funnel stage: offered, delivered, shown, then how a delivered one ended."))
	t.delivery, errs[3] = m.Float64Histogram("gateway.delivery.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from an engage being accepted to its invitation being queued for an open stream."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	opened, errs[4] = m.Int64ObservableCounter("gateway.streams.opened", metric.WithUnit("{stream}"),
		metric.WithDescription("Event streams opened by pages."))
	var streams, live, tombs metric.Int64ObservableGauge
	streams, errs[5] = m.Int64ObservableGauge("gateway.streams", metric.WithUnit("{stream}"),
		metric.WithDescription("Event streams open now."))
	live, errs[6] = m.Int64ObservableGauge("gateway.invitations.live", metric.WithUnit("{invitation}"),
		metric.WithDescription("Invitations live now."))
	tombs, errs[7] = m.Int64ObservableGauge("gateway.tombstones", metric.WithUnit("{interaction}"),
		metric.WithDescription("Ended interactionIDs remembered now, so that a late engage for one is dropped."))
	for _, err := range errs {
		if err != nil {
			return t, err
		}
	}
	_, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		var sum push.Stats
		t.mu.Lock()
		for _, b := range t.brokers {
			s := b.Stats()
			sum.Subscribers += s.Subscribers
			sum.Invitations += s.Invitations
			sum.Tombstones += s.Tombstones
		}
		t.mu.Unlock()
		o.ObserveInt64(streams, int64(sum.Subscribers))
		o.ObserveInt64(live, int64(sum.Invitations))
		o.ObserveInt64(tombs, int64(sum.Tombstones))
		t.reqAttrs.observe(o, requests)
		t.stageAttrs.observe(o, invitations)
		o.ObserveInt64(opened, t.opened.Load())
		return nil
	}, streams, live, tombs, requests, invitations, opened)
	return t, err
}

// durationBuckets are the histograms' bucket boundaries, in seconds: those
// of OpenTelemetry's http.server.request.duration, below 5 ms finer, as an
// engage on one instance takes tens of microseconds.
var durationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// Watch makes the gauges read b's [push.Broker.Stats], added to those of
// the other brokers watched, until unwatch is called.
func (t *Telemetry) Watch(b *push.Broker) (unwatch func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.brokers = append(t.brokers, b)
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		for i, o := range t.brokers {
			if o == b {
				t.brokers = append(t.brokers[:i:i], t.brokers[i+1:]...)
				return
			}
		}
	}
}

// attrSet is one attribute set, built once so that measuring with it
// allocates nothing, and the count of the counter measured with it.
//
// The counters are atomics that the meter reads at each collection, as
// observable counters: a synchronous counter's Add costs the SDK a lookup
// and a check of the set on every call, about 150 ns of an engage's
// Observe, where an atomic add costs a few. What an exporter sees is the
// same cumulative, monotonic sum, added up over the Telemetries that share
// a meter; a counter read this way carries no exemplars.
type attrSet struct {
	count atomic.Int64
	rec   []metric.RecordOption
	obs   []metric.ObserveOption
}

func newAttrSet(kvs ...attribute.KeyValue) *attrSet {
	set := attribute.NewSet(kvs...)
	return &attrSet{
		rec: []metric.RecordOption{metric.WithAttributeSet(set)},
		obs: []metric.ObserveOption{metric.WithAttributeSet(set)},
	}
}

// keyOverflow marks the measurements of the keys past an attrCache's
// maxCachedAttrSets, as the SDK marks those past its cardinality limit.
const keyOverflow = attribute.Key("otel.metric.overflow")

// attrCache keeps the attribute sets of the keys seen, in a map read
// without a lock and copied on a miss, at most maxCachedAttrSets of them:
// the keys past that share one set, otel.metric.overflow=true, so that a
// notifier returning ever new FAULT codes grows neither the map nor the
// series.
type attrCache[K comparable] struct {
	m        atomic.Pointer[map[K]*attrSet]
	make     func(K) *attrSet
	mu       sync.Mutex
	overflow *attrSet // made at the first key past the limit; under mu
}

func (c *attrCache[K]) get(k K) *attrSet {
	if m := c.m.Load(); m != nil {
		if s, ok := (*m)[k]; ok {
			return s
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var old map[K]*attrSet
	if p := c.m.Load(); p != nil {
		old = *p
	}
	if s, ok := old[k]; ok { // made while this call waited for the lock
		return s
	}
	if len(old) >= maxCachedAttrSets {
		if c.overflow == nil {
			c.overflow = newAttrSet(keyOverflow.Bool(true))
		}
		return c.overflow
	}
	s := c.make(k)
	m := make(map[K]*attrSet, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[k] = s
	c.m.Store(&m)
	return s
}

// observe reports the counts of the sets made so far as inst's values.
func (c *attrCache[K]) observe(o metric.Observer, inst metric.Int64Observable) {
	if m := c.m.Load(); m != nil {
		for _, s := range *m {
			o.ObserveInt64(inst, s.count.Load(), s.obs...)
		}
	}
	c.mu.Lock()
	ov := c.overflow
	c.mu.Unlock()
	if ov != nil {
		o.ObserveInt64(inst, ov.count.Load(), ov.obs...)
	}
}
