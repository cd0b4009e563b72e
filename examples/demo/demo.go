package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/examples/internal/ops"
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

// Demo is the demo's server: the GWE endpoints, the browser delivery, the
// shop page, and for operators /metrics, /healthz, /readyz and /console,
// on one mux.
type Demo struct {
	Broker  *push.Broker
	Handler http.Handler
	Ops     *ops.Ops // Shutdown ends the console's streams
}

// NewDemo builds the demo's server. Each disposition is logged, then
// passed to cfg.Push.OnDisposition when it is set. The broker's Observer
// and the handler's Observe feed the metrics.
func NewDemo(cfg Config) *Demo {
	o, err := ops.New()
	if err != nil { // a fresh registry and provider: a programming error
		panic("demo: " + err.Error())
	}
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
	po.Observer = o.Observer()
	b := push.NewBroker(&po)
	auth := cfg.Security.Authenticate()
	gw := gateway.NewHandler(b, &gateway.Options{Logger: log, Authenticate: auth, Observe: o.Observe, RefuseBrowsers: true})
	s := shop.New(shop.Config{User: cfg.Security.User, TokenKey: cfg.Security.TokenKey, TokenTTL: cfg.TokenTTL})
	mux := http.NewServeMux()
	gw.Mount(mux) // engage, noengage and notify under GWE 8.5's and 8.1.2's paths
	mux.Handle("/notification/", b)
	mux.Handle("GET /{$}", s.Page()) // the curl lines engage this server
	mux.Handle("GET "+shop.TokenPath, s.Token())
	o.Handle(mux, b, auth) // /metrics and /console behind the engage credentials
	return &Demo{Broker: b, Handler: mux, Ops: o}
}
