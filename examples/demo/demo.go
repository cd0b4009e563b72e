package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/examples/internal/shop"
	"github.com/engagekit/gateway/push"
)

// Demo is the demo's server: the GWE endpoints, the browser delivery and
// the shop page, on one mux.
type Demo struct {
	Broker  *push.Broker
	Handler http.Handler
}

// NewDemo builds the demo's server. onDisposition, when set, hears each
// visitor's answer after it is logged.
func NewDemo(log *slog.Logger, onDisposition func(push.Disposition)) *Demo {
	b := push.NewBroker(&push.Options{
		Logger: log,
		OnDisposition: func(ctx context.Context, d push.Disposition) {
			log.InfoContext(ctx, "disposition", "visitID", d.VisitID, "interactionID", d.InteractionID, "result", d.Result, "channel", d.Channel)
			if onDisposition != nil {
				onDisposition(d)
			}
		},
	})
	gw := gateway.NewHandler(b, &gateway.Options{Logger: log})
	mux := http.NewServeMux()
	mux.Handle("/server/data/gateway/", gw)  // GWE 8.5 paths
	mux.Handle("/backend/data/gateway/", gw) // GWE 8.1.2 paths
	mux.Handle("/notification/", b)
	mux.Handle("GET /{$}", shop.Page("")) // the curl lines engage this server
	return &Demo{Broker: b, Handler: mux}
}
