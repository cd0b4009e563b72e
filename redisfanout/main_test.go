package redisfanout_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any goroutine outlives the tests: listeners,
// clients, proxies and the goroutines that watch redis-server processes
// are all stopped.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
