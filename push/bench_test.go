package push_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

// idleSubscribers is how many idle streams the benchmarks hold open (the
// machine allows 20,000 open files per process; each stream takes two).
const idleSubscribers = 5000

// openIdle opens n event streams on srv, reads each one's response head,
// and leaves them open and unread, as idle browsers leave them.
func openIdle(b *testing.B, addr string, n int, path func(i int) string) []net.Conn {
	b.Helper()
	conns := make([]net.Conn, 0, n)
	buf := make([]byte, 512)
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatalf("dial %d: %v", i, err)
		}
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n", path(i))
		if _, err := c.Read(buf); err != nil || !strings.HasPrefix(string(buf), "HTTP/1.1 200") {
			b.Fatalf("subscribe %d: %v %q", i, err, buf)
		}
		conns = append(conns, c)
	}
	return conns
}

// liveBytes is the process's heap and stack memory in use, after GC.
func liveBytes() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// benchServerEnv makes the test binary a stream server: TestMain calls
// serveForBenchmark when it is set.
const benchServerEnv = "PUSH_BENCH_SERVER"

// serveForBenchmark serves, on a loopback port it prints, either the broker
// or a bare streaming handler (kind), and /memory, which answers the
// process's live heap and stack bytes. It runs in a child process so that
// what it measures is the server side alone.
func serveForBenchmark(kind string) {
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	if kind == "Broker" {
		h = push.NewBroker(&push.Options{MaxSubscribers: 2 * idleSubscribers, MaxStreamsPerClient: 2 * idleSubscribers})
	}
	mux := http.NewServeMux()
	mux.Handle("/notification/", h)
	mux.HandleFunc("/memory", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, liveBytes()) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Println(ln.Addr())
	go func() { io.Copy(io.Discard, os.Stdin); os.Exit(0) }() // the parent closing stdin ends us
	http.Serve(ln, mux)
}

// BenchmarkIdleSubscriberMemory measures the server-side memory of one idle
// event stream over loopback: on the broker, and on a bare net/http handler
// that only holds its stream open, the baseline. The server runs in a child
// process, so the client ends of the connections are not counted. Run it
// with -benchtime=1x: the figure comes from the setup, not the loop.
func BenchmarkIdleSubscriberMemory(b *testing.B) {
	for _, kind := range []string{"Bare", "Broker"} {
		b.Run(kind, func(b *testing.B) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), benchServerEnv+"="+kind)
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() { stdin.Close(); cmd.Wait() }()
			addr, err := bufio.NewReader(stdout).ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			addr = strings.TrimSpace(addr)
			memory := func() uint64 {
				resp, err := http.Get("http://" + addr + "/memory")
				if err != nil {
					b.Fatal(err)
				}
				defer resp.Body.Close()
				var n uint64
				fmt.Fscan(resp.Body, &n)
				return n
			}
			before := memory()
			conns := openIdle(b, addr, idleSubscribers, func(i int) string { return fmt.Sprint("/notification/idle-", i) })
			after := memory()
			for b.Loop() {
			}
			b.ReportMetric(float64(after-before)/idleSubscribers/1024, "KiB/subscriber")
			for _, c := range conns {
				c.Close()
			}
		})
	}
}

// BenchmarkDelivery measures the time from Engage to the engage event read
// from a stream over loopback, with 5,000 idle streams open beside it.
func BenchmarkDelivery(b *testing.B) {
	br := push.NewBroker(&push.Options{MaxSubscribers: 2 * idleSubscribers, MaxStreamsPerClient: 2 * idleSubscribers, Heartbeat: time.Hour})
	defer br.Shutdown(context.Background())
	srv := httptest.NewServer(br)
	defer srv.Close()
	idle := openIdle(b, srv.Listener.Addr().String(), idleSubscribers, func(i int) string { return fmt.Sprint("/notification/idle-", i) })
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()

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
	b.ReportMetric(float64(lat[len(lat)/2])/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100])/1e3, "p99-µs")
}
