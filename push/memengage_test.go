package push_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
	"github.com/google/go-cmp/cmp"
)

// generalPath is a MemoryBackend the broker does not recognise as one, so
// that its Engage calls Claim, Ended and Publish one by one instead
// of the memory backend's one-step engage.
type generalPath struct{ *push.MemoryBackend }

// fastPathHarness is a broker over a memory backend, each with a clock of
// its own.
type fastPathHarness struct {
	b                    *push.Broker
	be                   *push.MemoryBackend
	brokerNow, backendAt *clock
}

func (h *fastPathHarness) engage(visitID, id string, expiresIn int) string {
	err := h.b.Engage(context.Background(), &gateway.Profile{InteractionID: id, VisitID: visitID, Channels: []string{"chat"}, ExpiresIn: expiresIn})
	switch {
	case err == nil:
		return "accepted"
	case errors.Is(err, gateway.ErrEngagementInProgress):
		return "in progress"
	default:
		return err.Error()
	}
}

func (h *fastPathHarness) cancel(visitID, id string) string {
	if err := h.b.Cancel(context.Background(), &gateway.CancelData{InteractionID: id, VisitID: visitID}); err != nil {
		return err.Error()
	}
	return "cancelled"
}

// TestMemoryFastPath: a broker over a MemoryBackend engages in one step of
// the backend; it answers every engage as the general path does, and
// leaves the same invitations live.
func TestMemoryFastPath(t *testing.T) {
	t.Parallel()
	type step struct {
		do   func(h *fastPathHarness) string
		want string
	}
	engage := func(visitID, id string, expiresIn int, want string) step {
		return step{func(h *fastPathHarness) string { return h.engage(visitID, id, expiresIn) }, want}
	}
	cancel := func(visitID, id string) step {
		return step{func(h *fastPathHarness) string { return h.cancel(visitID, id) }, "cancelled"}
	}
	tests := []struct {
		name    string
		lenient bool
		steps   []step
	}{
		{name: "a free visit is engaged, once", steps: []step{
			engage("v-1", "i-1", 0, "accepted"),
			engage("v-1", "i-1", 0, "accepted"),
		}},
		{name: "strict mode refuses a second interaction, and takes it once the first is cancelled", steps: []step{
			engage("v-1", "i-1", 0, "accepted"),
			engage("v-1", "i-2", 0, "in progress"),
			cancel("v-1", "i-1"),
			engage("v-1", "i-2", 0, "accepted"),
		}},
		{name: "a cancel that comes first drops its engage and leaves the visit free", steps: []step{
			cancel("v-1", "i-1"),
			engage("v-1", "i-1", 0, "accepted"),
			engage("v-1", "i-2", 0, "accepted"),
		}},
		{name: "an end the backend recorded, that this broker has not seen, drops the engage", steps: []step{
			{func(h *fastPathHarness) string {
				h.be.End(context.Background(), "v-1", "i-1", time.Minute)
				return "ended"
			}, "ended"},
			engage("v-1", "i-1", 0, "accepted"),
			engage("v-1", "i-2", 0, "accepted"),
		}},
		{name: "a claim that outlives its invitation is released by the broker that saw it expire", steps: []step{
			engage("v-1", "i-1", 10, "accepted"),
			{func(h *fastPathHarness) string { h.brokerNow.Add(10 * time.Second); return "expired here" }, "expired here"},
			engage("v-1", "i-2", 0, "accepted"),
			engage("v-1", "i-3", 0, "in progress"),
		}},
		{name: "a claim that lapsed with its invitation is taken", steps: []step{
			engage("v-1", "i-1", 10, "accepted"),
			{func(h *fastPathHarness) string {
				h.brokerNow.Add(10 * time.Second)
				h.backendAt.Add(10 * time.Second)
				return "expired"
			}, "expired"},
			engage("v-1", "i-1", 0, "accepted"),
			engage("v-1", "i-2", 0, "accepted"),
		}},
		{name: "visits are independent", steps: []step{
			engage("v-1", "i-1", 0, "accepted"),
			engage("v-2", "i-1", 0, "accepted"),
			engage("v-2", "i-2", 0, "in progress"),
		}},
		{name: "lenient mode takes every interaction", lenient: true, steps: []step{
			engage("v-1", "i-1", 0, "accepted"),
			engage("v-1", "i-2", 0, "accepted"),
			cancel("v-1", "i-1"),
			engage("v-1", "i-1", 0, "accepted"),
		}},
	}
	run := func(t *testing.T, general, lenient bool, steps []step) (answers []string, live []int) {
		start := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
		h := &fastPathHarness{brokerNow: &clock{now: start}, backendAt: &clock{now: start}}
		h.be = push.NewMemoryBackend(&push.MemoryOptions{Now: h.backendAt.Now})
		var be push.Backend = h.be
		if general {
			be = generalPath{h.be}
		}
		h.b = push.NewBroker(&push.Options{Backend: be, Lenient: lenient, Now: h.brokerNow.Now})
		t.Cleanup(func() { h.b.Shutdown(context.Background()) })
		for _, s := range steps {
			answers = append(answers, s.do(h))
			live = append(live, h.b.Stats().Invitations)
		}
		return answers, live
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []string
			for _, s := range tt.steps {
				want = append(want, s.want)
			}
			fast, fastLive := run(t, false, tt.lenient, tt.steps)
			general, generalLive := run(t, true, tt.lenient, tt.steps)
			if diff := cmp.Diff(want, fast); diff != "" {
				t.Errorf("answers on the fast path (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(general, fast); diff != "" {
				t.Errorf("answers: fast path against the general path (-general +fast):\n%s", diff)
			}
			if diff := cmp.Diff(generalLive, fastLive); diff != "" {
				t.Errorf("live invitations after each step: fast path against the general path (-general +fast):\n%s", diff)
			}
		})
	}
}

// BenchmarkEngageMemory measures an engage and its cancel on a broker
// over a MemoryBackend, with no stream: the broker's own cost, on the
// memory backend's one-step path and on the general path of four calls;
// then with a Gate that counts (a cool-down: the visit's record is read
// and written on each engage), and with an OnOutcome hook (each cancel's
// outcome is queued for its election).
func BenchmarkEngageMemory(b *testing.B) {
	for _, path := range []string{"fast", "general", "gated", "outcomes"} {
		b.Run(path, func(b *testing.B) {
			var be push.Backend = push.NewMemoryBackend(nil)
			opts := push.Options{}
			switch path {
			case "general":
				be = generalPath{be.(*push.MemoryBackend)}
			case "gated":
				opts.Gate = &push.Gate{Cooldown: time.Hour}
			case "outcomes":
				opts.OnOutcome = func(push.Outcome) {}
			}
			opts.Backend = be
			br := push.NewBroker(&opts)
			defer br.Shutdown(context.Background())
			ctx := context.Background()
			p := &gateway.Profile{VisitID: "active", Channels: []string{"chat"}}
			c := &gateway.CancelData{VisitID: "active"}
			var buf []byte
			i := 0
			for b.Loop() {
				i++
				buf = strconv.AppendInt(append(buf[:0], "i-"...), int64(i), 10)
				p.InteractionID = string(buf)
				if err := br.Engage(ctx, p); err != nil {
					b.Fatal(err)
				}
				c.InteractionID = p.InteractionID
				if err := br.Cancel(ctx, c); err != nil {
					b.Fatal(i, err)
				}
			}
		})
	}
}
