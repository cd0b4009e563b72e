package push

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/engagekit/gateway"
)

// ServeHTTP serves the browser side, routed by the path's last segments so
// that the Broker works under any prefix: …/visitor.js, …/{visitID} (the
// event stream) and …/{visitID}/disposition.
func (b *Broker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if strings.HasSuffix(path, "/visitor.js") {
		b.serveScript(w, r)
		return
	}
	rest, isDisposition := strings.CutSuffix(path, "/disposition")
	visitID := rest[strings.LastIndexByte(rest, '/')+1:]
	if !gateway.ValidVisitID(visitID) {
		gateway.WriteError(w, &gateway.RequestError{Err: gateway.ErrNotFound, Message: "no such visit; a visitID is 1-128 characters of letters, digits, '.', '_', ':' and '-'"})
		return
	}
	if !b.allowOrigin(w, r) {
		gateway.WriteError(w, &gateway.RequestError{Err: gateway.ErrForbidden, Message: "origin not allowed"})
		return
	}
	method := http.MethodGet
	if isDisposition {
		method = http.MethodPost
	}
	switch r.Method {
	case method:
	case http.MethodOptions:
		w.Header().Set("Allow", method+", OPTIONS")
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		w.Header().Set("Allow", method+", OPTIONS")
		gateway.WriteError(w, &gateway.RequestError{Err: gateway.ErrMethodNotAllowed, Message: "method not allowed; use " + method})
		return
	}
	if b.authorize != nil {
		if err := b.authorize(r, visitID); err != nil {
			if !errors.Is(err, gateway.ErrUnauthorized) {
				err = &gateway.UnauthorizedError{Err: err}
			}
			gateway.WriteError(w, err)
			return
		}
	}
	if isDisposition {
		b.serveDisposition(w, r, visitID)
	} else {
		b.serveStream(w, r, visitID)
	}
}

// allowOrigin applies AllowedOrigins and sets the CORS headers.
func (b *Broker) allowOrigin(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	if origin == "http://"+r.Host || origin == "https://"+r.Host {
		return true
	}
	if !b.anyOrigin && !containsFold(b.origins, origin) {
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		h.Set("Access-Control-Allow-Headers", "Content-Type, Last-Event-ID")
		h.Set("Access-Control-Max-Age", "600")
	}
	return true
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

var errTooMany = &gateway.UnavailableError{RetryAfter: 5 * time.Second, Err: errors.New("push: subscriber limit reached")}

// serveStream holds one page's event stream open until the page goes, the
// broker drops it, or the broker shuts down.
func (b *Broker) serveStream(w http.ResponseWriter, r *http.Request, visitID string) {
	pageID := r.URL.Query().Get("pageID")
	if pageID != "" && !gateway.ValidVisitID(pageID) {
		gateway.WriteError(w, &gateway.RequestError{Err: gateway.ErrBadRequest, Message: "pageID must be 1-128 characters of letters, digits, '.', '_', ':' and '-'"})
		return
	}
	// EventSource sends Last-Event-ID when it reconnects; a page that
	// restores itself may pass it in the query instead.
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("lastEventId")
	}
	if !b.join() {
		gateway.WriteError(w, errClosed)
		return
	}
	defer b.wg.Done()
	s, initial, err := b.subscribe(visitID, pageID, last)
	if err != nil {
		gateway.WriteError(w, err)
		return
	}
	defer b.unsubscribe(visitID, s)

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	write := func(frames ...[]byte) bool {
		// A deadline per write: a browser that stops reading is dropped
		// instead of holding this goroutine. Recorders in tests have none.
		if err := rc.SetWriteDeadline(time.Now().Add(b.writeTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return false
		}
		for _, f := range frames {
			if _, err := w.Write(f); err != nil {
				return false
			}
		}
		return rc.Flush() == nil
	}
	if !write(append([][]byte{b.retryFrame}, initial...)...) {
		return
	}
	b.log(slog.LevelDebug, "push: stream opened", slog.String("visitID", visitID))
	tick := time.NewTicker(b.heartbeat)
	defer tick.Stop()
	for {
		select {
		case f := <-s.ch:
			frames := [][]byte{f}
			for len(s.ch) > 0 && len(frames) < cap(s.ch) {
				frames = append(frames, <-s.ch)
			}
			if !write(frames...) {
				return
			}
		case <-tick.C:
			if !write(heartbeat) {
				return
			}
		case <-s.gone:
			return
		case <-r.Context().Done():
			return
		case <-b.closing:
			return
		}
	}
}

// subscribe registers a stream and returns the frames it must be sent
// first: the live invitations for its page that come after last.
func (b *Broker) subscribe(visitID, pageID, last string) (*subscriber, [][]byte, error) {
	sh := b.shard(visitID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v := sh.visits[visitID]
	if v == nil {
		v = &visit{}
		sh.visits[strings.Clone(visitID)] = v
	}
	if len(v.subs) >= b.perVisit {
		return nil, nil, errTooMany
	}
	if b.subs.Add(1) > b.maxSubs {
		b.subs.Add(-1)
		return nil, nil, errTooMany
	}
	s := &subscriber{pageID: strings.Clone(pageID), ch: make(chan []byte, b.queue), gone: make(chan struct{})}
	v.subs = append(v.subs, s)
	b.expire(v, b.now())

	// Last-Event-ID names the newest invitation the page had: it has the
	// ones engaged before it too.
	var after uint64
	if last != "" {
		if t, ok := v.tombs[last]; ok {
			after = t.seq
		}
		for _, inv := range v.invs {
			if inv.id == last {
				after = inv.seq
			}
		}
	}
	var initial [][]byte
	for _, inv := range v.invs {
		if inv.pageID != "" && inv.pageID != pageID {
			continue
		}
		s.seen = append(s.seen, inv.id)
		if inv.seq > after {
			initial = append(initial, inv.frame)
		}
	}
	return s, initial, nil
}

func (b *Broker) unsubscribe(visitID string, s *subscriber) {
	sh := b.shard(visitID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v := sh.visits[visitID]
	if v == nil {
		return
	}
	if i := slices.Index(v.subs, s); i >= 0 {
		v.subs[i] = v.subs[len(v.subs)-1]
		v.subs[len(v.subs)-1] = nil
		v.subs = v.subs[:len(v.subs)-1]
		b.subs.Add(-1)
	}
	s.kicked = true // nothing more may be queued for it
	if len(v.invs) == 0 && len(v.tombs) == 0 && len(v.subs) == 0 {
		delete(sh.visits, visitID)
	}
}
