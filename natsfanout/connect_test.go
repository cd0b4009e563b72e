package natsfanout_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/engagekit/gateway/natsfanout"
	"github.com/nats-io/nats.go"
)

// records is a slog.Handler that hands each record to a channel, and drops
// it when the channel is full rather than block NATS's callbacks.
type records chan slog.Record

func (r records) Enabled(context.Context, slog.Level) bool { return true }
func (r records) Handle(_ context.Context, rec slog.Record) error {
	select {
	case r <- rec:
	default:
	}
	return nil
}
func (r records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r records) WithGroup(string) slog.Handler      { return r }

// until returns the records logged up to and including the first one
// whose message is msg.
func (r records) until(t *testing.T, msg string) []slog.Record {
	t.Helper()
	var got []slog.Record
	for {
		select {
		case rec := <-r:
			got = append(got, rec)
			if rec.Message == msg {
				return got
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %q logged within 10s; got %v", msg, got)
		}
	}
}

// TestConnectOptionsLogging: a connection the host closes logs no warning;
// a connection the server drops logs a warning with the cause.
func TestConnectOptionsLogging(t *testing.T) {
	for _, tc := range []struct {
		name     string
		end      func(*natsServer, *nats.Conn)
		until    string
		wantWarn bool
	}{
		{"closing the connection logs no warning", func(_ *natsServer, nc *nats.Conn) { nc.Close() }, "nats: connection closed", false},
		{"draining the connection logs no warning", func(_ *natsServer, nc *nats.Conn) { nc.Drain() }, "nats: connection closed", false},
		{"losing the server logs a warning with its cause", func(n *natsServer, _ *nats.Conn) { n.stop() }, "nats: disconnected", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNATS(t)
			logged := make(records, 64)
			nc, err := nats.Connect(n.url(), natsfanout.ConnectOptions(slog.New(logged))...)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			logged.until(t, "nats: connected")
			tc.end(n, nc)
			var warned []string
			for _, rec := range logged.until(t, tc.until) {
				if rec.Level < slog.LevelWarn {
					continue
				}
				var cause any
				rec.Attrs(func(a slog.Attr) bool {
					if a.Key == "err" {
						cause = a.Value.Any()
					}
					return true
				})
				if cause == nil {
					t.Errorf("%s %q logged without a cause", rec.Level, rec.Message)
				}
				warned = append(warned, rec.Message)
			}
			if gotWarn := len(warned) > 0; gotWarn != tc.wantWarn {
				t.Errorf("warnings %q, want some: %v", warned, tc.wantWarn)
			}
		})
	}
}
