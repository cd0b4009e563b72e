package ops

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway/examples/internal/serve"
	"github.com/engagekit/gateway/push"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// consoleServer serves an instance's ops routes, without authentication,
// through serve.Server with timeouts t, and returns a client's GET of
// /console/events.
func consoleServer(t *testing.T, timeouts serve.Timeouts) (get func() (*http.Response, error)) {
	t.Helper()
	b := push.NewBroker(&push.Options{Heartbeat: time.Hour})
	o, err := New()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	o.Handle(mux, b, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := serve.Server(mux, timeouts)
	go srv.Serve(ln)
	tr := &http.Transport{}
	t.Cleanup(func() {
		o.Shutdown(context.Background())
		b.Shutdown(context.Background())
		srv.Close()
		tr.CloseIdleConnections()
	})
	client := &http.Client{Transport: tr}
	return func() (*http.Response, error) { return client.Get("http://" + ln.Addr().String() + "/console/events") }
}

// snapshots reads up to n snapshots from a console stream and returns how
// many it read, and the error that ended it early.
func snapshots(r io.Reader, n int) (int, error) {
	read := 0
	lines := bufio.NewScanner(r)
	for read < n && lines.Scan() {
		if strings.HasPrefix(lines.Text(), "data: ") {
			read++
		}
	}
	return read, lines.Err()
}

// TestConsoleStreamOutlivesTheServerTimeouts: the console's event stream,
// which net/http serves (it is not a broker's stream), gets a snapshot
// every second for longer than the server's write timeout, which would
// otherwise end it; each write has a deadline of its own.
func TestConsoleStreamOutlivesTheServerTimeouts(t *testing.T) {
	short := serve.Timeouts{ReadHeader: 300 * time.Millisecond, Read: 300 * time.Millisecond, Write: 300 * time.Millisecond, Idle: 300 * time.Millisecond}
	resp, err := consoleServer(t, short)()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	if n, err := snapshots(resp.Body, 3); n < 3 {
		t.Fatalf("the console's stream ended after %d snapshots, %v in (server timeouts %v): %v", n, time.Since(start).Round(time.Millisecond), short.Write, err)
	}
}

// TestConsoleStreamsAreBounded: past maxConsoleStreams open at once, a
// console stream is refused with 503 and Retry-After; once one closes,
// the next is served.
func TestConsoleStreamsAreBounded(t *testing.T) {
	get := consoleServer(t, serve.Defaults)
	var open []*http.Response
	defer func() {
		for _, r := range open {
			r.Body.Close()
		}
	}()
	for i := range maxConsoleStreams {
		resp, err := get()
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d of %d: %s", i+1, maxConsoleStreams, resp.Status)
		}
		if n, err := snapshots(resp.Body, 1); n != 1 {
			t.Fatalf("stream %d: no snapshot: %v", i+1, err)
		}
	}
	resp, err := get()
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("stream %d: %s, Retry-After %q; want 503 with Retry-After", maxConsoleStreams+1, resp.Status, resp.Header.Get("Retry-After"))
	}

	open[0].Body.Close()
	open = open[1:]
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := get()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			open = append(open, resp)
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("a stream closed 5 s ago, and the next is still refused: %s", resp.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
