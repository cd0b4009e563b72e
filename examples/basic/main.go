// Command basic mounts the gateway on a ServeMux with a notifier that logs
// what it receives. Engage and cancel with curl:
//
//	go run ./examples/basic
//	curl -d 'ixnProfile={"interactionID":"i-1","visitID":"v-1","channels":["chat"]}' http://127.0.0.1:8080/server/data/gateway/engage
//	curl -d 'cancelData={"interactionID":"i-1","visitID":"v-1"}' http://127.0.0.1:8080/server/data/gateway/noengage
package main

import (
	"context"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/examples/internal/serve"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
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
	h := gateway.NewHandler(n, &gateway.Options{Logger: log, RefuseBrowsers: true})
	mux := http.NewServeMux()
	mux.Handle("/server/data/gateway/", h)
	mux.Handle("/backend/data/gateway/", h)
	// Listen before printing the URL, so that a taken port is reported alone.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("cannot listen", "err", err)
		os.Exit(1)
	}
	log.Info("gateway listening", "url", "http://"+ln.Addr().String())
	srv := serve.Server(mux, serve.Defaults)
	if err := srv.Serve(ln); err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}
