package push_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

// BenchmarkTombstoneFlood measures a broker's heap through a flood of
// tombstones, as a busy site or an attacker makes them: 300,000 invitations
// of as many visits expire (50,000 live at a time), then 300,000 cancels of
// unknown interactionIDs follow. It reports the heap in use (spans, as
// liveBytes counts it) while they are held and once they have aged out,
// above the heap before the flood; the bytes of live objects left once
// they aged out; and the tombstones held. Run it with -benchtime 1x: the
// figures come from the setup, not the loop.
func BenchmarkTombstoneFlood(b *testing.B) {
	const flood, batch = 300_000, 50_000
	clk := &clock{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	br := push.NewBroker(&push.Options{Now: clk.Now, Heartbeat: time.Hour})
	defer br.Shutdown(context.Background())
	ctx := context.Background()
	base, baseObjects := liveBytes(), objectBytes()
	for start := 0; start < flood; start += batch {
		for i := start; i < start+batch; i++ {
			if err := br.Engage(ctx, &gateway.Profile{InteractionID: "i-1", VisitID: fmt.Sprint("visit-", i), Channels: []string{"chat"}, ExpiresIn: 1}); err != nil {
				b.Fatalf("engage %d: %v", i, err)
			}
		}
		clk.Add(2 * time.Second)
		br.Sweep()
	}
	refused := 0
	for i := range flood {
		if err := br.Cancel(ctx, &gateway.CancelData{InteractionID: fmt.Sprint("unknown-", i), VisitID: fmt.Sprint("visit-", i%(flood/6))}); err != nil {
			refused++
		}
	}
	held, tombs := liveBytes(), br.Stats().Tombstones
	clk.Add(10 * time.Minute)
	br.Sweep()
	after, afterObjects := liveBytes(), objectBytes()
	for b.Loop() {
	}
	const mib = 1 << 20
	b.ReportMetric(float64(int64(held)-int64(base))/mib, "MiB-flood")
	b.ReportMetric(float64(int64(after)-int64(base))/mib, "MiB-after")
	b.ReportMetric(float64(int64(afterObjects)-int64(baseObjects))/mib, "MiB-objects-after")
	b.ReportMetric(float64(tombs), "tombstones")
	b.ReportMetric(float64(refused), "cancels-refused")
}

// objectBytes is the size of the heap's live objects, after GC.
func objectBytes() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
