package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/examples/internal/shop"
	"github.com/engagekit/gateway/push"
)

// Config configures the demo's server.
type Config struct {
	// Log receives the demo's log, and the broker's unless Push names a
	// Logger.
	Log *slog.Logger
	// Push is the broker's options; Security sets its token options.
	Push push.Options
	// Security holds the engage credentials and the token key, or says
	// the demo is insecure.
	Security shop.Security
	// TokenTTL is the lifetime of the page's tokens; zero means
	// push.DefaultTokenTTL.
	TokenTTL time.Duration
}

// Demo is the demo's server: the GWE endpoints, the browser delivery and
// the shop page, on one mux.
type Demo struct {
	Broker  *push.Broker
	Handler http.Handler
}

// NewDemo builds the demo's server. Each disposition is logged, then
// passed to cfg.Push.OnDisposition when it is set.
func NewDemo(cfg Config) *Demo {
	log := cfg.Log
	po := cfg.Push
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
	cfg.Security.Apply(&po)
	b := push.NewBroker(&po)
	gw := gateway.NewHandler(b, &gateway.Options{Logger: log, Authenticate: cfg.Security.Authenticate(), RefuseBrowsers: true})
	s := shop.New(shop.Config{User: cfg.Security.User, TokenKey: cfg.Security.TokenKey, TokenTTL: cfg.TokenTTL})
	mux := http.NewServeMux()
	mux.Handle("/server/data/gateway/", gw)  // GWE 8.5 paths
	mux.Handle("/backend/data/gateway/", gw) // GWE 8.1.2 paths
	mux.Handle("/notification/", b)
	mux.Handle("GET /{$}", s.Page()) // the curl lines engage this server
	mux.Handle("GET "+shop.TokenPath, s.Token())
	return &Demo{Broker: b, Handler: mux}
}
