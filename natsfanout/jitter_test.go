package natsfanout

import (
	"testing"
	"time"
)

// TestJitteredRetries: a listener's wait before it listens again is
// between half the backoff and the backoff, and not the same every time,
// so that instances stopped by one outage do not retry in step.
func TestJitteredRetries(t *testing.T) {
	for _, d := range []time.Duration{minRetry, time.Second, maxRetry} {
		seen := map[time.Duration]bool{}
		for range 100 {
			w := jittered(d)
			if w < d/2 || w > d {
				t.Fatalf("jittered(%v) = %v, want %v to %v", d, w, d/2, d)
			}
			seen[w] = true
		}
		if len(seen) < 10 {
			t.Errorf("jittered(%v) gave %d distinct waits in 100, want a spread", d, len(seen))
		}
	}
}
