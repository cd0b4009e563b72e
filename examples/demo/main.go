// Command demo is the library's main job on one page: a small shop whose
// visitor gets the invitation an engage request sends, and loses it on
// noengage.
//
//	go run ./examples/demo            # then open http://127.0.0.1:8080
//
// It mounts engage/noengage under /server/data/gateway/ (GWE 8.5) and
// /backend/data/gateway/ (8.1.2), browser delivery under /notification/,
// and the shop at /. The page prints the curl lines that engage and cancel
// it; dispositions are logged.
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address (\":8080\" listens on every interface)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	d := NewDemo(log, nil)
	srv := &http.Server{Addr: *addr, Handler: d.Handler, ReadHeaderTimeout: 5 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.Broker.Shutdown(shut) // ends the event streams, so the server can stop
		srv.Shutdown(shut)
	}()
	log.Info("demo shop: open it in a browser", "url", "http://"+displayAddr(*addr))
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}

func displayAddr(addr string) string {
	if len(addr) > 0 && addr[0] == ':' {
		return "127.0.0.1" + addr
	}
	return addr
}
