package push_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

// The benchmarks of this file measure streams over loopback with the
// server in a child process (the test binary again, see serveForBenchmark),
// so that what they measure is the server side alone, beside a bare
// net/http streaming handler served the same way: the baseline. The
// machine allows 20,000 open files per process; each process holds one
// end of each stream.

// idleSubscribers is how many idle streams the benchmarks hold open.
const idleSubscribers = 5000

// Environment of a child server.
const (
	benchServerEnv    = "PUSH_BENCH_SERVER"    // Bare, Broker or Probe: TestMain serves when it is set
	benchTransportEnv = "PUSH_BENCH_TRANSPORT" // http (the default), tls (HTTP/1.1) or h2
	benchHeartbeatEnv = "PUSH_BENCH_HEARTBEAT" // a duration; empty or 0: none
)

// heartbeatOff is the broker's Heartbeat when the benchmarks turn
// heartbeats off: the broker has no switch, and a day is never reached.
const heartbeatOff = 24 * time.Hour

// serveForBenchmark serves, on a loopback port it prints, either the broker
// or a bare streaming handler (kind), over the transport the environment
// names, and
//
//	/memory   the process's heap and stack bytes in use after GC, its
//	          live objects' and stacks' bytes, and its RSS
//	/cpu      the process's CPU time so far, in nanoseconds
//	/gcs      the garbage collections it has completed
//
// It runs until its standard input closes. Kinds Probe and Storm are
// BenchmarkReconnectStorm's (see probeEngages and serveStorm).
func serveForBenchmark(kind string) {
	switch kind {
	case "Probe":
		probeEngages(os.Getenv(benchProbeEnv))
		return
	case "Storm":
		serveStorm()
		return
	}
	hb, _ := time.ParseDuration(os.Getenv(benchHeartbeatEnv))
	mux := http.NewServeMux()
	mux.HandleFunc("/memory", func(w http.ResponseWriter, r *http.Request) {
		inUse, objects := memoryInUse()
		fmt.Fprint(w, inUse, " ", objects, " ", rssBytes())
	})
	mux.HandleFunc("/cpu", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, int64(processCPU())) })
	mux.HandleFunc("/gcs", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, gcCycles()) })
	if kind == "Broker" {
		br := push.NewBroker(&push.Options{
			MaxSubscribers:      50_000,
			MaxStreamsPerClient: 50_000, // every benchmark stream comes from 127.0.0.1
			Heartbeat:           cmp.Or(hb, heartbeatOff),
			DefaultExpiry:       30 * time.Minute,
		})
		mux.Handle("/notification/", br)
	} else {
		mux.Handle("/notification/", bareHandler(hb))
	}
	srv := httptest.NewUnstartedServer(mux)
	switch os.Getenv(benchTransportEnv) {
	case "tls":
		srv.EnableHTTP2 = false
		srv.StartTLS()
	case "h2":
		srv.EnableHTTP2 = true
		srv.StartTLS()
	default:
		srv.Start()
	}
	fmt.Println(srv.Listener.Addr())
	io.Copy(io.Discard, os.Stdin) // the parent closing stdin ends us
	os.Exit(0)
}

// bareHandler is the baseline: a plain net/http streaming handler that
// sends what the broker sends first (a retry field), holds its stream open
// and, if hb is set, writes a heartbeat comment on a ticker of its own, as
// such handlers do.
func bareHandler(hb time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "retry: 2000\n\n")
		rc := http.NewResponseController(w)
		rc.Flush()
		var beat <-chan time.Time
		if hb > 0 {
			t := time.NewTicker(hb)
			defer t.Stop()
			beat = t.C
		}
		for {
			select {
			case <-r.Context().Done():
				return
			case <-beat:
				io.WriteString(w, ": heartbeat\n\n")
				if rc.Flush() != nil {
					return
				}
			}
		}
	})
}

// gcCycles is how many garbage collections the process has completed.
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// liveBytes is the process's heap and stack memory in use, after GC.
func liveBytes() uint64 {
	inUse, _ := memoryInUse()
	return inUse
}

// memoryInUse returns the process's heap and stack memory in use after GC
// (the spans, as the runtime holds them), and the bytes of its live
// objects and stacks: the difference is what the spans' free slots take.
func memoryInUse() (inUse, objects uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse, ms.HeapAlloc + ms.StackInuse
}

// rssBytes is the process's resident set, where /proc tells it, else 0.
func rssBytes() uint64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// child is a stream server in a child process.
type child struct {
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	addr      string
	transport string
	client    *http.Client // for its endpoints
}

func startChild(tb testing.TB, kind, transport string, hb time.Duration) *child {
	tb.Helper()
	c := serverChild(tb, exec.Command(os.Args[0], "-test.run=^$"), transport,
		benchServerEnv+"="+kind, benchTransportEnv+"="+transport, benchHeartbeatEnv+"="+hb.String())
	c.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	return c
}

// serverChild starts cmd, a stream server in a run of this test binary,
// as spawn does, and returns it once it has printed the address it
// serves.
func serverChild(tb testing.TB, cmd *exec.Cmd, transport string, env ...string) *child {
	tb.Helper()
	stdin, out := spawn(tb, cmd, env...)
	c := &child{cmd: cmd, stdin: stdin, transport: transport, client: &http.Client{}}
	addr, err := out.ReadString('\n')
	if err != nil {
		tb.Fatal(err)
	}
	c.addr = strings.TrimSpace(addr)
	return c
}

// spawn starts cmd, a run of this test binary, with env added to its
// environment and its stderr this process's, and returns its stdin and
// stdout. Closing its stdin asks it to end: tb's cleanup does so, and
// waits for it.
func spawn(tb testing.TB, cmd *exec.Cmd, env ...string) (io.WriteCloser, *bufio.Reader) {
	tb.Helper()
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { stdin.Close(); cmd.Wait() })
	return stdin, bufio.NewReader(stdout)
}

func (c *child) stop() {
	c.stdin.Close()
	c.cmd.Wait()
}

func (c *child) url(path string) string {
	if c.transport == "http" {
		return "http://" + c.addr + path
	}
	return "https://" + c.addr + path
}

// get returns the body of one of the child's endpoints.
func (c *child) get(tb testing.TB, path string) string {
	tb.Helper()
	resp, err := c.client.Get(c.url(path))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		tb.Fatalf("%s: %d %s", path, resp.StatusCode, body)
	}
	return string(body)
}

// memory returns the child's heap and stack bytes in use, its live
// objects' and stacks' bytes, and its RSS.
func (c *child) memory(tb testing.TB) (inUse, objects, rss uint64) {
	fmt.Sscan(c.get(tb, "/memory"), &inUse, &objects, &rss)
	return inUse, objects, rss
}

// gcs returns how many garbage collections the child has completed.
func (c *child) gcs(tb testing.TB) uint64 {
	n, _ := strconv.ParseUint(c.get(tb, "/gcs"), 10, 64)
	return n
}

func (c *child) cpu(tb testing.TB) time.Duration {
	n, _ := strconv.ParseInt(c.get(tb, "/cpu"), 10, 64)
	return time.Duration(n)
}

// sources hands out loopback source addresses, one per batch of
// connections, so that batches do not compete for ephemeral ports, nor
// with the TIME_WAIT of earlier ones, of this run or of another: each run
// starts at a random one.
var sources = func() *atomic.Uint32 {
	var n atomic.Uint32
	n.Store(uint32(time.Now().UnixNano()))
	return &n
}()

// dialer returns a dialer from a fresh loopback source address, where the
// system has them (Linux: all of 127.0.0.0/8), else from any.
func dialer() *net.Dialer {
	n := sources.Add(1)
	local := &net.TCPAddr{IP: net.IPv4(127, 1+byte(n>>16)%254, byte(n>>8), 1+byte(n)%254)}
	if l, err := net.ListenTCP("tcp", local); err != nil {
		return &net.Dialer{}
	} else {
		l.Close()
	}
	return &net.Dialer{LocalAddr: local}
}

// openStreams opens n idle event streams on c, over its transport, each
// read up to the end of its response head and left open and unread, as
// idle browsers leave them. Over h2, perConn streams share a connection
// (1: a connection each). It returns a func that closes them all.
func openStreams(tb testing.TB, c *child, n, perConn int, path func(i int) string) (closeAll func()) {
	tb.Helper()
	d := dialer()
	var closers []func()
	closeAll = func() {
		for _, f := range closers {
			f()
		}
		closers = nil
	}
	if c.transport == "h2" {
		var tr *http.Transport
		for i := range n {
			if i%perConn == 0 {
				tr = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true, DialContext: d.DialContext}
				closers = append(closers, tr.CloseIdleConnections)
			}
			resp, err := (&http.Client{Transport: tr}).Get(c.url(path(i)))
			if err != nil {
				closeAll()
				tb.Fatalf("subscribe %d: %v", i, err)
			}
			if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
				closeAll()
				tb.Fatalf("subscribe %d: %s %s", i, resp.Proto, resp.Status)
			}
			closers = append(closers, func() { resp.Body.Close() })
		}
		return closeAll
	}
	buf := make([]byte, 1024)
	for i := range n {
		conn, err := d.Dial("tcp", c.addr)
		if err != nil {
			closeAll()
			tb.Fatalf("dial %d: %v", i, err)
		}
		tcp := conn.(*net.TCPConn)
		closers = append(closers, func() { tcp.SetLinger(0); tcp.Close() }) // no TIME_WAIT
		if c.transport == "tls" {
			conn = tls.Client(conn, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n", path(i))
		head := buf[:0]
		for !bytes.Contains(head, []byte("\r\n\r\n")) {
			m, err := conn.Read(buf[len(head):cap(buf)])
			if err != nil {
				closeAll()
				tb.Fatalf("subscribe %d: %v %q", i, err, head)
			}
			head = buf[:len(head)+m]
		}
		if !bytes.HasPrefix(head, []byte("HTTP/1.1 200")) {
			closeAll()
			tb.Fatalf("subscribe %d: %q", i, head)
		}
	}
	return closeAll
}

func idlePath(i int) string { return fmt.Sprint("/notification/idle-", i) }

// BenchmarkIdleSubscriberMemory measures the server-side memory of one idle
// event stream over loopback, on the broker and on the bare handler, over
// plain HTTP/1.1, TLS HTTP/1.1 and HTTP/2 (a connection per stream, and 100
// streams per connection as a browser's tabs share one): the Go heap and
// stacks in use after GC (KiB/subscriber), the live objects and stacks
// alone, and the RSS. Run it with -benchtime=1x: the figures come from the
// setup, not the loop.
func BenchmarkIdleSubscriberMemory(b *testing.B) {
	for _, tr := range []struct {
		name, transport string
		n, perConn      int
	}{
		{"HTTP1", "http", idleSubscribers, 1},
		{"TLS", "tls", 3000, 1},
		{"HTTP2", "h2", 3000, 1},
		{"HTTP2-shared", "h2", 3000, 100},
	} {
		for _, kind := range []string{"Bare", "Broker"} {
			b.Run(tr.name+"/"+kind, func(b *testing.B) {
				c := startChild(b, kind, tr.transport, 15*time.Second)
				inUse0, objects0, rss0 := c.memory(b)
				closeAll := openStreams(b, c, tr.n, tr.perConn, idlePath)
				defer closeAll()
				time.Sleep(time.Second) // the streams' first writes settle
				inUse1, objects1, rss1 := c.memory(b)
				for b.Loop() {
				}
				perStream := func(before, after uint64) float64 {
					return float64(int64(after)-int64(before)) / float64(tr.n) / 1024
				}
				b.ReportMetric(perStream(inUse0, inUse1), "KiB/subscriber")
				b.ReportMetric(perStream(objects0, objects1), "objects-KiB/subscriber")
				if rss0 > 0 {
					b.ReportMetric(perStream(rss0, rss1), "RSS-KiB/subscriber")
				}
			})
		}
	}
}

// BenchmarkDelivery measures the time from Engage to the engage event read
// from a stream over loopback, with 5,000 idle streams open beside it.
func BenchmarkDelivery(b *testing.B) {
	br := push.NewBroker(&push.Options{MaxSubscribers: 2 * idleSubscribers, MaxStreamsPerClient: 2 * idleSubscribers, Heartbeat: time.Hour})
	defer br.Shutdown(context.Background())
	srv := httptest.NewServer(br)
	defer srv.Close()
	d := dialer()
	idle := make([]net.Conn, 0, idleSubscribers)
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	buf := make([]byte, 512)
	for i := range idleSubscribers {
		c, err := d.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			b.Fatalf("dial %d: %v", i, err)
		}
		idle = append(idle, c)
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n", idlePath(i))
		if _, err := c.Read(buf); err != nil || !strings.HasPrefix(string(buf), "HTTP/1.1 200") {
			b.Fatalf("subscribe %d: %v %q", i, err, buf)
		}
	}

	resp, err := srv.Client().Get(srv.URL + "/notification/active")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	readEvent := func(prefix string) {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			if strings.HasPrefix(line, prefix) {
				return
			}
		}
	}
	ctx := context.Background()
	p := &gateway.Profile{VisitID: "active", Channels: []string{"chat"}}
	c := &gateway.CancelData{VisitID: "active"}
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		p.InteractionID = fmt.Sprint("i-", i)
		start := time.Now()
		if err := br.Engage(ctx, p); err != nil {
			b.Fatal(err)
		}
		readEvent("id: " + p.InteractionID)
		lat = append(lat, time.Since(start))
		c.InteractionID = p.InteractionID
		br.Cancel(ctx, c) // strict mode: clear the way for the next one
		readEvent("event: cancel")
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// envInt is the integer the environment variable name holds, or def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkIdleCPU measures the CPU a server burns while its streams are
// idle, and how often its threads wake: 5,000 and 15,000 streams over
// loopback and 3,000 over TLS (HTTP/1.1), heartbeats every 15 s and off,
// on the broker and on the bare handler (a goroutine and, with
// heartbeats, a ticker per stream). Idle CPU is close to nothing and a
// round can catch the runtime's own work (a GC forced every two minutes,
// the scavenger) or a neighbour's noise, so each case runs
// PUSH_BENCH_ROUNDS rounds (default 3) of a fresh server of each kind,
// the kinds alternating (bare first, then the broker first, …), each
// measured over PUSH_BENCH_WINDOW seconds (default 60), and reports each
// round and, under median/, the median of the rounds. The figures are the
// server process's CPU as a percentage of one core, its threads' wakeups
// per second, and the garbage collections in the window; where /proc
// does not tell (not Linux), the CPU comes from the server's /cpu
// endpoint and the wakeups are not reported. Run it with -benchtime=1x.
func BenchmarkIdleCPU(b *testing.B) {
	window := time.Duration(envInt("PUSH_BENCH_WINDOW", 60)) * time.Second
	rounds := envInt("PUSH_BENCH_ROUNDS", 3)
	for _, tr := range []struct {
		name, transport string
		n               int
	}{{"streams=5000", "http", 5000}, {"streams=15000", "http", 15000}, {"streams=3000-tls", "tls", 3000}} {
		for _, hb := range []struct {
			name string
			d    time.Duration
		}{{"heartbeat=15s", 15 * time.Second}, {"heartbeat=off", 0}} {
			b.Run(tr.name+"/"+hb.name, func(b *testing.B) {
				got := map[string][]idleUsage{}
				for r := range rounds {
					kinds := []string{"Bare", "Broker"}
					if r%2 == 1 {
						slices.Reverse(kinds)
					}
					for _, kind := range kinds {
						b.Run(fmt.Sprintf("round=%d/%s", r+1, kind), func(b *testing.B) {
							u := measureIdle(b, kind, tr.transport, tr.n, hb.d, window)
							for b.Loop() {
							}
							u.report(b)
							got[kind] = append(got[kind], u)
						})
					}
				}
				for _, kind := range []string{"Bare", "Broker"} {
					b.Run("median/"+kind, func(b *testing.B) {
						for b.Loop() {
						}
						medianUsage(got[kind]).report(b)
					})
				}
			})
		}
	}
}

// idleUsage is what a server did over a window while its streams were
// idle.
type idleUsage struct {
	cpu     float64 // percent of one core
	wakeups float64 // per second; negative: not known
	gcs     float64 // garbage collections in the window
}

func (u idleUsage) report(b *testing.B) {
	b.ReportMetric(u.cpu, "%CPU")
	if u.wakeups >= 0 {
		b.ReportMetric(u.wakeups, "wakeups/s")
	}
	b.ReportMetric(u.gcs, "GCs")
}

// medianUsage returns the median of each figure of us.
func medianUsage(us []idleUsage) idleUsage {
	median := func(f func(idleUsage) float64) float64 {
		xs := make([]float64, len(us))
		for i, u := range us {
			xs[i] = f(u)
		}
		slices.Sort(xs)
		if len(xs) == 0 {
			return 0
		}
		if len(xs)%2 == 0 {
			return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
		}
		return xs[len(xs)/2]
	}
	return idleUsage{
		cpu:     median(func(u idleUsage) float64 { return u.cpu }),
		wakeups: median(func(u idleUsage) float64 { return u.wakeups }),
		gcs:     median(func(u idleUsage) float64 { return u.gcs }),
	}
}

// measureIdle starts a server of kind, opens n idle streams on it, lets
// the opening settle and measures the server over window.
func measureIdle(b *testing.B, kind, transport string, n int, hb, window time.Duration) idleUsage {
	c := startChild(b, kind, transport, hb)
	defer c.stop()
	closeAll := openStreams(b, c, n, 1, idlePath)
	defer closeAll()
	time.Sleep(5 * time.Second) // past the opening's garbage collections
	gc0 := c.gcs(b)
	time.Sleep(100 * time.Millisecond) // past the request's own work
	cpu0, sleeps0, ok := procUsage(c.cmd.Process.Pid)
	if !ok {
		cpu0 = c.cpu(b)
	}
	time.Sleep(window)
	cpu1, sleeps1, _ := procUsage(c.cmd.Process.Pid)
	u := idleUsage{wakeups: -1}
	if ok {
		u.wakeups = float64(sleeps1-sleeps0) / window.Seconds()
	} else {
		cpu1 = c.cpu(b)
	}
	u.cpu = 100 * (cpu1 - cpu0).Seconds() / window.Seconds()
	u.gcs = float64(c.gcs(b) - gc0)
	return u
}
