package natsfanout_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/engagekit/gateway/push"
	"github.com/engagekit/gateway/push/pushtest"
)

// BenchmarkCrossInstance measures delivery across two instances over
// loopback with an in-process NATS server, each instance with a
// connection of its own:
//
//   - Broker: an engage accepted by instance A's Broker (Engage returned
//     nil) until its event is read from a page's stream on instance B, and
//     from the call, which adds A's round trips to NATS (see
//     pushtest.BenchCrossInstance);
//   - Backend: an event published by A's Backend until B's Listen delivers
//     it, from the publish's acknowledgement (Publish returned: what a
//     broker waits for before it answers 200) and from the call.
func BenchmarkCrossInstance(b *testing.B) {
	b.Run("Broker", func(b *testing.B) {
		c := newCluster(b, 2, nil)
		pushtest.BenchCrossInstance(b, c.backends[0], c.backends[1])
	})
	b.Run("Backend", benchCrossInstanceBackend)
}

func benchCrossInstanceBackend(b *testing.B) {
	c := newCluster(b, 2, nil)
	pub := c.backends[0]
	got := make(chan time.Time, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.backends[1].Listen(ctx, func(*push.Event) { got <- time.Now() })
	}()
	defer func() { cancel(); <-done }()

	// One event per iteration, made beforehand: building it is not measured.
	events := make([]*push.Event, 0, 1024)
	next := func() *push.Event {
		if len(events) == 0 {
			for range cap(events) {
				events = append(events, engageEvent(b, "bench", "i-1"))
			}
		}
		ev := events[len(events)-1]
		events = events[:len(events)-1]
		return ev
	}
	var fromAck, fromCall []time.Duration
	for b.Loop() {
		ev := next()
		start := time.Now()
		if err := pub.Publish(ctx, ev); err != nil {
			b.Fatal(err)
		}
		acked := time.Now()
		read := <-got
		fromAck = append(fromAck, max(0, read.Sub(acked)))
		fromCall = append(fromCall, read.Sub(start))
	}
	slices.Sort(fromAck)
	slices.Sort(fromCall)
	µs := func(d []time.Duration, q int) float64 { return float64(d[len(d)*q/100]) / 1e3 }
	b.ReportMetric(µs(fromAck, 50), "p50-µs")
	b.ReportMetric(µs(fromAck, 99), "p99-µs")
	b.ReportMetric(µs(fromCall, 50), "p50-call-µs")
	b.ReportMetric(µs(fromCall, 99), "p99-call-µs")
}
