package natsfanout_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/natsfanout"
	"github.com/engagekit/gateway/push"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// natsServer is an in-process NATS server with JetStream that can be
// stopped and started again on the same port and store.
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

func (n *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// proxy relays TCP to target until cut, which severs every connection and
// refuses new ones until heal: a network partition of one instance.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func newProxy(t testing.TB, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.sever(true) })
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
		go func() { io.Copy(up, c); up.Close() }()
		go func() { io.Copy(c, up); c.Close() }()
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

// instance is one gateway instance: a Fanout, its broker and its handler,
// behind an HTTP server, as the cluster example runs them.
type instance struct {
	nc  *nats.Conn
	f   *natsfanout.Fanout
	srv *httptest.Server
}

func newInstance(t testing.TB, natsURL string, opts *natsfanout.Options) *instance {
	t.Helper()
	nc, err := nats.Connect(natsURL, append(natsfanout.ConnectOptions(nil), nats.ReconnectWait(50*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	if opts == nil {
		opts = &natsfanout.Options{}
	}
	if opts.Push.Heartbeat == 0 {
		opts.Push.Heartbeat = 40 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := natsfanout.New(ctx, nc, opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/server/data/gateway/", gateway.NewHandler(f, nil))
	mux.Handle("/notification/", f.Broker())
	in := &instance{nc: nc, f: f, srv: httptest.NewServer(mux)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		in.srv.Close()
		nc.Drain()
	})
	return in
}

// post calls an endpoint and returns the status and FAULT code.
func (in *instance) post(t testing.TB, op, param, object string) (int, string) {
	t.Helper()
	resp, err := http.PostForm(in.srv.URL+"/server/data/gateway/"+op, url.Values{param: {object}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Status, Code string }
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
	return resp.StatusCode, body.Code
}

func (in *instance) engage(t testing.TB, visitID, id string) (int, string) {
	return in.post(t, "engage", "ixnProfile", `{"interactionID":"`+id+`","visitID":"`+visitID+`","channels":["chat"]}`)
}

func (in *instance) cancel(t testing.TB, visitID, id string) (int, string) {
	return in.post(t, "noengage", "cancelData", `{"interactionID":"`+id+`","visitID":"`+visitID+`"}`)
}

type sse struct {
	events chan [2]string // type, interactionID
	body   io.Closer
}

func (in *instance) subscribe(t testing.TB, visitID string) *sse {
	t.Helper()
	resp, err := http.Get(in.srv.URL + "/notification/" + visitID)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("subscribe: %v %v", err, resp)
	}
	s := &sse{events: make(chan [2]string, 100), body: resp.Body}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		typ := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, ":"):
				s.events <- [2]string{"heartbeat", ""}
			case strings.HasPrefix(line, "event: "):
				typ = line[7:]
			case strings.HasPrefix(line, "data: "):
				var d struct{ InteractionID string }
				json.Unmarshal([]byte(line[6:]), &d)
				s.events <- [2]string{typ, d.InteractionID}
			}
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return s
}

func (s *sse) next(t testing.TB) [2]string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				t.Fatal("stream ended")
			}
			if ev[0] != "heartbeat" {
				return ev
			}
		case <-timeout:
			t.Fatal("no event within 10s")
		}
	}
}

func want(t testing.TB, got [2]string, typ, id string) {
	t.Helper()
	if got != [2]string{typ, id} {
		t.Fatalf("got %v, want %s %s", got, typ, id)
	}
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCrossInstanceDelivery(t *testing.T) {
	ns := startNATS(t)
	a, b := newInstance(t, ns.url(), nil), newInstance(t, ns.url(), nil)
	page := b.subscribe(t, "v-1")
	if code, _ := a.engage(t, "v-1", "i-1"); code != 200 {
		t.Fatalf("engage on A: %d", code)
	}
	want(t, page.next(t), "engage", "i-1")

	// A late subscriber on either instance still gets it.
	want(t, a.subscribe(t, "v-1").next(t), "engage", "i-1")

	// Cancelled on B, taken away on A's pages too.
	pageA := a.subscribe(t, "v-1")
	want(t, pageA.next(t), "engage", "i-1")
	if code, _ := b.cancel(t, "v-1", "i-1"); code != 200 {
		t.Fatalf("cancel on B: %d", code)
	}
	want(t, pageA.next(t), "cancel", "i-1")
	want(t, page.next(t), "cancel", "i-1")
}

func TestAnswerOnOneInstanceHidesItOnTheOther(t *testing.T) {
	ns := startNATS(t)
	var heard atomic.Int32
	opts := &natsfanout.Options{Push: push.Options{OnDisposition: func(context.Context, push.Disposition) { heard.Add(1) }}}
	a, b := newInstance(t, ns.url(), opts), newInstance(t, ns.url(), nil)
	pageA, pageB := a.subscribe(t, "v-1"), b.subscribe(t, "v-1")
	a.engage(t, "v-1", "i-1")
	want(t, pageA.next(t), "engage", "i-1")
	want(t, pageB.next(t), "engage", "i-1")
	resp, err := http.Post(a.srv.URL+"/notification/v-1/disposition", "application/json",
		strings.NewReader(`{"interactionID":"i-1","result":"rejected"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("disposition: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	want(t, pageA.next(t), "cancel", "i-1")
	want(t, pageB.next(t), "cancel", "i-1")
	if heard.Load() != 1 {
		t.Errorf("OnDisposition heard %d answers, want 1", heard.Load())
	}
	// Answered frees the visit across instances.
	if code, _ := b.engage(t, "v-1", "i-2"); code != 200 {
		t.Errorf("engage after the answer: %d", code)
	}
}

func TestCancelBeforeEngageAcrossInstances(t *testing.T) {
	ns := startNATS(t)
	a, b := newInstance(t, ns.url(), nil), newInstance(t, ns.url(), nil)
	if code, _ := b.cancel(t, "v-1", "i-1"); code != 200 {
		t.Fatal(code)
	}
	if code, _ := a.engage(t, "v-1", "i-1"); code != 200 {
		t.Fatalf("late engage: %d, want 200 (accepted and dropped)", code)
	}
	// Dropped, and it does not hold the visit: the next engage is free.
	if code, c := a.engage(t, "v-1", "i-2"); code != 200 {
		t.Fatalf("next engage: %d %s", code, c)
	}
	page := b.subscribe(t, "v-1")
	want(t, page.next(t), "engage", "i-2")
}

// TestStrictModeRace sends two engages with different interactionIDs for
// one visit to two instances at the same moment, 200 times: exactly one is
// accepted each time.
func TestStrictModeRace(t *testing.T) {
	ns := startNATS(t)
	a, b := newInstance(t, ns.url(), nil), newInstance(t, ns.url(), nil)
	for i := range 200 {
		visit := fmt.Sprint("race-", i)
		var codes [2]int
		var faults [2]string
		var wg sync.WaitGroup
		start := make(chan struct{})
		for j, in := range []*instance{a, b} {
			wg.Go(func() {
				<-start
				codes[j], faults[j] = in.engage(t, visit, fmt.Sprint(visit, "-", j))
			})
		}
		close(start)
		wg.Wait()
		ok, refused := 0, 0
		for j := range 2 {
			switch {
			case codes[j] == 200:
				ok++
			case codes[j] == 400 && faults[j] == "ENGAGEMENT_IN_PROGRESS":
				refused++
			}
		}
		if ok != 1 || refused != 1 {
			t.Fatalf("round %d: answers %v %v, want one 200 and one ENGAGEMENT_IN_PROGRESS", i, codes, faults)
		}
	}
}

// TestNATSDownAndBack: with NATS stopped every engage is a 503 with
// Retry-After, never a 200 that is then lost; once NATS is back, delivery
// resumes, and every engage that was answered 200 is delivered.
func TestNATSDownAndBack(t *testing.T) {
	ns := startNATS(t)
	a, b := newInstance(t, ns.url(), &natsfanout.Options{Lenient: true}), newInstance(t, ns.url(), &natsfanout.Options{Lenient: true})
	var accepted []string
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // a strategy engaging all along
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprint("i-", i)
			if code, fault := a.engage(t, "v-"+id, id); code == 200 {
				mu.Lock()
				accepted = append(accepted, id)
				mu.Unlock()
			} else if code != 503 || fault != "UNAVAILABLE" {
				t.Errorf("engage while NATS comes and goes: %d %s", code, fault)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	time.Sleep(200 * time.Millisecond)
	ns.stop()
	if code, fault := a.engage(t, "v-down", "down"); code != 503 || fault != "UNAVAILABLE" {
		t.Errorf("engage with NATS down: %d %s, want 503 UNAVAILABLE", code, fault)
	}
	if code, _ := a.cancel(t, "v-down", "down"); code != 503 {
		t.Errorf("cancel with NATS down: %d, want 503", code)
	}
	time.Sleep(300 * time.Millisecond)
	ns.start()
	eventually(t, "A reconnects", func() bool { return a.nc.Status() == nats.CONNECTED })
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if len(accepted) < 10 {
		t.Fatalf("only %d engages accepted: the test did not run long enough", len(accepted))
	}
	// Every 200 reaches B's pages.
	for _, id := range accepted {
		want(t, b.subscribe(t, "v-"+id).next(t), "engage", id)
	}
}

// TestPartitionedInstanceCatchesUp: B loses its connection while A accepts
// engages and cancels; when B reconnects it applies what it missed.
func TestPartitionedInstanceCatchesUp(t *testing.T) {
	ns := startNATS(t)
	px := newProxy(t, fmt.Sprintf("127.0.0.1:%d", ns.port))
	a := newInstance(t, ns.url(), nil)
	b := newInstance(t, px.url(), nil)
	a.engage(t, "v-0", "i-0")
	eventually(t, "B has i-0", func() bool { return b.f.Broker().Stats().Invitations == 1 })

	px.sever(true)
	eventually(t, "B is cut off", func() bool { return b.nc.Status() != nats.CONNECTED })
	if code, _ := b.engage(t, "v-x", "i-x"); code != 503 {
		t.Errorf("engage on the cut-off instance: %d, want 503", code)
	}
	for i := 1; i <= 5; i++ {
		if code, _ := a.engage(t, fmt.Sprint("v-", i), fmt.Sprint("i-", i)); code != 200 {
			t.Fatalf("engage on A: %d", code)
		}
	}
	a.cancel(t, "v-0", "i-0")
	a.cancel(t, "v-5", "i-5")
	time.Sleep(200 * time.Millisecond)
	px.sever(false)
	eventually(t, "B reconnects", func() bool { return b.nc.Status() == nats.CONNECTED })
	eventually(t, "B caught up on i-1…i-4", func() bool {
		st := b.f.Broker().Stats()
		return st.Invitations == 4
	})
	for i := 1; i <= 4; i++ {
		want(t, b.subscribe(t, fmt.Sprint("v-", i)).next(t), "engage", fmt.Sprint("i-", i))
	}
}

// TestGarbageOnTheStream: events that are not ours (broken JSON, unknown
// operations, engages already expired) published on the subjects are
// dropped, and the instances go on delivering.
func TestGarbageOnTheStream(t *testing.T) {
	ns := startNATS(t)
	a, b := newInstance(t, ns.url(), nil), newInstance(t, ns.url(), nil)
	page := b.subscribe(t, "v-1")
	for _, junk := range []string{
		`{`, `null`, `[]`, `{"op":"explode"}`, `{"op":"engage"}`, `{"op":"cancel"}`,
		`{"op":"engage","profile":{"interactionID":"old","visitID":"v-1","channels":["chat"]},"expiresAt":"2001-01-01T00:00:00Z"}`,
		`{"op":"engage","profile":"not an object","expiresAt":"2999-01-01T00:00:00Z"}`,
	} {
		if err := a.nc.Publish("gwe.events.engage", []byte(junk)); err != nil {
			t.Fatal(err)
		}
	}
	a.nc.Flush()
	if code, _ := a.engage(t, "v-1", "i-1"); code != 200 {
		t.Fatalf("engage after the junk: %d", code)
	}
	want(t, page.next(t), "engage", "i-1")
}
