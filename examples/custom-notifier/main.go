// Command custom-notifier shows a Notifier of one's own: it keeps one live
// invitation per visit in memory, refuses a second with
// gateway.ErrEngagementInProgress (400 ENGAGEMENT_IN_PROGRESS), and reports
// a full table with a gateway.Fault of code UNAVAILABLE (503 with
// Retry-After). Engage and noengage take HTTP Basic credentials: the user
// engage and a random password, printed at start (-user and -password, or
// $GATEWAY_USER and $GATEWAY_PASSWORD, choose them); -insecure turns them
// off, for local experiments only.
//
//	go run ./examples/custom-notifier
//	curl -u engage:PASSWORD -d 'ixnProfile={"interactionID":"i-1","visitID":"v-1","channels":["chat"]}' http://127.0.0.1:8080/server/data/gateway/engage
//	curl -u engage:PASSWORD -d 'ixnProfile={"interactionID":"i-2","visitID":"v-1","channels":["chat"]}' http://127.0.0.1:8080/server/data/gateway/engage   # 400 ENGAGEMENT_IN_PROGRESS
//	go run ./cmd/engagectl cancel -user engage -password PASSWORD -visit v-1 -interaction i-1
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/examples/internal/engageauth"
	"github.com/engagekit/gateway/examples/internal/serve"
)

// Live keeps the live invitation of each visit.
type Live struct {
	mu    sync.Mutex
	byVis map[string]string // visitID → interactionID
	max   int
}

// NewLive returns a Live holding at most max visits.
func NewLive(max int) *Live { return &Live{byVis: map[string]string{}, max: max} }

// Engage records the invitation, or refuses it.
func (l *Live) Engage(_ context.Context, p *gateway.Profile) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if id, ok := l.byVis[p.VisitID]; ok && id != p.InteractionID {
		return fmt.Errorf("visit has %s: %w", id, gateway.ErrEngagementInProgress)
	}
	if len(l.byVis) >= l.max {
		return &gateway.Fault{Code: gateway.CodeUnavailable, RetryAfter: 5 * time.Second, Err: fmt.Errorf("%d visits live", len(l.byVis))}
	}
	l.byVis[p.VisitID] = p.InteractionID
	return nil
}

// Cancel forgets the invitation; unknown ones are fine.
func (l *Live) Cancel(_ context.Context, c *gateway.CancelData) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byVis[c.VisitID] == c.InteractionID {
		delete(l.byVis, c.VisitID)
	}
	return nil
}

// NewHandler returns the example's routes: engage and noengage under GWE
// 8.5's paths, on l, behind c.
func NewHandler(l *Live, c engageauth.Credentials) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/server/data/gateway/", gateway.NewHandler(l, &gateway.Options{Authenticate: c.Authenticate(), RefuseBrowsers: true}))
	return mux
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	credentials := engageauth.Flags(flag.CommandLine)
	flag.Parse()
	c := credentials()
	// Listen before printing the URL, so that a taken port is reported alone.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	c.Announce(slog.Default())
	log.Printf("listening on http://%s", ln.Addr())
	log.Fatal(serve.Server(NewHandler(NewLive(10000), c), serve.Defaults).Serve(ln))
}
