package webhook

import (
	"net/http"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		n          int
		first      time.Duration
		ceiling    time.Duration
		retryAfter time.Duration
		lo, hi     time.Duration // the wait is in [lo, hi]
	}{
		{"the first retry waits the upper half of MinBackoff", 1, time.Second, time.Minute, 0, 500 * time.Millisecond, time.Second},
		{"each retry doubles it", 3, time.Second, time.Minute, 0, 2 * time.Second, 4 * time.Second},
		{"the sixth doubles it five times", 6, time.Second, time.Minute, 0, 16 * time.Second, 32 * time.Second},
		{"the seventh is capped at MaxBackoff", 7, time.Second, time.Minute, 0, 30 * time.Second, time.Minute},
		{"the hundredth does not overflow", 100, time.Second, time.Minute, 0, 30 * time.Second, time.Minute},
		{"a Retry-After longer than the backoff is waited out", 1, time.Second, time.Minute, 10 * time.Second, 10 * time.Second, 10 * time.Second},
		{"a Retry-After shorter than the backoff changes nothing", 3, time.Second, time.Minute, time.Second, 2 * time.Second, 4 * time.Second},
		{"a Retry-After beyond MaxBackoff is cut to it", 1, time.Second, time.Minute, time.Hour, time.Minute, time.Minute},
		{"a backoff of one nanosecond works", 1, 1, 1, 0, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := make(map[time.Duration]bool)
			for range 200 {
				d := backoff(tc.n, tc.first, tc.ceiling, tc.retryAfter)
				if d < tc.lo || d > tc.hi {
					t.Fatalf("backoff(%d) = %v, want within [%v, %v]", tc.n, d, tc.lo, tc.hi)
				}
				seen[d] = true
			}
			if tc.lo != tc.hi && len(seen) < 100 {
				t.Errorf("backoff(%d) took %d values in 200 calls, want it jittered", tc.n, len(seen))
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, header string
		want         time.Duration
	}{
		{"no header is no wait", "", 0},
		{"seconds are read", "3", 3 * time.Second},
		{"zero seconds is no wait", "0", 0},
		{"many seconds are a day at most", "1000000", 24 * time.Hour},
		{"more seconds than a uint64 holds are a day", "99999999999999999999", 24 * time.Hour},
		{"negative seconds are ignored", "-5", 0},
		{"a date is a wait until then", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"a past date is no wait", now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"anything else is ignored", "soon", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryAfter(tc.header, now); got != tc.want {
				t.Errorf("retryAfter(%q) = %v, want %v", tc.header, got, tc.want)
			}
		})
	}
}
