package fanout_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/engagekit/gateway/examples/internal/fanout"
	"github.com/engagekit/gateway/examples/internal/fanout/fanouttest"
	"github.com/engagekit/gateway/push"
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
)

// servers start a server of each kind for a test.
var servers = map[string]func(testing.TB) string{"nats": fanouttest.NATS, "redis": fanouttest.Redis}

// up reports whether the server of kind at url answers.
func up(kind, url string) bool {
	if kind == "nats" {
		nc, err := nats.Connect(url, nats.Timeout(time.Second))
		if err != nil {
			return false
		}
		nc.Close()
		return true
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return false
	}
	opt.MaxRetries = -1
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.Ping(ctx).Err() == nil
}

// TestBackends makes the backends of a two-instance cluster of each kind,
// on a server it starts and on one given by URL: an event published by
// instance 1 reaches instance 2, and stop closes the connections and
// stops only the server it started.
func TestBackends(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	for _, kind := range []string{"nats", "redis"} {
		external := servers[kind](t)
		for _, tt := range []struct{ name, url string }{
			{"without a URL, on a server it starts", ""},
			{"with a URL, on that server", external},
		} {
			t.Run(kind+" "+tt.name, func(t *testing.T) {
				backends, stop, err := fanout.Backends(ctx, kind, tt.url, 2, log)
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
				if err := ev.UnmarshalBinary(fmt.Appendf(nil, `{"op":"engage","id":"e-1","at":%q,"expiresAt":%q,"profile":{"interactionID":"i-1","visitID":"v-1","channels":["chat"]}}`,
					at.Format(time.RFC3339Nano), at.Add(time.Minute).Format(time.RFC3339Nano))); err != nil {
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
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				if err := backends[0].Ping(pctx); err == nil {
					t.Error("a backend still reaches its server after stop: its connection is open")
				}
				if !up(kind, external) {
					t.Error("the external server was stopped")
				}
			})
		}
	}
	t.Run("an unknown kind is refused", func(t *testing.T) {
		if _, _, err := fanout.Backends(ctx, "kafka", "", 2, log); err == nil {
			t.Error("Backends(kafka) returned no error")
		}
	})
}

// TestStartServers starts a server of each kind, as Backends does without
// a URL, and stops it.
func TestStartServers(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for kind, start := range map[string]func(*slog.Logger) (string, func(), error){"nats": fanout.StartNATS, "redis": fanout.StartRedis} {
		t.Run(kind, func(t *testing.T) {
			if kind == "redis" {
				fanouttest.NeedRedisServer(t)
			}
			url, stop, err := start(log)
			if err != nil {
				t.Fatal(err)
			}
			if !up(kind, url) {
				t.Errorf("the server at %s does not answer", url)
			}
			stop()
			if up(kind, url) {
				t.Errorf("the server at %s answers after stop", url)
			}
		})
	}
}
