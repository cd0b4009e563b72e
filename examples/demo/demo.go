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

// NewDemo builds the demo's server around a broker configured by opts (nil:
// the defaults). The broker logs to log unless opts names a Logger; each
// disposition is logged, then passed to opts.OnDisposition when it is set.
func NewDemo(log *slog.Logger, opts *push.Options) *Demo {
	var po push.Options
	if opts != nil {
		po = *opts
	}
	if po.Logger == nil {
		po.Logger = log
	}
	then := po.OnDisposition
	po.OnDisposition = func(ctx context.Context, d push.Disposition) {
		log.InfoContext(ctx, "disposition", "visitID", d.VisitID, "interactionID", d.InteractionID, "result", d.Result, "channel", d.Channel)
		if then != nil {
			then(ctx, d)
		}
	}
	b := push.NewBroker(&po)
	gw := gateway.NewHandler(b, &gateway.Options{Logger: log})
	mux := http.NewServeMux()
	mux.Handle("/server/data/gateway/", gw)  // GWE 8.5 paths
	mux.Handle("/backend/data/gateway/", gw) // GWE 8.1.2 paths
	mux.Handle("/notification/", b)
	mux.Handle("GET /{$}", shop.Page("")) // the curl lines engage this server
	return &Demo{Broker: b, Handler: mux}
}
