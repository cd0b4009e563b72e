// Package natsfanout spreads engage and cancel events across gateway
// instances over NATS, so that whichever instance holds a visitor's event
// stream delivers the invitation, whichever instance the strategy called.
//
// Each instance runs a [Fanout]: a [gateway.Notifier] for its engage/noengage
// handler, and the owner of its local push.Broker, which it mounts for the
// browsers. An accepted engage or cancel is published to a JetStream stream,
// and the handler answers 200 only once the NATS server has acknowledged
// it; with NATS unreachable it answers 503 UNAVAILABLE with Retry-After, so
// the strategy retries and nothing accepted is lost. Every instance
// consumes the stream in order with an ordered consumer and applies each
// event to its broker: pages that subscribe later, on any instance, still
// get a pending invitation, and an instance that loses its connection for a
// while resumes from the last event it applied and catches up on what it
// missed.
//
// Strict mode (one live invitation per visit) holds across instances
// through a JetStream key-value bucket: an engage creates the key of its
// visit, with a time-to-live of the invitation's expiry, by an atomic
// create, so of two engages racing on two instances exactly one wins.
// Cancels and answers delete the key and leave a short-lived tombstone key,
// so that a cancel that arrives before its engage still wins.
package natsfanout

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options configures a [Fanout]. The zero value, and a nil *Options, give
// the defaults each field names.
type Options struct {
	// Push configures the local broker. Its Lenient is ignored (the
	// broker applies events in the stream's order; strict mode is the
	// bucket's job) and its OnDisposition is called after the answer has
	// been spread to the other instances.
	Push push.Options
	// Lenient turns strict mode off across instances.
	Lenient bool
	// Subject is the prefix of the event subjects: events go to
	// Subject+".engage" and Subject+".cancel". Default "gwe.events".
	Subject string
	// Stream is the JetStream stream that keeps the events. Default
	// "GWE_EVENTS". It is created, or updated, by New.
	Stream string
	// Bucket is the key-value bucket of strict mode. Default "GWE_LIVE".
	Bucket string
	// History is how long the stream keeps events, and so how long an
	// instance may be away and still catch up. Default 31 minutes: the
	// longest expiresIn and a minute.
	History time.Duration
	// Replicas is the replication of the stream and the bucket in a NATS
	// cluster. Default 1.
	Replicas int
	// Timeout bounds the NATS round trips of one engage or cancel. Default
	// 2 s.
	Timeout time.Duration
	// Logger receives connection-independent events: events that could not
	// be applied, rollbacks. Nil means no logging. For connection events,
	// connect with [ConnectOptions].
	Logger *slog.Logger
}

// Fanout is one instance's link to the others. Create it with [New]; it is
// safe for concurrent use.
type Fanout struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	kv       jetstream.KeyValue
	broker   *push.Broker
	consumer jetstream.ConsumeContext

	subject, stream                 string
	strict                          bool
	timeout, defaultExpiry, tombTTL time.Duration
	logger                          *slog.Logger
	onDisposition                   func(context.Context, push.Disposition)
}

// event is what travels on the stream.
type event struct {
	Op        string           `json:"op"` // "engage" or "cancel"
	Profile   *gateway.Profile `json:"profile,omitempty"`
	ExpiresAt time.Time        `json:"expiresAt,omitzero"`
	Cancel    *cancelEvent     `json:"cancel,omitempty"`
}

type cancelEvent struct {
	InteractionID string `json:"interactionID"`
	VisitID       string `json:"visitID"`
	Reason        string `json:"reason,omitempty"`
}

// New sets up the stream and the bucket (creating or updating them), starts
// the local broker and the consumer that applies every event to it, and
// returns the Fanout. nc is the host's connection: the host closes or
// drains it after [Fanout.Shutdown].
func New(ctx context.Context, nc *nats.Conn, opts *Options) (*Fanout, error) {
	if nc == nil {
		return nil, errors.New("natsfanout: New needs a NATS connection")
	}
	if opts == nil {
		opts = &Options{}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("natsfanout: %w", err)
	}
	f := &Fanout{
		nc:            nc,
		js:            js,
		subject:       cmp.Or(opts.Subject, "gwe.events"),
		stream:        cmp.Or(opts.Stream, "GWE_EVENTS"),
		strict:        !opts.Lenient,
		timeout:       cmp.Or(opts.Timeout, 2*time.Second),
		defaultExpiry: cmp.Or(opts.Push.DefaultExpiry, 30*time.Second),
		tombTTL:       cmp.Or(opts.Push.TombstoneTTL, 5*time.Minute),
		logger:        opts.Logger,
		onDisposition: opts.Push.OnDisposition,
	}
	replicas := cmp.Or(opts.Replicas, 1)
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       f.stream,
		Subjects:   []string{f.subject + ".>"},
		Storage:    jetstream.FileStorage,
		MaxAge:     cmp.Or(opts.History, 31*time.Minute),
		Duplicates: 2 * time.Minute, // retried publishes are dropped by their message ID
		Replicas:   replicas,
	}); err != nil {
		return nil, fmt.Errorf("natsfanout: stream %s: %w", f.stream, err)
	}
	if f.strict {
		f.kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:         cmp.Or(opts.Bucket, "GWE_LIVE"),
			Storage:        jetstream.FileStorage,
			Replicas:       replicas,
			LimitMarkerTTL: time.Minute, // enables per-key TTLs
		})
		if err != nil {
			return nil, fmt.Errorf("natsfanout: bucket: %w", err)
		}
	}

	po := opts.Push
	po.Lenient = true
	po.OnDisposition = f.answered
	f.broker = push.NewBroker(&po)

	cons, err := js.OrderedConsumer(ctx, f.stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{f.subject + ".>"},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err == nil {
		f.consumer, err = cons.Consume(f.apply)
	}
	if err != nil {
		f.broker.Shutdown(ctx)
		return nil, fmt.Errorf("natsfanout: consumer: %w", err)
	}
	return f, nil
}

// Broker returns the local broker, for the host to mount at /notification/.
func (f *Fanout) Broker() *push.Broker { return f.broker }

var _ gateway.Notifier = (*Fanout)(nil)

// unavailable wraps a NATS failure as the 503 the handler answers.
func unavailable(err error) error {
	return &gateway.Fault{Code: gateway.CodeUnavailable, RetryAfter: 2 * time.Second, Err: fmt.Errorf("natsfanout: %w", err)}
}

// ready refuses at once, rather than after a timeout, while the
// connection is down.
func (f *Fanout) ready() error {
	if s := f.nc.Status(); s != nats.CONNECTED {
		return unavailable(fmt.Errorf("NATS connection is %s", s))
	}
	return nil
}

// Keys of the bucket. IDs may hold ':' and stray dots, which keys may not,
// so they are base64url-encoded.
func visitKey(visitID string) string {
	return "v." + base64.RawURLEncoding.EncodeToString([]byte(visitID))
}
func tombKey(id string) string { return "c." + base64.RawURLEncoding.EncodeToString([]byte(id)) }

// Engage publishes p to every instance and returns once the NATS server has
// acknowledged it. In strict mode it first claims the visit in the bucket
// and refuses with [gateway.ErrEngagementInProgress] while another
// interaction holds it. An engage cancelled before it came is accepted and
// dropped. NATS failures return a [*gateway.Fault] matching
// [gateway.ErrUnavailable].
func (f *Fanout) Engage(ctx context.Context, p *gateway.Profile) error {
	if err := f.ready(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	expiry := f.defaultExpiry
	if p.ExpiresIn > 0 {
		expiry = time.Duration(p.ExpiresIn) * time.Second
	}
	var claimed uint64 // the revision of our claim on the visit, to roll back
	if f.strict {
		key := visitKey(p.VisitID)
		rev, err := f.kv.Create(ctx, key, []byte(p.InteractionID), jetstream.KeyTTL(expiry))
		switch {
		case errors.Is(err, jetstream.ErrKeyExists):
			e, err := f.kv.Get(ctx, key)
			if err != nil {
				return unavailable(err)
			}
			if string(e.Value()) != p.InteractionID {
				return fmt.Errorf("natsfanout: visit is claimed: %w", gateway.ErrEngagementInProgress)
			}
			// Ours already: publish again, in case the first try did not;
			// the message ID and the brokers drop duplicates.
		case err != nil:
			return unavailable(err)
		default:
			claimed = rev
			// Cancel writes its tombstone, then releases the claim it finds.
			// A tombstone seen here came first: drop the engage. One written
			// after this look finds the claim and releases it. Either way
			// no engage outlives its cancel, and no claim stays behind.
			if cancelled, err := f.tombstoned(ctx, p.InteractionID); err != nil || cancelled {
				f.release(key, claimed)
				return err
			}
		}
	}
	data, err := json.Marshal(event{Op: "engage", Profile: p, ExpiresAt: time.Now().Add(expiry)})
	if err != nil {
		return err
	}
	if _, err := f.js.Publish(ctx, f.subject+".engage", data, jetstream.WithMsgID("e."+p.InteractionID)); err != nil {
		if claimed != 0 {
			f.release(visitKey(p.VisitID), claimed)
		}
		return unavailable(err)
	}
	return nil
}

// tombstoned reports whether id was cancelled or answered.
func (f *Fanout) tombstoned(ctx context.Context, id string) (bool, error) {
	_, err := f.kv.Get(ctx, tombKey(id))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	}
	return false, unavailable(err)
}

// release deletes a claim if it is still the one at rev.
func (f *Fanout) release(key string, rev uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	if err := f.kv.Delete(ctx, key, jetstream.LastRevision(rev)); err != nil && f.logger != nil {
		f.logger.Warn("natsfanout: could not release a visit; it frees when its TTL ends", "err", err)
	}
}

// Cancel publishes c to every instance and returns once the NATS server has
// acknowledged it. In strict mode it leaves a tombstone, so that a late
// engage for the interaction is dropped, and frees the visit. NATS failures
// return a [*gateway.Fault] matching [gateway.ErrUnavailable].
func (f *Fanout) Cancel(ctx context.Context, c *gateway.CancelData) error {
	if err := f.ready(); err != nil {
		return err
	}
	return f.cancel(ctx, cancelEvent{InteractionID: c.InteractionID, VisitID: c.VisitID, Reason: c.Reason}, "c.")
}

func (f *Fanout) cancel(ctx context.Context, ce cancelEvent, msgIDPrefix string) error {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	if f.strict {
		_, err := f.kv.Create(ctx, tombKey(ce.InteractionID), []byte(ce.VisitID), jetstream.KeyTTL(f.tombTTL))
		if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return unavailable(err)
		}
	}
	data, err := json.Marshal(event{Op: "cancel", Cancel: &ce})
	if err != nil {
		return err
	}
	if _, err := f.js.Publish(ctx, f.subject+".cancel", data, jetstream.WithMsgID(msgIDPrefix+ce.InteractionID)); err != nil {
		return unavailable(err)
	}
	if f.strict {
		key := visitKey(ce.VisitID)
		if e, err := f.kv.Get(ctx, key); err == nil && string(e.Value()) == ce.InteractionID {
			f.release(key, e.Revision())
		}
	}
	return nil
}

// answered spreads a visitor's answer, received by the local broker, to
// the other instances, then tells the host.
func (f *Fanout) answered(ctx context.Context, d push.Disposition) {
	err := f.ready()
	if err == nil {
		err = f.cancel(ctx, cancelEvent{InteractionID: d.InteractionID, VisitID: d.VisitID, Reason: "answered"}, "a.")
	}
	if err != nil && f.logger != nil {
		// The other instances hide it when it expires instead.
		f.logger.Warn("natsfanout: could not spread an answer", "visitID", d.VisitID, "interactionID", d.InteractionID, "err", err)
	}
	if f.onDisposition != nil {
		f.onDisposition(ctx, d)
	}
}

// apply applies one event of the stream to the local broker.
func (f *Fanout) apply(msg jetstream.Msg) {
	var ev event
	if err := json.Unmarshal(msg.Data(), &ev); err != nil {
		f.warn("natsfanout: dropped an unreadable event", err)
		return
	}
	ctx := context.Background()
	switch {
	case ev.Op == "engage" && ev.Profile != nil:
		// The invitation expires when it would have on the instance that
		// took it, however late this instance hears of it.
		left := time.Until(ev.ExpiresAt)
		if left <= 0 {
			return
		}
		p := *ev.Profile
		p.ExpiresIn = int(math.Ceil(left.Seconds()))
		if err := f.broker.Engage(ctx, &p); err != nil {
			f.warn("natsfanout: the broker refused an engage", err)
		}
	case ev.Op == "cancel" && ev.Cancel != nil:
		c := &gateway.CancelData{InteractionID: ev.Cancel.InteractionID, VisitID: ev.Cancel.VisitID, Reason: ev.Cancel.Reason}
		if err := f.broker.Cancel(ctx, c); err != nil {
			f.warn("natsfanout: the broker refused a cancel", err)
		}
	default:
		f.warn("natsfanout: dropped an unknown event", errors.New(ev.Op))
	}
}

func (f *Fanout) warn(msg string, err error) {
	if f.logger != nil {
		f.logger.Warn(msg, "err", err)
	}
}

// Shutdown stops consuming events, then shuts the local broker down (see
// push.Broker.Shutdown). The host drains its NATS connection afterwards.
func (f *Fanout) Shutdown(ctx context.Context) error {
	f.consumer.Drain()
	select {
	case <-f.consumer.Closed():
	case <-ctx.Done():
		return ctx.Err()
	}
	return f.broker.Shutdown(ctx)
}

// ConnectOptions returns NATS connection options for a gateway instance:
// reconnect forever, quickly, and log connection events to logger (nil:
// no logging). A lost connection or an asynchronous error is a warning; a
// connection the host closes or drains logs only that it closed.
func ConnectOptions(logger *slog.Logger) []nats.Option {
	opts := []nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
	}
	if logger == nil {
		return opts
	}
	return append(opts,
		nats.ConnectHandler(func(nc *nats.Conn) { logger.Info("nats: connected", "url", nc.ConnectedUrlRedacted()) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: the host closed or drained the connection
				logger.Warn("nats: disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { logger.Info("nats: reconnected", "url", nc.ConnectedUrlRedacted()) }),
		nats.ClosedHandler(func(*nats.Conn) { logger.Info("nats: connection closed") }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { logger.Warn("nats: error", "err", err) }),
	)
}
