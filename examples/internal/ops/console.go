package ops

import (
	"context"
	"embed"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

// console is the operator console at /console: a page, its script and its
// style (nothing fetched from elsewhere, so it works offline), and
// /console/events, a stream of the instance's figures once a second: the
// broker's gauges (Broker.Stats), the funnel and request counts its hooks
// give, and the last events with their visitIDs masked.
type console struct {
	b       *push.Broker
	done    chan struct{} // closed by Shutdown: the streams end
	streams atomic.Int64  // the event streams open

	mu     sync.Mutex
	counts map[string]int64 // funnel stages, and "engage OK" style request counts
	events []consoleEvent   // the last maxEvents, oldest first
	seq    int64            // the number of events ever recorded
}

type consoleEvent struct {
	Seq         int64  `json:"seq"`
	Time        int64  `json:"t"` // Unix milliseconds
	What        string `json:"what"`
	Visit       string `json:"visit,omitempty"` // masked
	Interaction string `json:"interaction,omitempty"`
}

const maxEvents = 50

//go:embed console.html console.js console.css
var consoleFiles embed.FS

func newConsole() *console {
	return &console{counts: map[string]int64{}, done: make(chan struct{})}
}

// mask keeps the first four characters of a visitID: enough to tell
// visits apart on the screen, not to open one.
func mask(visitID string) string {
	if len(visitID) <= 4 {
		return visitID[:min(len(visitID), 2)] + "…"
	}
	return visitID[:4] + "…"
}

func (c *console) record(what, visitID, interactionID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[what]++
	c.seq++
	ev := consoleEvent{Seq: c.seq, Time: time.Now().UnixMilli(), What: what, Interaction: interactionID}
	if visitID != "" {
		ev.Visit = mask(visitID)
	}
	if len(c.events) == maxEvents {
		c.events = append(c.events[:0], c.events[1:]...)
	}
	c.events = append(c.events, ev)
}

// observe counts a request; a refused one is an event too.
func (c *console) observe(o gateway.Observation) {
	op := o.Operation
	if op == "" {
		op = "other"
	}
	key := op + " " + string(o.Code)
	if o.Code == gateway.CodeOK {
		c.mu.Lock()
		c.counts[key]++
		c.mu.Unlock()
		return
	}
	c.record(key, "", "")
}

// observer returns the hooks that feed the console.
func (c *console) observer() *push.Observer {
	return &push.Observer{
		Offered:   func(_ context.Context, p *gateway.Profile) { c.record("offered", p.VisitID, p.InteractionID) },
		Delivered: func(d push.Delivery) { c.record("delivered", d.VisitID, d.InteractionID) },
		Shown:     func(_ context.Context, visitID, id string) { c.record("shown", visitID, id) },
		Ended:     func(o push.Outcome) { c.record(string(o.Result), o.VisitID, o.InteractionID) },
	}
}

type snapshot struct {
	Time   int64            `json:"t"`
	Gauges map[string]int   `json:"gauges"`
	Counts map[string]int64 `json:"counts"`
	Events []consoleEvent   `json:"events"`
}

// snapshot returns the figures now, with the events after seq.
func (c *console) snapshot(after int64) snapshot {
	st := c.b.Stats()
	s := snapshot{
		Time:   time.Now().UnixMilli(),
		Gauges: map[string]int{"streams": st.Subscribers, "live": st.Invitations, "tombstones": st.Tombstones},
		Counts: map[string]int64{},
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.counts {
		s.Counts[k] = v
	}
	for _, ev := range c.events {
		if ev.Seq > after {
			s.Events = append(s.Events, ev)
		}
	}
	return s
}

// maxConsoleStreams bounds the console streams open at once on an
// instance: past it /console/events answers 503 with Retry-After, and the
// console's page tries again after that long (console.js).
const maxConsoleStreams = 16

// errConsoleFull is the answer past maxConsoleStreams.
var errConsoleFull = &gateway.Fault{Code: gateway.CodeUnavailable, Message: "too many console streams open; try again later", RetryAfter: 5 * time.Second}

// consoleWriteTimeout bounds each write of a console's stream: a page that
// stops reading is let go.
const consoleWriteTimeout = 10 * time.Second

// serveEvents streams a snapshot at once and then every second, until the
// page goes or the console shuts down. The stream lasts as long as the
// page: each write has a deadline of its own in place of the server's
// WriteTimeout, which counts from the request and would end the stream.
func (c *console) serveEvents(w http.ResponseWriter, r *http.Request) {
	defer c.streams.Add(-1)
	if c.streams.Add(1) > maxConsoleStreams {
		gateway.WriteError(w, errConsoleFull)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	rc := http.NewResponseController(w)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var seq int64
	for {
		s := c.snapshot(seq)
		if n := len(s.Events); n > 0 {
			seq = s.Events[n-1].Seq
		}
		data, _ := json.Marshal(s)
		rc.SetWriteDeadline(time.Now().Add(consoleWriteTimeout))
		if _, err := w.Write(append(append([]byte("data: "), data...), '\n', '\n')); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		select {
		case <-tick.C:
		case <-r.Context().Done():
			return
		case <-c.done:
			return
		}
	}
}

// handle mounts the console's page, script, style and stream behind auth.
func (c *console) handle(mux *http.ServeMux, auth func(*http.Request) error) {
	files := http.FileServerFS(consoleFiles)
	static := guard(auth, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Only its own script and style: nothing inline, nothing from
		// elsewhere.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		switch r.URL.Path {
		case "/console":
			r.URL.Path = "/console.html"
		default:
			r.URL.Path = "/" + r.URL.Path[len("/console/"):]
		}
		files.ServeHTTP(w, r)
	}))
	mux.Handle("GET /console", static)
	mux.Handle("GET /console/console.js", static)
	mux.Handle("GET /console/console.css", static)
	mux.Handle("GET /console/events", guard(auth, http.HandlerFunc(c.serveEvents)))
}
