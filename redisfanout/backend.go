package redisfanout

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
	"github.com/redis/go-redis/v9"
)

// Options configures a [Backend]. The zero value, and a nil *Options, give
// the defaults each field names. Every instance that shares a store must
// use the same Prefix; History and MaxLen are applied by each Publish, so
// instances should agree on them too.
type Options struct {
	// Prefix starts every key the backend uses. Default "gwe:". Several
	// deployments may share one Redis with distinct prefixes.
	Prefix string

	// History is how long the stream keeps an event, and so how long a
	// broker may be away and still catch up, and how far back a broker
	// that starts learns pending invitations. Default 31 minutes: the
	// longest expiresIn and a minute. The server's clock decides.
	History time.Duration

	// MaxLen bounds the stream's length: each Publish trims it to about
	// MaxLen entries (approximate trimming, so a little more may be kept).
	// Default 100,000: about 47 MB of typical events, 1.6 GB if every
	// event were the largest valid one (see the package doc). At over
	// MaxLen/History events a second (54 by default) the stream keeps less
	// than History.
	MaxLen int64

	// Logger receives what a caller cannot see: lost connections of
	// Listen, stream resets, dropped entries. Nil means no logging.
	Logger *slog.Logger
}

// Defaults of [Options].
const (
	DefaultPrefix  = "gwe:"
	DefaultHistory = 31 * time.Minute
	DefaultMaxLen  = 100_000
)

// Backend is a [push.Backend] over Redis. Create it with [New]; it is safe
// for concurrent use, holds no goroutine of its own (each Listen call runs
// in its caller's), and needs no closing: the host closes the client.
type Backend struct {
	client    redis.UniversalClient
	prefix    string
	stream    string // the stream's key
	historyMS int64
	maxLen    int64
	log       *slog.Logger
	block     time.Duration // how long one XREAD waits; see listener.session

	dropped, resets, reconnects atomic.Uint64
	lastDropLog                 atomic.Int64 // unix nanoseconds
}

var _ push.Backend = (*Backend)(nil)

// New returns a Backend that uses client, once a PING answered: a wrong
// address or credentials fail here rather than at the first engage.
// client may be a *redis.Client, a failover client or a
// *redis.ClusterClient; New keeps it and never closes it. It returns an
// error for a nil client or a negative History or MaxLen.
func New(ctx context.Context, client redis.UniversalClient, opts *Options) (*Backend, error) {
	if client == nil {
		return nil, errors.New("redisfanout: New needs a client")
	}
	if opts == nil {
		opts = &Options{}
	}
	if opts.History < 0 || opts.MaxLen < 0 {
		return nil, errors.New("redisfanout: History and MaxLen must not be negative")
	}
	b := &Backend{
		client:    client,
		prefix:    cmp.Or(opts.Prefix, DefaultPrefix),
		historyMS: cmp.Or(opts.History, DefaultHistory).Milliseconds(),
		maxLen:    cmp.Or(opts.MaxLen, DefaultMaxLen),
		log:       cmp.Or(opts.Logger, slog.New(slog.DiscardHandler)),
		block:     5 * time.Second,
	}
	b.stream = b.prefix + "events"
	if err := client.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redisfanout: %w", err)
	}
	return b, nil
}

// Stats counts what the listeners of a [Backend] met since [New].
type Stats struct {
	// Dropped counts stream entries that did not decode as an event and
	// were not delivered.
	Dropped uint64
	// Resets counts the times a listener found the stream made anew (the
	// store lost) and read it again from its first entry.
	Resets uint64
	// Reconnects counts the times a listener lost its connection, or could
	// not read, and tried again.
	Reconnects uint64
}

// Stats returns the counts so far. It is safe to call at any time.
func (b *Backend) Stats() Stats {
	return Stats{Dropped: b.dropped.Load(), Resets: b.resets.Load(), Reconnects: b.reconnects.Load()}
}

// unavailable is how every Redis failure reaches the broker: a 503 with
// Retry-After, so that the strategy retries.
func unavailable(err error) error {
	return &gateway.Fault{Code: gateway.CodeUnavailable, RetryAfter: time.Second, Err: fmt.Errorf("redisfanout: %w", err)}
}

func (b *Backend) claimKey(visitID string) string { return b.prefix + "claim:" + visitID }

// endKey puts the visitID's length first so that no two (visitID,
// interactionID) pairs share a key, whichever bytes they hold.
func (b *Backend) endKey(visitID, interactionID string) string {
	return b.prefix + "end:" + strconv.Itoa(len(visitID)) + ":" + visitID + ":" + interactionID
}

// px is ttl in whole milliseconds, rounded up, at least 1: Redis refuses
// a PX of 0.
func px(ttl time.Duration) int64 {
	return int64(max(1, (ttl+time.Millisecond-1)/time.Millisecond))
}

// claimScript sets the claim unless another holds it, and returns the
// holder, in one round trip: a claim its holder takes again gets the new
// TTL.
var claimScript = redis.NewScript(`
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
	return holder
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]`)

// releaseScript deletes the claim only if ARGV[1] holds it.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0`)

// Claim implements [push.Backend]: GET and, unless another holds the
// claim, SET PX, in one script.
func (b *Backend) Claim(ctx context.Context, visitID, interactionID string, ttl time.Duration) (string, error) {
	holder, err := claimScript.Run(ctx, b.client, []string{b.claimKey(visitID)}, interactionID, px(ttl)).Text()
	if err != nil {
		return "", unavailable(err)
	}
	return holder, nil
}

// Release implements [push.Backend] with a compare-and-delete script.
func (b *Backend) Release(ctx context.Context, visitID, interactionID string) error {
	if err := releaseScript.Run(ctx, b.client, []string{b.claimKey(visitID)}, interactionID).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// End implements [push.Backend]: one key per ended interaction, expiring
// after ttl. See the package doc for its memory and for what Redis should
// do when memory runs short.
func (b *Backend) End(ctx context.Context, visitID, interactionID string, ttl time.Duration) error {
	if err := b.client.Set(ctx, b.endKey(visitID, interactionID), "1", time.Duration(px(ttl))*time.Millisecond).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Ended implements [push.Backend].
func (b *Backend) Ended(ctx context.Context, visitID, interactionID string) (bool, error) {
	n, err := b.client.Exists(ctx, b.endKey(visitID, interactionID)).Result()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

func (b *Backend) recordKey(key string) string { return b.prefix + "rec:" + key }

// storeScript writes a record, a hash of its revision r and its data d,
// only if its revision is ARGV[1] (0: no record), with a TTL of ARGV[3]
// milliseconds. The new revision is the server's time in microseconds, or
// the old revision and one if that is later, so that a key's revisions
// never repeat, even once it aged out and was made again.
var storeScript = redis.NewScript(`
local r = tonumber(redis.call('HGET', KEYS[1], 'r') or '0')
if r ~= tonumber(ARGV[1]) then
	return 0
end
local t = redis.call('TIME')
local n = math.max(r + 1, tonumber(t[1]) * 1000000 + tonumber(t[2]))
redis.call('HSET', KEYS[1], 'r', string.format('%.0f', n), 'd', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`)

// Load implements [push.Backend] with an HMGET of the record's revision
// and data.
func (b *Backend) Load(ctx context.Context, key string) ([]byte, uint64, error) {
	vals, err := b.client.HMGet(ctx, b.recordKey(key), "r", "d").Result()
	if err != nil {
		return nil, 0, unavailable(err)
	}
	r, ok1 := vals[0].(string)
	d, ok2 := vals[1].(string)
	if !ok1 || !ok2 {
		return nil, 0, nil
	}
	rev, err := strconv.ParseUint(r, 10, 64)
	if err != nil || rev == 0 {
		return nil, 0, unavailable(fmt.Errorf("record %q has a revision that does not parse", r))
	}
	return []byte(d), rev, nil
}

// Store implements [push.Backend] with a compare-and-set script, in one
// round trip.
func (b *Backend) Store(ctx context.Context, key string, data []byte, rev uint64, ttl time.Duration) (bool, error) {
	if err := push.CheckRecord(key, data); err != nil {
		return false, fmt.Errorf("redisfanout: %w", err)
	}
	n, err := storeScript.Run(ctx, b.client, []string{b.recordKey(key)}, strconv.FormatUint(rev, 10), data, px(ttl)).Int()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// Ping implements [push.Backend] with a PING.
func (b *Backend) Ping(ctx context.Context) error {
	if err := b.client.Ping(ctx).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}
