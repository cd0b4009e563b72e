// Command cluster runs the demo as two gateway instances joined by a
// shared push.Backend, NATS JetStream or Redis: an engage sent to one
// instance reaches a visitor whose page is served by the other.
//
//	go run ./examples/cluster                          # embedded NATS (JetStream in a temp dir)
//	go run ./examples/cluster -nats nats://host:4222   # a NATS server of your own, with JetStream
//	go run ./examples/cluster -backend redis           # redis-server from PATH, on a free port
//	go run ./examples/cluster -backend redis -redis redis://host:6379/0
//
// It prints the two instance URLs once both listen; a port that is taken is
// reported alone, with exit status 1. Open the second URL in a browser: its
// page's curl lines engage its visit through the first instance, and the
// first instance's page through the second. Dispositions are logged by the
// instance whose page answered.
//
// Like the demo, it is secure by default: engage and noengage take HTTP
// Basic credentials (-user, -password, or $GATEWAY_USER and
// $GATEWAY_PASSWORD; the user engage and a random password, printed at
// start, when unset), and the browser side takes visitor tokens signed
// with one key that every instance shares (-token-key or
// $GATEWAY_TOKEN_KEY; random when unset). -insecure turns both off.
//
// -webhook URL with -webhook-secret whsec_… (or $GATEWAY_WEBHOOK_SECRET)
// sends each invitation's outcome to URL once, from whichever instance
// wins its election in the backend; -cooldown 10m suppresses new
// invitations to a visit for 10 minutes after it declined one, on every
// instance.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/examples/internal/fanout"
	"github.com/engagekit/gateway/examples/internal/lifecycle"
	"github.com/engagekit/gateway/examples/internal/ops"
	"github.com/engagekit/gateway/examples/internal/serve"
	"github.com/engagekit/gateway/examples/internal/shop"
	"github.com/engagekit/gateway/push"
)

// Config says where the cluster listens and which backend joins it.
type Config struct {
	Addrs    []string // one listen address per instance
	Backend  string   // "nats" (the default) or "redis"
	NATSURL  string   // -backend nats: empty starts an embedded NATS server
	RedisURL string   // -backend redis: empty starts redis-server from PATH
	Log      *slog.Logger
	// Security holds the engage credentials and the token key every
	// instance shares, or says the cluster is insecure.
	Security shop.Security
	// Lifecycle, when set, gives every instance's broker the outcomes
	// webhook and the offer gating of the flags: the instances elect,
	// through the backend, the one that sends each outcome.
	Lifecycle *lifecycle.Setup
}

// Cluster is a running cluster.
type Cluster struct {
	URLs []string // the instances' base URLs, in Config.Addrs order
	stop []func(context.Context)
}

// Start listens on every address first, so that a taken port fails before
// anything starts; then it starts the NATS server when it is embedded, and
// the instances. Instance i's page engages through instance i+1 (the last
// through the first).
func Start(ctx context.Context, cfg Config) (c *Cluster, err error) {
	c = &Cluster{}
	var lns []net.Listener
	defer func() {
		if err != nil {
			for _, ln := range lns {
				ln.Close()
			}
			c.Stop(context.Background())
		}
	}()
	for _, addr := range cfg.Addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return c, err
		}
		lns = append(lns, ln)
		c.URLs = append(c.URLs, shop.BaseURL(ln.Addr()))
	}
	url := cfg.NATSURL
	if cfg.Backend == "redis" {
		url = cfg.RedisURL
	}
	backends, stopBackends, err := fanout.Backends(ctx, cfg.Backend, url, len(lns), cfg.Log)
	if err != nil {
		return c, err
	}
	// Stopped last, after every instance.
	c.stop = append(c.stop, func(context.Context) { stopBackends() })
	for i, ln := range lns {
		log := cfg.Log.With("instance", i+1)
		po := push.Options{
			Backend: backends[i],
			Logger:  log,
			OnDisposition: func(ctx context.Context, d push.Disposition) {
				log.InfoContext(ctx, "disposition", "visitID", d.VisitID, "interactionID", d.InteractionID, "result", d.Result, "channel", d.Channel)
			},
		}
		cfg.Security.Apply(&po)
		if cfg.Lifecycle != nil {
			cfg.Lifecycle.Apply(&po)
		}
		o, err := ops.New()
		if err != nil {
			return c, err
		}
		po.Observer = o.Observer()
		broker := push.NewBroker(&po)
		auth := cfg.Security.Authenticate()
		gw := gateway.NewHandler(broker, &gateway.Options{Logger: log, Authenticate: auth, Observe: o.Observe, RefuseBrowsers: true})
		s := shop.New(shop.Config{EngageURL: c.URLs[(i+1)%len(c.URLs)], User: cfg.Security.User, TokenKey: cfg.Security.TokenKey})
		mux := http.NewServeMux()
		gw.Mount(mux) // engage, noengage and notify under GWE 8.5's and 8.1.2's paths
		mux.Handle("/notification/", broker)
		mux.Handle("GET /{$}", s.Page())
		mux.Handle("GET "+shop.TokenPath, s.Token())
		o.Handle(mux, broker, auth) // /metrics, /healthz, /readyz, /console
		srv := serve.Server(mux, serve.Defaults)
		go srv.Serve(ln)
		// Stopped in reverse: instances first, then the backends.
		c.stop = append([]func(context.Context){func(ctx context.Context) {
			broker.Shutdown(ctx)
			o.Shutdown(ctx) // the console's streams
			srv.Shutdown(ctx)
			ln.Close() // in case Serve had not started
		}}, c.stop...)
	}
	return c, nil
}

// Stop stops the instances, then the backends and any server it started.
func (c *Cluster) Stop(ctx context.Context) {
	for _, stop := range c.stop {
		stop(ctx)
	}
	c.stop = nil
}

func main() {
	backend := flag.String("backend", "nats", "what joins the instances: nats or redis")
	natsURL := flag.String("nats", "", "with -backend nats: the NATS server's URL; empty starts an embedded server")
	redisURL := flag.String("redis", "", "with -backend redis: the Redis URL (redis://host:6379/0); empty starts redis-server from PATH on a free port")
	addr1 := flag.String("addr1", "127.0.0.1:8081", "listen address of instance 1")
	addr2 := flag.String("addr2", "127.0.0.1:8082", "listen address of instance 2")
	setup := shop.Flags(flag.CommandLine)
	flag.Parse()
	log, sec, lc := setup("cluster")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := Start(ctx, Config{Addrs: []string{*addr1, *addr2}, Backend: *backend, NATSURL: *natsURL, RedisURL: *redisURL, Log: log, Security: sec, Lifecycle: lc})
	if err != nil {
		log.Error("cluster", "err", err)
		os.Exit(1)
	}
	sec.Announce(log)
	lc.Announce(log)
	for _, u := range c.URLs {
		fmt.Println(u)
	}
	<-ctx.Done()
	stop() // a second Ctrl-C ends the program at once
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.Stop(shut)
	lc.Close(shut) // the outcomes still queued, once the brokers are down
}
