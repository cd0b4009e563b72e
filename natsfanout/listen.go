package natsfanout

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/engagekit/gateway/push"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// heartbeat is how often an idle consumer hears from the server: a
	// listener notices a lost consumer (the server restarted, the stream
	// deleted) within two heartbeats.
	heartbeat = time.Second
	// inactiveThreshold is how long the server keeps a consumer nobody
	// reads, when its listener could not delete it.
	inactiveThreshold = time.Minute
	// The wait before a listener tries again, doubling while it fails.
	minRetry, maxRetry = 50 * time.Millisecond, 2 * time.Second
)

// Listen implements [push.Backend]. It reads the stream through an
// ephemeral consumer of its own, and makes a new one, from the event after
// the last it read, whenever the consumer is lost; see the package
// documentation for what happens when the stream was recreated. It returns
// an error other than ctx's only when the connection is closed when it is
// called.
func (b *Backend) Listen(ctx context.Context, deliver func(*push.Event)) error {
	if b.nc.IsClosed() {
		return errors.New("natsfanout: Listen on a closed NATS connection")
	}
	l := &listener{b: b, deliver: deliver}
	wait := minRetry
	for {
		started, err := l.session(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if started {
			wait = minRetry
		}
		after := jittered(wait)
		if b.logger != nil {
			b.logger.Warn("natsfanout: listening again", "after", after, "err", err)
		}
		t := time.NewTimer(after)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, maxRetry)
	}
}

// jittered returns a wait between half of d and d, at random, so that the
// instances a NATS outage stopped together do not come back together.
func jittered(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// listener is the state of one Listen call.
type listener struct {
	b       *Backend
	deliver func(*push.Event)
	cursor  uint64    // the stream sequence of the last event read; 0 before the first
	created time.Time // when the stream that cursor counts in was created
}

var errGap = errors.New("a message was lost between the server and this listener")

// session reads events until ctx is done or the consumer is lost, and
// reports whether it got as far as reading.
func (l *listener) session(ctx context.Context) (started bool, err error) {
	cons, err := l.consumer(ctx)
	if err != nil {
		return false, err
	}
	defer l.b.deleteConsumer(cons)
	it, err := cons.Messages(jetstream.PullHeartbeat(heartbeat), jetstream.WithMessagesErrOnMissingHeartbeat(true))
	if err != nil {
		return false, err
	}
	defer it.Stop()
	var delivered uint64 // the consumer's own sequence, to notice a lost message
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return true, err
		}
		meta, err := msg.Metadata()
		if err != nil {
			return true, err
		}
		if meta.Sequence.Consumer != delivered+1 {
			return true, errGap
		}
		delivered = meta.Sequence.Consumer
		l.cursor = meta.Sequence.Stream
		l.apply(msg, meta.Sequence.Stream)
	}
}

// apply decodes one message and delivers it, or drops it. Its traceparent
// is the header's, when the message has exactly one: W3C Trace Context
// holds several invalid, and push checks the one kept.
func (l *listener) apply(msg jetstream.Msg, seq uint64) {
	var tp string
	if v := msg.Headers()[traceParentHeader]; len(v) == 1 {
		tp = v[0]
	}
	ev, err := push.DecodeEvent(msg.Data(), tp)
	if err != nil {
		l.b.dropped.Add(1)
		if l.b.logger != nil {
			l.b.logger.Warn("natsfanout: dropped an event that does not decode", "stream", l.b.stream, "seq", seq, "err", err)
		}
		return
	}
	l.deliver(ev)
}

// consumer makes a consumer that starts after the cursor, on the stream as
// it is now. If the stream was recreated since the cursor was taken, the
// cursor counts in a stream that is gone: the consumer then starts at the
// new stream's first event.
func (l *listener) consumer(ctx context.Context) (jetstream.Consumer, error) {
	for {
		info, err := l.b.streamInfo(ctx)
		if err != nil {
			return nil, err
		}
		if !l.created.IsZero() && (!info.Created.Equal(l.created) || l.cursor > info.State.LastSeq) {
			l.b.rewound.Add(1)
			if l.b.logger != nil {
				l.b.logger.Warn("natsfanout: the event stream was recreated; reading it from its first event",
					"stream", l.b.stream, "cursor", l.cursor, "last", info.State.LastSeq)
			}
			l.cursor = 0
		}
		l.created = info.Created

		cfg := jetstream.ConsumerConfig{
			DeliverPolicy:     jetstream.DeliverAllPolicy,
			AckPolicy:         jetstream.AckNonePolicy,
			FilterSubject:     l.b.subject,
			MemoryStorage:     true,
			Replicas:          1,
			InactiveThreshold: inactiveThreshold,
		}
		if l.cursor > 0 {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, l.cursor+1
		}
		var cons jetstream.Consumer
		err = l.b.do(ctx, func(ctx context.Context) error {
			cons, err = l.b.js.CreateConsumer(ctx, l.b.stream, cfg)
			return err
		})
		if err != nil {
			return nil, err
		}
		// The stream may have been recreated between the look and the
		// consumer, which would then start past the new stream's first
		// events: look again.
		info, err = l.b.streamInfo(ctx)
		if err == nil && info.Created.Equal(l.created) {
			return cons, nil
		}
		l.b.deleteConsumer(cons)
		if err != nil {
			return nil, err
		}
	}
}

// deleteConsumer deletes a listener's consumer, if NATS can be reached;
// otherwise the server deletes it after inactiveThreshold.
func (b *Backend) deleteConsumer(cons jetstream.Consumer) {
	if b.nc.Status() != nats.CONNECTED {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	b.js.DeleteConsumer(ctx, b.stream, cons.CachedInfo().Name)
}
