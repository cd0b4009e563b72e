package pushtest

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

// BenchCrossInstance measures delivery across instances: a broker over
// engaging (instance A) accepts an engage, and a page's event stream on a
// broker over watching (instance B), served over loopback HTTP, reads it.
// The two backends must share one store. Each iteration engages a new
// interaction for one visit on A in strict mode, the default, and then
// cancels it, waiting for the cancel on B's stream, so that the visit is
// free for the next.
//
// It reports, in microseconds, p50-µs and p99-µs from acceptance (A's
// [push.Broker.Engage] returned nil: the event is in the backend's log)
// until the engage's event is read on B, the figure of contract §6's
// "accepted, then delivered", and p50-call-µs and p99-call-µs from the
// call, which add A's own round trips to the store (in strict mode:
// Claim, Ended, Publish).
func BenchCrossInstance(b *testing.B, engaging, watching push.Backend) {
	a := push.NewBroker(&push.Options{Backend: engaging, Heartbeat: time.Hour})
	w := push.NewBroker(&push.Options{Backend: watching, Heartbeat: time.Hour})
	srv := httptest.NewServer(w)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.CloseClientConnections()
		a.Shutdown(ctx)
		w.Shutdown(ctx)
		srv.Close()
	}()

	resp, err := srv.Client().Get(srv.URL + "/notification/bench")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("subscribe on B: %s", resp.Status)
	}
	r := bufio.NewReader(resp.Body)
	// readUntil reads the stream's lines until one that starts with
	// prefix, and returns when it was read.
	readUntil := func(prefix string) time.Time {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				b.Fatalf("reading the stream on B: %v", err)
			}
			if strings.HasPrefix(line, prefix) {
				return time.Now()
			}
		}
	}

	ctx := context.Background()
	p := &gateway.Profile{VisitID: "bench", Channels: []string{"chat"}}
	c := &gateway.CancelData{VisitID: "bench"}
	var fromAccept, fromCall []time.Duration
	i := 0
	for b.Loop() {
		i++
		p.InteractionID = "i-" + strconv.Itoa(i)
		start := time.Now()
		if err := a.Engage(ctx, p); err != nil {
			b.Fatal(err)
		}
		accepted := time.Now()
		read := readUntil("id: " + p.InteractionID + "\n")
		fromAccept = append(fromAccept, read.Sub(accepted))
		fromCall = append(fromCall, read.Sub(start))
		c.InteractionID = p.InteractionID
		if err := a.Cancel(ctx, c); err != nil {
			b.Fatal(err)
		}
		readUntil("event: cancel\n")
	}
	reportPercentiles(b, fromAccept, "")
	reportPercentiles(b, fromCall, "-call")
}

// reportPercentiles reports the p50 and p99 of d in microseconds, as
// p50<suffix>-µs and p99<suffix>-µs.
func reportPercentiles(b *testing.B, d []time.Duration, suffix string) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	for _, q := range []int{50, 99} {
		b.ReportMetric(float64(d[len(d)*q/100])/1e3, fmt.Sprintf("p%d%s-µs", q, suffix))
	}
}
