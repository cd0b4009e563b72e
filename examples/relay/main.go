// Command relay is a gateway at the edge that validates engage and
// noengage requests and relays the valid ones to an upstream server (a GWE
// server still in service during a migration, say) with a gateway.Client as
// its Notifier. Strategies point at the relay; the upstream's answers come
// back through it, FAULTs included.
//
//	go run ./examples/relay -addr 127.0.0.1:8081 -upstream http://gwe.internal:9081 -upstream-paths 8.1.2
package main

import (
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/examples/internal/serve"
)

// NewRelay returns the relay's handler, relaying to upstream.
func NewRelay(upstream string, opts *gateway.ClientOptions, log *slog.Logger) (http.Handler, error) {
	client, err := gateway.NewClient(upstream, opts)
	if err != nil {
		return nil, err
	}
	h := gateway.NewHandler(client, &gateway.Options{Logger: log, RefuseBrowsers: true})
	mux := http.NewServeMux()
	mux.Handle("/server/data/gateway/", h)
	mux.Handle("/backend/data/gateway/", h)
	return mux, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	upstream := flag.String("upstream", "http://127.0.0.1:8080", "the upstream server's base URL")
	paths := flag.String("upstream-paths", "8.5", "the upstream's path family: 8.5 or 8.1.2")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	family := gateway.Paths85
	if *paths == "8.1.2" {
		family = gateway.Paths812
	}
	h, err := NewRelay(*upstream, &gateway.ClientOptions{
		Paths:    family,
		Username: os.Getenv("UPSTREAM_USER"), Password: os.Getenv("UPSTREAM_PASSWORD"),
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
	}, log)
	if err != nil {
		log.Error("relay", "err", err)
		os.Exit(2)
	}
	// Listen before printing the URL, so that a taken port is reported alone.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("cannot listen", "err", err)
		os.Exit(1)
	}
	log.Info("relaying", "url", "http://"+ln.Addr().String(), "upstream", *upstream)
	if err := serve.Server(h, serve.Defaults).Serve(ln); err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}
