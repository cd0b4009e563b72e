// Package fanouttest starts, for a test, the servers that fanout joins
// instances over.
package fanouttest

import (
	"log/slog"
	"os"
	"os/exec"
	"testing"

	"github.com/engagekit/gateway/examples/internal/fanout"
)

// NeedRedisServer skips tb, with the reason, when redis-server is not on
// PATH, or fails it when CI=true: CI installs it, and a suite that skips
// there proves nothing.
func NeedRedisServer(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("redis-server is needed in CI: %v", err)
		}
		tb.Skipf("redis-server not found (apt-get install redis-server): %v", err)
	}
}

// NATS starts an embedded NATS server with JetStream for tb
// ([fanout.StartNATS]) and returns its URL. It is stopped when the test
// ends.
func NATS(tb testing.TB) string {
	tb.Helper()
	url, stop, err := fanout.StartNATS(slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(stop)
	return url
}

// Redis starts a redis-server for tb ([fanout.StartRedis]), after
// [NeedRedisServer], and returns its URL. It is stopped when the test
// ends.
func Redis(tb testing.TB) string {
	tb.Helper()
	NeedRedisServer(tb)
	url, stop, err := fanout.StartRedis(slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(stop)
	return url
}
