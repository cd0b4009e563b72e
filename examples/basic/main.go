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
	"net/http"
	"os"
	"time"

	"github.com/engagekit/gateway"
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
	h := gateway.NewHandler(n, &gateway.Options{Logger: log})
	mux := http.NewServeMux()
	mux.Handle("/server/data/gateway/", h)
	mux.Handle("/backend/data/gateway/", h)
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Info("gateway listening", "addr", "http://"+*addr)
	if err := srv.ListenAndServe(); err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}
