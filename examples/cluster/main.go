// Command cluster runs the demo as two gateway instances joined by NATS:
// an engage sent to one instance reaches a visitor whose page is served by
// the other.
//
//	go run ./cluster                      # embedded NATS (JetStream in a temp dir)
//	go run ./cluster -nats nats://host:4222
//
// It prints the two instance URLs first. Open the second in a browser,
// then engage its visit through the first: the page's curl line with the
// first instance's port.
package main

import (
	"context"
	"errors"
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
	"github.com/engagekit/gateway/examples/internal/shop"
	"github.com/engagekit/gateway/natsfanout"
	"github.com/engagekit/gateway/push"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Config says where the cluster listens and which NATS it uses.
type Config struct {
	Addrs   []string // one listen address per instance
	NATSURL string   // empty: start an embedded NATS server
	Log     *slog.Logger
}

// Cluster is a running cluster.
type Cluster struct {
	URLs []string // the instances' base URLs, in Config.Addrs order
	stop []func(context.Context)
}

// Start starts the NATS server when it is embedded, then the instances.
func Start(ctx context.Context, cfg Config) (c *Cluster, err error) {
	c = &Cluster{}
	defer func() {
		if err != nil {
			c.Stop(context.Background())
		}
	}()
	natsURL := cfg.NATSURL
	if natsURL == "" {
		dir, err := os.MkdirTemp("", "gwe-cluster-nats-")
		if err != nil {
			return c, err
		}
		ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
		if err != nil {
			return c, err
		}
		go ns.Start()
		if !ns.ReadyForConnections(10 * time.Second) {
			return c, errors.New("embedded NATS server did not start")
		}
		c.stop = append(c.stop, func(context.Context) { ns.Shutdown(); ns.WaitForShutdown(); os.RemoveAll(dir) })
		natsURL = ns.ClientURL()
		cfg.Log.Info("embedded NATS server", "url", natsURL, "store", dir)
	}
	for i, addr := range cfg.Addrs {
		log := cfg.Log.With("instance", i+1)
		nc, err := nats.Connect(natsURL, natsfanout.ConnectOptions(log)...)
		if err != nil {
			return c, err
		}
		backend, err := natsfanout.New(ctx, nc, &natsfanout.Options{Logger: log})
		if err != nil {
			nc.Close()
			return c, err
		}
		broker := push.NewBroker(&push.Options{Backend: backend})
		gw := gateway.NewHandler(broker, &gateway.Options{Logger: log})
		mux := http.NewServeMux()
		mux.Handle("/server/data/gateway/", gw)
		mux.Handle("/backend/data/gateway/", gw)
		mux.Handle("/notification/", broker)
		mux.Handle("GET /{$}", shop.Page())
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			broker.Shutdown(ctx)
			nc.Close()
			return c, err
		}
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		c.URLs = append(c.URLs, "http://"+ln.Addr().String())
		// Stopped in reverse: instances first, then NATS.
		c.stop = append([]func(context.Context){func(ctx context.Context) {
			broker.Shutdown(ctx)
			srv.Shutdown(ctx)
			nc.Drain()
		}}, c.stop...)
	}
	return c, nil
}

// Stop stops the instances, then the embedded NATS server.
func (c *Cluster) Stop(ctx context.Context) {
	for _, stop := range c.stop {
		stop(ctx)
	}
	c.stop = nil
}

func main() {
	natsURL := flag.String("nats", "", "NATS server URL; empty starts an embedded server")
	addr1 := flag.String("addr1", "127.0.0.1:8081", "listen address of instance 1")
	addr2 := flag.String("addr2", "127.0.0.1:8082", "listen address of instance 2")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := Start(ctx, Config{Addrs: []string{*addr1, *addr2}, NATSURL: *natsURL, Log: log})
	if err != nil {
		log.Error("cluster", "err", err)
		os.Exit(1)
	}
	for _, u := range c.URLs {
		fmt.Println(u)
	}
	<-ctx.Done()
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.Stop(shut)
}
