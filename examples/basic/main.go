// Command basic mounts the gateway on a ServeMux with a notifier that logs
// what it receives. Engage and noengage take HTTP Basic credentials: the
// user engage and a random password, printed at start (-user and
// -password, or $GATEWAY_USER and $GATEWAY_PASSWORD, choose them);
// -insecure turns them off, for local experiments only. Engage and cancel
// with curl, or with engagectl:
//
//	go run ./examples/basic
//	curl -u engage:PASSWORD -d 'ixnProfile={"interactionID":"i-1","visitID":"v-1","channels":["chat"]}' http://127.0.0.1:8080/server/data/gateway/engage
//	curl -u engage:PASSWORD -d 'cancelData={"interactionID":"i-1","visitID":"v-1"}' http://127.0.0.1:8080/server/data/gateway/noengage
//	go run ./cmd/engagectl engage -user engage -password PASSWORD -visit v-1 -interaction i-2 -channels chat
package main

import (
	"context"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/examples/internal/engageauth"
	"github.com/engagekit/gateway/examples/internal/serve"
)

// NewHandler returns the example's routes: engage and noengage under both
// GWE path families, behind c, logging to log.
func NewHandler(c engageauth.Credentials, log *slog.Logger) http.Handler {
	n := gateway.Funcs{
		EngageFunc: func(ctx context.Context, p *gateway.Profile) error {
			log.InfoContext(ctx, "engage", "interactionID", p.InteractionID, "visitID", p.VisitID, "channels", p.Channels)
			return nil
		},
		CancelFunc: func(ctx context.Context, c *gateway.CancelData) error {
			log.InfoContext(ctx, "cancel", "interactionID", c.InteractionID, "visitID", c.VisitID, "reason", c.Reason)
			return nil
		},
	}
	h := gateway.NewHandler(n, &gateway.Options{Logger: log, Authenticate: c.Authenticate(), RefuseBrowsers: true})
	mux := http.NewServeMux()
	h.Mount(mux) // engage and noengage under GWE 8.5's and 8.1.2's paths
	return mux
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	credentials := engageauth.Flags(flag.CommandLine)
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	c := credentials()
	// Listen before printing the URL, so that a taken port is reported alone.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("cannot listen", "err", err)
		os.Exit(1)
	}
	c.Announce(log)
	log.Info("gateway listening", "url", "http://"+ln.Addr().String())
	srv := serve.Server(NewHandler(c, log), serve.Defaults)
	if err := srv.Serve(ln); err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}
