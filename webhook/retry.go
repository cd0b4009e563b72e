package webhook

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// backoff returns the wait after the nth failed attempt of an outcome:
// first doubled n-1 times and capped at ceiling, then jittered to a
// uniformly random point of its upper half, so that outcomes that failed
// together do not come back together; never less than the receiver's
// Retry-After, and never more than ceiling.
func backoff(n int, first, ceiling, retryAfter time.Duration) time.Duration {
	d := ceiling
	if shift := n - 1; shift < 62 && first <= ceiling>>shift {
		d = first << shift
	}
	d = d - d/2 + rand.N(d/2+1)
	return min(max(d, retryAfter), ceiling)
}

// retryAfter reads a Retry-After header, delay-seconds or an HTTP-date
// (RFC 9110, section 10.2.3), as a wait from now; 0 when it is absent,
// malformed or past.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	// Too many digits for a uint64 is a range error with the largest
	// value: a very long wait. Beyond a day it is capped by MaxBackoff
	// anyway; the cap keeps the multiplication from overflowing.
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		return time.Duration(min(secs, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
