package pushtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

// wait bounds every wait of the suite for an event or a state: generous,
// as a network backend may reconnect meanwhile.
const wait = 15 * time.Second

// instance is one broker of a cluster behind its own HTTP server, as a
// host mounts it: the engage API beside the browser routes.
type instance struct {
	name   string
	broker *push.Broker
	srv    *httptest.Server

	mu    sync.Mutex
	heard []push.Disposition // OnDisposition's calls
}

// start makes n brokers over a new cluster's backends, with opts (its
// Backend and OnDisposition are set here), each behind a server.
func start(t *testing.T, newCluster func(t *testing.T, n int) *Cluster, n int, opts push.Options) (*Cluster, []*instance) {
	t.Helper()
	return startEach(t, newCluster, n, func(int) push.Options { return opts })
}

// startEach is start with the options of instance i from opts(i).
func startEach(t *testing.T, newCluster func(t *testing.T, n int) *Cluster, n int, opts func(i int) push.Options) (*Cluster, []*instance) {
	t.Helper()
	c := newCluster(t, n)
	if c == nil || len(c.Backends) != n {
		t.Fatalf("newCluster(t, %d) must return a Cluster with %d backends", n, n)
	}
	insts := make([]*instance, n)
	for i := range n {
		in := &instance{name: string(rune('A' + i))}
		o := opts(i)
		o.Backend = c.Backends[i]
		o.OnDisposition = func(_ context.Context, d push.Disposition) {
			in.mu.Lock()
			defer in.mu.Unlock()
			in.heard = append(in.heard, d)
		}
		in.broker = push.NewBroker(&o)
		mux := http.NewServeMux()
		mux.Handle("/notification/", in.broker)
		h := gateway.NewHandler(in.broker, nil)
		mux.Handle("/server/data/gateway/", h)
		mux.Handle("/server/data/notification/notify/", h)
		in.srv = httptest.NewServer(mux)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := in.broker.Shutdown(ctx); err != nil {
				t.Errorf("instance %s: Shutdown: %v", in.name, err)
			}
			in.srv.Close()
		})
		insts[i] = in
	}
	return c, insts
}

// reply is an answer of the engage API or the disposition route.
type reply struct {
	status     int
	code       string // the FAULT's code
	reason     string // the FAULT's reason
	retryAfter string
}

func (r reply) String() string {
	if r.reason != "" {
		return fmt.Sprintf("%d %s %s", r.status, r.code, r.reason)
	}
	if r.code != "" {
		return fmt.Sprintf("%d %s", r.status, r.code)
	}
	return fmt.Sprint(r.status)
}

// post sends a request; it may be called from any goroutine, so a failure
// to send is reported with Errorf and as status 0.
func (in *instance) post(t *testing.T, path, contentType, body string) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, in.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	resp, err := in.srv.Client().Do(req)
	if err != nil {
		t.Errorf("instance %s: POST %s: %v", in.name, path, err)
		return reply{}
	}
	defer resp.Body.Close()
	var fault struct{ Code, Reason string }
	json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&fault)
	return reply{status: resp.StatusCode, code: fault.Code, reason: fault.Reason, retryAfter: resp.Header.Get("Retry-After")}
}

// engage posts an ixnProfile, given as JSON, to the instance's engage API.
func (in *instance) engage(t *testing.T, profile string) reply {
	t.Helper()
	return in.post(t, "/server/data/gateway/engage", "application/json", profile)
}

// mustEngage engages and fails the test unless the answer is 200.
func (in *instance) mustEngage(t *testing.T, visitID, interactionID string) {
	t.Helper()
	if r := in.engage(t, profile(visitID, interactionID, "")); r.status != http.StatusOK {
		t.Fatalf("instance %s: engage %s of %s: %v, want 200", in.name, interactionID, visitID, r)
	}
}

// engageUntilAccepted engages until the answer is 200, while it is 503:
// for the time a backend takes to come back.
func (in *instance) engageUntilAccepted(t *testing.T, profile string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		r := in.engage(t, profile)
		switch {
		case r.status == http.StatusOK:
			return
		case r.status != http.StatusServiceUnavailable:
			t.Fatalf("instance %s: engage %s: %v, want 200 or 503", in.name, profile, r)
		case time.Now().After(deadline):
			t.Fatalf("instance %s: engage still 503 after %v", in.name, wait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func profile(visitID, interactionID, extra string) string {
	return fmt.Sprintf(`{"interactionID":%q,"visitID":%q,"channels":["chat","callback"]%s}`, interactionID, visitID, extra)
}

// cancel posts a cancelData to the instance's noengage API.
func (in *instance) cancel(t *testing.T, visitID, interactionID, reason string) reply {
	t.Helper()
	extra := ""
	if reason != "" {
		extra = fmt.Sprintf(`,"reason":%q`, reason)
	}
	return in.post(t, "/server/data/gateway/noengage", "application/json",
		fmt.Sprintf(`{"interactionID":%q,"visitID":%q%s}`, interactionID, visitID, extra))
}

func (in *instance) mustCancel(t *testing.T, visitID, interactionID, reason string) {
	t.Helper()
	if r := in.cancel(t, visitID, interactionID, reason); r.status != http.StatusOK {
		t.Fatalf("instance %s: cancel %s of %s: %v, want 200", in.name, interactionID, visitID, r)
	}
}

// answer posts a visitor's disposition, given as JSON, as visitor.js does.
func (in *instance) answer(t *testing.T, visitID, disposition string) reply {
	t.Helper()
	return in.post(t, "/notification/"+url.PathEscape(visitID)+"/disposition", "application/json", disposition)
}

func (in *instance) dispositions() []push.Disposition {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]push.Disposition(nil), in.heard...)
}

// event is one event of a stream: engage or cancel.
type event struct {
	kind, id string // id: the engage's event id
	data     map[string]any
}

func (e event) String() string { return fmt.Sprintf("%s %s %v", e.kind, e.id, e.data) }

// stream is a page's event stream, read by a goroutine.
type stream struct {
	name   string
	events chan event
	body   io.Closer
}

// subscribe opens a page's stream on the instance: query is the query
// string ("pageID=…"), lastEventID the header a reconnecting EventSource
// sends.
func (in *instance) subscribe(t *testing.T, visitID, query, lastEventID string) *stream {
	t.Helper()
	u := in.srv.URL + "/notification/" + url.PathEscape(visitID)
	if query != "" {
		u += "?" + query
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := in.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("instance %s: subscribe %s: %v", in.name, visitID, err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		resp.Body.Close()
		t.Fatalf("instance %s: subscribe %s: %s %q", in.name, visitID, resp.Status, resp.Header.Get("Content-Type"))
	}
	s := &stream{name: fmt.Sprintf("the page of %s on %s", visitID, in.name), events: make(chan event, 256), body: resp.Body}
	go s.read(resp.Body)
	t.Cleanup(func() { resp.Body.Close() })
	return s
}

// read parses Server-Sent Events until the stream ends.
func (s *stream) read(r io.Reader) {
	defer close(s.events)
	sc := bufio.NewScanner(r)
	var ev event
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.kind != "" {
				s.events <- ev
			}
			ev = event{}
		case strings.HasPrefix(line, "event: "):
			ev.kind = line[len("event: "):]
		case strings.HasPrefix(line, "id: "):
			ev.id = line[len("id: "):]
		case strings.HasPrefix(line, "data: "):
			json.Unmarshal([]byte(line[len("data: "):]), &ev.data)
		}
	}
}

// next returns the stream's next event.
func (s *stream) next(t *testing.T) event {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatalf("%s: the stream ended", s.name)
		}
		return ev
	case <-time.After(wait):
		t.Fatalf("%s: no event within %v", s.name, wait)
	}
	panic("unreachable")
}

// wantEngage reads the next event and checks it is the engage of id.
func (s *stream) wantEngage(t *testing.T, id string) event {
	t.Helper()
	ev := s.next(t)
	if ev.kind != "engage" || ev.id != id || ev.data["interactionID"] != id {
		t.Fatalf("%s: got %v, want the engage of %s", s.name, ev, id)
	}
	return ev
}

// wantCancel reads the next event and checks it is the cancel of id with
// reason.
func (s *stream) wantCancel(t *testing.T, id, reason string) {
	t.Helper()
	ev := s.next(t)
	if ev.kind != "cancel" || ev.data["interactionID"] != id || ev.data["reason"] != reason {
		t.Fatalf("%s: got %v, want the cancel of %s (%s)", s.name, ev, id, reason)
	}
}

// eventually waits until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", wait, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
