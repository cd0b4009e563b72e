package push

import (
	"math/rand/v2"
	"strconv"
	"time"
)

// defaultShutdownRate is Options.ShutdownRate's default, in streams per
// second: at it BenchmarkReconnectStorm measured an engage p99 under 4 ms
// on two cores shared with 15,000 simulated browsers (see the README).
const defaultShutdownRate = 2000

// retrySpread returns a broker's jitter and shutdown rate from its
// options, 0 meaning none of either: a jitter of 0 means retry, a
// negative one none; a rate of 0 means the default, a negative one none.
func retrySpread(retry, jitter time.Duration, rate int) (time.Duration, int) {
	switch {
	case jitter == 0:
		jitter = retry
	case jitter < 0:
		jitter = 0
	}
	switch {
	case rate == 0:
		rate = defaultShutdownRate
	case rate < 0:
		rate = 0
	}
	return jitter, rate
}

// retryFor returns the reconnection delay a new stream asks for: Retry
// plus a random part of RetryJitter.
func (b *Broker) retryFor() time.Duration {
	if b.retryJitter <= 0 {
		return b.retry
	}
	return b.retry + rand.N(b.retryJitter)
}

// retryFrame is the retry field asking a browser to reconnect after d, in
// whole milliseconds.
func retryFrame(d time.Duration) []byte {
	frame := append(make([]byte, 0, 24), "retry: "...)
	frame = strconv.AppendInt(frame, d.Milliseconds(), 10)
	return append(frame, "\n\n"...)
}

// leaveDelay is the retry the i-th of n streams is sent by Shutdown:
// spread evenly from Retry to Retry plus n/ShutdownRate seconds.
func (b *Broker) leaveDelay(i, n int) time.Duration {
	spread := time.Duration(n) * time.Second / time.Duration(b.shutdownRate)
	return b.retry + spread*time.Duration(i)/time.Duration(n)
}

// leave sends each of the streams Shutdown closes its last retry (see
// leaveDelay) and drops it once that is written: at once for an idle
// plain stream, whose socket has room and is written without waiting;
// otherwise through its writer, as a last frame, within WriteTimeout.
func (b *Broker) leave(all []*subscriber) {
	for i, s := range all {
		if i%64 == 63 {
			// Let the requests being served run. Not a Gosched: that
			// leaves the run queue never empty, and with GOMAXPROCS 1
			// the network is then polled only every 10 ms (sysmon), which
			// BenchmarkReconnectStorm's engages saw at their p99.
			time.Sleep(time.Microsecond)
		}
		frame := retryFrame(b.leaveDelay(i, len(all)))
		s.mu.Lock()
		var rc rawWriter
		if !s.dead && !s.ending && !s.writing && s.sink != nil {
			if c := s.sink.conn(); c != nil {
				rc = directWriter(c)
			}
		}
		if rc == nil {
			s.mu.Unlock()
			b.closeWith(s, frame)
			continue
		}
		s.writing = true
		s.mu.Unlock()
		writeNow(rc, frame) // all of it, or the browser keeps the retry it had
		b.drop(s)
	}
}
