// Command loadcluster serves the engage API on loopback for
// scripts/cluster-bench.sh: one push.Broker over the default memory backend
// (-backend memory), or two brokers, each behind a port of its own, joined
// by NATS (-backend nats: an embedded JetStream server in this process) or
// by Redis (-backend redis -redis URL), as examples/cluster joins them. The
// brokers are in strict mode, the default; there is no authentication and
// no logging, so that the figure is the engage's own path.
//
// It prints each instance's base URL on a line of its own once all listen,
// and stops when its standard input closes. It then prints how many engages
// it took and their mean time, and, for a network backend, every backend
// call the engages made: how many per engage, their mean time, and their
// share of the engages' time. With -pprof it serves net/http/pprof on that
// address.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // on http.DefaultServeMux, served with -pprof only
	"os"
	"sync/atomic"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/examples/internal/fanout"
	"github.com/engagekit/gateway/push"
)

func main() {
	backend := flag.String("backend", "memory", "memory (one instance), nats (two, an embedded NATS server) or redis (two, on -redis)")
	redisURL := flag.String("redis", "", "with -backend redis: the Redis URL, redis://127.0.0.1:PORT; empty starts redis-server from PATH")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this loopback address")
	flag.Parse()
	if *pprofAddr != "" {
		ln, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			log.Fatal(err)
		}
		go http.Serve(ln, nil)
	}
	ctx := context.Background()
	var backends []push.Backend
	var calls *callStats
	var stop func()
	var err error
	switch *backend {
	case "memory":
		backends, stop = []push.Backend{nil}, func() {} // nil: the broker's own MemoryBackend
	case "redis":
		backends, stop, err = fanout.Backends(ctx, "redis", *redisURL, 2, slog.New(slog.DiscardHandler))
	default: // nats, on an embedded server; Backends refuses a name it does not know
		backends, stop, err = fanout.Backends(ctx, *backend, "", 2, slog.New(slog.DiscardHandler))
	}
	if err != nil {
		log.Fatal(err)
	}
	if *backend != "memory" {
		calls = &callStats{}
		for i, b := range backends {
			backends[i] = &timedBackend{Backend: b, stats: calls}
		}
	}

	var engages engageStats
	var brokers []*push.Broker
	var urls []string
	for _, b := range backends {
		// Invitations live for the profile's expiresIn: the load's short
		// one keeps them, and the claims, few.
		broker := push.NewBroker(&push.Options{Backend: b, MaxInvitations: 1_000_000})
		brokers = append(brokers, broker)
		mux := http.NewServeMux()
		mux.Handle("/server/data/gateway/", gateway.NewHandler(&timedNotifier{Notifier: broker, stats: &engages}, nil))
		mux.Handle("/notification/", broker)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		urls = append(urls, "http://"+ln.Addr().String())
		go (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln)
	}
	for _, u := range urls {
		fmt.Println(u)
	}
	io.Copy(io.Discard, os.Stdin) // until the script closes it
	shut, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, b := range brokers {
		b.Shutdown(shut)
	}
	engages.print(os.Stdout, calls)
	stop()
}

// engageStats counts the engages the brokers took and their time.
type engageStats struct{ n, nanos atomic.Int64 }

// timedNotifier is a broker whose engages are counted and timed.
type timedNotifier struct {
	gateway.Notifier
	stats *engageStats
}

func (t *timedNotifier) Engage(ctx context.Context, p *gateway.Profile) error {
	start := time.Now()
	err := t.Notifier.Engage(ctx, p)
	t.stats.nanos.Add(int64(time.Since(start)))
	t.stats.n.Add(1)
	return err
}

// The backend calls, as callStats counts them.
const (
	callEnded = iota
	callClaim
	callRelease
	callEnd
	callPublish
	numCalls
)

var callNames = [numCalls]string{"Ended", "Claim", "Release", "End", "Publish"}

// callStats counts a network backend's calls and their time.
type callStats struct{ n, nanos [numCalls]atomic.Int64 }

func (s *callStats) done(call int, start time.Time) {
	s.nanos[call].Add(int64(time.Since(start)))
	s.n[call].Add(1)
}

// timedBackend is a backend whose calls are counted and timed.
type timedBackend struct {
	push.Backend
	stats *callStats
}

func (t *timedBackend) Ended(ctx context.Context, visitID, interactionID string) (bool, error) {
	defer t.stats.done(callEnded, time.Now())
	return t.Backend.Ended(ctx, visitID, interactionID)
}

func (t *timedBackend) Claim(ctx context.Context, visitID, interactionID string, ttl time.Duration) (string, error) {
	defer t.stats.done(callClaim, time.Now())
	return t.Backend.Claim(ctx, visitID, interactionID, ttl)
}

func (t *timedBackend) Release(ctx context.Context, visitID, interactionID string) error {
	defer t.stats.done(callRelease, time.Now())
	return t.Backend.Release(ctx, visitID, interactionID)
}

func (t *timedBackend) End(ctx context.Context, visitID, interactionID string, ttl time.Duration) error {
	defer t.stats.done(callEnd, time.Now())
	return t.Backend.End(ctx, visitID, interactionID, ttl)
}

func (t *timedBackend) Publish(ctx context.Context, ev *push.Event) error {
	defer t.stats.done(callPublish, time.Now())
	return t.Backend.Publish(ctx, ev)
}

// print writes the engages' count and mean time and, with calls, each
// backend call's count per engage, mean time and share of the engages'
// time.
func (s *engageStats) print(w io.Writer, calls *callStats) {
	n, nanos := s.n.Load(), s.nanos.Load()
	if n == 0 {
		fmt.Fprintln(w, "no engage")
		return
	}
	fmt.Fprintf(w, "engages %d, %.1f µs each\n", n, float64(nanos)/float64(n)/1e3)
	if calls == nil {
		return
	}
	for c := range numCalls {
		cn, cnanos := calls.n[c].Load(), calls.nanos[c].Load()
		if cn == 0 {
			continue
		}
		fmt.Fprintf(w, "%-8s %d calls, %.2f per engage, %.1f µs each, %.0f%% of the engages' time\n",
			callNames[c], cn, float64(cn)/float64(n), float64(cnanos)/float64(cn)/1e3, 100*float64(cnanos)/float64(nanos))
	}
}
