package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/engagekit/gateway/natsfanout"
	"github.com/engagekit/gateway/push"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// natsBackends returns n backends on the NATS server at url, each with a
// connection of its own as n processes would have; with url empty it
// first starts an embedded NATS server with JetStream in a temp dir. stop
// drains the connections, then stops the server it started. The brokers
// must be shut down first.
func natsBackends(ctx context.Context, url string, n int, log *slog.Logger) (backends []push.Backend, stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	if url == "" {
		dir, err := os.MkdirTemp("", "gwe-cluster-nats-")
		if err != nil {
			return nil, stop, err
		}
		ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
		if err != nil {
			os.RemoveAll(dir)
			return nil, stop, err
		}
		go ns.Start()
		stops = append(stops, func() { ns.Shutdown(); ns.WaitForShutdown(); os.RemoveAll(dir) })
		if !ns.ReadyForConnections(10 * time.Second) {
			return nil, stop, errors.New("embedded NATS server did not start")
		}
		url = ns.ClientURL()
		log.Info("embedded NATS server", "url", url, "store", dir)
	}
	for i := range n {
		log := log.With("instance", i+1)
		nc, err := nats.Connect(url, natsfanout.ConnectOptions(log)...)
		if err != nil {
			return nil, stop, err
		}
		stops = append(stops, func() { drain(nc) })
		backend, err := natsfanout.New(ctx, nc, &natsfanout.Options{Logger: log})
		if err != nil {
			return nil, stop, err
		}
		backends = append(backends, backend)
	}
	return backends, stop, nil
}

// drain drains nc and waits until it is closed, at most 5 s: Drain only
// starts the drain, and a server stopped under it makes the client report
// errors.
func drain(nc *nats.Conn) {
	if nc.Drain() == nil {
		for deadline := time.Now().Add(5 * time.Second); !nc.IsClosed() && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	nc.Close()
}
