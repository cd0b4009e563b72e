// Command relay is a gateway at the edge that validates engage, noengage
// and notify requests and relays the valid ones to an upstream server (a
// GWE server still in service during a migration, say) with a
// gateway.Client as its Notifier. Strategies point at the relay; the
// upstream's answers come back through it, FAULTs included.
//
// The relay takes HTTP Basic credentials of its own: the user engage and a
// random password, printed at start (-user and -password, or $GATEWAY_USER
// and $GATEWAY_PASSWORD, choose them); -insecure turns them off, for local
// experiments only. It relays with the upstream's credentials
// (-upstream-user and -upstream-password, or $UPSTREAM_USER and
// $UPSTREAM_PASSWORD; none when unset), never with the ones it was sent.
//
//	go run ./examples/relay -addr 127.0.0.1:8081 -upstream http://gwe.internal:9081 -upstream-paths 8.1.2
//	curl -u engage:PASSWORD -d 'ixnProfile={"interactionID":"i-1","visitID":"v-1","channels":["chat"]}' http://127.0.0.1:8081/server/data/gateway/engage
//	go run ./cmd/engagectl cancel -url http://127.0.0.1:8081 -user engage -password PASSWORD -visit v-1 -interaction i-1
package main

import (
	"cmp"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/examples/internal/engageauth"
	"github.com/engagekit/gateway/examples/internal/serve"
)

// NewRelay returns the relay's handler, behind c, relaying to upstream
// with opts (whose Username and Password are the upstream's credentials).
func NewRelay(upstream string, opts *gateway.ClientOptions, c engageauth.Credentials, log *slog.Logger) (http.Handler, error) {
	client, err := gateway.NewClient(upstream, opts)
	if err != nil {
		return nil, err
	}
	h := gateway.NewHandler(client, &gateway.Options{Logger: log, Authenticate: c.Authenticate(), RefuseBrowsers: true})
	mux := http.NewServeMux()
	h.Mount(mux) // engage, noengage and notify under GWE 8.5's and 8.1.2's paths
	return mux, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	upstream := flag.String("upstream", "http://127.0.0.1:8080", "the upstream server's base URL")
	paths := flag.String("upstream-paths", "8.5", "the upstream's path family: 8.5 or 8.1.2")
	upstreamUser := flag.String("upstream-user", "", "the upstream's HTTP Basic user (default $UPSTREAM_USER; none when unset)")
	upstreamPassword := flag.String("upstream-password", "", "the upstream's HTTP Basic password (default $UPSTREAM_PASSWORD)")
	credentials := engageauth.Flags(flag.CommandLine)
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	c := credentials()
	family := gateway.Paths85
	if *paths == "8.1.2" {
		family = gateway.Paths812
	}
	h, err := NewRelay(*upstream, &gateway.ClientOptions{
		Paths:      family,
		Username:   cmp.Or(*upstreamUser, os.Getenv("UPSTREAM_USER")),
		Password:   cmp.Or(*upstreamPassword, os.Getenv("UPSTREAM_PASSWORD")),
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
	}, c, log)
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
	c.Announce(log)
	log.Info("relaying", "url", "http://"+ln.Addr().String(), "upstream", *upstream)
	if err := serve.Server(h, serve.Defaults).Serve(ln); err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}
