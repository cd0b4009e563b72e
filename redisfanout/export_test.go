package redisfanout

import "time"

// SetBlock sets how long one XREAD of b's listeners waits before the
// listener checks the stream for a reset, so that tests of an idle stream
// need not wait the default 5 s. Call it before Listen.
func SetBlock(b *Backend, d time.Duration) { b.block = d }
