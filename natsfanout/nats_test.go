package natsfanout_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engagekit/gateway/natsfanout"
	"github.com/engagekit/gateway/push"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// natsServer is an in-process NATS server with JetStream, on a loopback
// port of its own and a store in a temporary directory, that can be
// stopped and started again on the same port, with its store or without.
type natsServer struct {
	t    testing.TB
	dir  string
	port int
	s    *server.Server
}

func startNATS(t testing.TB) *natsServer {
	t.Helper()
	n := &natsServer{t: t, dir: t.TempDir(), port: -1}
	n.start()
	n.port = n.s.Addr().(*net.TCPAddr).Port
	t.Cleanup(n.stop)
	return n
}

func (n *natsServer) start() {
	n.t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: n.port, JetStream: true, StoreDir: n.dir, NoLog: true, NoSigs: true})
	if err != nil {
		n.t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		n.t.Fatal("NATS server did not start")
	}
	n.s = s
}

func (n *natsServer) stop() {
	if n.s != nil {
		n.s.Shutdown()
		n.s.WaitForShutdown()
		n.s = nil
	}
}

// wipe restarts the server on the same port with an empty store: NATS
// restarted after losing its disk.
func (n *natsServer) wipe() {
	n.t.Helper()
	n.stop()
	n.dir = n.t.TempDir()
	n.start()
}

func (n *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// connect opens a connection as a gateway instance would, reconnecting
// faster than ConnectOptions does, and closes it when the test ends.
func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, append(natsfanout.ConnectOptions(nil), nats.ReconnectWait(50*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// newBackend connects to url and makes a Backend on the connection.
func newBackend(t testing.TB, url string, opts *natsfanout.Options) (*natsfanout.Backend, *nats.Conn) {
	t.Helper()
	nc := connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := natsfanout.New(ctx, nc, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b, nc
}

// cluster is n instances' backends sharing one NATS server, each on its
// own connection: what push/pushtest needs.
type cluster struct {
	t        testing.TB
	ns       *natsServer
	backends []*natsfanout.Backend
	conns    []*nats.Conn
}

func newCluster(t testing.TB, n int, opts *natsfanout.Options) *cluster {
	t.Helper()
	c := &cluster{t: t, ns: startNATS(t)}
	for range n {
		b, nc := newBackend(t, c.ns.url(), opts)
		c.backends = append(c.backends, b)
		c.conns = append(c.conns, nc)
	}
	return c
}

// outage stops the server and returns once every instance has noticed;
// restore starts it again with its store and returns once every instance
// has reconnected.
func (c *cluster) outage() (restore func()) {
	c.ns.stop()
	eventually(c.t, "every instance notices the outage", func() bool {
		for _, nc := range c.conns {
			if nc.Status() == nats.CONNECTED {
				return false
			}
		}
		return true
	})
	return func() {
		c.ns.start()
		c.reconnected()
	}
}

// wipe restarts the server with an empty store and returns once every
// instance has reconnected.
func (c *cluster) wipe() {
	c.ns.wipe()
	c.reconnected()
}

func (c *cluster) reconnected() {
	c.t.Helper()
	eventually(c.t, "every instance reconnects", func() bool {
		for _, nc := range c.conns {
			if nc.Status() != nats.CONNECTED {
				return false
			}
		}
		return true
	})
}

// listening is a Listen call of a test: it collects what is delivered.
type listening struct {
	events chan *push.Event
	err    chan error
}

// listen calls b.Listen until the test ends, then checks that it returned
// the context's error.
func listen(t testing.TB, b *natsfanout.Backend) *listening {
	t.Helper()
	l := &listening{events: make(chan *push.Event, 10000), err: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	var full atomic.Bool
	go func() {
		l.err <- b.Listen(ctx, func(ev *push.Event) {
			select {
			case l.events <- ev:
			default:
				full.Store(true)
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-l.err:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Listen returned %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Listen did not return within 10 s of its context's end")
		}
		if full.Load() {
			t.Error("a listener's buffer filled up: events were lost by the test")
		}
	})
	return l
}

// next returns the IDs of the next n events, failing the test after 10 s.
func (l *listening) next(t testing.TB, n int) []string {
	t.Helper()
	var ids []string
	timeout := time.After(10 * time.Second)
	for len(ids) < n {
		select {
		case ev := <-l.events:
			ids = append(ids, ev.ID())
		case <-timeout:
			t.Fatalf("after 10 s, %d events of %d: %v", len(ids), n, ids)
		}
	}
	return ids
}

// quiet fails the test if an event is delivered within d.
func (l *listening) quiet(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case ev := <-l.events:
		data, _ := ev.MarshalBinary()
		t.Errorf("delivered %s, want nothing", data)
	case <-time.After(d):
	}
}

// Events are built from their encoding, as a backend receives them.
var eventSeq atomic.Uint64

func event(t testing.TB, data string) *push.Event {
	t.Helper()
	ev := new(push.Event)
	if err := ev.UnmarshalBinary([]byte(data)); err != nil {
		t.Fatalf("UnmarshalBinary(%s): %v", data, err)
	}
	return ev
}

func newID() string { return fmt.Sprint("ev-", eventSeq.Add(1)) }

func engageEvent(t testing.TB, visitID, interactionID string) *push.Event {
	now := time.Now().UTC()
	return event(t, fmt.Sprintf(`{"op":"engage","id":%q,"at":%q,"expiresAt":%q,"profile":{"interactionID":%q,"visitID":%q,"channels":["chat"]}}`,
		newID(), now.Format(time.RFC3339Nano), now.Add(30*time.Second).Format(time.RFC3339Nano), interactionID, visitID))
}

func cancelEvent(t testing.TB, visitID, interactionID string) *push.Event {
	return event(t, fmt.Sprintf(`{"op":"cancel","id":%q,"at":%q,"cancel":{"interactionID":%q,"visitID":%q}}`,
		newID(), time.Now().UTC().Format(time.RFC3339Nano), interactionID, visitID))
}

// publish publishes ev and fails the test if it is refused.
func publish(t testing.TB, b *natsfanout.Backend, ev *push.Event) string {
	t.Helper()
	if err := b.Publish(context.Background(), ev); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return ev.ID()
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// proxy relays TCP to target until cut, which severs every connection and
// refuses new ones until healed: a network partition of one instance.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newProxy(t testing.TB, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	p.wg.Go(p.serve)
	t.Cleanup(func() { ln.Close(); p.sever(true); p.wg.Wait() })
	return p
}

func (p *proxy) url() string { return "nats://" + p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Go(func() { io.Copy(up, c); up.Close() })
		p.wg.Go(func() { io.Copy(c, up); c.Close() })
	}
}

func (p *proxy) sever(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// logBuffer is a slog destination a test can read.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
