package natsfanout

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options configures a [Backend]. The zero value, and a nil *Options, give
// the defaults each field names. Every instance of a deployment must use
// the same names.
type Options struct {
	// Subject is the subject events are published on. Default "gwe.events".
	Subject string
	// Stream is the JetStream stream that keeps the events. Default
	// "GWE_EVENTS".
	Stream string
	// History is how long the stream keeps events: how long an instance may
	// be away and still catch up, and how far back a broker that starts
	// learns pending invitations. Default 31 minutes, the longest expiresIn
	// and a minute.
	History time.Duration
	// MaxBytes bounds the stream; past it the oldest events are dropped.
	// Default 256 MiB.
	MaxBytes int64
	// ClaimBucket is the key-value bucket of strict-mode claims. Default
	// "GWE_CLAIMS".
	ClaimBucket string
	// MaxClaimBytes bounds the claims bucket; past it Claim fails until
	// claims lapse or are released. Default 16 MiB.
	MaxClaimBytes int64
	// EndedBucket is the key-value bucket of ended interactions. Default
	// "GWE_ENDED".
	EndedBucket string
	// MaxEndedBytes bounds the ended bucket; past it the oldest records are
	// forgotten before their TTL. Default 64 MiB.
	MaxEndedBytes int64
	// RecordBucket is the key-value bucket of the records (see
	// [push.Backend].Store) that are not elections: the brokers'
	// offer-gating state per visit. Default "GWE_RECORDS".
	RecordBucket string
	// MaxRecordBytes bounds the records bucket; past it the oldest
	// records are forgotten before their TTL, and Store never fails for
	// room: a visit's gating state may then be forgotten early. Default
	// 64 MiB.
	MaxRecordBytes int64
	// ElectionBucket is the key-value bucket of the brokers' outcome
	// elections (the records [push.IsElection] names), apart from the
	// gating state, which a burst of outcomes would otherwise push out.
	// Default "GWE_ELECTIONS".
	ElectionBucket string
	// MaxElectionBytes bounds the elections bucket; past it the oldest
	// elections are forgotten before their TTL: a broker that applies an
	// end later than that may report its outcome again. Default 64 MiB.
	MaxElectionBytes int64
	// Replicas is the replication of the stream and the buckets in a NATS
	// cluster. Default 1.
	Replicas int
	// Timeout bounds each call to the Backend (several NATS round trips
	// when the store must be recreated), within the call's context.
	// Default 2 s.
	Timeout time.Duration
	// Logger receives what the Backend does on its own: events dropped
	// because they do not decode, the store recreated, a listener
	// restarted. Nil means no logging. For connection events, connect with
	// [ConnectOptions].
	Logger *slog.Logger
}

// Backend is a [push.Backend] over NATS JetStream; see the package
// documentation. Make it with [New]. It is safe for concurrent use, and
// starts no goroutine but those of its Listen calls.
type Backend struct {
	nc            *nats.Conn
	js            jetstream.JetStream
	claims, ended jetstream.KeyValue
	claimPrefix   string // the subject of a claim's key, less the key
	// The records' buckets, and their subjects ("$KV.<bucket>."), which a
	// record's key follows: gating state, and elections.
	records, elections             jetstream.KeyValue
	recordSubject, electionSubject string
	subject                        string
	stream                         string
	configs                        []jetstream.StreamConfig // the event stream and the buckets' streams
	timeout                        time.Duration
	logger                         *slog.Logger

	repairing sync.Mutex    // one repair at a time
	repairs   atomic.Uint64 // repairs done, so that racing callers repair once

	dropped, recreated, rewound atomic.Uint64
}

var _ push.Backend = (*Backend)(nil)

// Stats counts what a Backend did on its own, for a host to watch. The
// counts are since New.
type Stats struct {
	// Dropped counts the events read from the stream that did not decode
	// (see [push.DecodeEvent]): each was dropped and logged.
	Dropped uint64
	// Recreated counts the times a call found the stream or a bucket
	// missing and provisioned them again.
	Recreated uint64
	// Rewound counts the times a listener found the stream recreated and
	// read it again from its first event.
	Rewound uint64
}

// Stats returns the Backend's counts. It is safe to call at any time.
func (b *Backend) Stats() Stats {
	return Stats{Dropped: b.dropped.Load(), Recreated: b.recreated.Load(), Rewound: b.rewound.Load()}
}

// New creates the stream and the four buckets, or updates them to opts, or
// binds to them when they are as opts says, and returns the Backend. nc is
// the host's connection, connected (see [ConnectOptions]); the host closes
// or drains it once its brokers have shut down. New fails when nc is nil,
// when an option is invalid, or when JetStream cannot be reached.
func New(ctx context.Context, nc *nats.Conn, opts *Options) (*Backend, error) {
	if nc == nil {
		return nil, errors.New("natsfanout: New needs a NATS connection")
	}
	if opts == nil {
		opts = &Options{}
	}
	if opts.History < 0 || opts.Timeout < 0 || opts.MaxBytes < 0 || opts.MaxClaimBytes < 0 || opts.MaxEndedBytes < 0 || opts.MaxRecordBytes < 0 || opts.MaxElectionBytes < 0 || opts.Replicas < 0 {
		// JetStream reads -1 as "no limit": refuse it rather than lift a bound.
		return nil, errors.New("natsfanout: Options limits and durations must not be negative")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("natsfanout: %w", err)
	}
	replicas := cmp.Or(opts.Replicas, 1)
	history := cmp.Or(opts.History, 31*time.Minute)
	claimBucket, endedBucket := cmp.Or(opts.ClaimBucket, "GWE_CLAIMS"), cmp.Or(opts.EndedBucket, "GWE_ENDED")
	recordBucket := cmp.Or(opts.RecordBucket, "GWE_RECORDS")
	electionBucket := cmp.Or(opts.ElectionBucket, "GWE_ELECTIONS")
	b := &Backend{
		nc:      nc,
		js:      js,
		subject: cmp.Or(opts.Subject, "gwe.events"),
		stream:  cmp.Or(opts.Stream, "GWE_EVENTS"),
		timeout: cmp.Or(opts.Timeout, 2*time.Second),
		logger:  opts.Logger,
	}
	b.claimPrefix = "$KV." + claimBucket + "." // ADR-8, as bucketConfig
	b.configs = []jetstream.StreamConfig{
		{
			Name:       b.stream,
			Subjects:   []string{b.subject},
			Storage:    jetstream.FileStorage,
			Replicas:   replicas,
			MaxAge:     history,
			MaxBytes:   cmp.Or(opts.MaxBytes, 256<<20),
			MaxMsgSize: push.MaxEventBytes,
			MaxMsgs:    -1,
			Discard:    jetstream.DiscardOld,
			Duplicates: min(2*time.Minute, history), // retried publishes are dropped by their event ID
		},
		// A claim must never be pushed out by another: past the bound,
		// claims are refused.
		bucketConfig(claimBucket, cmp.Or(opts.MaxClaimBytes, 16<<20), jetstream.DiscardNew, replicas),
		// Ended records are only a guard against late engages: past the
		// bound, the oldest go first, and End never fails for room.
		bucketConfig(endedBucket, cmp.Or(opts.MaxEndedBytes, 64<<20), jetstream.DiscardOld, replicas),
		// Records too: past the bound the oldest go, and Store never
		// fails for room (see push.Backend). Elections apart, so that
		// their bursts push out only elections.
		bucketConfig(recordBucket, cmp.Or(opts.MaxRecordBytes, 64<<20), jetstream.DiscardOld, replicas),
		bucketConfig(electionBucket, cmp.Or(opts.MaxElectionBytes, 64<<20), jetstream.DiscardOld, replicas),
	}
	if err := b.provision(ctx); err != nil {
		return nil, fmt.Errorf("natsfanout: %w", err)
	}
	if b.claims, err = js.KeyValue(ctx, claimBucket); err != nil {
		return nil, fmt.Errorf("natsfanout: bucket %s: %w", claimBucket, err)
	}
	if b.ended, err = js.KeyValue(ctx, endedBucket); err != nil {
		return nil, fmt.Errorf("natsfanout: bucket %s: %w", endedBucket, err)
	}
	if b.records, err = js.KeyValue(ctx, recordBucket); err != nil {
		return nil, fmt.Errorf("natsfanout: bucket %s: %w", recordBucket, err)
	}
	if b.elections, err = js.KeyValue(ctx, electionBucket); err != nil {
		return nil, fmt.Errorf("natsfanout: bucket %s: %w", electionBucket, err)
	}
	b.recordSubject = "$KV." + recordBucket + "."
	b.electionSubject = "$KV." + electionBucket + "."
	return b, nil
}

// bucketConfig is the stream of a key-value bucket as jetstream's
// CreateKeyValue makes it (ADR-8: stream KV_<bucket>, subjects
// $KV.<bucket>.>), with per-key TTLs and the discard policy given, which
// CreateKeyValue does not let one choose.
func bucketConfig(bucket string, maxBytes int64, discard jetstream.DiscardPolicy, replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              "KV_" + bucket,
		Subjects:          []string{"$KV." + bucket + ".>"},
		Storage:           jetstream.FileStorage,
		Replicas:          replicas,
		MaxMsgsPerSubject: 1,
		MaxBytes:          maxBytes,
		MaxMsgs:           -1,
		MaxMsgSize:        -1,
		MaxConsumers:      -1,
		Discard:           discard,
		AllowRollup:       true,
		DenyDelete:        true,
		AllowDirect:       true,
		AllowMsgTTL:       true,
		Duplicates:        2 * time.Minute,
	}
}

// provision creates or updates the stream and the buckets' streams.
func (b *Backend) provision(ctx context.Context) error {
	for _, cfg := range b.configs {
		if _, err := b.js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// lost reports whether err says that the stream or a bucket is not there:
// the NATS server lost its store, or someone deleted them.
func lost(err error) bool {
	return errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrBucketNotFound) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders)
}

// repair provisions the store again, unless another call did since the
// caller saw repairs at seen.
func (b *Backend) repair(ctx context.Context, seen uint64) error {
	b.repairing.Lock()
	defer b.repairing.Unlock()
	if b.repairs.Load() != seen {
		return nil
	}
	if err := b.provision(ctx); err != nil {
		return err
	}
	b.repairs.Add(1)
	b.recreated.Add(1)
	if b.logger != nil {
		b.logger.Warn("natsfanout: the stream or a bucket was missing; created them again", "stream", b.stream)
	}
	return nil
}

// do runs op within the Backend's timeout. When op finds the stream or a
// bucket missing, do provisions them again and runs op once more. Every
// failure is returned as a 503 for the broker.
func (b *Backend) do(ctx context.Context, op func(context.Context) error) error {
	if s := b.nc.Status(); s != nats.CONNECTED {
		return unavailable(fmt.Errorf("the NATS connection is %s", s))
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	seen := b.repairs.Load()
	err := op(ctx)
	if lost(err) {
		if err = b.repair(ctx, seen); err == nil {
			err = op(ctx)
		}
	}
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// unavailable is the one error a Backend returns for a NATS failure: the
// broker answers it 503 UNAVAILABLE with Retry-After.
func unavailable(err error) error {
	return &gateway.Fault{Code: gateway.CodeUnavailable, RetryAfter: 2 * time.Second, Err: fmt.Errorf("natsfanout: %w", err)}
}

// conflict reports whether err is a compare-and-set that lost: the key
// changed since it was read.
func conflict(err error) bool {
	var e *jetstream.APIError
	return errors.As(err, &e) &&
		(e.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || e.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// Keys of the buckets. IDs may hold ':' and dots, which keys may not, so
// they are base64url-encoded.
var enc = base64.RawURLEncoding

func claimKey(visitID string) string { return enc.EncodeToString([]byte(visitID)) }

func endedKey(visitID, interactionID string) string {
	return enc.EncodeToString([]byte(visitID)) + "." + enc.EncodeToString([]byte(interactionID))
}

// keyTTL rounds ttl up to whole seconds, the resolution of NATS message
// TTLs, and to at least one.
func keyTTL(ttl time.Duration) time.Duration {
	return max(time.Second, (ttl + time.Second - 1).Truncate(time.Second))
}

// Claim implements [push.Backend]: an atomic create of the visit's key,
// with a TTL; when the key exists, its value is the holder. A holder that
// claims again writes its key anew with the new TTL, only at the revision
// read.
func (b *Backend) Claim(ctx context.Context, visitID, interactionID string, ttl time.Duration) (holder string, err error) {
	key := claimKey(visitID)
	err = b.do(ctx, func(ctx context.Context) error {
		// A claim that lapses or changes between the create and the read,
		// or the read and the renewal, is tried again; three times in a
		// row means something is very wrong.
		for range 3 {
			_, err := b.claims.Create(ctx, key, []byte(interactionID), jetstream.KeyTTL(keyTTL(ttl)))
			if err == nil {
				holder = interactionID
				return nil
			}
			if !errors.Is(err, jetstream.ErrKeyExists) {
				return err
			}
			e, err := b.claims.Get(ctx, key)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if holder = string(e.Value()); holder != interactionID {
				return nil
			}
			// KeyValue.Update takes no TTL: publish the revision
			// ourselves, as Create does.
			_, err = b.js.PublishMsg(ctx, &nats.Msg{Subject: b.claimPrefix + key, Data: e.Value()},
				jetstream.WithExpectLastSequencePerSubject(e.Revision()), jetstream.WithMsgTTL(keyTTL(ttl)))
			if !conflict(err) {
				return err
			}
		}
		return errors.New("the claim of a visit changed three times during one call")
	})
	return holder, err
}

// purgeMarkerTTL is how long the marker of a released claim stays in the
// bucket: it needs to outlive nothing, so the least NATS allows.
const purgeMarkerTTL = time.Second

// Release implements [push.Backend]: it reads the visit's key and deletes
// it, only if it holds interactionID and only at the revision read.
func (b *Backend) Release(ctx context.Context, visitID, interactionID string) error {
	key := claimKey(visitID)
	return b.do(ctx, func(ctx context.Context) error {
		e, err := b.claims.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if string(e.Value()) != interactionID {
			return nil
		}
		err = b.claims.Purge(ctx, key, jetstream.LastRevision(e.Revision()), jetstream.PurgeTTL(purgeMarkerTTL))
		if conflict(err) {
			return nil // lapsed and claimed again meanwhile: not ours any more
		}
		return err
	})
}

// End implements [push.Backend]: a key per visit and interactionID, with a
// TTL. A record that exists already is kept as it is.
func (b *Backend) End(ctx context.Context, visitID, interactionID string, ttl time.Duration) error {
	key := endedKey(visitID, interactionID)
	return b.do(ctx, func(ctx context.Context) error {
		_, err := b.ended.Create(ctx, key, nil, jetstream.KeyTTL(keyTTL(ttl)))
		if errors.Is(err, jetstream.ErrKeyExists) {
			return nil
		}
		return err
	})
}

// Ended implements [push.Backend]: a read of the record's key.
func (b *Backend) Ended(ctx context.Context, visitID, interactionID string) (bool, error) {
	key := endedKey(visitID, interactionID)
	var ended bool
	err := b.do(ctx, func(ctx context.Context) error {
		_, err := b.ended.Get(ctx, key)
		switch {
		case err == nil:
			ended = true
		case errors.Is(err, jetstream.ErrKeyNotFound):
			return nil
		}
		return err
	})
	return ended, err
}

// traceParentHeader is the header that carries an event's
// [push.Event.TraceParent]: W3C Trace Context's name (contract §7.3).
const traceParentHeader = "traceparent"

// Load implements [push.Backend]: a read of the record's key, whose
// revision is its message's sequence in the bucket's stream.
func (b *Backend) Load(ctx context.Context, key string) ([]byte, uint64, error) {
	var data []byte
	var rev uint64
	kv, _ := b.recordBucket(key)
	err := b.do(ctx, func(ctx context.Context) error {
		e, err := kv.Get(ctx, recordKey(key))
		switch {
		case err == nil:
			data, rev = e.Value(), e.Revision()
			if data == nil {
				data = []byte{} // a record of no bytes is still a record
			}
		case errors.Is(err, jetstream.ErrKeyNotFound):
			return nil
		}
		return err
	})
	return data, rev, err
}

// Store implements [push.Backend]: a publish to the record's subject in
// the bucket's stream that the server takes only if the subject's last
// sequence is rev (none for 0), with a per-message TTL (whole seconds,
// at least one).
func (b *Backend) Store(ctx context.Context, key string, data []byte, rev uint64, ttl time.Duration) (bool, error) {
	if err := push.CheckRecord(key, data); err != nil {
		return false, fmt.Errorf("natsfanout: %w", err)
	}
	_, subject := b.recordBucket(key)
	subject += recordKey(key)
	var stored bool
	err := b.do(ctx, func(ctx context.Context) error {
		_, err := b.js.Publish(ctx, subject, data, jetstream.WithExpectLastSequencePerSubject(rev), jetstream.WithMsgTTL(keyTTL(ttl)))
		switch {
		case err == nil:
			stored = true
		case conflict(err):
			return nil
		}
		return err
	})
	return stored, err
}

// recordBucket returns the bucket of the record key and its subject
// prefix: elections have a bucket of their own.
func (b *Backend) recordBucket(key string) (jetstream.KeyValue, string) {
	if push.IsElection(key) {
		return b.elections, b.electionSubject
	}
	return b.records, b.recordSubject
}

// recordKey is the bucket key of a record's key, which may hold any
// bytes: base64url, which keys allow.
func recordKey(key string) string {
	if key == "" {
		return "_"
	}
	return enc.EncodeToString([]byte(key))
}

// Publish implements [push.Backend]: a JetStream publish whose message ID
// is the event's ID, acknowledged by the stream, with the event's
// traceparent, if it has one, in the header traceparent.
func (b *Backend) Publish(ctx context.Context, ev *push.Event) error {
	data, err := ev.MarshalBinary()
	if err != nil {
		return fmt.Errorf("natsfanout: %w", err)
	}
	id, tp := ev.ID(), ev.TraceParent()
	return b.do(ctx, func(ctx context.Context) error {
		msg := &nats.Msg{Subject: b.subject, Data: data}
		if tp != "" {
			msg.Header = nats.Header{traceParentHeader: {tp}}
		}
		_, err := b.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(b.stream))
		return err
	})
}

// Ping implements [push.Backend]: the connection's status, then the
// stream's information, which also recreates the store if it was lost.
func (b *Backend) Ping(ctx context.Context) error {
	_, err := b.streamInfo(ctx)
	return err
}

// streamInfo returns what the server says of the event stream now.
func (b *Backend) streamInfo(ctx context.Context) (*jetstream.StreamInfo, error) {
	var info *jetstream.StreamInfo
	err := b.do(ctx, func(ctx context.Context) error {
		s, err := b.js.Stream(ctx, b.stream)
		if err == nil {
			info = s.CachedInfo()
		}
		return err
	})
	return info, err
}
