package push

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"
)

// nopSink is a stream without a connection, for benchmarks of the
// broker's view.
type nopSink struct{}

func (nopSink) write([][]byte, time.Duration) error { return nil }
func (nopSink) close()                              {}
func (nopSink) conn() net.Conn                      { return nil }

// BenchmarkSweep measures the once-a-second sweep of a broker whose
// streams are all idle, with nothing due: its cost must not grow with the
// streams (it used to walk every visit and peek at every socket).
func BenchmarkSweep(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprint("idle-streams=", n), func(b *testing.B) {
			br := NewBroker(&Options{MaxSubscribers: n, Heartbeat: time.Hour})
			defer br.Shutdown(context.Background())
			for i := range n {
				s, _, err := br.subscribe(fmt.Sprint("visit-", i), "", "", "")
				if err != nil {
					b.Fatal(err)
				}
				br.release(s, nopSink{}, 0)
			}
			br.sweep() // the visits made are checked once
			for b.Loop() {
				br.sweep()
			}
		})
	}
}
