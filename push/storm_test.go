package push_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

// BenchmarkReconnectStorm's environment.
const (
	// stormRetryEnv is the Storm child's retry policy: "fixed" (every
	// stream asks for Retry, and Shutdown sends nothing new: the code
	// before RetryJitter and ShutdownRate), "" (the defaults) or a
	// ShutdownRate.
	stormRetryEnv = "PUSH_BENCH_STORM_RETRY"
	// stormPinEnv, when set, pins the server to CPU 1, and this process
	// and the prober to CPU 0, the prober at a real-time priority: see
	// BenchmarkReconnectStorm.
	stormPinEnv = "PUSH_BENCH_PIN"
	// benchProbeEnv names the broker a prober engages on.
	benchProbeEnv = "PUSH_BENCH_PROBE"
)

// probeSource is the prober's loopback source address, which dialer
// never hands out: its connection shares no address with the browsers'.
var probeSource = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}

// BenchmarkReconnectStorm deploys a new broker under PUSH_BENCH_STORM
// open streams (default 15,000), each of a visit with a live invitation,
// and measures how long it takes all of them to be open again with their
// invitation, and the latency of engage requests meanwhile.
//
// The server, in a child process (see serveStorm), holds the streams of
// an old broker; a new one, with the same invitations, takes over the
// routes, and the old one's Shutdown closes its streams. The browsers,
// goroutines of this process each from one of several loopback source
// addresses, behave as EventSource does: each waits the last retry its
// stream sent, then reconnects (without Last-Event-ID, as a reloaded page
// would, so that the invitation is sent again) and reads until its
// invitation. Meanwhile a process of its own (see probeEngages), from a
// source address of its own, sends an engage request for a new visit
// every 2 ms over a connection opened before the storm, as a strategy
// server keeps one, from the Shutdown until the last stream has its
// invitation.
//
// It reports, from the start of the Shutdown, the time until half, 99 %
// and all of the streams had their invitation again (s-…-reopened); the
// time a browser waited for its stream and invitation once it reconnected
// (setup-…); the engage latency the prober saw (engage-…) and the
// handler's own (handler-…); and, in the server, the time its goroutines
// waited to run (sched-…: runtime/metrics /sched/latencies), its garbage
// collections and their longest stop-the-world pause, and the CPU the
// server and this process used. The subbenchmarks: retry=fixed, every
// browser back after exactly 2 s as before RetryJitter and ShutdownRate;
// retry=default, the defaults; and rate=N for each N in
// PUSH_BENCH_STORM_RATES (a comma-separated list of ShutdownRates).
//
// With PUSH_BENCH_PIN set, the server runs on CPU 1 alone (so GOMAXPROCS
// 1), and the browsers and the prober on CPU 0, the prober at real-time
// priority (chrt -f): a model of a one-core server whose clients are
// other machines, on a two-core host. It needs taskset and chrt, and root
// for chrt. Run it with -benchtime=1x.
func BenchmarkReconnectStorm(b *testing.B) {
	n := envInt("PUSH_BENCH_STORM", 15000)
	policies := []string{"fixed", "default"}
	for rate := range strings.SplitSeq(os.Getenv("PUSH_BENCH_STORM_RATES"), ",") {
		if rate != "" {
			policies = append(policies, rate)
		}
	}
	for _, policy := range policies {
		name := "retry=" + policy
		if _, err := strconv.Atoi(policy); err == nil {
			name = "rate=" + policy
		}
		b.Run(name, func(b *testing.B) { reconnectStorm(b, n, policy) })
	}
}

func reconnectStorm(b *testing.B, n int, policy string) {
	pin := os.Getenv(stormPinEnv) != ""
	if pin {
		pinSelf(b, "0")
	}
	c := startStormChild(b, policy, pin)
	c.get(b, fmt.Sprint("/seed?n=", n))

	// Several source addresses, so that no source runs out of ports.
	const perSource = 1000
	dialers := func() []*net.Dialer {
		ds := make([]*net.Dialer, (n+perSource-1)/perSource)
		for i := range ds {
			ds[i] = dialer()
		}
		return ds
	}
	streams := make([]*stormStream, n)
	defer func() {
		for _, s := range streams {
			if s != nil {
				s.conn.(*net.TCPConn).SetLinger(0)
				s.conn.Close()
			}
		}
	}()
	ds := dialers()
	for i := range n {
		s, err := openStormStream(ds[i/perSource], c.addr, i)
		if err != nil {
			b.Fatal(err)
		}
		streams[i] = s
	}
	if got := c.get(b, "/stats"); got != strconv.Itoa(n) {
		b.Fatalf("%s streams open, want %d", got, n)
	}

	c.get(b, fmt.Sprint("/prepare?n=", n))
	probe := startProbe(b, c.addr, pin)
	c.get(b, "/engagetimes") // from now on
	c.get(b, "/sched")
	cpu0 := processCPU()

	ds = dialers() // fresh ports: the server's side of the old ones is in TIME_WAIT
	reopened := make([]time.Duration, n)
	setup := make([]time.Duration, n)
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for i, s := range streams {
		wg.Go(func() {
			retry := s.waitClose()
			s.conn.Close()
			time.Sleep(retry) // as EventSource does
			again := time.Now()
			s2, err := openStormStream(ds[i/perSource], c.addr, i)
			reopened[i], setup[i] = time.Since(start), time.Since(again)
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
				return
			}
			streams[i] = s2
		})
	}
	shutdown := c.get(b, "/deploy")
	wg.Wait()
	clientCPU := processCPU() - cpu0
	var client [5]float64 // p50, p99 and max, in ms; engages, failures
	fmt.Sscan(probe.finish(b), &client[0], &client[1], &client[2], &client[3], &client[4])
	var handler [3]float64 // the handler's p50, p99 and max, in ms
	fmt.Sscan(c.get(b, "/engagetimes"), &handler[0], &handler[1], &handler[2])
	var sched [5]float64 // p99 and max wait to run, ms; GCs; longest GC pause, ms; CPU, s
	fmt.Sscan(c.get(b, "/sched"), &sched[0], &sched[1], &sched[2], &sched[3], &sched[4])
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d streams not re-established, the first: %v", f, firstErr.Load())
	}
	for b.Loop() {
	}
	slices.Sort(reopened)
	slices.Sort(setup)
	b.ReportMetric(reopened[n/2].Seconds(), "s-half-reopened")
	b.ReportMetric(reopened[n*99/100].Seconds(), "s-99%-reopened")
	b.ReportMetric(reopened[n-1].Seconds(), "s-all-reopened")
	b.ReportMetric(ms(setup[n*99/100]), "setup-p99-ms")
	b.ReportMetric(ms(setup[n-1]), "setup-max-ms")
	b.ReportMetric(client[0], "engage-p50-ms")
	b.ReportMetric(client[1], "engage-p99-ms")
	b.ReportMetric(client[2], "engage-max-ms")
	b.ReportMetric(client[3], "engages")
	b.ReportMetric(client[4], "engages-failed")
	b.ReportMetric(handler[1], "handler-p99-ms")
	b.ReportMetric(handler[2], "handler-max-ms")
	b.ReportMetric(sched[0], "sched-p99-ms")
	b.ReportMetric(sched[1], "sched-max-ms")
	b.ReportMetric(sched[2], "GCs")
	b.ReportMetric(sched[3], "gc-pause-max-ms")
	b.ReportMetric(sched[4], "server-cpu-s")
	b.ReportMetric(clientCPU.Seconds(), "client-cpu-s")
	shutdownMS, _ := strconv.ParseFloat(shutdown, 64)
	b.ReportMetric(shutdownMS, "shutdown-ms")
}

// stormStream is a browser's stream in BenchmarkReconnectStorm.
type stormStream struct {
	conn  net.Conn
	r     *bufio.Reader
	retry time.Duration // the last retry field read
}

// openStormStream opens visit i's stream from d and reads it until its
// invitation.
func openStormStream(d *net.Dialer, addr string, i int) (*stormStream, error) {
	var conn net.Conn
	var err error
	for range 20 { // EventSource retries a refused connection too
		if conn, err = d.Dial("tcp", addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	s := &stormStream{conn: conn, r: bufio.NewReaderSize(conn, 512)}
	fmt.Fprintf(conn, "GET /notification/storm-%d HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n", i)
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	want := fmt.Sprintf("id: i-%d\n", i)
	for first := true; ; first = false {
		line, err := s.r.ReadString('\n')
		if err != nil || first && !strings.HasPrefix(line, "HTTP/1.1 200") {
			conn.Close()
			return nil, fmt.Errorf("stream %d: %q %v", i, line, err)
		}
		s.read(line)
		if line == want {
			break
		}
	}
	conn.SetReadDeadline(time.Time{})
	return s, nil
}

// read notes a retry field.
func (s *stormStream) read(line string) {
	if ms, ok := strings.CutPrefix(line, "retry: "); ok {
		if n, err := strconv.Atoi(strings.TrimSpace(ms)); err == nil {
			s.retry = time.Duration(n) * time.Millisecond
		}
	}
}

// waitClose reads s until the server closes it, and returns the retry it
// asked for last.
func (s *stormStream) waitClose() time.Duration {
	s.conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return s.retry
		}
		s.read(line)
	}
}

// startStormChild starts serveStorm in a child process, pinned to CPU 1 if
// pin is set.
func startStormChild(tb testing.TB, policy string, pin bool) *child {
	tb.Helper()
	return serverChild(tb, pinnedCommand(pin, "1", false, os.Args[0], "-test.run=^$"), "http",
		benchServerEnv+"=Storm", stormRetryEnv+"="+policy)
}

// pinnedCommand returns the command name args, run on the CPUs cpus
// (taskset) and, if realtime, at a real-time priority (chrt), if pin.
func pinnedCommand(pin bool, cpus string, realtime bool, name string, args ...string) *exec.Cmd {
	if !pin {
		return exec.Command(name, args...)
	}
	pre := []string{"-c", cpus}
	if realtime {
		pre = append(pre, "chrt", "-f", "50")
	}
	return exec.Command("taskset", append(append(pre, name), args...)...)
}

// pinSelf runs this process on the CPUs cpus until the benchmark ends.
func pinSelf(tb testing.TB, cpus string) {
	tb.Helper()
	pid := strconv.Itoa(os.Getpid())
	if out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, pid).CombinedOutput(); err != nil {
		tb.Fatalf("taskset: %v %s", err, out)
	}
	tb.Cleanup(func() { exec.Command("taskset", "-a", "-p", "-c", "0-1023", pid).Run() })
}

// serveStorm is BenchmarkReconnectStorm's server: a broker, with the
// retry policy PUSH_BENCH_STORM_RETRY names, behind the gateway's engage
// endpoint, on a loopback port it prints, and
//
//	/seed?n=N     engages an invitation for visits storm-0 to storm-N-1
//	/prepare?n=N  makes a new broker, seeded so: the next deploy's
//	/deploy       a deploy: the new broker takes over the routes, as a new
//	              process would, and the old one shuts down; it answers
//	              how long the Shutdown took, in ms
//	/stats        the open streams
//	/engagetimes  the engage handler's times since the last call (see
//	              handlerTimes)
//	/sched        since the last call: the p99 and the maximum of the
//	              time goroutines waited to run, in ms; the garbage
//	              collections; the longest GC pause, in ms; the CPU used, s
//
// It runs until its standard input closes.
func serveStorm() {
	opts := &push.Options{
		MaxSubscribers:      50_000,
		MaxStreamsPerClient: 50_000,
		Heartbeat:           15 * time.Second,
		DefaultExpiry:       30 * time.Minute,
	}
	switch policy := os.Getenv(stormRetryEnv); policy {
	case "fixed":
		opts.RetryJitter, opts.ShutdownRate = -1, -1
	case "default", "":
	default:
		opts.ShutdownRate, _ = strconv.Atoi(policy)
	}
	type current struct {
		br     *push.Broker
		engage http.Handler
	}
	var cur atomic.Pointer[current]
	newBroker := func() *current {
		br := push.NewBroker(opts)
		return &current{br, gateway.NewHandler(br, nil)}
	}
	cur.Store(newBroker())
	seed := func(br *push.Broker, n int) error {
		for i := range n {
			p := &gateway.Profile{InteractionID: fmt.Sprint("i-", i), VisitID: fmt.Sprint("storm-", i), Channels: []string{"chat"}}
			if err := br.Engage(context.Background(), p); err != nil {
				return err
			}
		}
		return nil
	}
	count := func(r *http.Request) int { n, _ := strconv.Atoi(r.URL.Query().Get("n")); return n }

	mux := http.NewServeMux()
	mux.HandleFunc("/notification/", func(w http.ResponseWriter, r *http.Request) { cur.Load().br.ServeHTTP(w, r) })
	engageTimes := &handlerTimes{}
	mux.Handle("/server/data/gateway/", engageTimes.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur.Load().engage.ServeHTTP(w, r)
	})))
	mux.Handle("/engagetimes", engageTimes)
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, cur.Load().br.Stats().Subscribers) })
	mux.HandleFunc("/seed", func(w http.ResponseWriter, r *http.Request) {
		if err := seed(cur.Load().br, count(r)); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	var next atomic.Pointer[current]
	mux.HandleFunc("/prepare", func(w http.ResponseWriter, r *http.Request) {
		br := newBroker()
		if err := seed(br.br, count(r)); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		next.Store(br)
	})
	mux.HandleFunc("/deploy", func(w http.ResponseWriter, r *http.Request) {
		old := cur.Swap(next.Swap(nil))
		start := time.Now()
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		if err := old.br.Shutdown(ctx); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, ms(time.Since(start)))
	})
	var last schedSnapshot
	last.read()
	mux.HandleFunc("/sched", func(w http.ResponseWriter, r *http.Request) {
		var now schedSnapshot
		now.read()
		fmt.Fprint(w, now.since(&last))
		last = now
	})
	srv := httptest.NewServer(mux)
	fmt.Println(srv.Listener.Addr())
	io.Copy(io.Discard, os.Stdin) // the parent closing stdin ends us
	os.Exit(0)
}

// schedSnapshot is what serveStorm's /sched compares: runtime/metrics'
// scheduling latencies, GC pauses and GC count, and the process's CPU.
type schedSnapshot struct {
	samples [3]metrics.Sample
	cpu     time.Duration
}

func (s *schedSnapshot) read() {
	s.samples[0].Name = "/sched/latencies:seconds"
	s.samples[1].Name = "/sched/pauses/total/gc:seconds"
	s.samples[2].Name = "/gc/cycles/total:gc-cycles"
	metrics.Read(s.samples[:])
	s.cpu = processCPU()
}

// since formats what changed since old (see serveStorm's /sched).
func (s *schedSnapshot) since(old *schedSnapshot) string {
	latP99, latMax := histogramSince(s.samples[0].Value.Float64Histogram(), old.samples[0].Value.Float64Histogram(), 0.99)
	_, pauseMax := histogramSince(s.samples[1].Value.Float64Histogram(), old.samples[1].Value.Float64Histogram(), 1)
	gcs := s.samples[2].Value.Uint64() - old.samples[2].Value.Uint64()
	return fmt.Sprint(latP99*1000, " ", latMax*1000, " ", gcs, " ", pauseMax*1000, " ", (s.cpu - old.cpu).Seconds())
}

// histogramSince returns the q quantile and the maximum of the values
// counted in h since old, as their buckets' upper bounds (the lower bound
// for the last, unbounded, bucket).
func histogramSince(h, old *metrics.Float64Histogram, q float64) (quantile, maximum float64) {
	counts := slices.Clone(h.Counts)
	var total uint64
	for i := range counts {
		counts[i] -= old.Counts[i]
		total += counts[i]
	}
	bound := func(i int) float64 {
		if math.IsInf(h.Buckets[i+1], 1) {
			return h.Buckets[i]
		}
		return h.Buckets[i+1]
	}
	var seen uint64
	quantile = -1
	for i, c := range counts {
		if c == 0 {
			continue
		}
		seen += c
		if quantile < 0 && float64(seen) >= q*float64(total) {
			quantile = bound(i)
		}
		maximum = bound(i)
	}
	return max(quantile, 0), maximum
}

// prober is a child process that sends engage requests (see
// probeEngages).
type prober struct {
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startProbe starts a prober of the broker at addr, on CPU 0 at a
// real-time priority if pin is set, and waits until its connection is
// open.
func startProbe(tb testing.TB, addr string, pin bool) *prober {
	tb.Helper()
	stdin, out := spawn(tb, pinnedCommand(pin, "0", true, os.Args[0], "-test.run=^$"), benchServerEnv+"=Probe", benchProbeEnv+"="+addr)
	p := &prober{stdin: stdin, out: out}
	if line, err := p.out.ReadString('\n'); line != "ready\n" {
		tb.Fatalf("prober: %q %v", line, err)
	}
	return p
}

// finish stops the prober and returns its summary.
func (p *prober) finish(tb testing.TB) string {
	p.stdin.Close()
	line, err := p.out.ReadString('\n')
	if err != nil {
		tb.Fatalf("prober: %v", err)
	}
	return line
}

// probeEngages sends an engage request for a new visit to the broker at
// addr every 2 ms, over one connection from probeSource, as a strategy
// server keeps one (a new connection would queue behind the browsers' in
// the listen backlog), until its standard input closes. It prints "ready"
// once its connection is open, and at the end the p50, p99 and maximum
// latency in ms, the count of engages and of failures.
func probeEngages(addr string) {
	conn, err := (&net.Dialer{LocalAddr: probeSource}).Dial("tcp", addr)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	r := bufio.NewReader(conn)
	engage := func(i int) (time.Duration, error) {
		body := fmt.Sprintf(`{"interactionID":"p-%d","visitID":"probe-%d","channels":["chat"]}`, i, i)
		req, _ := http.NewRequest("POST", "http://"+addr+"/server/data/gateway/engage", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		if err := req.Write(conn); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(r, req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("engage: %s", resp.Status)
		}
		return time.Since(start), nil
	}
	if _, err := engage(-1); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("ready")
	stop := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(stop) }()
	var lat []time.Duration
	failed := 0
	t := time.NewTicker(2 * time.Millisecond)
	for i := 0; ; i++ {
		select {
		case <-stop:
			slices.Sort(lat)
			if len(lat) == 0 {
				lat = []time.Duration{0}
			}
			fmt.Println(ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), ms(lat[len(lat)-1]), len(lat), failed)
			os.Exit(0)
		case <-t.C:
		}
		if d, err := engage(i); err != nil {
			failed++
		} else {
			lat = append(lat, d)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// handlerTimes records how long a handler takes.
type handlerTimes struct {
	mu    sync.Mutex
	times []time.Duration
}

func (h *handlerTimes) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		d := time.Since(start)
		h.mu.Lock()
		h.times = append(h.times, d)
		h.mu.Unlock()
	})
}

// ServeHTTP answers the p50, p99 and maximum of the times recorded, in
// milliseconds, and forgets them.
func (h *handlerTimes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	t := h.times
	h.times = nil
	h.mu.Unlock()
	if len(t) == 0 {
		fmt.Fprint(w, "0 0 0")
		return
	}
	slices.Sort(t)
	fmt.Fprint(w, ms(t[len(t)/2]), " ", ms(t[len(t)*99/100]), " ", ms(t[len(t)-1]))
}
