package push

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/engagekit/gateway"
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

// TestSweeperSleepsUntilDue: with nothing due before an invitation that
// expires in ten minutes, the sweeper does not wake every second; an
// invitation added meanwhile that expires sooner wakes it, and ends on
// time.
func TestSweeperSleepsUntilDue(t *testing.T) {
	t.Parallel()
	b := NewBroker(&Options{Heartbeat: time.Hour}) // the real clock: timers measure its time
	t.Cleanup(func() { b.Shutdown(context.Background()) })
	engage := func(id string, expiresIn int) {
		t.Helper()
		p := &gateway.Profile{InteractionID: id, VisitID: "v-" + id, Channels: []string{"chat"}, ExpiresIn: expiresIn}
		if err := b.Engage(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	// settled waits for the sweep that what was just added asks for, then
	// a little longer: the sweeper has gone back to sleep.
	settled := func(before int64) {
		for start := time.Now(); b.sweeps.Load() == before && time.Since(start) < 3*time.Second; {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
	}
	engage("far", 600)
	settled(0) // the first sweep, a second after the start, finds it
	swept := b.sweeps.Load()
	time.Sleep(2500 * time.Millisecond)
	if n := b.sweeps.Load() - swept; n != 0 {
		t.Errorf("swept %d times in 2.5 s with nothing due for ten minutes, want 0", n)
	}

	engage("near", 1)
	start := time.Now()
	for b.Stats().Invitations != 1 {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("an invitation that expires in 1 s still live after %v", time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
	settled(b.sweeps.Load()) // the sweep its tombstone asks for
	swept = b.sweeps.Load()
	time.Sleep(2500 * time.Millisecond)
	if n := b.sweeps.Load() - swept; n != 0 {
		t.Errorf("swept %d times in 2.5 s once the near one had expired, want 0", n)
	}
}
