package push

import (
	"container/heap"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/engagekit/gateway"
)

// access is what the broker checks before a stream or a disposition is let
// in (contract §6.2 and §8): the trusted hosts and the visitor tokens. It is
// set up by NewBroker and read-only afterwards, but for expiries.
type access struct {
	keys     []TokenKey // verify tokens; nil: tokens are not checked
	require  bool       // a request without a token is refused
	hosts    []string   // the trusted hosts; nil: the request's own Host
	expiries expiries
}

// initAccess sets b's access up from opts. It panics on keys that break
// a rule and warns, once, when visits are open to whoever knows a visitID.
func (b *Broker) initAccess(opts *Options) {
	a := &b.access
	for _, k := range opts.TokenKeys {
		if err := k.check(); err != nil {
			panic(err.Error())
		}
		if slices.ContainsFunc(a.keys, func(o TokenKey) bool { return o.ID == k.ID }) {
			panic("push: Options.TokenKeys names key " + k.ID + " twice")
		}
		a.keys = append(a.keys, TokenKey{ID: k.ID, Secret: slices.Clone(k.Secret)})
	}
	a.require = opts.RequireToken
	if a.require && len(a.keys) == 0 {
		panic("push: Options.RequireToken needs Options.TokenKeys")
	}
	for _, h := range opts.TrustedHosts {
		a.hosts = append(a.hosts, strings.ToLower(h))
	}
	switch {
	case len(a.keys) == 0 && opts.Authorize == nil:
		b.log(slog.LevelWarn, "push: no Options.TokenKeys and no Authorize: whoever knows a visitID can read and answer its invitations (contract §8)")
	case len(a.keys) > 0 && !a.require:
		b.log(slog.LevelWarn, "push: Options.TokenKeys without RequireToken: a request without a token is let in (contract §8.5)")
	}
}

// checkHost refuses a request whose Host is not trusted, when
// TrustedHosts is set.
func (b *Broker) checkHost(r *http.Request) error {
	if b.access.hosts == nil || slices.Contains(b.access.hosts, strings.ToLower(r.Host)) {
		return nil
	}
	return errHost
}

var errHost = &gateway.Fault{Code: gateway.CodeForbidden, Message: "host not allowed"}

// sameOrigin reports whether origin is the server's own: http:// or
// https:// and a trusted host, or the request's Host when TrustedHosts is
// unset.
func (b *Broker) sameOrigin(r *http.Request, origin string) bool {
	scheme, host, ok := strings.Cut(origin, "://")
	if !ok || (!strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https")) {
		return false
	}
	if b.access.hosts == nil {
		return strings.EqualFold(host, r.Host)
	}
	return slices.Contains(b.access.hosts, strings.ToLower(host))
}

// checkAccess admits a stream (or, with disposition set, a disposition)
// of visitID: its token, then Authorize. It returns the token's expiry,
// zero when it carries none, or the [*gateway.Fault] that refuses it.
// Nothing is counted before it: a refused request takes no room.
func (b *Broker) checkAccess(r *http.Request, visitID string, disposition bool) (time.Time, error) {
	var expiry time.Time
	if token, ok := requestToken(r, disposition); ok && len(b.access.keys) > 0 {
		c, err := VerifyToken(token, b.access.keys, b.now())
		switch {
		case err != nil:
		case c.VisitID != visitID:
			err = tokenFault(ErrTokenInvalid, "sub names another visit")
		case !disposition && c.PageID != "" && c.PageID != r.URL.Query().Get("pageID"):
			err = tokenFault(ErrTokenInvalid, "page names another page")
		}
		if err != nil {
			return time.Time{}, err
		}
		expiry = c.Expiry
	} else if b.access.require {
		return time.Time{}, tokenFault(ErrTokenMissing, "")
	}
	if b.authorize != nil {
		if err := b.authorize(r, visitID); err != nil {
			if !errors.Is(err, gateway.ErrUnauthorized) {
				err = &gateway.Fault{Code: gateway.CodeUnauthorized, Err: err}
			}
			return time.Time{}, err
		}
	}
	return expiry, nil
}

// requestToken returns the visitor token r carries: an Authorization
// Bearer header, or for a stream, whose EventSource cannot set headers,
// the token query parameter. The header wins.
func requestToken(r *http.Request, disposition bool) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, token, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			token = strings.TrimSpace(token)
			return token, token != ""
		}
	}
	if disposition {
		return "", false
	}
	token := r.URL.Query().Get("token")
	return token, token != ""
}

// tokenExpiredFrame is a stream's last event when its token expires
// (contract §8.3). EventSource dispatches no event without data.
var tokenExpiredFrame = []byte("event: token-expired\ndata: {}\n\n")

// expiries closes each stream when its token expires, with one timer per
// broker over a heap of expiries: no goroutine waits for a stream. A
// stream dropped earlier stays in the heap until its expiry, or until the
// heap, grown past twice the open streams, is compacted.
type expiries struct {
	mu    sync.Mutex
	h     expiryHeap
	timer *time.Timer
	next  time.Time // when the timer is due; zero: not armed
}

type expiry struct {
	at time.Time
	s  *subscriber
}

// watchToken closes s when its token expires at at; a zero at means no
// token.
func (b *Broker) watchToken(s *subscriber, at time.Time) {
	if at.IsZero() {
		return
	}
	e := &b.access.expiries
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.h) >= 2*int(b.subs.Load())+64 {
		e.h = slices.DeleteFunc(e.h, func(x expiry) bool { return x.s.isDead() })
		heap.Init(&e.h)
	}
	heap.Push(&e.h, expiry{at, s})
	if e.next.IsZero() || at.Before(e.next) {
		b.armExpiries(at)
	}
}

// armExpiries sets the timer for at; the caller holds e.mu.
func (b *Broker) armExpiries(at time.Time) {
	e := &b.access.expiries
	e.next = at
	d := at.Sub(b.now())
	if e.timer == nil {
		e.timer = time.AfterFunc(d, b.expiriesDue)
	} else {
		e.timer.Reset(d)
	}
}

// expiriesDue runs on the timer: it closes the streams whose token has
// expired and sets the timer for the next.
func (b *Broker) expiriesDue() {
	b.expireTokens(b.now())
	e := &b.access.expiries
	e.mu.Lock()
	defer e.mu.Unlock()
	e.next = time.Time{}
	if b.closed() {
		e.h = nil
		return
	}
	if len(e.h) > 0 {
		b.armExpiries(e.h[0].at)
	}
}

// expireTokens closes, with a token-expired event, every stream whose
// token has expired at now. It is cheap when none has: whoever drives the
// broker's clock may call it at any time.
func (b *Broker) expireTokens(now time.Time) {
	e := &b.access.expiries
	var due []*subscriber
	e.mu.Lock()
	for len(e.h) > 0 && !now.Before(e.h[0].at) {
		due = append(due, heap.Pop(&e.h).(expiry).s)
	}
	e.mu.Unlock()
	for _, s := range due {
		b.closeWith(s, tokenExpiredFrame)
	}
	if len(due) > 0 {
		b.log(slog.LevelDebug, "push: streams closed as their tokens expired", slog.Int("streams", len(due)))
	}
}

// expiryHeap is a min-heap of expiries by time, for container/heap.
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = expiry{}
	*h = old[:len(old)-1]
	return x
}
