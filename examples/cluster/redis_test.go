package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway/push"
)

func needRedisServer(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server is needed in CI: %v", err)
		}
		t.Skipf("redis-server not found (apt-get install redis-server): %v", err)
	}
}

// TestRedisBackends makes the backends of a redis cluster, on a
// redis-server it starts and on one given by URL: an event published by
// instance 1 reaches instance 2, and stop stops only the server it
// started.
func TestRedisBackends(t *testing.T) {
	needRedisServer(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()

	external, stopExternal, err := startRedis(log)
	if err != nil {
		t.Fatal(err)
	}
	defer stopExternal()

	for _, tt := range []struct {
		name, url, eventID string
	}{
		{"without a URL, on a redis-server it starts", "", "e-started"},
		{"with a URL, on that Redis", external, "e-url"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			backends, stop, err := redisBackends(ctx, tt.url, 2, log)
			if err != nil {
				t.Fatal(err)
			}
			stopped := false
			defer func() {
				if !stopped {
					stop()
				}
			}()
			if len(backends) != 2 {
				t.Fatalf("%d backends, want 2", len(backends))
			}
			lctx, cancel := context.WithCancel(ctx)
			got := make(chan string, 1)
			done := make(chan error, 1)
			go func() { done <- backends[1].Listen(lctx, func(ev *push.Event) { got <- ev.ID() }) }()
			at := time.Now().UTC()
			ev := new(push.Event)
			if err := ev.UnmarshalBinary(fmt.Appendf(nil, `{"op":"engage","id":%q,"at":%q,"expiresAt":%q,"profile":{"interactionID":"i-1","visitID":"v-1","channels":["chat"]}}`,
				tt.eventID, at.Format(time.RFC3339Nano), at.Add(time.Minute).Format(time.RFC3339Nano))); err != nil {
				t.Fatal(err)
			}
			if err := backends[0].Publish(ctx, ev); err != nil {
				t.Fatal(err)
			}
			select {
			case id := <-got:
				if id != ev.ID() {
					t.Errorf("instance 2 got %s, want %s", id, ev.ID())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("instance 2 got nothing")
			}
			cancel()
			<-done

			stop()
			stopped = true
			if err := backends[0].Ping(ctx); err == nil {
				t.Error("a backend still reaches Redis after stop: its client is open")
			}
			if up := pong(strings.TrimPrefix(external, "redis://")); !up {
				t.Error("the external server was stopped")
			}
		})
	}
}

// TestStartRedis starts redis-server as -backend redis does without -redis,
// and stops it.
func TestStartRedis(t *testing.T) {
	needRedisServer(t)
	url, stop, err := startRedis(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	addr, ok := strings.CutPrefix(url, "redis://127.0.0.1:")
	if !ok {
		stop()
		t.Fatalf("URL %q, want redis://127.0.0.1:port", url)
	}
	addr = "127.0.0.1:" + addr
	if !pong(addr) {
		t.Error("the server does not answer")
	}
	stop()
	if pong(addr) {
		t.Error("the server answers after stop")
	}
}
