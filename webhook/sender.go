package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engagekit/gateway/push"
)

// EventType is the type of every message a [Sender] sends, in the body's
// "type" field.
const EventType = "engagement.outcome"

// Defaults of [Options].
const (
	DefaultQueueSize      = 1024
	DefaultWorkers        = 4
	DefaultMaxAttempts    = 8
	DefaultAttemptTimeout = 15 * time.Second
	DefaultMinBackoff     = time.Second
	DefaultMaxBackoff     = time.Minute
)

// dropLogEvery is how often, at most, a full queue is logged.
const dropLogEvery = 10 * time.Second

// maxDrain is how much of a response body is read, so that the connection
// can be reused; the body itself is ignored.
const maxDrain = 4 << 10

// userAgent names the sender to receivers and their logs.
const userAgent = "engagekit-gateway-webhook/1"

// Errors of [Sender.Send] and [Options.OnFailure].
var (
	// ErrQueueFull: Send refused the outcome because the queue was full.
	ErrQueueFull = errors.New("webhook: queue full, outcome dropped")
	// ErrClosed: Send was called after Close, or Close gave up on the
	// outcome before it was delivered.
	ErrClosed = errors.New("webhook: sender closed")
	// ErrInvalidOutcome: the outcome has no VisitID, InteractionID or
	// Result, or its Time cannot be written in JSON.
	ErrInvalidOutcome = errors.New("webhook: an outcome needs a visitID, an interactionID, a result and a time of years 0 to 9999")
)

// Options configures a [Sender]. The zero value, like a nil *Options, means
// every default; a negative value is an error from [New].
type Options struct {
	// Client sends the requests. Nil means a client of the Sender's own
	// that follows no redirect (a 3xx answer is a failure that is not
	// retried, as the specification advises: fix the URL instead), on a
	// clone of http.DefaultTransport whose idle connections Close closes.
	// A Client given here is used as it is: its Timeout, when set, bounds
	// each attempt too, and its redirect policy applies.
	Client *http.Client
	// QueueSize is how many outcomes wait for a worker, at most; Send
	// refuses one more with [ErrQueueFull]. Default [DefaultQueueSize].
	QueueSize int
	// Workers is how many outcomes are delivered at once. Default
	// [DefaultWorkers].
	Workers int
	// MaxAttempts is how many times one outcome is sent, the first time
	// included, before the Sender gives up on it. Default
	// [DefaultMaxAttempts].
	MaxAttempts int
	// AttemptTimeout bounds one attempt: connecting, sending, and the
	// receiver's answer. An attempt that times out is retried. Default
	// [DefaultAttemptTimeout], as the specification recommends (15 to 30
	// seconds).
	AttemptTimeout time.Duration
	// MinBackoff is the wait before the first retry, before jitter; each
	// retry doubles it. Default [DefaultMinBackoff].
	MinBackoff time.Duration
	// MaxBackoff caps every wait between two attempts, a Retry-After
	// included. Default [DefaultMaxBackoff]. It must not be below
	// MinBackoff.
	MaxBackoff time.Duration
	// Logger receives deliveries (debug), retries (warn), outcomes given
	// up on (error) and a full queue (warn, at most once every 10 s). Nil
	// means silent. It never sees the secret, a signature or a body.
	Logger *slog.Logger
	// OnFailure, when set, is called once for each outcome that Send
	// accepted and the Sender then gave up on, with a *[DeliveryError]: the
	// receiver refused it, or every attempt failed, or Close gave up
	// waiting (the error then matches [ErrClosed]). It is where a host
	// keeps such outcomes to send again later, with the same webhook-id.
	// It is called from a worker goroutine, which waits for it: return
	// soon. Outcomes that Send refused are not reported here: Send's error
	// says so.
	OnFailure func(o push.Outcome, err error)
}

// DeliveryError is what [Options.OnFailure] gets: an outcome the Sender
// gave up on.
type DeliveryError struct {
	// ID is the outcome's webhook-id.
	ID string
	// Attempts is how many requests were made.
	Attempts int
	// StatusCode is the last answer's HTTP status, or 0 when the last
	// attempt got no answer.
	StatusCode int
	// Err is why the last attempt failed when it got no answer (a
	// timeout, a connection error), or [ErrClosed] when Close gave up;
	// nil when StatusCode tells it.
	Err error
}

// Error describes the failure; it holds no secret, signature or body.
func (e *DeliveryError) Error() string {
	msg := "webhook: " + e.ID + " not delivered after " + strconv.Itoa(e.Attempts) + " attempt"
	if e.Attempts != 1 {
		msg += "s"
	}
	if e.StatusCode != 0 {
		msg += ": status " + strconv.Itoa(e.StatusCode)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns Err.
func (e *DeliveryError) Unwrap() error { return e.Err }

// Stats counts what a [Sender] did since [New].
type Stats struct {
	// Delivered counts outcomes the receiver answered with a 2xx.
	Delivered uint64
	// Retried counts attempts after an outcome's first.
	Retried uint64
	// Failed counts outcomes Send accepted and the Sender gave up on (each
	// reported to OnFailure).
	Failed uint64
	// Dropped counts outcomes Send refused: the queue was full, or the
	// Sender closed.
	Dropped uint64
	// Queued is how many outcomes wait for a worker now, not counting
	// those being delivered.
	Queued int
}

// A Sender delivers outcomes to one endpoint as signed Standard Webhooks
// messages; see the package documentation for its guarantees. Its methods
// may be called concurrently. Formatting a Sender with fmt or log/slog
// shows its endpoint, never its secret.
type Sender struct {
	url      string // what requests go to
	endpoint string // what logs show: no password, query or fragment
	key      []byte
	client   *http.Client
	own      *http.Transport // the transport of a client made here, or nil

	workers        int
	maxAttempts    int
	attemptTimeout time.Duration
	minBackoff     time.Duration
	maxBackoff     time.Duration
	log            *slog.Logger
	onFailure      func(push.Outcome, error)

	mu     sync.RWMutex // closed and close(queue) against Send's enqueue
	closed bool
	queue  chan *job

	// abort is cancelled when Close gives up: attempts and waits stop,
	// and what is still queued is reported as failed.
	abort     context.Context
	cancel    context.CancelFunc
	done      chan struct{} // closed once every worker has returned
	closeOnce sync.Once

	delivered, retried, failed, dropped atomic.Uint64
	lastDropLog                         atomic.Int64 // UnixNano of the last "queue full" line
}

// A job is one outcome accepted by Send, encoded once: every attempt sends
// the same body under the same ID.
type job struct {
	ctx  context.Context // Send's values, without its cancellation
	o    push.Outcome
	id   string
	body []byte
}

// message is the body of a request.
type message struct {
	Type      string       `json:"type"`
	Timestamp time.Time    `json:"timestamp"`
	Data      push.Outcome `json:"data"`
}

// New returns a Sender that delivers to endpoint, an absolute http or https
// URL, signing with secret (whsec_ and 24 to 64 bytes in standard base64,
// as [NewSecret] makes), and starts its workers: call [Sender.Close] to
// stop them. A nil opts means every default. Its errors never quote the
// secret.
func New(endpoint, secret string, opts *Options) (*Sender, error) {
	if opts == nil {
		opts = new(Options)
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("webhook: the URL must be absolute, with scheme http or https")
	}
	key, err := parseSecret(secret)
	if err != nil {
		return nil, err
	}
	switch {
	case opts.QueueSize < 0 || opts.Workers < 0 || opts.MaxAttempts < 0:
		return nil, errors.New("webhook: QueueSize, Workers and MaxAttempts must not be negative")
	case opts.AttemptTimeout < 0 || opts.MinBackoff < 0 || opts.MaxBackoff < 0:
		return nil, errors.New("webhook: AttemptTimeout, MinBackoff and MaxBackoff must not be negative")
	}
	s := &Sender{
		url:            u.String(),
		endpoint:       (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String(),
		key:            key,
		client:         opts.Client,
		workers:        orDefault(opts.Workers, DefaultWorkers),
		maxAttempts:    orDefault(opts.MaxAttempts, DefaultMaxAttempts),
		attemptTimeout: orDefault(opts.AttemptTimeout, DefaultAttemptTimeout),
		minBackoff:     orDefault(opts.MinBackoff, DefaultMinBackoff),
		maxBackoff:     orDefault(opts.MaxBackoff, DefaultMaxBackoff),
		log:            opts.Logger,
		onFailure:      opts.OnFailure,
		queue:          make(chan *job, orDefault(opts.QueueSize, DefaultQueueSize)),
		done:           make(chan struct{}),
	}
	if s.minBackoff > s.maxBackoff {
		return nil, fmt.Errorf("webhook: MinBackoff %v is above MaxBackoff %v", s.minBackoff, s.maxBackoff)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.client == nil {
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			s.own = t.Clone()
		} else {
			s.own = new(http.Transport)
		}
		// Every worker may keep its connection to the one endpoint.
		s.own.MaxIdleConnsPerHost = s.workers
		s.client = &http.Client{
			Transport:     s.own,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	s.abort, s.cancel = context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range s.workers {
		wg.Go(s.work)
	}
	go func() {
		wg.Wait()
		if s.own != nil {
			s.own.CloseIdleConnections()
		}
		s.cancel()
		close(s.done)
	}()
	return s, nil
}

// orDefault returns v, or def when v is zero.
func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Send queues an outcome for delivery and returns at once: it never waits
// for the network or for room in the queue. It returns nil when the
// outcome is queued; [ErrQueueFull] when the queue is full, and the
// outcome is dropped (counted in Stats.Dropped, and logged at most once
// every 10 s); [ErrClosed] after Close; [ErrInvalidOutcome] for an outcome
// without VisitID, InteractionID or Result. A zero Time is taken as now.
//
// ctx is not a deadline for the delivery: an outcome outlives the request
// that produced it (a disposition's request ends, and its context is
// cancelled, as soon as it is answered), so Send queues the outcome even
// when ctx is done. Its values, such as a trace, go with the outcome to
// the logs and to each attempt's request.
func (s *Sender) Send(ctx context.Context, o push.Outcome) error {
	if o.VisitID == "" || o.InteractionID == "" || o.Result == "" {
		return ErrInvalidOutcome
	}
	if o.Time.IsZero() {
		o.Time = time.Now()
	}
	o.Time = o.Time.UTC()
	body, err := json.Marshal(message{Type: EventType, Timestamp: o.Time, Data: o})
	if err != nil {
		return ErrInvalidOutcome
	}
	j := &job{ctx: context.WithoutCancel(ctx), o: o, id: MessageID(o), body: body}
	if err := s.enqueue(j); err != nil {
		n := s.dropped.Add(1)
		now := time.Now().UnixNano()
		if last := s.lastDropLog.Load(); errors.Is(err, ErrQueueFull) && now-last >= int64(dropLogEvery) && s.lastDropLog.CompareAndSwap(last, now) {
			s.log.LogAttrs(ctx, slog.LevelWarn, "webhook: queue full, dropping outcomes",
				slog.String("endpoint", s.endpoint), slog.Int("queueSize", cap(s.queue)), slog.Uint64("dropped", n),
				slog.String("webhook-id", j.id), slog.String("visitID", o.VisitID), slog.String("interactionID", o.InteractionID))
		}
		return err
	}
	return nil
}

// OnOutcome queues o as [Sender.Send] does, with no context, and returns
// at once. Its method value is a push.Options.OnOutcome:
//
//	push.NewBroker(&push.Options{Backend: backend, OnOutcome: sender.OnOutcome})
//
// The brokers sharing the backend then call it once per outcome across
// every instance (see push.Options.OnOutcome), so a cluster sends each
// outcome once, under its stable webhook-id. An outcome it cannot queue
// (the queue full, the Sender closed) is counted in Stats.Dropped and
// logged as Send's are.
func (s *Sender) OnOutcome(o push.Outcome) {
	s.Send(context.Background(), o) // its error is counted and logged
}

// enqueue puts j in the queue without waiting, unless the queue is full or
// closed.
func (s *Sender) enqueue(j *job) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	select {
	case s.queue <- j:
		return nil
	default:
		return ErrQueueFull
	}
}

// Stats returns the Sender's counters. It may be called at any time, after
// Close too.
func (s *Sender) Stats() Stats {
	return Stats{
		Delivered: s.delivered.Load(),
		Retried:   s.retried.Load(),
		Failed:    s.failed.Load(),
		Dropped:   s.dropped.Load(),
		Queued:    len(s.queue),
	}
}

// Close stops taking outcomes (Send returns [ErrClosed]), delivers those
// already queued, retries included, and returns nil once every worker has
// stopped. If ctx is done first, Close gives up: it cancels the attempts
// and waits in progress, reports every outcome not yet delivered to
// OnFailure with an error matching [ErrClosed], waits for the workers to
// return, which is soon, and returns ctx's error. No goroutine of the
// Sender outlives Close. Calling Close again waits in the same way.
func (s *Sender) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.queue)
		s.mu.Unlock()
	})
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		s.cancel()
		<-s.done
		return ctx.Err()
	}
}

// String describes the Sender by its endpoint, without any password,
// query or fragment the URL has, and never with its secret.
func (s *Sender) String() string { return "webhook.Sender(" + s.endpoint + ")" }

// Format writes [Sender.String] for every verb, %#v and %d included, so
// that printing a Sender never prints its secret.
func (s *Sender) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// work delivers queued outcomes until the queue is closed and empty.
func (s *Sender) work() {
	for j := range s.queue {
		s.deliver(j)
	}
}

// deliver sends one outcome until it is delivered, refused, out of
// attempts, or abandoned by Close.
func (s *Sender) deliver(j *job) {
	var last attempt
	for n := 1; ; n++ {
		if s.abort.Err() != nil {
			s.fail(j, &DeliveryError{ID: j.id, Attempts: n - 1, StatusCode: last.status, Err: ErrClosed})
			return
		}
		if n > 1 {
			s.retried.Add(1)
		}
		last = s.attempt(j)
		if last.err == nil && last.status >= 200 && last.status < 300 {
			s.delivered.Add(1)
			s.log.LogAttrs(j.ctx, slog.LevelDebug, "webhook: delivered", s.attrs(j, n, last)...)
			return
		}
		if s.abort.Err() != nil {
			s.fail(j, &DeliveryError{ID: j.id, Attempts: n, StatusCode: last.status, Err: ErrClosed})
			return
		}
		if !last.retryable() || n >= s.maxAttempts {
			s.fail(j, &DeliveryError{ID: j.id, Attempts: n, StatusCode: last.status, Err: last.err})
			return
		}
		wait := backoff(n, s.minBackoff, s.maxBackoff, last.retryAfter)
		s.log.LogAttrs(j.ctx, slog.LevelWarn, "webhook: attempt failed, retrying", append(s.attrs(j, n, last), slog.Duration("retryIn", wait))...)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.abort.Done():
			t.Stop()
		}
	}
}

// fail counts, logs and reports an outcome given up on.
func (s *Sender) fail(j *job, err *DeliveryError) {
	s.failed.Add(1)
	s.log.LogAttrs(j.ctx, slog.LevelError, "webhook: outcome not delivered",
		s.attrs(j, err.Attempts, attempt{status: err.StatusCode, err: err.Err})...)
	if s.onFailure != nil {
		s.onFailure(j.o, err)
	}
}

// attrs are the log attributes of an attempt: never the signature or the
// body.
func (s *Sender) attrs(j *job, n int, a attempt) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("endpoint", s.endpoint),
		slog.String("webhook-id", j.id),
		slog.String("visitID", j.o.VisitID),
		slog.String("interactionID", j.o.InteractionID),
		slog.String("result", string(j.o.Result)),
		slog.Int("attempt", n),
	}
	if a.status != 0 {
		attrs = append(attrs, slog.Int("status", a.status))
	}
	if a.err != nil {
		attrs = append(attrs, slog.String("err", a.err.Error()))
	}
	return attrs
}

// An attempt is what one request got.
type attempt struct {
	status     int           // the answer's status, or 0 without an answer
	retryAfter time.Duration // the answer's Retry-After, or 0
	err        error         // why there was no answer
}

// retryable reports whether another attempt may succeed: after a timeout
// or a connection error, a 5xx or a 429. Any other answer is final.
func (a attempt) retryable() bool {
	return a.err != nil || a.status >= 500 || a.status == http.StatusTooManyRequests
}

// attempt makes one signed request, bounded by AttemptTimeout and by
// Close giving up.
func (s *Sender) attempt(j *job) attempt {
	ctx, cancel := context.WithTimeout(j.ctx, s.attemptTimeout)
	defer cancel()
	defer context.AfterFunc(s.abort, cancel)()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(j.body))
	if err != nil {
		return attempt{err: err}
	}
	// The timestamp is the attempt's, as the specification has it, so a
	// retry is signed afresh and a receiver's tolerance applies to each.
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", userAgent)
	h.Set("webhook-id", j.id)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", sign(s.key, j.id, ts, j.body))
	resp, err := s.client.Do(req)
	if err != nil {
		// The *url.Error around it repeats the URL, which may hold a
		// credential in its query: keep the cause only.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return attempt{err: err}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	resp.Body.Close()
	return attempt{status: resp.StatusCode, retryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
}
