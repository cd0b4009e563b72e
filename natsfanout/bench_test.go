package natsfanout_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/engagekit/gateway/push"
)

// BenchmarkCrossInstance measures an event published by instance A until
// instance B's listener reads it, over loopback with an in-process NATS
// server: from the publish's acknowledgement (Publish returned: what a
// broker waits for before it answers 200) to B's read, the figure,
// and from the call to B's read. Backends only: the broker's own work is
// measured in package push.
func BenchmarkCrossInstance(b *testing.B) {
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
	b.ReportMetric(float64(fromAck[len(fromAck)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(fromAck[len(fromAck)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(fromCall[len(fromCall)/2].Microseconds()), "p50-call-µs")
	b.ReportMetric(float64(fromCall[len(fromCall)*99/100].Microseconds()), "p99-call-µs")
}
