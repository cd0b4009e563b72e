package gateway

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// PathFamily is the path, appended to a server's base URL, under which it
// serves …/engage and …/noengage: [Paths85] or [Paths812].
type PathFamily string

// The path families of the engage/noengage endpoints, for
// [ClientOptions.Paths].
const (
	// Paths85 is the family of GWE 8.5 and later: …/server/data/gateway.
	Paths85 PathFamily = "/server/data/gateway"
	// Paths812 is the older Backend Server family of GWE 8.1.2:
	// …/backend/data/gateway.
	Paths812 PathFamily = "/backend/data/gateway"
)

// ClientOptions configures a [Client]. The zero value, and a nil
// *ClientOptions, give the defaults each field names.
type ClientOptions struct {
	// HTTPClient sends the requests. Nil means http.DefaultClient. The
	// Client sets no timeout of its own: give each call a context with a
	// deadline.
	HTTPClient *http.Client
	// Paths is the path family appended to the base URL: [Paths85] (the
	// default) or [Paths812].
	Paths PathFamily
	// Username and Password, when Username is set, are sent as HTTP Basic
	// credentials.
	Username, Password string
	// JSON sends {"ixnProfile":{…}} as application/json instead of the
	// form-encoded parameter that ORS sends (the default).
	JSON bool
	// MaxAttempts bounds the tries of one call, the first included. Zero
	// means 4; 1 turns retrying off.
	MaxAttempts int
	// BaseDelay is the backoff before the second try; each later one
	// doubles it, up to MaxDelay, with jitter. Zero means 200 ms.
	BaseDelay time.Duration
	// MaxDelay caps one backoff, and a server's Retry-After. Zero means
	// 5 s.
	MaxDelay time.Duration
}

// Client calls the engage, noengage and notify endpoints of any server
// that speaks the GWE Engagement REST API: this package's [Handler], or a
// GWE server. It is a [Notifier] and a [Messenger], so a Handler can
// validate at the edge and relay to an upstream server. A Client is safe
// for concurrent use.
//
// # Retries
//
// A call is tried again after a connection error or a 502, 503 (after the
// server's Retry-After, when it sends one) or 504 answer, with capped,
// jittered exponential backoff, up to MaxAttempts tries and never past the
// context's deadline. Any other answer, a 400 above all, is final and sent
// once. Retrying is safe because engage and cancel are idempotent per
// interactionID: this package's push.Broker delivers an interactionID once
// however often it is engaged, and cancelling twice is cancelling once. A
// connection error can hide a request the server did process, so a server
// without that property may see an engage twice. A notify has no such ID:
// a retried notify may deliver its messages twice.
type Client struct {
	engageURL, cancelURL string
	notifyURL            string // …/notification/notify/, the visitID to follow
	hc                   *http.Client
	user, pass           string
	json                 bool
	attempts             int
	base, max            time.Duration
	// sleep waits d or until ctx is done; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// NewClient returns a Client for the server at baseURL ("http://host:port",
// or with a path prefix of its own: "https://host/gwe"). It returns an error
// if baseURL is not an absolute http or https URL, or opts.Paths is not a
// known family.
func NewClient(baseURL string, opts *ClientOptions) (*Client, error) {
	if opts == nil {
		opts = &ClientOptions{}
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("gateway: NewClient needs an absolute http or https base URL")
	}
	paths := cmp.Or(opts.Paths, Paths85)
	if paths != Paths85 && paths != Paths812 {
		return nil, errors.New("gateway: ClientOptions.Paths must be Paths85 or Paths812")
	}
	if opts.MaxAttempts < 0 || opts.BaseDelay < 0 || opts.MaxDelay < 0 {
		return nil, errors.New("gateway: ClientOptions must not be negative")
	}
	prefix := strings.TrimSuffix(u.String(), "/") + string(paths)
	return &Client{
		engageURL: prefix + "/engage",
		cancelURL: prefix + "/noengage",
		notifyURL: strings.TrimSuffix(prefix, "/gateway") + notifyPrefix,
		hc:        cmp.Or(opts.HTTPClient, http.DefaultClient),
		user:      opts.Username,
		pass:      opts.Password,
		json:      opts.JSON,
		attempts:  cmp.Or(opts.MaxAttempts, 4),
		base:      cmp.Or(opts.BaseDelay, 200*time.Millisecond),
		max:       cmp.Or(opts.MaxDelay, 5*time.Second),
		sleep:     sleepCtx,
	}, nil
}

var _ Notifier = (*Client)(nil)

// Engage validates p and sends it to the engage endpoint. It returns nil on
// a 2xx answer; a VALIDATION [*Fault] without sending when p is invalid (its
// Status is zero); for any other answer, a [*Fault] with the server's Status,
// and its Code, Message, Fields, Retry-After and WWW-Authenticate when the
// answer is a FAULT. Other errors are the transport's or the context's.
func (c *Client) Engage(ctx context.Context, p *Profile) error {
	if err := p.Validate(); err != nil {
		return err
	}
	return c.call(ctx, c.engageURL, paramProfile, p.appendJSON(make([]byte, 0, 256)))
}

// Cancel validates cd and sends it to the noengage endpoint, as Engage does.
func (c *Client) Cancel(ctx context.Context, cd *CancelData) error {
	if err := cd.Validate(); err != nil {
		return err
	}
	return c.call(ctx, c.cancelURL, paramCancel, cd.appendJSON(make([]byte, 0, 128)))
}

var _ Messenger = (*Client)(nil)

// Notify validates n and sends its messages to the notify endpoint of
// n.VisitID (contract §9): the parameter messages, form-encoded, or
// {"messages":[…]} with ClientOptions.JSON. It returns what Engage does.
func (c *Client) Notify(ctx context.Context, n *Notification) error {
	if err := n.Validate(); err != nil {
		return err
	}
	return c.call(ctx, c.notifyURL+url.PathEscape(n.VisitID), paramMessages, appendMessages(make([]byte, 0, 256), n.Messages))
}

func (c *Client) call(ctx context.Context, endpoint, param string, object []byte) error {
	var body []byte
	contentType := "application/x-www-form-urlencoded"
	if c.json {
		contentType = "application/json"
		body = append(append(append([]byte(`{"`), param...), `":`...), object...)
		body = append(body, '}')
	} else {
		body = []byte(param + "=" + url.QueryEscape(string(object)))
	}
	var err error
	for attempt := 1; ; attempt++ {
		var retryAfter time.Duration
		var retry bool
		retry, retryAfter, err = c.try(ctx, endpoint, contentType, body)
		if !retry || attempt >= c.attempts || ctx.Err() != nil {
			return err
		}
		delay := retryAfter
		if delay <= 0 {
			delay = c.backoff(attempt)
		}
		delay = min(delay, c.max)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < delay {
			return err // no time for another try: the last answer stands
		}
		if c.sleep(ctx, delay) != nil {
			return err
		}
	}
}

// backoff is the delay after try n (from 1): base·2^(n-1), capped, with
// half of it jittered so that clients that failed together spread out.
func (c *Client) backoff(n int) time.Duration {
	d := c.base << min(n-1, 30)
	if d <= 0 || d > c.max {
		d = c.max
	}
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maxAnswerBytes bounds the answer the Client reads.
const maxAnswerBytes = 64 << 10

// try sends one request. It reports whether the outcome may be retried and
// the server's Retry-After.
func (c *Client) try(ctx context.Context, endpoint, contentType string, body []byte) (retry bool, retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return false, 0, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return ctx.Err() == nil, 0, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, 0, nil
	}
	f := &Fault{
		Status:     resp.StatusCode,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		Challenge:  resp.Header.Get("WWW-Authenticate"),
	}
	var fault struct {
		Status  string       `json:"status"`
		Code    Code         `json:"code"`
		Message string       `json:"message"`
		Fields  []FieldError `json:"fields"`
		Reason  string       `json:"reason"`
	}
	// An answer that is not a FAULT (a proxy's error page) leaves Code
	// empty: its text is not the gateway's, so none of it is kept.
	if json.Unmarshal(answer, &fault) == nil && fault.Status == "FAULT" && fault.Code != "" {
		f.Code, f.Message, f.Fields, f.Reason = fault.Code, fault.Message, fault.Fields, fault.Reason
	}
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true, f.RetryAfter, f
	}
	return false, 0, f
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
// It returns zero for none, a bad one, or a date in the past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(secs, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
