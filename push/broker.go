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
// other pages of the visit are told to hide it; in strict mode an accepted
// one keeps the visit engaged while the visitor's form is open, until the
// page reports it submitted or [Options.RegistrationFormExpiry] runs out.
//
// # Many instances
//
// The broker applies these rules once, whatever shares its state: a
// [Backend] holds the few facts every instance must agree on (strict-mode
// claims, ended interactionIDs) and carries every change (an [Event]) to
// every broker, each of which applies it to its own view and streams. An
// engage is answered 200 only once its event is in the backend's log, so
// every broker that listens gets it; the broker that holds the visitor's
// stream delivers it. The default backend, [NewMemoryBackend], serves the
// brokers of one process; the natsfanout and redisfanout modules serve many.
// Every broker sharing a Backend must have the same Lenient, TombstoneTTL
// and RegistrationFormExpiry.
//
// # Offer gating and outcomes
//
// An [Options.Gate] refuses engages that would pester a visitor (a
// cool-down after a rejection, too many or too close invitations, quiet
// hours, no agent available), with [gateway.ErrEngagementSuppressed]; its
// counting rules keep a record per visit in the Backend, so they hold
// across instances. [Options.OnOutcome] hears each invitation's [Outcome]
// once across every broker sharing the Backend.
//
// # Streams without goroutines
//
// On HTTP/1.x the broker takes each stream's connection over from net/http
// (http.Hijacker) once the stream is open: an idle stream then holds no
// goroutine and no net/http buffers, under 1 KiB of server memory against
// some 25 KiB for a handler that blocks (see the README's figures), and
// costs no work while nothing happens. A writer goroutine runs only while
// a stream has events waiting. One goroutine per broker sweeps once a
// second, doing only what has come due (expired invitations, old
// tombstones, visits left empty) and sleeping while nothing can, and sends
// heartbeats from a wheel: every Heartbeat/16 it writes the heartbeats of
// the sixteenth of the streams whose turn it is, at once where the socket
// has room; the wheel stops while no stream is open. On Linux, the BSDs
// and macOS another goroutine waits on the kernel (epoll, kqueue) for the
// hijacked sockets that have something to read or have closed. Over
// HTTP/2, or through a ResponseWriter that cannot be hijacked, a goroutine
// holds the stream as usual. Because the server no longer owns these
// connections, http.Server.Shutdown does not close them: call
// [Broker.Shutdown] first.
//
// # Limits
//
// Every quantity a client controls is bounded by an [Options] field:
// streams per visit, per client and in all, each subscriber's queue, live
// invitations in number, in bytes and per visit, tombstones, and the notify
// messages kept per visit (which count in the invitations' bytes).
//
// # Notify
//
// The Broker is also a [gateway.Messenger]: [Broker.Notify] sends GWE
// notify messages (contract §9) as SSE notify events to the pages they
// target, on every instance, and keeps each for [Options.NotifyTTL] for
// the pages that open later.
//
// One client, by default one IP address (see [Options.ClientKey] behind a
// proxy), holds at most MaxStreamsPerClient streams, so that it cannot
// take the streams of every visitor; the default of MaxSubscribers leaves
// a quarter of the process's open files and more to the engage API; and
// every refused stream has its connection closed, so that a client
// refused again and again holds no descriptor.
//
// A subscriber whose queue fills (a slow browser)
// or whose write stalls is disconnected without delaying anyone else; its
// invitation stays pending for its reconnect.
//
// A browser that goes away has its hijacked stream freed as soon as the
// kernel tells (on Linux, the BSDs and macOS), whichever way it goes: a
// close (FIN), a reset (RST), a half-close, a TLS close_notify with or
// without the TCP close, or stray bytes then a close; the package's tests
// hold each of them to 100 ms, and measure about a millisecond on
// loopback. What a client sends on its stream after its request is read
// and discarded; a client that sends more than 4 KiB there, or sends 16
// times, is disconnected. Over HTTP/2 the stream is freed when net/http
// reports the client gone (its RST_STREAM or the connection's end). On
// other systems a hijacked stream is freed at the first heartbeat that
// fails to write (on other Unix systems a sweep also peeks at each
// hijacked socket once a second, which sees a FIN or an RST).
//
// Room is checked when an engage is admitted, never when an event is
// applied: an engage answered 200 is never dropped for want of room, and a
// cancel is never refused. The counts may therefore pass their bounds by
// the engages in flight and by what other brokers admitted. At
// MaxTombstones the oldest tombstones are forgotten to make room; a very
// late engage for a forgotten interactionID is then shown. With the
// defaults, the live invitations take at most some 260 MiB of heap
// (MaxInvitationBytes) and the tombstones some 60 MiB: a process of about
// 1 GiB.
package push

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engagekit/gateway"
)

// Options configures a [Broker]. The zero value, and a nil *Options, give
// the defaults each field names.
type Options struct {
	// Backend is what the broker shares with the other brokers of a
	// deployment (see [Backend]). Nil means a [MemoryBackend] of the
	// broker's own, with MaxTombstones as its MaxEnded and Now as its
	// clock: one process, no network.
	Backend Backend
	// DefaultExpiry is how long an invitation stays live when its profile
	// sets no expiresIn. Zero means 30 s, as GWE's engagementExpirationTime.
	DefaultExpiry time.Duration
	// Lenient turns strict mode off: a visit may then have several live
	// invitations. The zero value is strict.
	Lenient bool
	// RegistrationFormExpiry is how long, in strict mode, a visit stays
	// engaged after the visitor accepted its invitation, while the
	// registration or chat form is open: an engage for another
	// interactionID meanwhile is refused with
	// [gateway.ErrEngagementInProgress], until the page reports the form
	// submitted (the disposition result "submitted", contract §6.6), the
	// accepted interaction is cancelled, or the time runs out. It is GWE's
	// registrationFormExpirationTime. Zero means 120 s, its default;
	// NewBroker panics outside GWE's range, 10 s to 30 minutes. The open
	// forms a broker remembers are bounded as its tombstones are
	// (MaxTombstones). Lenient mode claims nothing, so there it has no
	// effect.
	RegistrationFormExpiry time.Duration
	// Heartbeat is the interval of the comment lines that keep idle streams
	// open through proxies. Zero means 15 s.
	Heartbeat time.Duration
	// Retry is the reconnection delay the stream asks browsers to use.
	// Zero means 2 s.
	Retry time.Duration
	// RetryJitter spreads reconnections: each stream asks its browser to
	// reconnect after Retry plus a random part of RetryJitter, drawn per
	// stream, so that streams dropped together (a crash, a proxy's
	// restart) do not all come back at once. Zero means Retry: with the
	// default Retry, each browser waits between 2 and 4 s. Negative means
	// none: every stream asks for Retry.
	RetryJitter time.Duration
	// ShutdownRate is the pace, in streams per second, at which
	// [Broker.Shutdown] asks the browsers of its streams to come back (a
	// deploy's reconnect storm, wherever the load balancer sends them):
	// before it closes them it sends the streams a new retry each, spread
	// evenly from Retry to Retry plus streams/ShutdownRate seconds. Zero
	// means 2,000 per second: 15,000 streams come back over 7.5 s.
	// Negative means no new retry: each browser waits what its stream
	// asked for when it opened.
	ShutdownRate int
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
	// MaxSubscribers bounds the open streams in all; past it a new stream
	// is refused 503 with Retry-After: 5. Each stream holds a file
	// descriptor, so zero means a default taken from the process's limit on
	// open files (RLIMIT_NOFILE on Unix, which Go raises to the hard limit
	// at start): three quarters of the limit less 512, or half of it if
	// that is more, and at most 10,000. The rest is left to the engage
	// API, the backend and the listeners: a flood of streams never leaves
	// the server unable to accept them. Where the limit cannot be read
	// (Windows), 10,000. The default is read once, by NewBroker.
	MaxSubscribers int
	// MaxStreamsPerClient bounds the open streams of one client, as
	// ClientKey names it, so that one address cannot take the streams of
	// every visitor; past it a new stream of that client is refused 503
	// with Retry-After: 5, and its other streams stay. Zero means
	// MaxSubscribers/16, at least MaxSubscribersPerVisit (one visit's tabs)
	// and at most 256: 256 with the other defaults. Many visitors behind
	// one NAT address share the cap; raise it, or key clients otherwise,
	// where that is common.
	MaxStreamsPerClient int
	// ClientKey names the client a stream request counts against for
	// MaxStreamsPerClient; an empty key counts against no cap. It is called
	// once per stream request, after the request's token and Authorize
	// have let it in, on the request's goroutine; it must be safe for
	// concurrent use. Nil means [RemoteClient]: the remote IP address, an
	// IPv6 address cut to its /64.
	//
	// Behind a reverse proxy or a load balancer every request comes from
	// the proxy, and all visitors would share one cap: set ClientKey to
	// read the client's address from what the proxy sets, and only from
	// what it sets. X-Forwarded-For's first entries are whatever the
	// client sent; take the entry your own proxy appended (the last, with
	// one proxy), or a header the proxy overwrites; see the example. The
	// broker logs one warning when streams carry X-Forwarded-For or
	// Forwarded and ClientKey is nil.
	ClientKey func(r *http.Request) string
	// MaxInvitations bounds the live invitations: past it, Engage answers
	// [gateway.ErrUnavailable]. It is checked when an engage is admitted;
	// an invitation another broker admitted is always applied, so a broker
	// may hold a few more. Zero means 100,000.
	MaxInvitations int
	// MaxInvitationBytes bounds the memory of the live invitations, as
	// the broker counts it: each invitation's engage frame (the event sent
	// to browsers: 27 KiB for the largest valid profile, a few hundred
	// bytes for a usual one), its strings, and 256 bytes of structures,
	// which tracks the heap they take within a factor of 1.5. Past it,
	// Engage answers [gateway.ErrUnavailable] (503, Retry-After: 1) until
	// invitations end. Like MaxInvitations it is checked when an engage is
	// admitted, and an event is always applied, so a broker may pass its
	// budget by the engages and notifies in flight and by what other
	// brokers admitted.
	// Zero means [DefaultMaxInvitationBytes], 256 MiB: 9,555 of the largest
	// invitations, which BenchmarkInvitationBudget measures at 260 MiB of
	// heap and some 430 MiB of resident memory; usual invitations meet
	// MaxInvitations first (100,000 of them count 50 to 70 MiB).
	MaxInvitationBytes int64
	// MaxInvitationsPerVisit bounds the live invitations of one visit in
	// lenient mode (strict mode allows one): past it, an engage of another
	// interactionID for the visit answers [gateway.ErrUnavailable] (503,
	// Retry-After: 1) until one of them ends. The broker's own view is
	// checked, when the engage is admitted. Zero means 16.
	MaxInvitationsPerVisit int
	// NotifyTTL is how long a notify message (contract §9) is kept for the
	// pages of its visit that open their stream later. Zero means
	// [DefaultNotifyTTL], 30 s.
	NotifyTTL time.Duration
	// MaxNotificationsPerVisit bounds the notify messages kept for one
	// visit: past it, Notify answers [gateway.ErrUnavailable] (503,
	// Retry-After: 1) until some run out. It counts the messages kept in
	// the broker's view and those of its own notifies still on their way
	// through the backend; other brokers' notifies count once they
	// arrive, so a visit notified on several instances at once may hold
	// more. The kept messages also count toward MaxInvitationBytes. Zero
	// means [DefaultMaxNotificationsPerVisit], 32.
	MaxNotificationsPerVisit int
	// TombstoneTTL is how long a cancelled, answered or expired
	// interactionID is remembered, so that a late engage for it is dropped.
	// Zero means 5 minutes.
	TombstoneTTL time.Duration
	// MaxTombstones bounds the remembered interactionIDs. At the bound the
	// oldest is forgotten to make room (a very late engage for it may then
	// be shown); a cancel is never refused. The bound is split evenly among
	// the broker's 64 shards by visitID, so the visits of one shard hold at
	// most MaxTombstones/64. Zero means [DefaultMaxEnded], 200,000.
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
	// visitor's answer, after the invitation stops being live, by the
	// broker that received the answer. It runs on the request's goroutine.
	// Nil means dispositions are only applied.
	OnDisposition func(ctx context.Context, d Disposition)
	// OnOutcome, when set, is called with each invitation's outcome (see
	// [Outcome]): answered, cancelled or expired, and each engage the Gate
	// suppressed, once across every broker sharing the Backend. Every
	// broker sees each end; the one that first creates the outcome's
	// record in the Backend (see [Backend.Store]) reports it; a broker
	// holds 8 elections at once. It is called one outcome at a time,
	// shortly after the end: return soon, as the next outcomes wait (the
	// webhook module's Sender.OnOutcome queues and returns at once). As
	// many outcomes may wait as MaxInvitations (at least 4,096), so that
	// every invitation may end at once; past that the newest are dropped,
	// logged (at most once every 10 s) and counted in
	// [Stats].OutcomesDropped.
	//
	// When the Backend cannot be reached the broker reports the outcome
	// all the same, so each broker that saw it may: an outcome is then
	// reported at least once, and (VisitID, InteractionID, Result) lets the
	// receiver drop the repeats. After an election that failed slowly (in
	// 100 ms or more: a backend cut off rather than down), the broker
	// reports the outcomes of the next second without elections, so that a
	// hanging backend does not hold them back one timeout each; those may
	// be repeats too, also just after the backend comes back. An outcome is lost when its broker stops
	// between winning its election and reporting it, and an outcome
	// reported long after its end (a broker catching up on the log for
	// longer than an invitation's longest life and TombstoneTTL) may be
	// reported again. Outcomes still queued at Shutdown are reported
	// before it returns, within its context. Nil means outcomes are not
	// reported, at no cost.
	OnOutcome func(Outcome)
	// Gate is the offer-gating policy checked before an engage is
	// admitted (see [Gate]). Nil means no gating, at no cost. NewBroker
	// panics on a Gate it cannot apply.
	Gate *Gate
	// VisitExpiry is how long the Backend keeps a visit's state after its
	// last activity (an invitation or a rejection the Gate counts): a
	// visit with no activity for that long is forgotten, its state
	// dropped, as with GWE's visitExpirationTime. Zero means
	// [DefaultVisitExpiry], 24 hours.
	VisitExpiry time.Duration
	// Observer, when set, hears what the broker does, for metrics and
	// traces (see [Observer]). Nil means nothing is reported.
	Observer *Observer
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
	retry, retryJitter                       time.Duration // retryJitter 0: none
	shutdownRate                             int           // 0: none
	queue, perVisit                          int
	maxSubs, maxInvs, maxInvBytes            int64
	perVisitInvs                             int
	notifyTTL                                time.Duration
	perVisitNotes                            int
	tombsPerShard                            int
	strict                                   bool
	authorize                                func(*http.Request, string) error
	access                                   access
	clients                                  clientStreams
	origins                                  []string
	anyOrigin                                bool
	onDisposition                            func(context.Context, Disposition)
	gate                                     *gate     // nil: no gating (gate.go)
	reporter                                 *reporter // nil: no OnOutcome (outcomes.go)
	visitExpiry                              time.Duration
	logger                                   *slog.Logger
	now                                      func() time.Time

	backend    Backend
	mem        *MemoryBackend // backend, when it is one: Engage takes its fast path
	stopListen func()

	obs Observer

	formTTL time.Duration // Options.RegistrationFormExpiry (form.go)

	seed   maphash.Seed
	shards [numShards]shard

	subs, invs, tombs atomic.Int64
	invBytes          atomic.Int64 // what the live invitations and kept notes count toward maxInvBytes
	notesHeld         atomic.Int64 // the kept notify messages

	beats     beats     // the heartbeat wheel
	readiness readiness // what Ready last learned
	poller    poller    // the kernel's news about hijacked streams' sockets

	// The sweeper sleeps until something comes due; wakeSweeper wakes it.
	sweepAsleep atomic.Bool
	sweepWake   chan struct{}
	sweeps      atomic.Int64 // how many times it swept, for tests
	realClock   bool         // Options.Now is unset: timers measure its time

	// life guards closing against wg.Add, so that no stream joins wg once
	// Shutdown has begun to wait.
	life    sync.Mutex
	closing chan struct{}
	wg      sync.WaitGroup // streams, writers, the sweeper and the listener
}

// registrar is a backend that registers a listener at once, without a
// goroutine: the [MemoryBackend], which keeps no log for a late listener
// to catch up from.
type registrar interface {
	register(deliver func(*Event)) (unregister func())
}

// sweeper is a backend that frees what aged out when the broker sweeps,
// and returns when the next thing it holds ages out, in Unix nanoseconds
// (0: nothing).
type sweeper interface{ sweep() (next int64) }

// NewBroker returns a running Broker; nil opts means the defaults. It
// starts a sweeper goroutine, unless the backend is a [MemoryBackend] a
// goroutine that listens to the backend, and with OnOutcome one that
// reports outcomes; [Broker.Shutdown] stops them.
// NewBroker panics on a negative option.
func NewBroker(opts *Options) *Broker {
	if opts == nil {
		opts = &Options{}
	}
	for _, d := range []time.Duration{opts.DefaultExpiry, opts.Heartbeat, opts.Retry, opts.WriteTimeout, opts.TombstoneTTL, opts.NotifyTTL, opts.VisitExpiry} { // RetryJitter may be negative
		if d < 0 {
			panic("push: Options durations must not be negative")
		}
	}
	if opts.QueueSize < 0 || opts.MaxSubscribersPerVisit < 0 || opts.MaxSubscribers < 0 || opts.MaxStreamsPerClient < 0 || opts.MaxInvitations < 0 || opts.MaxInvitationBytes < 0 || opts.MaxInvitationsPerVisit < 0 || opts.MaxTombstones < 0 || opts.MaxNotificationsPerVisit < 0 {
		panic("push: Options limits must not be negative")
	}
	maxTombs := cmp.Or(opts.MaxTombstones, DefaultMaxEnded)
	b := &Broker{
		expiry:        cmp.Or(opts.DefaultExpiry, 30*time.Second),
		heartbeat:     cmp.Or(opts.Heartbeat, 15*time.Second),
		writeTimeout:  cmp.Or(opts.WriteTimeout, 10*time.Second),
		tombTTL:       cmp.Or(opts.TombstoneTTL, 5*time.Minute),
		retry:         cmp.Or(opts.Retry, 2*time.Second),
		queue:         cmp.Or(opts.QueueSize, 16),
		perVisit:      cmp.Or(opts.MaxSubscribersPerVisit, 16),
		maxSubs:       int64(cmp.Or(opts.MaxSubscribers, defaultMaxSubscribers(fileLimit()))),
		maxInvs:       int64(cmp.Or(opts.MaxInvitations, 100000)),
		maxInvBytes:   cmp.Or(opts.MaxInvitationBytes, DefaultMaxInvitationBytes),
		perVisitInvs:  cmp.Or(opts.MaxInvitationsPerVisit, 16),
		notifyTTL:     cmp.Or(opts.NotifyTTL, DefaultNotifyTTL),
		perVisitNotes: cmp.Or(opts.MaxNotificationsPerVisit, DefaultMaxNotificationsPerVisit),
		tombsPerShard: perShard(maxTombs),
		strict:        !opts.Lenient,
		authorize:     opts.Authorize,
		onDisposition: opts.OnDisposition,
		gate:          newGate(opts.Gate),
		visitExpiry:   cmp.Or(opts.VisitExpiry, DefaultVisitExpiry),
		logger:        opts.Logger,
		now:           opts.Now,
		backend:       opts.Backend,
		obs:           observer(opts),
		seed:          maphash.MakeSeed(),
		closing:       make(chan struct{}),
		sweepWake:     make(chan struct{}, 1),
		beats:         beats{wake: make(chan struct{}, 1)},
	}
	for _, o := range opts.AllowedOrigins {
		if o == "*" {
			b.anyOrigin = true
		}
		b.origins = append(b.origins, strings.TrimSuffix(o, "/"))
	}
	if b.now == nil {
		b.now, b.realClock = time.Now, true
	}
	b.formTTL = formExpiry(opts.RegistrationFormExpiry)
	b.retryJitter, b.shutdownRate = retrySpread(b.retry, opts.RetryJitter, opts.ShutdownRate)
	b.initAccess(opts)
	b.clients.init(cmp.Or(opts.MaxStreamsPerClient, defaultStreamsPerClient(int(b.maxSubs), b.perVisit)), opts.ClientKey)
	for i := range b.shards {
		b.shards[i].visits = make(map[string]*visit)
		b.shards[i].wake = b.wakeSweeper
	}
	if b.backend == nil {
		b.backend = NewMemoryBackend(&MemoryOptions{MaxEnded: maxTombs, Now: opts.Now})
	}
	// Only a MemoryBackend itself: a type that embeds one, to change some
	// of its methods, gets the general path, which calls them.
	b.mem, _ = b.backend.(*MemoryBackend)
	if r, ok := b.backend.(registrar); ok {
		b.stopListen = r.register(b.apply)
	} else {
		ctx, cancel := context.WithCancel(context.Background())
		b.stopListen = cancel
		b.wg.Add(1)
		go b.listen(ctx)
	}
	if opts.OnOutcome != nil {
		b.reporter = newReporter(opts.OnOutcome, int(b.maxInvs), maxExpiresIn+b.tombTTL)
		for range electors {
			b.wg.Add(1)
			go b.elect()
		}
	}
	b.wg.Add(1)
	go b.maintain()
	return b
}

var _ gateway.Notifier = (*Broker)(nil)

// listen applies the backend's events until ctx is done. A Listen that
// fails (a configuration error) is logged and tried again, less and less
// often.
func (b *Broker) listen(ctx context.Context) {
	defer b.wg.Done()
	delay := 100 * time.Millisecond
	for {
		err := b.backend.Listen(ctx, b.apply)
		if ctx.Err() != nil {
			return
		}
		b.log(slog.LevelError, "push: cannot listen to the backend", slog.Any("err", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
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

// unavailable is the one place package push makes its 503 errors: the
// handler answers them UNAVAILABLE with a Retry-After of retryAfter (zero:
// the handler's default). cause is for logs only.
func unavailable(retryAfter time.Duration, cause string) error {
	return &gateway.Fault{Code: gateway.CodeUnavailable, RetryAfter: retryAfter, Err: errors.New(cause)}
}

// backendUnavailable is the 503 of a failed backend call, with the
// Retry-After the backend's error asks for, if any. The backend's error
// is kept as text only, so that nothing in it can turn the answer into
// anything but 503.
func backendUnavailable(call string, err error) error {
	var retryAfter time.Duration
	if f := (*gateway.Fault)(nil); errors.As(err, &f) {
		retryAfter = f.RetryAfter
	}
	return unavailable(retryAfter, "push: backend "+call+": "+err.Error())
}

var (
	errClosed   = unavailable(0, "push: broker is shut down")
	errTooMany  = unavailable(5*time.Second, "push: subscriber limit reached")
	errFull     = unavailable(time.Second, "push: too many live invitations")
	errInFlight = fmt.Errorf("push: visit has a live invitation: %w", gateway.ErrEngagementInProgress)
)

// releaseTimeout bounds the Release that undoes a claim after a failure,
// which runs even when the request's context is done.
const releaseTimeout = time.Second

// Engage admits p's invitation: once its event is in the backend's log it
// returns nil, and every broker makes it live and sends it to the visit's
// subscribed pages. It accepts an engage for an interactionID that is
// already live, cancelled, answered or expired without delivering it
// again. In strict mode it refuses with an error matching
// [gateway.ErrEngagementInProgress] while the visit has a live invitation
// for another interactionID, or one accepted whose form is still open
// (RegistrationFormExpiry). With a [Gate], an engage a rule refuses
// returns a [*gateway.Fault] matching [gateway.ErrEngagementSuppressed]
// whose Reason names the rule. Past MaxInvitations, MaxInvitationBytes or
// MaxInvitationsPerVisit, after Shutdown, or when the backend fails, it
// returns a [*gateway.Fault] matching [gateway.ErrUnavailable] and nothing
// was admitted.
func (b *Broker) Engage(ctx context.Context, p *gateway.Profile) error {
	if b.closed() {
		return errClosed
	}
	now := b.now()
	expiry := b.expiry
	if p.ExpiresIn > 0 {
		expiry = time.Duration(p.ExpiresIn) * time.Second
	}
	if b.known(p.VisitID, p.InteractionID, now) {
		return nil // live already, or ended: nothing to deliver
	}
	if err := b.admit(p); err != nil {
		return err
	}
	if b.gate != nil {
		if err := b.gate.admitNow(ctx, p, now); err != nil {
			return b.suppress(p, now, err)
		}
	}
	ev := b.traced(ctx, engageEvent(p, now, now.Add(expiry)))
	if b.mem != nil && (b.gate == nil || !b.gate.counts) { // counting takes the general path
		switch done, holder := b.mem.engage(ev, b.strict, expiry); {
		case done == memPublished:
			b.observeOffered(ctx, p)
			return nil
		case done == memEnded:
			return nil // ended on some broker: dropped
		case !b.over(p.VisitID, holder, now):
			return errInFlight
		}
		// The claim's holder ended here: the general path below
		// releases its claim.
	}
	if !b.strict {
		if ended, err := b.backend.Ended(ctx, p.VisitID, p.InteractionID); err != nil {
			return backendUnavailable("Ended", err)
		} else if ended {
			return nil // cancelled first, on any broker: drop
		}
	}
	if b.strict {
		// Claim first, then ask whether the ID has ended: three round
		// trips (Claim, Ended, Publish), not four. A cancel racing on
		// another broker does End, then Release: had it ended the ID
		// before the claim, or at any time before now, it is seen now.
		if err := b.claim(ctx, p.VisitID, p.InteractionID, expiry, now); err != nil {
			if errors.Is(err, errInFlight) {
				// Another interaction holds the visit; an ended ID is
				// still answered as ended, not as in progress.
				if ended, eerr := b.backend.Ended(ctx, p.VisitID, p.InteractionID); eerr == nil && ended {
					return nil
				}
			}
			return err
		}
		ended, err := b.backend.Ended(ctx, p.VisitID, p.InteractionID)
		if err != nil || ended {
			b.undoClaim(ctx, p.VisitID, p.InteractionID)
			if err != nil {
				return backendUnavailable("Ended", err)
			}
			return nil
		}
	}
	if b.gate != nil && b.gate.counts {
		if err := b.countOffer(ctx, p.VisitID, p.InteractionID, now); err != nil {
			if b.strict {
				b.undoClaim(ctx, p.VisitID, p.InteractionID)
			}
			return b.suppress(p, now, err)
		}
	}
	if err := b.backend.Publish(ctx, ev); err != nil {
		if b.strict {
			b.undoClaim(ctx, p.VisitID, p.InteractionID)
		}
		return backendUnavailable("Publish", err)
	}
	b.observeOffered(ctx, p)
	return nil
}

// admit checks the room a new invitation takes, before anything is claimed
// or published: an event once published is always applied. Every bound on
// admission belongs here. The counts it reads may pass their bounds by the
// engages admitted meanwhile, each of which adds one invitation.
func (b *Broker) admit(p *gateway.Profile) error {
	switch {
	case b.invs.Load() >= b.maxInvs:
		return errFull
	case b.invBytes.Load() >= b.maxInvBytes:
		return errFullBytes
	case !b.strict && b.visitFull(p.VisitID): // strict mode's claim allows one
		return errVisitFull
	}
	return nil
}

// claim takes visitID's strict-mode claim for interactionID. A claim held
// by an interaction this broker has seen end (expired, or ended with its
// release still on its way) is released first: a backend's claim may
// outlive its invitation by its TTL's resolution, or by a duplicate engage
// that renewed it.
func (b *Broker) claim(ctx context.Context, visitID, interactionID string, ttl time.Duration, now time.Time) error {
	holder, err := b.backend.Claim(ctx, visitID, interactionID, ttl)
	if err == nil && holder != interactionID && b.over(visitID, holder, now) {
		if err = b.backend.Release(ctx, visitID, holder); err == nil {
			holder, err = b.backend.Claim(ctx, visitID, interactionID, ttl)
		}
	}
	switch {
	case err != nil:
		b.undoClaim(ctx, visitID, interactionID) // the claim may have been taken
		return backendUnavailable("Claim", err)
	case holder != interactionID:
		return errInFlight
	}
	return nil
}

// undoClaim releases a claim after a failure, even if ctx is done; a
// release that fails leaves the claim to lapse at its TTL.
func (b *Broker) undoClaim(ctx context.Context, visitID, interactionID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := b.backend.Release(ctx, visitID, interactionID); err != nil {
		b.log(slog.LevelWarn, "push: backend Release failed; the claim lapses at its TTL", slog.String("visitID", visitID), slog.Any("err", err))
	}
}

// Cancel takes an invitation back: once the backend has recorded the end
// and its event, it returns nil, and every broker stops showing it and
// tells the pages that had it to hide it. Cancelling an unknown
// interactionID succeeds and makes a later engage for it a no-op. A cancel
// is never refused for want of room; after Shutdown, or when the backend
// fails, it returns a [*gateway.Fault] matching [gateway.ErrUnavailable], and the strategy's
// retry cancels again.
func (b *Broker) Cancel(ctx context.Context, c *gateway.CancelData) error {
	if b.closed() {
		return errClosed
	}
	return b.finish(ctx, c.VisitID, c.InteractionID, b.traced(ctx, cancelEvent(c, b.now())))
}

// finish ends an interaction on every broker: it records the end, so that
// a late engage anywhere is dropped, publishes ev (a cancel or an answer)
// and frees the visit's claim, in that order, so that an engage that takes
// the claim next finds the end recorded. An acceptance keeps the claim for
// the visitor's form (form.go).
func (b *Broker) finish(ctx context.Context, visitID, interactionID string, ev *Event) error {
	if err := b.backend.End(ctx, visitID, interactionID, b.endTTL(ev)); err != nil {
		return backendUnavailable("End", err)
	}
	if err := b.backend.Publish(ctx, ev); err != nil {
		return backendUnavailable("Publish", err)
	}
	if b.strict && !opensForm(ev) {
		if err := b.backend.Release(ctx, visitID, interactionID); err != nil {
			return backendUnavailable("Release", err)
		}
	}
	return nil
}

// maintain sweeps and turns the heartbeat wheel, until Shutdown. Neither
// walks the streams: the sweep does what is due, and each turn of the
// wheel sends one slot's heartbeats; the wheel's ticker stops while no
// stream is open. The sweeper sleeps until the next thing comes due (an
// invitation's expiry, a tombstone's end, …), at most once a second, and
// for good while nothing can; whatever is added wakes it for a sweep a
// second later. Idle streams thus cost no work, and a
// far expiry no wakeup before its time.
func (b *Broker) maintain() {
	defer b.wg.Done()
	sweep := time.NewTimer(time.Second)
	defer sweep.Stop()
	at := time.Now().Add(time.Second) // when sweep fires, if it is armed
	beat := time.NewTicker(b.heartbeat / beatSlots)
	defer beat.Stop()
	b.beats.startBeats(b.heartbeat / beatSlots)
	for {
		select {
		case <-b.closing:
			return
		case <-sweep.C:
			// Asleep before the sweep looks: what is added after it
			// looked finds the sweeper asleep and wakes it.
			b.sweepAsleep.Store(true)
			b.sweeps.Add(1)
			at = time.Time{}
			if next := b.sweep(); !next.IsZero() {
				d := b.sweepIn(next)
				sweep.Reset(d)
				at = time.Now().Add(d)
			}
		case <-b.sweepWake:
			// In a second, unless it is armed to sweep sooner.
			if d := time.Until(at); at.IsZero() || d > time.Second {
				sweep.Reset(time.Second)
				at = time.Now().Add(time.Second)
			}
		case <-beat.C:
			if b.beat() {
				beat.Stop()
			}
		case <-b.beats.wake:
			b.beats.resume()
			beat.Reset(b.heartbeat / beatSlots)
		}
	}
}

// sweepIn returns how long the sweeper sleeps before next: until then, and
// at least a second. With an injected clock, whose time need not pass as
// the timer's does, it sweeps every second.
func (b *Broker) sweepIn(next time.Time) time.Duration {
	if !b.realClock {
		return time.Second
	}
	return max(next.Sub(b.now()), time.Second)
}

// wakeSweeper has the sweeper sweep in a second, if it sleeps: something
// that can come due was added.
func (b *Broker) wakeSweeper() {
	if b.sweepAsleep.Load() && b.sweepAsleep.CompareAndSwap(true, false) {
		select {
		case b.sweepWake <- struct{}{}:
		default:
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

// Stats is a snapshot of a Broker's counts, for metrics and tests.
type Stats struct {
	// Subscribers is the open streams, Invitations the live invitations,
	// and Tombstones the ended interactionIDs remembered (§6.5).
	Subscribers, Invitations, Tombstones int
	// InvitationBytes is what the live invitations and the kept notify
	// messages count toward MaxInvitationBytes.
	InvitationBytes int64
	// Notifications is the notify messages kept for pages that open later.
	Notifications int
	// OutcomesDropped is the outcomes not reported because as many as may
	// wait were waiting already (see [Options.OnOutcome]), since the
	// broker started.
	OutcomesDropped int
}

// Stats returns the current counts.
func (b *Broker) Stats() Stats {
	st := Stats{Subscribers: int(b.subs.Load()), Invitations: int(b.invs.Load()), Tombstones: int(b.tombs.Load()), InvitationBytes: b.invBytes.Load(), Notifications: int(b.notesHeld.Load())}
	if b.reporter != nil {
		st.OutcomesDropped = int(b.reporter.dropped.Load())
	}
	return st
}

// Shutdown stops listening to the backend, closes every stream, stops the
// maintenance goroutine, and returns when all the broker's goroutines,
// stream handlers and writers included, are gone, or when ctx is done,
// with its error. Engage and Cancel then answer [gateway.ErrUnavailable].
// It does not close the backend, which other brokers may share. It is safe
// to call more than once.
//
// Before it closes a stream it sends it a last retry field, so that the
// browsers come back at the pace of [Options.ShutdownRate] rather than all
// at once. A plain HTTP/1.x stream whose socket has room (an idle one) is
// written and closed at once; any other (TLS, HTTP/2, a stream with
// events on their way) is closed by its writer once the retry is written,
// within WriteTimeout. A second call closes at once what is left.
func (b *Broker) Shutdown(ctx context.Context) error {
	b.life.Lock()
	first := !b.closed()
	if first {
		close(b.closing)
	}
	b.life.Unlock()
	if first {
		b.stopListen()
	}
	// Once every subscriber is dead no writer can start, so the wait below
	// counts every goroutine there will be.
	var all []*subscriber
	b.each(func(s *subscriber) { all = append(all, s) })
	if first && b.shutdownRate > 0 {
		b.leave(all) // drops each once its retry is written
	} else {
		for _, s := range all {
			b.drop(s)
		}
	}
	b.stopPoller()
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
