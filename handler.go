package gateway

import (
	"cmp"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxBodyBytes is the body limit when Options.MaxBodyBytes is zero.
const DefaultMaxBodyBytes = 64 << 10

// DefaultReadBodyTimeout is the time a request body may take to arrive when
// Options.ReadBodyTimeout is zero. A strategy's body, a few hundred bytes,
// takes a millisecond; 5 s leaves room for a slow network and for the
// largest body the default limit allows.
const DefaultReadBodyTimeout = 5 * time.Second

// NoTimeout, as [Options.ReadBodyTimeout], turns the bound off.
const NoTimeout time.Duration = math.MaxInt64

// Options configures a [Handler]. The zero value, and a nil *Options, give
// the defaults each field names.
type Options struct {
	// MaxBodyBytes limits a request body, and the query string, as the
	// parameter may come in either; a larger one is answered 413
	// PAYLOAD_TOO_LARGE without reading past the limit. Zero means
	// [DefaultMaxBodyBytes] (64 KiB). Negative panics in [NewHandler].
	MaxBodyBytes int64

	// ReadBodyTimeout bounds the time a request body may take to arrive,
	// counted from when the handler starts to read it. A body not received
	// by then is answered 400 BAD_REQUEST ("the request body was not
	// received in time"), and over HTTP/1 its connection is closed: a client
	// sending a byte now and then holds a connection no longer than this
	// once its headers are in.
	//
	// The handler sets the bound as the connection's read deadline, as
	// [http.ResponseController.SetReadDeadline] does (looking through
	// wrappers that have an Unwrap method), and clears it once the body is
	// read, so that it bounds the body only: the notifier's call and the
	// next request on a keep-alive connection are not limited by it. Where
	// the ResponseWriter cannot set a deadline (middleware that wraps it
	// without Unwrap), the body is read without the bound, and only the
	// server's ReadTimeout limits it. The headers are the server's to bound,
	// with ReadHeaderTimeout.
	//
	// Zero means [DefaultReadBodyTimeout] (5 s); [NoTimeout] turns the bound
	// off. Negative panics in [NewHandler].
	ReadBodyTimeout time.Duration

	// Authenticate, when set, is called for every engage, noengage and
	// notify request before its body is read. A non-nil error denies it with 401
	// UNAUTHORIZED; a [*Fault] of that code with a Challenge also sets
	// WWW-Authenticate. [BasicAuth] makes one. Nil means no authentication.
	Authenticate func(r *http.Request) error

	// RefuseBrowsers, when true, answers 403 FORBIDDEN to every request a
	// web browser sends, one that carries an Origin or a Sec-Fetch-Site
	// header, unless its Origin is one of AllowedOrigins. Browsers send
	// Origin with every POST and Sec-Fetch-Site with every request; a
	// strategy or another server sends neither. So a web page cannot
	// engage or cancel through its visitors' browsers, which a plain form
	// POST would otherwise do without a CORS preflight, from behind the
	// firewall, or with Basic credentials the browser remembers. The
	// check runs before Authenticate and does not trust the Host header:
	// pages of the handler's own origin are browsers too, and a DNS
	// rebinding page looks same-origin. False (the default) treats browsers
	// like any other client; turn it on wherever a browser can reach the
	// endpoints.
	RefuseBrowsers bool

	// AllowedOrigins lists the origins whose browser requests RefuseBrowsers
	// lets through, as browsers write them in the Origin header
	// ("https://console.example.com", "http://127.0.0.1:8080"): a host's own
	// console that engages from a web page, say. They match exactly, but for
	// letter case and a trailing "/". NewHandler panics if an entry is not an
	// origin (a scheme and a host, nothing else; "*" and "null" are not), or
	// if AllowedOrigins is set without RefuseBrowsers. Nil allows none.
	AllowedOrigins []string

	// Logger receives one record per failed request: Debug for client
	// faults (4xx), Warn for 503, Error for 500, with the internal error.
	// Nil means no logging.
	Logger *slog.Logger

	// Observe, when set, is called once per request after the response is
	// written, for metrics. It runs on the request's goroutine, so it must
	// be quick and safe for concurrent use. Nil means no observation.
	Observe func(Observation)

	// RetryAfter is the Retry-After sent with 503 UNAVAILABLE when the
	// notifier's error does not say. Zero means one second.
	RetryAfter time.Duration
}

// Observation describes one handled request, for [Options.Observe].
type Observation struct {
	// Operation is "engage", "noengage" or "notify", or "" for a path
	// that names none of them.
	Operation string
	// Code is "OK" or the FAULT code of the response.
	Code Code
	// Status is the HTTP status.
	Status int
	// Duration is the time from the request reaching the handler to the
	// response being written.
	Duration time.Duration
}

// CodeOK is the Code of an [Observation] for a 200 OK response.
const CodeOK Code = "OK"

// Handler serves the engage and noengage operations of contract §1, and
// notify (§9) when its Notifier is a [Messenger]. Create one with
// [NewHandler]; it is safe for concurrent use.
//
// ServeHTTP routes by path suffix (/gateway/engage, /gateway/noengage,
// /notification/notify/{visitID}), so the Handler works under any prefix:
// [Handler.Mount] registers it at GWE's paths, or mount it at "/" or behind
// [http.StripPrefix]. Routers that route themselves mount [Handler.Engage],
// [Handler.Cancel] and [Handler.Notify] instead.
type Handler struct {
	n           Notifier
	maxBody     int64
	bodyTimeout time.Duration // 0: no bound
	browsers    bool          // refuse browsers,
	origins     []string      // but from these origins
	auth        func(*http.Request) error
	logger      *slog.Logger
	observe     func(Observation)
	retryAfter  string
	engage      operation
	cancel      operation
	notify      operation
	m           Messenger // n, when it serves notify
	langs       langCache
}

// NewHandler returns a Handler that decodes and validates requests and hands
// them to n. A nil opts means the defaults. NewHandler panics if n is nil or
// an option is out of range.
func NewHandler(n Notifier, opts *Options) *Handler {
	if n == nil {
		panic("gateway: NewHandler needs a non-nil Notifier (use gateway.Discard to accept and drop)")
	}
	if opts == nil {
		opts = &Options{}
	}
	if opts.MaxBodyBytes < 0 {
		panic("gateway: Options.MaxBodyBytes must not be negative")
	}
	if opts.ReadBodyTimeout < 0 {
		panic("gateway: Options.ReadBodyTimeout must not be negative (gateway.NoTimeout turns it off)")
	}
	if opts.RetryAfter < 0 {
		panic("gateway: Options.RetryAfter must not be negative")
	}
	if len(opts.AllowedOrigins) > 0 && !opts.RefuseBrowsers {
		panic("gateway: Options.AllowedOrigins needs RefuseBrowsers, or nothing is checked")
	}
	h := &Handler{
		n:           n,
		maxBody:     cmp.Or(opts.MaxBodyBytes, DefaultMaxBodyBytes),
		bodyTimeout: cmp.Or(opts.ReadBodyTimeout, DefaultReadBodyTimeout),
		browsers:    opts.RefuseBrowsers,
		auth:        opts.Authenticate,
		logger:      opts.Logger,
		observe:     opts.Observe,
		retryAfter:  retryAfterSeconds(cmp.Or(opts.RetryAfter, time.Second)),
	}
	if h.bodyTimeout == NoTimeout {
		h.bodyTimeout = 0
	}
	for _, o := range opts.AllowedOrigins {
		h.origins = append(h.origins, parseOrigin(o))
	}
	h.m, _ = n.(Messenger)
	h.engage = operation{h: h, name: "engage", param: paramProfile, run: func(r *http.Request, text string) (string, error) { return h.runEngage(r.Context(), text) }}
	h.cancel = operation{h: h, name: "noengage", param: paramCancel, run: func(r *http.Request, text string) (string, error) { return h.runCancel(r.Context(), text) }}
	h.notify = operation{h: h, name: "notify", param: paramMessages, array: true, run: h.runNotify}
	return h
}

// parseOrigin returns the origin o as browsers write it, for
// Options.AllowedOrigins, and panics if o is not one.
func parseOrigin(o string) string {
	o = strings.TrimSuffix(o, "/")
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		panic("gateway: Options.AllowedOrigins: " + strconv.Quote(o) + " is not an origin (scheme://host[:port])")
	}
	return o
}

// retryAfterSeconds renders d as whole seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(max(1, int64((d+time.Second-1)/time.Second)), 10)
}

// ServeHTTP routes a request to engage or noengage by its path's suffix and
// answers any other path 404 NOT_FOUND.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch path := r.URL.Path; {
	case strings.HasSuffix(path, "/gateway/engage"):
		h.engage.ServeHTTP(w, r)
	case strings.HasSuffix(path, "/gateway/noengage"):
		h.cancel.ServeHTTP(w, r)
	case isNotifyPath(path):
		h.notify.ServeHTTP(w, r)
	default:
		var start time.Time
		if h.observe != nil {
			start = time.Now()
		}
		h.fail(w, r, "", start, errNoOperation)
	}
}

var (
	errNoOperation = &Fault{Code: CodeNotFound, Message: "no such operation; use …/gateway/engage, …/gateway/noengage or …/notification/notify/{visitID}"}
	errNotPOST     = &Fault{Code: CodeMethodNotAllowed, Message: "method not allowed; use POST"}
)

// Engage returns the engage operation as a handler that serves it at any
// path, for routers that match paths themselves.
func (h *Handler) Engage() http.Handler { return &h.engage }

// Cancel returns the noengage operation as a handler that serves it at any
// path.
func (h *Handler) Cancel() http.Handler { return &h.cancel }

// operation is one endpoint: it reads the parameter param (a JSON array
// when array is set, else an object) and runs it.
type operation struct {
	h     *Handler
	name  string
	param string
	array bool
	// run decodes, validates and notifies; it returns the interactionID,
	// or "" for an answer without one (notify).
	run func(r *http.Request, text string) (string, error)
}

var (
	headerJSON    = []string{"application/json; charset=utf-8"}
	headerNoSniff = []string{"nosniff"}
	headerAllow   = []string{"POST, OPTIONS"}
	headerClose   = []string{"close"}
)

// ServeHTTP answers one request for the operation: 204 to OPTIONS, 200 OK
// or a FAULT to the rest.
func (op *operation) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := op.h
	var start time.Time
	if h.observe != nil {
		start = time.Now()
	}
	if r.Method == http.MethodOptions {
		w.Header()["Allow"] = headerAllow
		w.WriteHeader(http.StatusNoContent)
		h.observed(op.name, CodeOK, http.StatusNoContent, start)
		return
	}
	id, err := op.serve(w, r, start)
	if err != nil {
		h.fail(w, r, op.name, start, err)
		return
	}
	hdr := w.Header()
	hdr["Content-Type"] = headerJSON
	hdr["X-Content-Type-Options"] = headerNoSniff
	if id == "" {
		io.WriteString(w, "{\"status\":\"OK\"}\n")
		h.observed(op.name, CodeOK, http.StatusOK, start)
		return
	}
	// Three writes into the server's buffer cost less than building the
	// body; the ID needs no escaping, as validation allowed only [A-Za-z0-9._:-].
	io.WriteString(w, `{"status":"OK","interactionID":"`)
	io.WriteString(w, id)
	io.WriteString(w, "\"}\n")
	h.observed(op.name, CodeOK, http.StatusOK, start)
}

// serve runs a POST through authentication, decoding, validation and the
// notifier, and returns the accepted interactionID. start is when the
// request reached the handler, or zero when it was not read.
func (op *operation) serve(w http.ResponseWriter, r *http.Request, start time.Time) (string, error) {
	if r.Method != http.MethodPost {
		return "", errNotPOST
	}
	h := op.h
	if h.browsers && h.fromBrowser(r) {
		return "", errBrowser
	}
	if h.auth != nil {
		if err := h.auth(r); err != nil {
			return "", unauthorized(err)
		}
	}
	// The deadline bounds the body only: it is cleared once the body is
	// read (net/http's HTTP/1 server clears it too when the body ends, but
	// that is not a promise of every server). After a failure it stays, to
	// bound what the server reads of the rest of the body after the handler.
	// It counts from start when Observe had the clock read (microseconds
	// earlier, one read fewer).
	bounded := h.bodyTimeout > 0 && r.Body != nil && r.Body != http.NoBody &&
		setReadDeadline(w, orNow(start).Add(h.bodyTimeout))
	text, err := readParam(w, r, op.param, op.array, h.maxBody)
	switch {
	case err == errSlowBody:
		// The rest of the body is still on its way: over HTTP/1 the
		// connection cannot serve on; over HTTP/2 only the stream is lost.
		if r.ProtoMajor == 1 {
			w.Header()["Connection"] = headerClose
		}
		return "", err
	case err != nil:
		return "", err
	case bounded:
		setReadDeadline(w, time.Time{})
	}
	return op.run(r, text)
}

// fromBrowser reports whether a browser sent r, from an origin that
// Options.AllowedOrigins does not allow.
func (h *Handler) fromBrowser(r *http.Request) bool {
	origin, hasOrigin := r.Header["Origin"]
	if !hasOrigin {
		_, hasSite := r.Header["Sec-Fetch-Site"]
		return hasSite
	}
	return len(origin) != 1 || !slices.ContainsFunc(h.origins, func(o string) bool { return strings.EqualFold(o, origin[0]) })
}

var errBrowser = &Fault{Code: CodeForbidden, Message: "requests from web browsers are not accepted"}

// unauthorized is the answer to a failed authentication hook: err itself
// when it is a Fault of code UNAUTHORIZED (with a Challenge, say), else a
// Fault of that code with err as its cause, so that no hook's error shows
// and none can pass for another code.
func unauthorized(err error) error {
	var f *Fault
	if errors.As(err, &f) && f.Code == CodeUnauthorized {
		return err
	}
	return &Fault{Code: CodeUnauthorized, Err: err}
}

// checked joins a decode error with the validator's verdict. A decode that
// found fields of the wrong type still runs the validator, so the sender
// learns of every broken rule at once; a field with a type error is not
// reported twice.
func checked(decodeErr error, validate func() error) error {
	var typeErrs *Fault
	if decodeErr != nil && !(errors.As(decodeErr, &typeErrs) && typeErrs.Code == CodeValidation) {
		return decodeErr
	}
	err := validate()
	if typeErrs == nil {
		return err
	}
	var ve *Fault
	if errors.As(err, &ve) && ve.Code == CodeValidation {
		typeErrs.Err = ve.Err
		for _, f := range ve.Fields {
			if !slices.ContainsFunc(typeErrs.Fields, func(t FieldError) bool { return t.Field == f.Field }) {
				typeErrs.Fields = append(typeErrs.Fields, f)
			}
		}
	}
	return typeErrs
}

// notifierError keeps a notifier's error from being mistaken for a fault of
// the request: only the codes a notifier may cause pass through
// (ENGAGEMENT_IN_PROGRESS, UNAVAILABLE), and an upstream server's verdict on
// the payload (VALIDATION or BAD_REQUEST with a Status) when the notifier is
// a relaying [Client]. Anything else becomes 500 INTERNAL, with err as the
// cause for the log.
func notifierError(err error) error {
	var f *Fault
	if errors.As(err, &f) {
		switch f.code() {
		case CodeEngagementInProgress, CodeEngagementSuppressed, CodeUnavailable:
			return err
		case CodeValidation, CodeBadRequest:
			if f.Status != 0 {
				return err
			}
		}
	}
	return &Fault{Code: CodeInternal, Err: err}
}

// fail writes the FAULT response for err, logs it and observes it.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, op string, start time.Time, err error) {
	code, status := writeFault(w, err, h.retryAfter)
	if h.logger != nil {
		level := slog.LevelDebug
		switch {
		case status == http.StatusServiceUnavailable:
			level = slog.LevelWarn
		case status >= 500:
			level = slog.LevelError
		}
		h.logger.LogAttrs(r.Context(), level, "gateway: request refused",
			slog.String("op", op), slog.String("code", string(code)), slog.Int("status", status), slog.String("error", err.Error()))
	}
	h.observed(op, code, status, start)
}

// WriteError writes the FAULT response for err, as the [Handler] does, for
// endpoints of the host's own that answer in the same style (package push
// does). The first [*Fault] in err's chain decides: the status of its code,
// its Message (or the code's default message), its Fields for VALIDATION,
// its Challenge as WWW-Authenticate for UNAUTHORIZED, and for UNAVAILABLE
// its RetryAfter (default one second). An error without a Fault, or a
// Fault whose code the table does not know, is 500 INTERNAL with a generic
// message. Neither err's text nor a Fault's Err is ever written. For
// METHOD_NOT_ALLOWED it sets Allow to "POST, OPTIONS" unless the caller has
// set Allow already.
func WriteError(w http.ResponseWriter, err error) {
	writeFault(w, err, "1")
}

// writeFault is the one place errors become responses. It returns the code
// and status it wrote.
func writeFault(w http.ResponseWriter, err error, retryAfter string) (Code, int) {
	f, ok := err.(*Fault)
	if !ok && !errors.As(err, &f) {
		f = &Fault{Code: CodeInternal}
	}
	code, msg := f.code(), f.message()
	r := row(code)
	if r.code != code { // a code the table does not know: nothing to promise
		code, msg = r.code, r.message
	}
	hdr := w.Header()
	hdr["Content-Type"] = headerJSON
	hdr["X-Content-Type-Options"] = headerNoSniff
	var fields []FieldError
	switch code {
	case CodeValidation:
		fields = f.Fields
	case CodeMethodNotAllowed:
		if _, set := hdr["Allow"]; !set {
			hdr["Allow"] = headerAllow
		}
	case CodeUnauthorized:
		if f.Challenge != "" {
			hdr.Set("WWW-Authenticate", f.Challenge)
		}
	case CodeUnavailable:
		if f.RetryAfter > 0 {
			retryAfter = retryAfterSeconds(f.RetryAfter)
		}
		hdr.Set("Retry-After", retryAfter)
	}
	w.WriteHeader(r.status)
	b := appendFault(make([]byte, 0, 128), code, msg, fields)
	if code == CodeEngagementSuppressed && f.Reason != "" {
		b = appendReason(b, f.Reason)
	}
	w.Write(b)
	return code, r.status
}

// appendReason puts a FAULT body's "reason" before its closing brace.
func appendReason(b []byte, reason string) []byte {
	b = b[:len(b)-2] // "}\n"
	b = append(b, `,"reason":`...)
	b = appendString(b, reason)
	return append(b, '}', '\n')
}

// orNow returns t, or the current time when t is zero.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

func (h *Handler) observed(op string, code Code, status int, start time.Time) {
	if h.observe != nil {
		h.observe(Observation{Operation: op, Code: code, Status: status, Duration: time.Since(start)})
	}
}

// appendFault appends the body of a FAULT response.
func appendFault(b []byte, code Code, msg string, fields []FieldError) []byte {
	b = append(b, `{"status":"FAULT","code":`...)
	b = appendString(b, string(code))
	b = append(b, `,"message":`...)
	b = appendString(b, msg)
	if len(fields) > 0 {
		b = append(b, `,"fields":[`...)
		for i, f := range fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"field":`...)
			b = appendString(b, f.Field)
			b = append(b, `,"rule":`...)
			b = appendString(b, f.Rule)
			b = append(b, `,"message":`...)
			b = appendString(b, f.Message)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}', '\n')
}
