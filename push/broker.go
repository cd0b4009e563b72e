// Package push delivers invitations to visitors' browsers over Server-Sent
// Events: it is the reference deliverer of contract §6.
//
// A [Broker] is a [gateway.Notifier] for the engage/noengage handler and an
// [http.Handler] for the browser side. Mounted at /notification/, it serves
//
//	GET  /notification/{visitID}[?pageID=…]      the event stream of a page
//	POST /notification/{visitID}/disposition      the visitor's answer
//	GET  /notification/visitor.js                 the browser script
//
// # Delivery rules
//
// An accepted engage is kept until it expires (Profile.ExpiresIn, or
// [Options.DefaultExpiry]), is cancelled, or is answered, and is sent to
// every page of the visit that is subscribed or subscribes meanwhile (late
// connect, reload, a second tab), or only to the page whose pageID the
// profile names. One subscription never gets the same interactionID twice,
// and a page that reconnects with Last-Event-ID does not get again what it
// had. A cancel removes the invitation and tells the pages that had it; a
// cancel that arrives before its engage is remembered (a tombstone, for
// [Options.TombstoneTTL]) and the engage is then dropped. In strict mode
// (the default, as GWE's strictEngagementMode) a visit has at most one live
// invitation: an engage for another interactionID meanwhile is refused with
// [gateway.ErrEngagementInProgress], which the handler answers 400
// ENGAGEMENT_IN_PROGRESS. An answered invitation is no longer live, and the
// other pages of the visit are told to hide it.
//
// # Streams without goroutines
//
// On HTTP/1.x the broker takes each stream's connection over from net/http
// (http.Hijacker) once the stream is open: an idle stream then holds no
// goroutine and no net/http buffers, about 0.8 KiB of server memory against
// some 25 KiB for a handler that blocks (see the README's figures). A writer
// goroutine runs only while a stream has events waiting, and one goroutine
// per broker sends heartbeats and sweeps. Over HTTP/2, or through a
// ResponseWriter that cannot be hijacked, a goroutine holds the stream as
// usual. Because the server no longer owns these connections,
// http.Server.Shutdown does not close them: call [Broker.Shutdown] first.
//
// # Limits
//
// Every quantity a client controls is bounded by an [Options] field:
// subscribers per visit and in all, each subscriber's queue, live
// invitations, tombstones. A subscriber whose queue fills (a slow browser)
// or whose write stalls is disconnected without delaying anyone else; its
// invitation stays pending for its reconnect. A vanished browser's stream
// is closed within a second on Unix (the sweeper peeks at the socket), or
// at the first heartbeat that fails elsewhere. The sweeper also removes
// expired invitations and old tombstones once a second.
package push

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engagekit/gateway"
)

// Options configures a [Broker]. The zero value, and a nil *Options, give
// the defaults each field names.
type Options struct {
	// DefaultExpiry is how long an invitation stays live when its profile
	// sets no expiresIn. Zero means 30 s, as GWE's engagementExpirationTime.
	DefaultExpiry time.Duration
	// Lenient turns strict mode off: a visit may then have several live
	// invitations. The zero value is strict.
	Lenient bool
	// Heartbeat is the interval of the comment lines that keep idle streams
	// open through proxies. Zero means 15 s.
	Heartbeat time.Duration
	// Retry is the reconnection delay the stream asks browsers to use.
	// Zero means 2 s.
	Retry time.Duration
	// WriteTimeout bounds each write to a stream: a browser that does not
	// take an event within it is disconnected. Zero means 10 s.
	WriteTimeout time.Duration
	// QueueSize is how many events (heartbeats included) may wait for one
	// subscriber; a subscriber whose queue is full is disconnected. Zero
	// means 16.
	QueueSize int
	// MaxSubscribersPerVisit bounds the open streams of one visit (tabs).
	// A visit at the limit that opens another stream has its oldest stream
	// closed to make room, as the newest is the likeliest to have a page
	// behind it. Zero means 16.
	MaxSubscribersPerVisit int
	// MaxSubscribers bounds the open streams in all. Zero means 10,000.
	MaxSubscribers int
	// MaxInvitations bounds the live invitations in all; past it, Engage
	// answers [gateway.ErrUnavailable]. Zero means 100,000.
	MaxInvitations int
	// TombstoneTTL is how long a cancelled, answered or expired
	// interactionID is remembered, so that a late engage for it is dropped.
	// Zero means 5 minutes.
	TombstoneTTL time.Duration
	// MaxTombstones bounds the remembered interactionIDs; past it, Cancel
	// answers [gateway.ErrUnavailable]. Zero means 200,000.
	MaxTombstones int
	// TokenKeys verify visitor tokens (contract §8): a stream or a
	// disposition that carries a token (see [MintToken]) is let in only if
	// the token is valid, was signed by the key of TokenKeys its header
	// names, and opens the request's visit (and page). Every key verifies;
	// to rotate, add the new key, sign with it once every broker has it,
	// and remove the old one once the tokens it signed have expired. Nil
	// means tokens are not checked, and NewBroker logs a warning unless
	// Authorize is set. NewBroker panics on a key that breaks a rule of
	// [TokenKey] or on two keys with one ID.
	TokenKeys []TokenKey
	// RequireToken refuses, with 401, a stream or a disposition that
	// carries no token: the visitID alone is then not enough. It needs
	// TokenKeys (NewBroker panics otherwise). False lets a request without
	// a token in, to move pages to tokens without downtime, and NewBroker
	// logs a warning when TokenKeys are set.
	RequireToken bool
	// Authorize, when set, is called before a subscription or a
	// disposition is accepted, after its token is checked; a non-nil error
	// refuses it with 401. Nil admits every request the tokens admit.
	Authorize func(r *http.Request, visitID string) error
	// AllowedOrigins lists the origins ("https://shop.example") whose pages
	// may subscribe and post dispositions across origins; "*" allows any.
	// A listed origin is answered Access-Control-Allow-Credentials: true,
	// so its pages may send cookies; one allowed through "*" is not.
	// Same-origin pages and requests without an Origin are always allowed.
	AllowedOrigins []string
	// TrustedHosts lists the hosts ("gwe.example", "gwe.example:8443")
	// this broker is reached by. When set, a stream or a disposition whose
	// Host header names another is refused with 403, and only an Origin of
	// http:// or https:// and one of them counts as the server's own. Nil
	// trusts the request's Host header, which a DNS-rebinding page
	// controls: it then passes as same-origin (tokens still keep it out).
	TrustedHosts []string
	// OnDisposition, when set, is called once per invitation with the
	// visitor's answer, after the invitation stops being live. It runs on
	// the request's goroutine. Nil means dispositions are only applied.
	OnDisposition func(ctx context.Context, d Disposition)
	// Logger receives stream and disposition events at Debug and failures
	// at Warn. Nil means no logging.
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now; tests set it.
	Now func() time.Time
}

// Broker keeps pending invitations and the visitors' streams. Create one
// with [NewBroker] and stop it with [Broker.Shutdown]. It is safe for
// concurrent use.
type Broker struct {
	expiry, heartbeat, writeTimeout, tombTTL time.Duration
	retryFrame                               []byte
	queue, perVisit                          int
	maxSubs, maxInvs, maxTombs               int64
	strict                                   bool
	authorize                                func(*http.Request, string) error
	access                                   access
	origins                                  []string
	anyOrigin                                bool
	onDisposition                            func(context.Context, Disposition)
	logger                                   *slog.Logger
	now                                      func() time.Time

	seed   maphash.Seed
	shards [numShards]shard

	subs, invs, tombs atomic.Int64

	// life guards closing against wg.Add, so that no stream joins wg once
	// Shutdown has begun to wait.
	life    sync.Mutex
	closing chan struct{}
	wg      sync.WaitGroup // streams and the sweeper
}

const numShards = 64

type shard struct {
	mu     sync.Mutex
	visits map[string]*visit
}

// visit returns the state of visitID, creating it; the caller holds mu.
func (sh *shard) visit(visitID string) *visit {
	v := sh.visits[visitID]
	if v == nil {
		v = &visit{}
		sh.visits[strings.Clone(visitID)] = v // the ID may pin a whole request
	}
	return v
}

// visit is the state of one visitID. It is guarded by its shard's mutex.
type visit struct {
	invs  []*invitation   // live, in engage order
	tombs map[string]tomb // by interactionID
	subs  []*subscriber
	seq   uint64 // engage order, for Last-Event-ID
}

type invitation struct {
	id, pageID string
	channels   []string
	seq        uint64
	expiresAt  time.Time
	frame      []byte // the engage event, encoded once
}

type tomb struct {
	seq   uint64
	until time.Time
}

// NewBroker returns a running Broker; nil opts means the defaults. It starts
// a sweeper goroutine that [Broker.Shutdown] stops. NewBroker panics on a
// negative option.
func NewBroker(opts *Options) *Broker {
	if opts == nil {
		opts = &Options{}
	}
	for _, d := range []time.Duration{opts.DefaultExpiry, opts.Heartbeat, opts.Retry, opts.WriteTimeout, opts.TombstoneTTL} {
		if d < 0 {
			panic("push: Options durations must not be negative")
		}
	}
	if opts.QueueSize < 0 || opts.MaxSubscribersPerVisit < 0 || opts.MaxSubscribers < 0 || opts.MaxInvitations < 0 || opts.MaxTombstones < 0 {
		panic("push: Options limits must not be negative")
	}
	b := &Broker{
		expiry:        cmp.Or(opts.DefaultExpiry, 30*time.Second),
		heartbeat:     cmp.Or(opts.Heartbeat, 15*time.Second),
		writeTimeout:  cmp.Or(opts.WriteTimeout, 10*time.Second),
		tombTTL:       cmp.Or(opts.TombstoneTTL, 5*time.Minute),
		retryFrame:    fmt.Appendf(nil, "retry: %d\n\n", cmp.Or(opts.Retry, 2*time.Second).Milliseconds()),
		queue:         cmp.Or(opts.QueueSize, 16),
		perVisit:      cmp.Or(opts.MaxSubscribersPerVisit, 16),
		maxSubs:       int64(cmp.Or(opts.MaxSubscribers, 10000)),
		maxInvs:       int64(cmp.Or(opts.MaxInvitations, 100000)),
		maxTombs:      int64(cmp.Or(opts.MaxTombstones, 200000)),
		strict:        !opts.Lenient,
		authorize:     opts.Authorize,
		onDisposition: opts.OnDisposition,
		logger:        opts.Logger,
		now:           opts.Now,
		seed:          maphash.MakeSeed(),
		closing:       make(chan struct{}),
	}
	for _, o := range opts.AllowedOrigins {
		if o == "*" {
			b.anyOrigin = true
		}
		b.origins = append(b.origins, strings.TrimSuffix(o, "/"))
	}
	if b.now == nil {
		b.now = time.Now
	}
	b.initAccess(opts)
	for i := range b.shards {
		b.shards[i].visits = make(map[string]*visit)
	}
	b.wg.Add(1)
	go b.maintain()
	return b
}

func cloneAll(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = strings.Clone(s)
	}
	return out
}

var _ gateway.Notifier = (*Broker)(nil)

func (b *Broker) shard(visitID string) *shard {
	return &b.shards[maphash.String(b.seed, visitID)%numShards]
}

// join registers a stream with the broker's goroutines, unless the broker
// is shutting down.
func (b *Broker) join() bool {
	b.life.Lock()
	defer b.life.Unlock()
	if b.closed() {
		return false
	}
	b.wg.Add(1)
	return true
}

func (b *Broker) closed() bool {
	select {
	case <-b.closing:
		return true
	default:
		return false
	}
}

var errClosed = &gateway.Fault{Code: gateway.CodeUnavailable, Err: errors.New("push: broker is shut down")}

// Engage makes p's invitation live and sends it to the visit's subscribed
// pages. It accepts an engage for an interactionID that is already live,
// cancelled, answered or expired without delivering it again. In strict
// mode it refuses with an error matching [gateway.ErrEngagementInProgress]
// while the visit has a live invitation for another interactionID. Past
// MaxInvitations, or after Shutdown, it returns a [*gateway.Fault] matching
// [gateway.ErrUnavailable].
func (b *Broker) Engage(_ context.Context, p *gateway.Profile) error {
	if b.closed() {
		return errClosed
	}
	now := b.now()
	expiry := b.expiry
	if p.ExpiresIn > 0 {
		expiry = time.Duration(p.ExpiresIn) * time.Second
	}
	expiresAt := now.Add(expiry)
	frame := engageFrame(p, expiresAt) // outside the lock

	sh := b.shard(p.VisitID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v := sh.visit(p.VisitID)
	b.expire(v, now)
	if _, gone := v.tombs[p.InteractionID]; gone {
		return nil // cancelled first, answered or expired: drop
	}
	for _, inv := range v.invs {
		if inv.id == p.InteractionID {
			return nil // already live
		}
	}
	if b.strict && len(v.invs) > 0 {
		return fmt.Errorf("push: visit has a live invitation: %w", gateway.ErrEngagementInProgress)
	}
	if b.invs.Load() >= b.maxInvs {
		return &gateway.Fault{Code: gateway.CodeUnavailable, RetryAfter: time.Second, Err: errors.New("push: too many live invitations")}
	}
	v.seq++
	inv := &invitation{
		id:        strings.Clone(p.InteractionID), // the profile's strings pin its whole request
		pageID:    strings.Clone(p.PageID),
		channels:  cloneAll(p.Channels),
		seq:       v.seq,
		expiresAt: expiresAt,
		frame:     frame,
	}
	v.invs = append(v.invs, inv)
	b.invs.Add(1)
	for _, s := range v.subs {
		if inv.pageID == "" || inv.pageID == s.pageID {
			b.send(s, inv.id, inv.frame)
		}
	}
	return nil
}

// Cancel takes an invitation back: it stops being live and the pages that
// had it are told to hide it. Cancelling an unknown interactionID succeeds
// and makes a later engage for it a no-op. Past MaxTombstones, or after
// Shutdown, it returns a [*gateway.Fault] matching [gateway.ErrUnavailable].
func (b *Broker) Cancel(_ context.Context, c *gateway.CancelData) error {
	if b.closed() {
		return errClosed
	}
	now := b.now()
	sh := b.shard(c.VisitID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v := sh.visit(c.VisitID)
	b.expire(v, now)
	if _, ok := v.tombs[c.InteractionID]; ok {
		return nil
	}
	if b.tombs.Load() >= b.maxTombs {
		return &gateway.Fault{Code: gateway.CodeUnavailable, RetryAfter: time.Second, Err: errors.New("push: too many tombstones")}
	}
	b.end(v, c.InteractionID, cmp.Or(c.Reason, "cancelled"), now)
	return nil
}

// end makes interactionID no longer live in v: it removes the invitation if
// there is one, tells the subscribers that had it, and leaves a tombstone.
// It reports whether the invitation was live.
func (b *Broker) end(v *visit, id, reason string, now time.Time) bool {
	seq := v.seq + 1 // an unknown ID sorts after everything sent so far
	i := slices.IndexFunc(v.invs, func(inv *invitation) bool { return inv.id == id })
	live := i >= 0
	if live {
		seq = v.invs[i].seq
		v.invs = slices.Delete(v.invs, i, i+1)
		b.invs.Add(-1)
		frame := cancelFrame(id, reason)
		for _, s := range v.subs {
			if slices.Contains(s.seen, id) {
				b.send(s, "", frame)
			}
		}
	}
	if v.tombs == nil {
		v.tombs = make(map[string]tomb)
	}
	v.tombs[strings.Clone(id)] = tomb{seq: seq, until: now.Add(b.tombTTL)}
	b.tombs.Add(1)
	return live
}

// expire ends v's invitations that are past their time.
func (b *Broker) expire(v *visit, now time.Time) {
	for i := 0; i < len(v.invs); {
		if inv := v.invs[i]; !now.Before(inv.expiresAt) {
			b.end(v, inv.id, "expired", now)
			continue
		}
		i++
	}
}

// maintain sweeps once a second and sends heartbeats, until Shutdown.
func (b *Broker) maintain() {
	defer b.wg.Done()
	sweep := time.NewTicker(time.Second)
	defer sweep.Stop()
	beat := time.NewTicker(b.heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-b.closing:
			return
		case <-sweep.C:
			b.sweep()
		case <-beat.C:
			b.each(func(s *subscriber) { b.enqueue(s, heartbeat) })
		}
	}
}

// each calls f for every subscriber, holding its shard's lock.
func (b *Broker) each(f func(*subscriber)) {
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.Lock()
		for _, v := range sh.visits {
			for _, s := range v.subs {
				f(s)
			}
		}
		sh.mu.Unlock()
	}
}

// sweep is what the broker's sweeper does every second: it ends expired
// invitations, forgets tombstones past their TTL, closes streams whose
// browser has gone, and drops visits with nothing left. Tests with an
// injected clock call it through export_test.go.
func (b *Broker) sweep() {
	now := b.now()
	for i := range b.shards {
		sh := &b.shards[i]
		sh.mu.Lock()
		for id, v := range sh.visits {
			for _, s := range v.subs {
				if c, ok := s.conn(); ok && peerClosed(c) {
					b.drop(s)
				}
			}
			v.subs = slices.DeleteFunc(v.subs, (*subscriber).isDead)
			b.expire(v, now)
			for tid, t := range v.tombs {
				if !now.Before(t.until) {
					delete(v.tombs, tid)
					b.tombs.Add(-1)
				}
			}
			if len(v.invs) == 0 && len(v.tombs) == 0 && len(v.subs) == 0 {
				delete(sh.visits, id)
			}
		}
		sh.mu.Unlock()
	}
}

// Stats is a snapshot of a Broker's counts, for metrics and tests.
type Stats struct {
	Subscribers, Invitations, Tombstones int
}

// Stats returns the current counts.
func (b *Broker) Stats() Stats {
	return Stats{Subscribers: int(b.subs.Load()), Invitations: int(b.invs.Load()), Tombstones: int(b.tombs.Load())}
}

// Shutdown closes every stream, stops the maintenance goroutine, and returns
// when all the broker's goroutines, stream handlers and writers included,
// are gone, or when ctx is done, with its error. Engage and Cancel then answer
// [gateway.ErrUnavailable]. It is safe to call more than once.
func (b *Broker) Shutdown(ctx context.Context) error {
	b.life.Lock()
	if !b.closed() {
		close(b.closing)
	}
	b.life.Unlock()
	// Once every subscriber is dead no writer can start, so the wait below
	// counts every goroutine there will be.
	var all []*subscriber
	b.each(func(s *subscriber) { all = append(all, s) })
	for _, s := range all {
		b.drop(s)
	}
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Broker) log(level slog.Level, msg string, attrs ...slog.Attr) {
	if b.logger != nil {
		b.logger.LogAttrs(context.Background(), level, msg, attrs...)
	}
}
