// Command demo is the library's main job on one page: a small shop whose
// visitor gets the invitation an engage request sends, and loses it on
// noengage.
//
//	go run ./examples/demo                # then open http://127.0.0.1:8080
//	go run ./examples/demo -addr :8080    # on every interface
//
// It mounts engage/noengage under /server/data/gateway/ (GWE 8.5) and
// /backend/data/gateway/ (8.1.2), browser delivery under /notification/,
// and the shop at /. The page prints the curl lines that engage and cancel
// it; dispositions are logged. It prints its URL once it listens; a port
// that is taken is reported alone, with exit status 1.
//
// It is secure by default: engage and noengage take HTTP Basic
// credentials (-user and -password, or $GATEWAY_USER and
// $GATEWAY_PASSWORD; the user engage and a random password, printed at
// start, when unset), and the browser side takes the visitor tokens the
// shop page is rendered with (signed with -token-key or
// $GATEWAY_TOKEN_KEY, ID:BASE64SECRET; a random key when unset). -insecure
// turns both off, for local experiments only.
//
// The invitation's lifecycle:
//
//	go run ./examples/demo -cooldown 10m  # no invitation for 10 minutes after a visitor declines one
//
// -webhook URL -webhook-secret whsec_… sends each invitation's outcome
// (accepted, rejected, timeout, closed, expired, cancelled, suppressed)
// to URL as a signed Standard Webhooks message; the secret may come from
// $GATEWAY_WEBHOOK_SECRET instead.
package main

import (
	"context"
	"flag"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/engagekit/gateway/examples/internal/shop"
	"github.com/engagekit/gateway/push"

	"github.com/engagekit/gateway/examples/internal/serve"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address (\":8080\" listens on every interface)")
	setup := shop.Flags(flag.CommandLine)
	flag.Parse()
	log, sec, lc := setup("demo")
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("demo: cannot listen", "err", err)
		os.Exit(1)
	}
	sec.Announce(log)
	lc.Announce(log)
	var po push.Options
	lc.Apply(&po)
	d := NewDemo(Config{Log: log, Security: sec, Push: po})
	srv := serve.Server(d.Handler, serve.Defaults)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("demo shop: open it in a browser", "url", shop.BaseURL(ln.Addr()))

	select {
	case err := <-served: // Serve returns early only on a listener failure
		log.Error("demo: serve", "err", err)
		os.Exit(1)
	case <-ctx.Done():
	}
	stop() // a second Ctrl-C ends the program at once
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d.Broker.Shutdown(shut) // ends the event streams, so that the server can stop
	d.Ops.Shutdown(shut)    // and the console's
	if err := srv.Shutdown(shut); err != nil {
		log.Warn("demo: shutdown", "err", err)
	}
	lc.Close(shut) // the outcomes still queued, once the broker is down
}
