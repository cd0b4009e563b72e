package fanout_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any goroutine outlives the tests: stop closes
// every connection and stops every server that was started.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
