package natsfanout_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any goroutine outlives the tests: fanouts,
// brokers, NATS connections and the in-process servers are all shut down.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
