package otelgateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/otelgateway"
	"github.com/engagekit/gateway/push"
	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// collect reads the reader's metrics as "name{k=v,…}" → value: the value
// of a sum or a gauge, the count of a histogram.
func collect(t *testing.T, r *sdkmetric.ManualReader) (values map[string]float64, units map[string]string) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	values, units = map[string]float64{}, map[string]string{}
	key := func(name string, s attribute.Set) string {
		var kv []string
		for _, a := range s.ToSlice() {
			kv = append(kv, string(a.Key)+"="+a.Value.Emit())
		}
		return name + "{" + strings.Join(kv, ",") + "}"
	}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelgateway.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, otelgateway.ScopeName)
		}
		for _, m := range sm.Metrics {
			units[m.Name] = m.Unit
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if !d.IsMonotonic || d.Temporality != metricdata.CumulativeTemporality {
					t.Errorf("%s: monotonic %v, %v; want a monotonic cumulative sum", m.Name, d.IsMonotonic, d.Temporality)
				}
				for _, p := range d.DataPoints {
					values[key(m.Name, p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					values[key(m.Name, p.Attributes)] = float64(p.Value)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					values[key(m.Name, p.Attributes)+" count"] = float64(p.Count)
				}
			default:
				t.Errorf("%s: unexpected %T", m.Name, m.Data)
			}
		}
	}
	return values, units
}

// newMeter returns an SDK MeterProvider that t shuts down, and its manual
// reader.
func newMeter(t *testing.T) (*sdkmetric.ManualReader, *sdkmetric.MeterProvider) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	return reader, mp
}

// newTelemetry returns the adapter on mp.
func newTelemetry(t *testing.T, mp *sdkmetric.MeterProvider) *otelgateway.Telemetry {
	t.Helper()
	tel, err := otelgateway.New(&otelgateway.Options{MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	return tel
}

// clock is a settable time source for the broker.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// rig is a broker and a handler, instrumented as the package doc shows,
// behind one HTTP server.
type rig struct {
	reader *sdkmetric.ManualReader
	b      *push.Broker
	srv    *httptest.Server
	clock  *clock
}

func newRig(t *testing.T) *rig {
	t.Helper()
	reader, mp := newMeter(t)
	r := &rig{reader: reader, clock: &clock{now: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}}
	tel := newTelemetry(t, mp)
	r.b = push.NewBroker(&push.Options{Observer: tel.Observer(), Now: r.clock.Now, Lenient: true, Heartbeat: 50 * time.Millisecond})
	tel.Watch(r.b)
	gw := gateway.NewHandler(tel.Notifier(r.b), &gateway.Options{Observe: tel.Observe})
	mux := http.NewServeMux()
	mux.Handle("/server/data/gateway/", gw)
	mux.Handle("/notification/", r.b)
	r.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		r.b.Shutdown(context.Background())
		r.srv.Close()
	})
	return r
}

func (r *rig) post(t *testing.T, path, body string) int {
	t.Helper()
	resp, err := r.srv.Client().Post(r.srv.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// subscribe opens visitID's stream and returns the names of its events as
// they come.
func (r *rig) subscribe(t *testing.T, visitID string) <-chan string {
	t.Helper()
	return subscribe(t, r.srv, visitID)
}

// subscribeBroker serves b alone and opens visitID's stream.
func subscribeBroker(t *testing.T, b *push.Broker, visitID string) <-chan string {
	t.Helper()
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	return subscribe(t, srv, visitID)
}

func subscribe(t *testing.T, srv *httptest.Server, visitID string) <-chan string {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + "/notification/" + visitID)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("subscribe: %v %v", err, resp.Status)
	}
	events := make(chan string, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events <- name
			}
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return events
}

func next(t *testing.T, events <-chan string, want string) {
	t.Helper()
	select {
	case got := <-events:
		if got != want {
			t.Fatalf("event %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s event within 5 s", want)
	}
}

func TestMetricsMoveWithTheFunnel(t *testing.T) {
	r := newRig(t)
	events := r.subscribe(t, "v-1")
	steps := []struct {
		path, body string
		status     int
	}{
		{"/server/data/gateway/engage", `{"interactionID":"i-1","visitID":"v-1","channels":["chat"]}`, 200},
		{"/server/data/gateway/engage", `{"interactionID":"i-2","visitID":"v-1","channels":["chat"]}`, 200},
		{"/server/data/gateway/engage", `{"interactionID":"i-3","visitID":"v-2","channels":["chat"]}`, 200}, // no page: offered only
		{"/server/data/gateway/engage", `{"interactionID":"i-4","visitID":"v-1","channels":["chat"],"expiresIn":5}`, 200},
		{"/server/data/gateway/engage", `{"visitID":"v-1"}`, 400},
		{"/notification/v-1/disposition", `{"interactionID":"i-1","result":"shown"}`, 200},
		{"/notification/v-1/disposition", `{"interactionID":"i-1","result":"shown"}`, 200}, // a second tab: counted once
		{"/notification/v-1/disposition", `{"interactionID":"i-1","result":"accepted","channel":"chat"}`, 200},
		{"/server/data/gateway/noengage", `{"interactionID":"i-2","visitID":"v-1"}`, 200},
	}
	for i, s := range steps {
		if got := r.post(t, s.path, s.body); got != s.status {
			t.Fatalf("step %d: %s %s = %d, want %d", i, s.path, s.body, got, s.status)
		}
		if i < 4 && i != 2 {
			next(t, events, "engage")
		}
	}
	next(t, events, "cancel") // i-1 answered
	next(t, events, "cancel") // i-2 cancelled
	r.clock.Add(6 * time.Second)
	// i-4 expires at the broker's next sweep, within a second
	next(t, events, "cancel")

	// A page hears of an end before the broker's counts settle (the frame
	// is queued first, the tombstone kept next): wait for them.
	got, units := collect(t, r.reader)
	for deadline := time.Now().Add(5 * time.Second); got["gateway.tombstones{}"] != 3 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		got, units = collect(t, r.reader)
	}
	want := map[string]float64{
		"gateway.requests{gateway.code=OK,gateway.operation=engage}":                       4,
		"gateway.requests{gateway.code=VALIDATION,gateway.operation=engage}":               1,
		"gateway.requests{gateway.code=OK,gateway.operation=noengage}":                     1,
		"gateway.request.duration{gateway.code=OK,gateway.operation=engage} count":         4,
		"gateway.request.duration{gateway.code=VALIDATION,gateway.operation=engage} count": 1,
		"gateway.request.duration{gateway.code=OK,gateway.operation=noengage} count":       1,
		"gateway.invitations{gateway.invitation.stage=offered}":                            4,
		"gateway.invitations{gateway.invitation.stage=delivered}":                          3,
		"gateway.invitations{gateway.invitation.stage=shown}":                              1,
		"gateway.invitations{gateway.invitation.stage=accepted}":                           1,
		"gateway.invitations{gateway.invitation.stage=cancelled}":                          1,
		"gateway.invitations{gateway.invitation.stage=expired}":                            1,
		"gateway.delivery.duration{} count":                                                3,
		"gateway.streams.opened{}":                                                         1,
		"gateway.streams{}":                                                                1,
		"gateway.invitations.live{}":                                                       1, // i-3
		"gateway.tombstones{}":                                                             3,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	wantUnits := map[string]string{
		"gateway.requests":          "{request}",
		"gateway.request.duration":  "s",
		"gateway.invitations":       "{invitation}",
		"gateway.delivery.duration": "s",
		"gateway.streams.opened":    "{stream}",
		"gateway.streams":           "{stream}",
		"gateway.invitations.live":  "{invitation}",
		"gateway.tombstones":        "{interaction}",
	}
	if diff := cmp.Diff(wantUnits, units); diff != "" {
		t.Errorf("units (-want +got):\n%s", diff)
	}
}

func TestWatchAddsBrokersUp(t *testing.T) {
	reader, mp := newMeter(t)
	tel := newTelemetry(t, mp)
	m := push.NewMemoryBackend(nil)
	var brokers [2]*push.Broker
	var unwatch [2]func()
	for i := range brokers {
		brokers[i] = push.NewBroker(&push.Options{Backend: m})
		defer brokers[i].Shutdown(context.Background())
		unwatch[i] = tel.Watch(brokers[i])
	}
	brokers[0].Engage(context.Background(), &gateway.Profile{VisitID: "v-1", InteractionID: "i-1", Channels: []string{"chat"}})
	live := func() float64 {
		got, _ := collect(t, reader)
		return got["gateway.invitations.live{}"]
	}
	if got := live(); got != 2 {
		t.Errorf("live invitations of two brokers that both hold it = %v, want 2", got)
	}
	unwatch[1]()
	if got := live(); got != 1 {
		t.Errorf("after unwatching one: %v, want 1", got)
	}
	unwatch[1]() // harmless
	unwatch[0]()
	if got := live(); got != 0 {
		t.Errorf("after unwatching both: %v, want 0", got)
	}
}

// A notifier that returns ever new FAULT codes grows neither the adapter's
// cache nor the series past 256 (operation, code) pairs: the rest are
// counted under otel.metric.overflow=true, and none is lost.
func TestRequestSeriesOverflow(t *testing.T) {
	reader, mp := newMeter(t)
	tel := newTelemetry(t, mp)
	const codes = 300
	for i := range codes {
		o := gateway.Observation{Operation: "engage", Code: gateway.Code(fmt.Sprintf("C%03d", i)), Duration: time.Millisecond}
		tel.Observe(o)
		tel.Observe(o)
	}
	got, _ := collect(t, reader)
	var series, total, overflow float64
	for k, v := range got {
		if strings.HasPrefix(k, "gateway.requests{") {
			series++
			total += v
		}
		if k == "gateway.requests{otel.metric.overflow=true}" {
			overflow = v
		}
	}
	if series != 257 || total != 2*codes || overflow != 2*(codes-256) {
		t.Errorf("%v series counting %v requests, %v under overflow; want 257, %d, %d", series, total, overflow, 2*codes, 2*(codes-256))
	}
	if got["gateway.request.duration{otel.metric.overflow=true} count"] != 2*(codes-256) {
		t.Errorf("durations under overflow: %v, want %d", got["gateway.request.duration{otel.metric.overflow=true} count"], 2*(codes-256))
	}
	if got["gateway.requests{gateway.code=C000,gateway.operation=engage}"] != 2 {
		t.Errorf("first code counted %v, want 2", got["gateway.requests{gateway.code=C000,gateway.operation=engage}"])
	}
}

// Two Telemetries on one MeterProvider (one per broker, say) add up, as
// synchronous counters would.
func TestTelemetriesShareAMeter(t *testing.T) {
	reader, mp := newMeter(t)
	ok := gateway.Observation{Operation: "engage", Code: gateway.CodeOK, Duration: time.Millisecond}
	for range 2 {
		tel := newTelemetry(t, mp)
		tel.Observe(ok)
		tel.Observer().StreamOpened()
	}
	got, _ := collect(t, reader)
	want := map[string]float64{
		"gateway.requests{gateway.code=OK,gateway.operation=engage}":               2,
		"gateway.request.duration{gateway.code=OK,gateway.operation=engage} count": 2,
		"gateway.streams.opened{}": 2,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// Requests observed at once with codes never seen before are all counted:
// of two calls that make a code's attribute set at once, one set is kept,
// and both count in it.
func TestConcurrentFirstObservationsAreCounted(t *testing.T) {
	reader, mp := newMeter(t)
	tel := newTelemetry(t, mp)
	const codes, workers, each = 50, 8, 20
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c := range codes {
				for range each {
					tel.Observe(gateway.Observation{Operation: "engage", Code: gateway.Code(fmt.Sprintf("C%02d", c))})
				}
			}
		})
	}
	wg.Wait()
	got, _ := collect(t, reader)
	for c := range codes {
		k := fmt.Sprintf("gateway.requests{gateway.code=C%02d,gateway.operation=engage}", c)
		if got[k] != workers*each {
			t.Errorf("%s = %v, want %d", k, got[k], workers*each)
		}
	}
}
