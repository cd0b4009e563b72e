package redisfanout_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway/push"
	"github.com/engagekit/gateway/push/pushtest"
	"github.com/engagekit/gateway/redisfanout"
	"github.com/redis/go-redis/v9"
)

// BenchmarkCrossInstance measures delivery across two instances, each
// with its own client of a redis-server on loopback:
//
//   - Broker: an engage accepted by instance A's Broker (Engage returned
//     nil) until its event is read from a page's stream on instance B, and
//     from the call, which adds A's round trips to Redis (see
//     pushtest.BenchCrossInstance);
//   - Backend: an event published by A's Backend until B's Listen delivers
//     it, from acceptance (Publish returned: Redis appended it) and from
//     the call.
func BenchmarkCrossInstance(b *testing.B) {
	b.Run("Broker", func(b *testing.B) {
		srv := startRedis(b)
		pushtest.BenchCrossInstance(b, newBackend(b, srv.client(b), nil), newBackend(b, srv.client(b), nil))
	})
	b.Run("Backend", benchCrossInstanceBackend)
}

func benchCrossInstanceBackend(b *testing.B) {
	srv := startRedis(b)
	a, bi := newBackend(b, srv.client(b), nil), newBackend(b, srv.client(b), nil)
	got := make(chan *push.Event, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bi.Listen(ctx, func(ev *push.Event) { got <- ev }) }()
	defer func() { cancel(); <-done }()

	var fromAccept, fromCall []time.Duration
	i := 0
	for b.Loop() {
		i++
		ev := engage(b, "e"+strconv.Itoa(i), "bench", "i"+strconv.Itoa(i))
		start := time.Now()
		if err := a.Publish(ctx, ev); err != nil {
			b.Fatal(err)
		}
		accepted := time.Now()
		if ev2 := <-got; ev2.ID() != ev.ID() {
			b.Fatalf("delivered %s, want %s", ev2.ID(), ev.ID())
		}
		fromAccept = append(fromAccept, time.Since(accepted))
		fromCall = append(fromCall, time.Since(start))
	}
	slices.Sort(fromAccept)
	slices.Sort(fromCall)
	µs := func(d []time.Duration, q int) float64 { return float64(d[len(d)*q/100]) / 1e3 }
	b.ReportMetric(µs(fromAccept, 50), "p50-µs")
	b.ReportMetric(µs(fromAccept, 99), "p99-µs")
	b.ReportMetric(µs(fromCall, 50), "p50-call-µs")
	b.ReportMetric(µs(fromCall, 99), "p99-call-µs")
}

// BenchmarkStoreMemory measures what the store holds per stream entry (a
// typical engage with an invitation, and the largest valid one), per ended
// interaction and per claim, as Redis counts it (used_memory), for the
// package doc's figures. Run it with -benchtime 1x.
func BenchmarkStoreMemory(b *testing.B) {
	const n = 20_000
	invitation := `,"invitation":{"title":"Need help?","message":"One of our agents can answer your questions about this product.","url":"https://shop.example.com/gwe/invite.html"}`
	// Every field at its longest, of characters that stay escaped.
	largest := `,"invitation":{"title":"` + strings.Repeat(`\u2028`, 200) + `","message":"` + strings.Repeat(`\u2028`, 2000) +
		`","url":"https://e.example/` + strings.Repeat("a", 2048-len("https://e.example/")) + `"}`
	typical := func(i int) *push.Event {
		return profileEvent(b, "e"+strconv.Itoa(i), `{"interactionID":"ixn-`+strconv.Itoa(i)+`","visitID":"visit-00000000-`+strconv.Itoa(i)+`","pageID":"page-1","channels":["chat","callback"],"language":"en"`+invitation+`}`)
	}
	biggest := func(i int) *push.Event {
		return profileEvent(b, "e"+strconv.Itoa(i), `{"interactionID":"ixn-`+strconv.Itoa(i)+`","visitID":"visit-00000000-`+strconv.Itoa(i)+`","channels":["chat"]`+largest+`}`)
	}
	cases := []struct {
		name string
		fill func(context.Context, *redisfanout.Backend, int) (int, error) // returns the event size
	}{
		{"StreamEntry", func(ctx context.Context, be *redisfanout.Backend, i int) (int, error) {
			ev := typical(i)
			data, _ := ev.MarshalBinary()
			return len(data), be.Publish(ctx, ev)
		}},
		{"StreamEntryLargest", func(ctx context.Context, be *redisfanout.Backend, i int) (int, error) {
			ev := biggest(i)
			data, _ := ev.MarshalBinary()
			return len(data), be.Publish(ctx, ev)
		}},
		{"Ended", func(ctx context.Context, be *redisfanout.Backend, i int) (int, error) {
			return 0, be.End(ctx, "visit-00000000-"+strconv.Itoa(i), "ixn-"+strconv.Itoa(i), 5*time.Minute)
		}},
		{"Claim", func(ctx context.Context, be *redisfanout.Backend, i int) (int, error) {
			_, err := be.Claim(ctx, "visit-00000000-"+strconv.Itoa(i), "ixn-"+strconv.Itoa(i), 5*time.Minute)
			return 0, err
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			srv := startRedis(b)
			rc := srv.client(b)
			be := newBackend(b, rc, nil)
			ctx := context.Background()
			before := usedMemory(b, rc)
			size := 0
			for i := range n {
				s, err := tc.fill(ctx, be, i)
				if err != nil {
					b.Fatal(err)
				}
				size += s
			}
			after := usedMemory(b, rc)
			for b.Loop() {
			}
			b.ReportMetric(float64(after-before)/n, "B/item")
			if size > 0 {
				b.ReportMetric(float64(size)/n, "event-B")
			}
		})
	}
}

func profileEvent(tb testing.TB, id, profile string) *push.Event {
	at := time.Now().UTC()
	return event(tb, fmt.Sprintf(`{"op":"engage","id":%q,"at":%q,"expiresAt":%q,"profile":%s}`,
		id, at.Format(time.RFC3339Nano), at.Add(30*time.Second).Format(time.RFC3339Nano), profile))
}

func usedMemory(tb testing.TB, rc *redis.Client) int64 {
	info, err := rc.Info(context.Background(), "memory").Result()
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return n
		}
	}
	tb.Fatal("INFO memory has no used_memory")
	return 0
}
