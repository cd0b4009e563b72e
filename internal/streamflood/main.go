// Command streamflood replays finding 2 of the hardening review (issue 10)
// on loopback: one address asks for 15,000 event streams as fast as it
// can, keeping every refused connection the server leaves open, while
// engage requests and real visitors from other addresses go on; then sixty
// addresses together ask for more streams than the broker allows.
//
// Three processes: the server (a push.Broker with its defaults and the
// engage handler on one mux, behind an http.Server with no timeouts, with
// a limit of -nofile open files: 20,000 as in the review), a measurer that
// posts an engage every 2 ms or so from each of two senders, each over a
// new connection, and this driver, which floods. For each phase it
// reports the streams accepted and refused, how many refused connections
// the server closed, the most files the server held open, its failures to
// accept, what the visitors got, and the engage latencies meanwhile.
// scripts/stream-flood.sh runs it.
//
// Linux only: it binds 127.0.0.2 and more as source addresses and reads
// the server's open files in /proc.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

func main() {
	serveAddr := flag.String("serve", "", "serve on this address (the server's child process)")
	engageAddr := flag.String("engage", "", "send engages to the server at this address until stdin closes (the measuring child process)")
	nofile := flag.Uint64("nofile", 20000, "the server's limit on open files")
	streams := flag.Int("streams", 15000, "stream requests in each phase")
	conc := flag.Int("conc", 200, "stream requests in flight at once")
	visitors := flag.Int("visitors", 400, "real visitors in each phase")
	timeout := flag.Duration("timeout", 90*time.Second, "the longest the whole run may take")
	flag.Parse()
	switch {
	case *serveAddr != "":
		serve(*serveAddr, *nofile)
		return
	case *engageAddr != "":
		measureEngage(*engageAddr)
		return
	}
	if err := run(*timeout, *nofile, *streams, *conc, *visitors); err != nil {
		log.Fatal(err)
	}
}

func run(timeout time.Duration, nofile uint64, streams, conc, visitors int) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	srv, err := startServer(ctx, nofile)
	if err != nil {
		return err
	}
	defer srv.stop()
	fmt.Printf("server: pid %d, %s, limit of %d open files, push.Options{} defaults, no server timeouts\n", srv.cmd.Process.Pid, srv.addr, nofile)
	quiet, err := startMeasure(ctx, srv.addr, "with no flood")
	if err != nil {
		return err
	}
	time.Sleep(3 * time.Second)
	summary, err := quiet.stop()
	if err != nil {
		return err
	}
	fmt.Printf("engage with no flood, 3 s, a new connection each: %s\n", summary)
	phases := []phase{
		{name: "one address", sources: addrs("127.0.0.", 2, 1), visitorsFrom: addrs("127.0.0.", 10, 8)},
		{name: "sixty addresses", sources: addrs("127.0.1.", 1, 60), visitorsFrom: addrs("127.0.2.", 1, 8)},
	}
	for _, p := range phases {
		if err := p.run(ctx, srv, streams, conc, visitors); err != nil {
			return fmt.Errorf("phase %s: %w", p.name, err)
		}
	}
	return nil
}

// addrs returns n addresses prefix+first, prefix+first+1, …
func addrs(prefix string, first, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprint(prefix, first+i))
	}
	return out
}

// serve is the child process: the broker and the engage handler.
func serve(addr string, nofile uint64) {
	lim := syscall.Rlimit{Cur: nofile, Max: nofile}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Fatalf("setrlimit: %v", err)
	}
	b := push.NewBroker(nil)
	mux := http.NewServeMux()
	mux.Handle("/notification/", b)
	mux.Handle("/server/data/gateway/", gateway.NewHandler(b, nil))
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, b.Stats().Subscribers)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	// The review's server: net/http's defaults, no timeouts of any kind.
	// Its errors ("accept4: too many open files") go to stderr, which the
	// driver counts.
	hs := &http.Server{Handler: mux}
	fmt.Println("ready", ln.Addr())
	log.Fatal(hs.Serve(ln))
}

// countWriter counts the server's "too many open files" errors.
type countWriter struct{ n atomic.Int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n.Add(int64(strings.Count(string(p), "too many open files")))
	return len(p), nil
}

type server struct {
	cmd    *exec.Cmd
	addr   string
	http   *http.Client // engage and /stats, from 127.0.0.1
	stderr *countWriter
}

func startServer(ctx context.Context, nofile uint64) (*server, error) {
	cmd := exec.CommandContext(ctx, os.Args[0], "-serve", "127.0.0.1:0", "-nofile", fmt.Sprint(nofile))
	stderr := new(countWriter)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if err != nil || !ok {
		cmd.Process.Kill()
		return nil, fmt.Errorf("the server did not start: %q %v", line, err)
	}
	return &server{cmd: cmd, addr: addr, stderr: stderr, http: &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16},
	}}, nil
}

func (s *server) stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// streams returns the server's open streams as a number, or why it could
// not tell.
func (s *server) streams() string {
	resp, err := s.http.Get("http://" + s.addr + "/stats")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

// openFiles counts the server's open files.
func (s *server) openFiles() int {
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.cmd.Process.Pid))
	return len(fds)
}

// engage posts one engage and returns how long it took.
func (s *server) engage(visitID, interactionID string) (time.Duration, error) {
	body := url.Values{"ixnProfile": {fmt.Sprintf(`{"interactionID":%q,"visitID":%q,"channels":["chat"],"expiresIn":5}`, interactionID, visitID)}}
	start := time.Now()
	resp, err := s.http.PostForm("http://"+s.addr+"/server/data/gateway/engage", body)
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

// stream is a stream request sent over a connection of its own.
type stream struct {
	conn   net.Conn
	br     *bufio.Reader
	status int
	closed bool // refused, and the server closed the connection
}

// open asks for visitID's stream from the address from. With watch set,
// a refused stream's connection is kept, as an attacker keeps it, unless
// the server closes it within half a second; else the caller closes it.
func (s *server) open(from, visitID string, watch bool) (*stream, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", s.addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	req, _ := http.NewRequest("GET", "http://"+s.addr+"/notification/"+visitID, nil)
	st := &stream{conn: c, br: bufio.NewReader(c)}
	if err := req.Write(c); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(st.br, req)
	if err != nil {
		c.Close()
		return nil, err
	}
	st.status = resp.StatusCode
	if st.status != 200 && watch {
		io.Copy(io.Discard, resp.Body)
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, err := st.br.ReadByte() // does the server close it?
		if st.closed = err != nil && !errors.Is(err, os.ErrDeadlineExceeded); st.closed {
			c.Close()
		}
		return st, nil
	}
	c.SetDeadline(time.Time{})
	return st, nil
}

// waitFor reads st until a line that starts with prefix.
func (st *stream) waitFor(prefix string) bool {
	st.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		line, err := st.br.ReadString('\n')
		if err != nil {
			return false
		}
		if strings.HasPrefix(line, prefix) {
			return true
		}
	}
}

type phase struct {
	name         string
	sources      []string // the flood's addresses
	visitorsFrom []string
}

// latencies collects engage latencies and failures from several
// goroutines.
type latencies struct {
	mu     sync.Mutex
	d      []time.Duration
	failed int
}

func (l *latencies) add(d time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.failed++
		return
	}
	l.d = append(l.d, d)
}

func (l *latencies) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return fmt.Sprintf("none answered 200, %d failed", l.failed)
	}
	slices.Sort(l.d)
	q := func(p int) string { return fmt.Sprintf("%.2f ms", float64(l.d[(len(l.d)-1)*p/100])/1e6) }
	return fmt.Sprintf("%d answered 200, %d failed; p50 %s, p99 %s, max %s", len(l.d), l.failed, q(50), q(99), q(100))
}

func (p phase) run(ctx context.Context, srv *server, n, conc, visitors int) error {
	fmt.Printf("\nphase %q: %d stream requests from %d address(es), %d at a time\n", p.name, n, len(p.sources), conc)
	flooding, stopFlood := context.WithCancel(ctx)
	defer stopFlood()
	var bg sync.WaitGroup

	// The engage API, measured all along by a process of its own, so
	// that the flood's goroutines do not delay the measure.
	during, err := startMeasure(ctx, srv.addr, p.name)
	if err != nil {
		return err
	}
	maxFiles := 0
	bg.Go(func() {
		for flooding.Err() == nil {
			maxFiles = max(maxFiles, srv.openFiles())
			time.Sleep(50 * time.Millisecond)
		}
	})

	// The flood: every accepted stream is held open.
	var held []*stream
	var mu sync.Mutex
	var accepted, refused, closedBySrv, failed atomic.Int64
	next := atomic.Int64{}
	start := time.Now()
	var flood sync.WaitGroup
	for range conc {
		flood.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				st, err := srv.open(p.sources[int(i)%len(p.sources)], fmt.Sprint("flood-", i), true)
				switch {
				case err != nil:
					failed.Add(1)
				case st.status == 200:
					accepted.Add(1)
					mu.Lock()
					held = append(held, st)
					mu.Unlock()
				default:
					refused.Add(1)
					if st.closed {
						closedBySrv.Add(1)
					} else {
						mu.Lock()
						held = append(held, st)
						mu.Unlock()
					}
				}
			}
		})
	}
	flood.Wait()
	took := time.Since(start)
	fmt.Printf("  flood: %d accepted, %d refused (503), %d of them closed by the server (the others are held), %d failed, in %.1f s; streams open: %s\n",
		accepted.Load(), refused.Load(), closedBySrv.Load(), failed.Load(), took.Seconds(), srv.streams())

	// Real visitors, from addresses of their own, while the flood holds
	// its streams: each subscribes, is engaged, and reads its invitation.
	// They stop trying after 20 s.
	var tried, subscribed, delivered int
	for deadline := time.Now().Add(20 * time.Second); tried < visitors && time.Now().Before(deadline) && ctx.Err() == nil; tried++ {
		visit := fmt.Sprintf("visitor-%s-%d", strings.ReplaceAll(p.name, " ", "-"), tried)
		st, err := srv.open(p.visitorsFrom[tried%len(p.visitorsFrom)], visit, false)
		if err != nil {
			continue
		}
		if st.status == 200 {
			subscribed++
			if _, err = srv.engage(visit, "i-1"); err == nil && st.waitFor("id: i-1") {
				delivered++
			}
		}
		st.conn.Close()
	}
	stopFlood()
	bg.Wait()
	engaged, err := during.stop()
	if err != nil {
		engaged = "the measure failed: " + err.Error()
	}
	fmt.Printf("  visitors from %d other addresses: %d tried, %d subscribed, %d got their invitation\n",
		len(p.visitorsFrom), tried, subscribed, delivered)
	fmt.Printf("  server: at most %d files open; %d failures to accept (too many open files) so far\n", maxFiles, srv.stderr.n.Load())
	fmt.Printf("  engage during the phase: %s\n", engaged)

	for _, st := range held {
		st.conn.Close()
	}
	left := ""
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if left = srv.streams(); left == "0" {
			return nil
		}
	}
	return fmt.Errorf("streams still open 10 s after the flood closed its connections: %s", left)
}

// measureEngage is the measuring child process: two senders post an
// engage every 2 ms or so each, for visits nobody watches, until stdin
// closes; then it prints what it measured. Each engage goes over a new
// connection, as from a strategy that keeps none alive: a server that
// cannot accept fails them (kept-alive connections would still be served).
func measureEngage(addr string) {
	srv := &server{addr: addr, http: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	var l latencies
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				l.add(srv.engage(fmt.Sprintf("load-%d-%d-%d", os.Getpid(), w, i), "i-1"))
			}
		})
	}
	wg.Wait()
	fmt.Println(l.String())
}

// measure is a running measuring child process.
type measure struct {
	cmd   *exec.Cmd
	stdin io.Closer
	out   *bufio.Reader
}

func startMeasure(ctx context.Context, addr, name string) (*measure, error) {
	cmd := exec.CommandContext(ctx, os.Args[0], "-engage", addr)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("measuring %s: %w", name, err)
	}
	return &measure{cmd: cmd, stdin: in, out: bufio.NewReader(out)}, nil
}

// stop ends the measure and returns its summary.
func (m *measure) stop() (string, error) {
	m.stdin.Close()
	line, err := m.out.ReadString('\n')
	if werr := m.cmd.Wait(); err == nil {
		err = werr
	}
	return strings.TrimSpace(line), err
}
