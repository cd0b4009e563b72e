package natsfanout_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway"
)

// BenchmarkCrossInstance measures an engage on instance A until its event
// is read from a stream held by instance B, over loopback with an
// in-process NATS server: from the engage's acceptance (Engage returned:
// the publish is acknowledged) to the event, the figure, and from
// the call (strict mode's bucket claim and the acknowledged publish
// included) to the event.
func BenchmarkCrossInstance(b *testing.B) {
	ns := startNATS(b)
	a, bi := newInstance(b, ns.url(), nil), newInstance(b, ns.url(), nil)
	resp, err := http.Get(bi.srv.URL + "/notification/bench")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	readUntil := func(prefix string) {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			if strings.HasPrefix(line, prefix) {
				return
			}
		}
	}
	ctx := context.Background()
	var fromAccept, fromCall []time.Duration
	i := 0
	for b.Loop() {
		i++
		id := fmt.Sprint("i-", i)
		start := time.Now()
		if err := a.f.Engage(ctx, &gateway.Profile{InteractionID: id, VisitID: "bench", Channels: []string{"chat"}}); err != nil {
			b.Fatal(err)
		}
		accepted := time.Now()
		readUntil("id: " + id)
		fromAccept = append(fromAccept, time.Since(accepted))
		fromCall = append(fromCall, time.Since(start))
		if err := a.f.Cancel(ctx, &gateway.CancelData{InteractionID: id, VisitID: "bench"}); err != nil {
			b.Fatal(err)
		}
		readUntil("event: cancel")
	}
	slices.Sort(fromAccept)
	slices.Sort(fromCall)
	b.ReportMetric(float64(fromAccept[len(fromAccept)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(fromAccept[len(fromAccept)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(fromCall[len(fromCall)/2].Microseconds()), "p50-call-µs")
	b.ReportMetric(float64(fromCall[len(fromCall)*99/100].Microseconds()), "p99-call-µs")
}
