package push

import (
	"bytes"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/internal/rules"
)

// The visitID in a stream's path and the pageID in its query obey the
// rules of the Profile fields they match.
var (
	visitIDRule = rules.FieldOf(reflect.TypeFor[gateway.Profile](), "VisitID")
	pageIDRule  = rules.FieldOf(reflect.TypeFor[gateway.Profile](), "PageID")
)

// ServeHTTP serves the browser side, routed by the path's last segments so
// that the Broker works under any prefix: …/visitor.js, …/{visitID} (the
// event stream) and …/{visitID}/disposition. A GET that accepts
// text/event-stream, as EventSource's always does, is the event stream of
// its last segment, so that every valid visitID can subscribe, "visitor.js"
// and "disposition" too.
func (b *Broker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A stream that this goroutine must hold (HTTP/2) is held from this
	// small frame, once route's has gone: the stack that the goroutine
	// keeps while it waits then stays at its smallest size (4 KiB, not 8).
	var held heldStream
	b.route(w, r, &held)
	if held.s != nil {
		b.hold(w, r, held.s, held.frames)
	}
}

// heldStream is a stream that cannot be hijacked, to be held by the
// request's goroutine: its subscriber, and the frames it is sent first.
type heldStream struct {
	s      *subscriber
	frames [][]byte
}

func (b *Broker) route(w http.ResponseWriter, r *http.Request, held *heldStream) {
	path := r.URL.Path
	subscribe := r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	if !subscribe && strings.HasSuffix(path, "/visitor.js") {
		b.serveScript(w, r)
		return
	}
	rest, isDisposition := path, false
	if !subscribe {
		rest, isDisposition = strings.CutSuffix(path, "/disposition")
	}
	visitID := rest[strings.LastIndexByte(rest, '/')+1:]
	stream := !isDisposition
	if broken := visitIDRule.Check(visitID); broken != nil {
		refuse(w, r, stream, &gateway.Fault{Code: gateway.CodeNotFound, Message: "no such visit: " + broken.Message})
		return
	}
	if err := b.checkHost(r); err != nil {
		refuse(w, r, stream, err)
		return
	}
	if !b.allowOrigin(w, r) {
		refuse(w, r, stream, &gateway.Fault{Code: gateway.CodeForbidden, Message: "origin not allowed"})
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
		refuse(w, r, stream, &gateway.Fault{Code: gateway.CodeMethodNotAllowed, Message: "method not allowed; use " + method})
		return
	}
	tokenExpiry, err := b.checkAccess(r, visitID, isDisposition)
	if err != nil {
		b.log(slog.LevelDebug, "push: request refused", slog.String("visitID", visitID), slog.Any("err", err))
		refuse(w, r, stream, err)
		return
	}
	if isDisposition {
		b.serveDisposition(w, r, visitID)
	} else {
		b.serveStream(w, r, visitID, tokenExpiry, held)
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
	if b.sameOrigin(r, origin) {
		return true
	}
	listed := containsFold(b.origins, origin)
	if !listed && !b.anyOrigin {
		return false
	}
	// The exact origin, never "*": a credentialed request needs it.
	h.Set("Access-Control-Allow-Origin", origin)
	if listed {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID")
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

// serveStream opens one page's event stream, until tokenExpiry when it is
// set. On HTTP/1.x it takes the connection over from net/http and returns:
// the stream then costs no goroutine while idle, and a writer goroutine
// runs only while events wait.
// Elsewhere (HTTP/2, or a ResponseWriter that cannot be hijacked) it
// leaves the stream in held, for ServeHTTP to hold until the page goes,
// the broker drops it, or the broker shuts down.
func (b *Broker) serveStream(w http.ResponseWriter, r *http.Request, visitID string, tokenExpiry time.Time, held *heldStream) {
	pageID := r.URL.Query().Get("pageID")
	if broken := pageIDRule.Check(pageID); broken != nil {
		refuse(w, r, true, &gateway.Fault{Code: gateway.CodeBadRequest, Message: broken.Message})
		return
	}
	// EventSource sends Last-Event-ID when it reconnects; a page that
	// restores itself may pass it in the query instead.
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("lastEventId")
	}
	if !b.join() {
		refuse(w, r, true, errClosed)
		return
	}
	defer b.wg.Done()
	// The client's count first: a client at its cap takes no place in all
	// and closes none of the visit's tabs. The subscriber gives the count
	// back when it is dropped.
	client := b.clientOf(r)
	if !b.clients.take(client) {
		b.log(slog.LevelDebug, "push: stream refused: the client's stream limit is reached", slog.String("visitID", visitID))
		refuse(w, r, true, errClientFull)
		return
	}
	s, initial, err := b.subscribe(visitID, pageID, last, client)
	if err != nil {
		b.clients.release(client)
		refuse(w, r, true, err)
		return
	}
	b.watchToken(s, tokenExpiry)
	frames := append([][]byte{retryFrame(b.retryFor())}, initial...)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	if r.ProtoMajor == 1 && b.hijack(w, r, s, frames) {
		return
	}
	*held = heldStream{s, frames}
}

// hijack takes the connection of s's stream over from net/http and writes
// its response head and frames, or drops s; it reports false, having done
// nothing, when the connection cannot be hijacked. The stream then costs
// no goroutine while idle: a writer goroutine runs only while events wait.
func (b *Broker) hijack(w http.ResponseWriter, r *http.Request, s *subscriber, frames [][]byte) bool {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	// The body ends when the connection closes.
	h := w.Header()
	h.Set("Connection", "close")
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 200 OK\r\n")
	h.Write(&head)
	head.WriteString("\r\n")
	sk := hijacked(conn)
	// Hijack waits for net/http's read-ahead, which cancels the request's
	// context when it finds the client gone: a TLS close_notify read there
	// would never wake the poller.
	if r.Context().Err() != nil {
		sk.close()
		b.drop(s)
		return true
	}
	if err := sk.write(append([][]byte{head.Bytes()}, frames...), b.writeTimeout); err != nil {
		sk.close()
		b.drop(s)
		return true
	}
	// What the client sent after its request, read ahead by net/http,
	// counts as stray bytes (see poll.go).
	b.release(s, sk, rw.Reader.Buffered())
	b.log(slog.LevelDebug, "push: stream opened", slog.String("visitID", s.visit.id))
	return true
}

// hold serves s's stream through w from this goroutine, until the page
// goes, the broker drops s, or the broker shuts down.
func (b *Broker) hold(w http.ResponseWriter, r *http.Request, s *subscriber, frames [][]byte) {
	if !b.join() { // Shutdown has begun, and dropped s
		b.drop(s)
		return
	}
	defer b.wg.Done()
	sk := &responseSink{w: w, rc: http.NewResponseController(w), gone: make(chan struct{})}
	w.WriteHeader(http.StatusOK)
	if err := sk.write(frames, b.writeTimeout); err != nil {
		b.drop(s)
		return
	}
	b.release(s, sk, 0)
	b.log(slog.LevelDebug, "push: stream opened", slog.String("visitID", s.visit.id))
	// Shutdown drops s too, once it has sent s its last retry.
	select {
	case <-sk.gone:
	case <-r.Context().Done():
	}
	b.drop(s)
	sk.finish() // no writer may touch w once we return
}

// subscribe registers a stream of client (counted already) and returns
// the frames it must be sent first: the live invitations for its page
// that come after last. The subscriber is held (writing is set) until
// release gives it its sink, so that events meanwhile wait in its queue.
func (b *Broker) subscribe(visitID, pageID, last, client string) (*subscriber, [][]byte, error) {
	sh := b.shard(visitID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	// Shutdown drops every subscriber it finds under these locks once
	// closing is closed; one registered after that would be missed.
	if b.closed() {
		return nil, nil, errClosed
	}
	v := sh.visit(visitID)
	pruneDead(v)
	if len(v.subs) >= b.perVisit {
		// The newest stream is the likeliest to have a page behind it:
		// make room by closing the oldest.
		b.drop(v.subs[0])
		pruneDead(v)
	}
	if b.subs.Add(1) > b.maxSubs {
		b.subs.Add(-1)
		return nil, nil, errTooMany
	}
	s := &subscriber{pageID: strings.Clone(pageID), client: client, visit: v, writing: true}
	b.observeStream(true)
	v.subs = append(v.subs, s)
	now := b.now()
	b.expire(sh, visitID, v, now)

	// Last-Event-ID names the newest invitation (or notify message, §9.3)
	// the page had: it has the ones before it too. An ID that was never live here (cancelled
	// before its engage) names no place in the order: the page gets every
	// invitation.
	var after uint64
	if last != "" {
		if i := v.live(last); i >= 0 {
			after = v.invs[i].seq
		} else if seq, ok := v.noteSeq(last); ok {
			after = seq
		} else if seq, ok := sh.tomb(visitID, last, now); ok {
			after = seq
		}
	}
	var initial [][]byte
	var seqs []uint64 // initial's places in the order, for withNotes
	for _, inv := range v.invs {
		if inv.pageID != "" && inv.pageID != pageID {
			continue
		}
		inv.sentTo = append(inv.sentTo, s)
		if inv.seq > after {
			initial = append(initial, inv.frame)
			seqs = append(seqs, inv.seq)
			b.observeDelivered(visitID, inv, now, true)
		}
	}
	return s, withNotes(initial, seqs, v, pageID, after, now), nil
}

// release gives a held subscriber its sink, puts it in the heartbeat
// wheel and, for a hijacked connection, in the poller (stray is what its
// client sent after its request), and starts a writer for what queued
// meanwhile.
func (b *Broker) release(s *subscriber, sk sink, stray int) {
	s.mu.Lock()
	s.sink = sk
	if s.dead {
		s.writing = false
		s.mu.Unlock()
		sk.close()
		return
	}
	// Under s.mu, so that a drop, which marks s dead under it first, finds
	// s in both.
	b.beats.add(s)
	if c := sk.conn(); c != nil {
		b.watch(s, c)
	}
	tooMuch := s.strayed(stray)
	if len(s.queue) > 0 {
		b.wg.Add(1)
		go b.write(s)
	} else {
		s.writing = false
	}
	s.mu.Unlock()
	if tooMuch {
		b.drop(s)
	}
}
