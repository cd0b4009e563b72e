package webhook_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any goroutine outlives the tests: every
// Sender's workers, its transport's connections and the test receivers are
// all shut down.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
