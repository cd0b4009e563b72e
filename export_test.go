package gateway

import (
	"context"
	"time"
)

// SetClientSleep replaces c's backoff wait, so tests count and measure
// delays without waiting for them.
func SetClientSleep(c *Client, sleep func(ctx context.Context, d time.Duration) error) {
	c.sleep = sleep
}
