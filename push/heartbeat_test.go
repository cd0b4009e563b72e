package push_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

// heartbeats records when the heartbeats of s arrive, until d has passed.
func heartbeats(s *rawStream, d time.Duration) []time.Time {
	var at []time.Time
	s.conn.SetReadDeadline(time.Now().Add(d))
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return at
		}
		if strings.HasPrefix(line, ": heartbeat") {
			at = append(at, time.Now())
		}
	}
}

// TestHeartbeatsAreSpreadOverTheInterval: each stream gets a heartbeat
// once per Heartbeat, plain or TLS, and streams opened half an interval
// apart get theirs half an interval apart: the wheel spreads the
// heartbeats of many streams over the interval instead of sending them
// all at once, as the single ticker did. It measures time, so it does not
// run beside the parallel tests.
func TestHeartbeatsAreSpreadOverTheInterval(t *testing.T) {
	const hb = 320 * time.Millisecond
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprint("TLS ", useTLS), func(t *testing.T) {
			t.Parallel()
			_, srv := streamServer(t, useTLS, &push.Options{Heartbeat: hb})
			first := openRaw(t, srv, useTLS, "/notification/v-1")
			time.Sleep(hb / 2)
			second := openRaw(t, srv, useTLS, "/notification/v-2")
			done := make(chan []time.Time)
			go func() { done <- heartbeats(first, 4*hb) }()
			atSecond := heartbeats(second, 4*hb)
			atFirst := <-done
			for i, at := range [][]time.Time{atFirst, atSecond} {
				if len(at) < 3 {
					t.Fatalf("stream %d: %d heartbeats in %v, want one per %v", i+1, len(at), 4*hb, hb)
				}
				for j := 1; j < len(at); j++ { // a loaded machine delays some
					if gap := at[j].Sub(at[j-1]); gap < hb/2 || gap > hb*3/2 {
						t.Errorf("stream %d: heartbeats %v apart, want %v", i+1, gap, hb)
					}
				}
			}
			// The phase of the second stream's heartbeats, in the first's.
			phase := atSecond[0].Sub(atFirst[0]) % hb
			if phase < 0 {
				phase += hb
			}
			if phase < hb/4 || phase > hb*3/4 {
				t.Errorf("heartbeats of streams opened %v apart are %v apart", hb/2, phase)
			}
		})
	}
}

// TestHeartbeatTickerSleepsWithoutStreams: a broker with no stream open
// does not wake for heartbeats. The wheel's ticker stops at a turn that
// finds no stream, starts again for the next stream, which gets its
// heartbeats, and stops again once that stream is gone.
func TestHeartbeatTickerSleepsWithoutStreams(t *testing.T) {
	t.Parallel()
	const hb = 320 * time.Millisecond // a turn every 20 ms
	b, srv := streamServer(t, false, &push.Options{Heartbeat: hb})
	quiet := func(when string) {
		t.Helper()
		// The turn that finds the wheel empty may come late on a busy
		// machine: wait for the ticks to stop, then for a Heartbeat.
		for start := time.Now(); ; {
			ticks := b.BeatTicks()
			time.Sleep(hb / 4)
			if b.BeatTicks() == ticks {
				break
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("%s: the ticker still ticks after 5 s without a stream", when)
			}
		}
		ticks := b.BeatTicks()
		time.Sleep(hb) // sixteen turns, were it ticking
		if n := b.BeatTicks() - ticks; n != 0 {
			t.Errorf("%s: the ticker ticked %d times in a Heartbeat without a stream, want 0", when, n)
		}
	}
	quiet("at the start")

	s := openRaw(t, srv, false, "/notification/v-1")
	if at := heartbeats(s, 4*hb); len(at) < 2 {
		t.Errorf("a stream opened on a sleeping wheel got %d heartbeats in %v, want one per %v", len(at), 4*hb, hb)
	}
	s.conn.Close()
	for start := time.Now(); b.Stats().Subscribers != 0; time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatal("the closed stream is still counted")
		}
	}
	quiet("after the stream went")
}

// TestGoneStreamsLeaveNothingBehind: a stream that goes leaves the
// poller and the heartbeat wheel at once and, once its visit has nothing
// left, the next sweep forgets the visit, over HTTP/1.1, TLS and HTTP/2.
func TestGoneStreamsLeaveNothingBehind(t *testing.T) {
	t.Parallel()
	for _, tr := range []string{"HTTP/1.1", "TLS", "HTTP/2"} {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			b := push.NewBroker(&push.Options{Heartbeat: time.Hour})
			srv := httptest.NewUnstartedServer(b)
			srv.EnableHTTP2 = tr == "HTTP/2"
			if tr == "HTTP/1.1" {
				srv.Start()
			} else {
				srv.StartTLS()
			}
			t.Cleanup(func() {
				b.Shutdown(context.Background())
				srv.Close()
			})
			e := &env{b: b, srv: srv}
			ctx := context.Background()
			var streams []*stream
			for i := range 10 {
				streams = append(streams, e.subscribe(t, fmt.Sprint("/notification/v-", i), nil))
			}
			for _, v := range []string{"v-1", "v-2", "alone"} { // two with streams, one without
				if err := b.Engage(ctx, &gateway.Profile{InteractionID: "i-" + v, VisitID: v, Channels: []string{"chat"}}); err != nil {
					t.Fatal(err)
				}
			}
			wantPolled := 10
			if tr == "HTTP/2" {
				wantPolled = 0 // held by their handlers: net/http tells when they go
			}
			// A stream is released to the wheel and the poller just after
			// its head is written.
			eventually(t, "the streams are in the wheel and polled", func() bool {
				return b.WheelLen() == 10 && b.PolledLen() == wantPolled
			})
			for _, s := range streams {
				s.close()
			}
			eventually(t, "the streams are gone", func() bool { return b.Stats().Subscribers == 0 })
			if got, polled := b.WheelLen(), b.PolledLen(); got != 0 || polled != 0 {
				t.Errorf("%d streams left in the wheel, %d polled", got, polled)
			}
			b.Sweep()
			if got := b.VisitsLen(); got != 3 {
				t.Errorf("%d visits held, want the 3 with an invitation", got)
			}
			for _, v := range []string{"v-1", "v-2", "alone"} {
				e.cancel(t, v, "i-"+v)
			}
			b.Sweep()
			if got := b.VisitsLen(); got != 0 {
				t.Errorf("%d visits held once nothing is left", got)
			}
		})
	}
}

// TestSleepingSweeperWakes: the sweeper, asleep while nothing can come
// due, wakes for a visit left empty and for an invitation that expires.
func TestSleepingSweeperWakes(t *testing.T) {
	t.Parallel()
	t.Run("a visit left empty", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, &push.Options{Now: time.Now, Heartbeat: time.Hour})
		s := e.subscribe(t, "/notification/v-1", nil)
		time.Sleep(1500 * time.Millisecond) // past the first sweep, which found nothing due
		s.close()
		eventually(t, "the visit is forgotten", func() bool { return e.b.VisitsLen() == 0 })
	})
	t.Run("an invitation that expires", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, &push.Options{Now: time.Now, Heartbeat: time.Hour})
		s := e.subscribe(t, "/notification/v-1", nil)
		time.Sleep(1500 * time.Millisecond)
		if err := e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: "v-1", ExpiresIn: 1}); err != nil {
			t.Fatal(err)
		}
		wantEngage(t, s.next(t), "i-1")
		wantCancel(t, s.next(t), "i-1", "expired")
	})
}
