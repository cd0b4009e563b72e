package push_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

// The tests of this file hold the package doc's promise about vanished
// browsers (issue 10, finding 10): however a client goes away, its stream
// is freed at once, not at the next heartbeat.

// freeWithin is how soon a stream must be freed once its client has gone.
const freeWithin = 100 * time.Millisecond

// rawStream is one event stream opened by hand, over TCP or TLS, so that a
// test can end it in every way a client can.
type rawStream struct {
	tcp  *net.TCPConn
	conn net.Conn // tcp, or a *tls.Conn over it
	r    *bufio.Reader
}

// openRaw opens the stream at path on srv and reads its response head and
// its retry frame, so that nothing is left unread (a close with unread
// data would be an RST).
func openRaw(t testing.TB, srv *httptest.Server, useTLS bool, path string) *rawStream {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := &rawStream{tcp: c.(*net.TCPConn), conn: c}
	if useTLS {
		pool := x509.NewCertPool()
		pool.AddCert(srv.Certificate())
		s.conn = tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "example.com", NextProtos: []string{"http/1.1"}})
	}
	t.Cleanup(func() { s.conn.Close() })
	fmt.Fprintf(s.conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", path, srv.Listener.Addr())
	s.r = bufio.NewReader(s.conn)
	status, err := s.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 200") {
		t.Fatalf("subscribe: %q %v", status, err)
	}
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "retry:") {
			s.r.ReadString('\n') // the blank line that ends it
			break
		}
	}
	if n := s.r.Buffered(); n > 0 {
		t.Fatalf("%d bytes after the retry frame", n)
	}
	return s
}

// goes is one way a client can go away.
type goes struct {
	name  string
	tls   bool
	leave func(s *rawStream) error
}

var waysToGo = []goes{
	{"FIN", false, func(s *rawStream) error { return s.tcp.Close() }},
	{"RST", false, func(s *rawStream) error { s.tcp.SetLinger(0); return s.tcp.Close() }},
	{"half-close", false, func(s *rawStream) error { return s.tcp.CloseWrite() }},
	{"a stray byte then FIN", false, func(s *rawStream) error {
		if _, err := s.tcp.Write([]byte{'x'}); err != nil {
			return err
		}
		return s.tcp.Close()
	}},
	{"a stray request then FIN", false, func(s *rawStream) error {
		if _, err := io.WriteString(s.tcp, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		return s.tcp.Close()
	}},
	{"TLS close_notify, TCP left open", true, func(s *rawStream) error { return s.conn.(*tls.Conn).CloseWrite() }},
	{"TLS close_notify then FIN", true, func(s *rawStream) error { return s.conn.Close() }},
	{"TLS FIN without close_notify", true, func(s *rawStream) error { return s.tcp.Close() }},
	{"TLS RST", true, func(s *rawStream) error { s.tcp.SetLinger(0); return s.tcp.Close() }},
	{"TLS half-close", true, func(s *rawStream) error { return s.tcp.CloseWrite() }},
	{"TLS stray data then close_notify and FIN", true, func(s *rawStream) error {
		if _, err := s.conn.Write([]byte("x")); err != nil {
			return err
		}
		return s.conn.Close()
	}},
}

// streamServer is a broker over HTTP/1.1, TLS or not, with heartbeats too
// rare to find a vanished browser.
func streamServer(t testing.TB, useTLS bool, opts *push.Options) (*push.Broker, *httptest.Server) {
	t.Helper()
	if opts == nil {
		opts = &push.Options{}
	}
	if opts.Heartbeat == 0 {
		opts.Heartbeat = time.Hour
	}
	b := push.NewBroker(opts)
	srv := httptest.NewUnstartedServer(b)
	srv.EnableHTTP2 = false
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		b.Shutdown(context.Background())
		srv.Close()
	})
	return b, srv
}

// timeToFree opens a stream, lets its client go, and returns how long the
// broker took to free it, up to limit.
func timeToFree(t testing.TB, b *push.Broker, srv *httptest.Server, w goes, i int, limit time.Duration) time.Duration {
	t.Helper()
	before := b.Stats().Subscribers
	s := openRaw(t, srv, w.tls, fmt.Sprint("/notification/v-", i))
	if got := b.Stats().Subscribers; got != before+1 {
		t.Fatalf("%d subscribers after a subscribe, want %d", got, before+1)
	}
	start := time.Now()
	if err := w.leave(s); err != nil {
		t.Fatal(err)
	}
	for b.Stats().Subscribers > before {
		if d := time.Since(start); d > limit {
			return d
		}
		time.Sleep(100 * time.Microsecond) // a millisecond or so here: the figures are upper bounds
	}
	return time.Since(start)
}

// TestVanishedClientIsFreedAtOnce: a stream is freed within freeWithin of
// its client going, whichever way it goes, over TCP and over TLS. Each way
// is tried five times, at random phases of any periodic check, and the
// median must be within freeWithin (the slowest within a second, for a
// loaded machine): a once-a-second sweep fails it.
func TestVanishedClientIsFreedAtOnce(t *testing.T) {
	t.Parallel()
	for _, w := range waysToGo {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			b, srv := streamServer(t, w.tls, nil)
			var took []time.Duration
			for i := range 5 {
				took = append(took, timeToFree(t, b, srv, w, i, 3*time.Second))
				time.Sleep(time.Duration(i*137) * time.Millisecond % time.Second)
			}
			slices.Sort(took)
			if took[2] > freeWithin || took[4] > time.Second {
				t.Errorf("freed after %v, want a median within %v", took, freeWithin)
			}
			t.Logf("%s: freed after %v", w.name, took)
		})
	}
}

// TestTalkativeClientKeepsItsStream: a client that sends a few stray
// bytes, or a TLS close_notify's worth of data, and stays, keeps its
// stream and gets its events.
func TestTalkativeClientKeepsItsStream(t *testing.T) {
	t.Parallel()
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprint("TLS ", useTLS), func(t *testing.T) {
			t.Parallel()
			b, srv := streamServer(t, useTLS, nil)
			s := openRaw(t, srv, useTLS, "/notification/v-1")
			for range 3 {
				if _, err := s.conn.Write([]byte("\r\n")); err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(freeWithin)
			if got := b.Stats().Subscribers; got != 1 {
				t.Fatalf("%d subscribers, want the talkative one kept", got)
			}
			if err := b.Engage(context.Background(), &gateway.Profile{InteractionID: "i-1", VisitID: "v-1", Channels: []string{"chat"}}); err != nil {
				t.Fatal(err)
			}
			s.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				line, err := s.r.ReadString('\n')
				if err != nil {
					t.Fatalf("no engage event: %v", err)
				}
				if line == "id: i-1\n" {
					break
				}
			}
		})
	}
}

// TestFloodingClientIsClosed: a client that keeps sending on its stream
// is disconnected once it has sent more than a few KiB, over TCP and TLS.
func TestFloodingClientIsClosed(t *testing.T) {
	t.Parallel()
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprint("TLS ", useTLS), func(t *testing.T) {
			t.Parallel()
			b, srv := streamServer(t, useTLS, nil)
			s := openRaw(t, srv, useTLS, "/notification/v-1")
			wrote := make(chan error, 1)
			go func() {
				chunk := []byte(strings.Repeat("x", 64<<10))
				for range 4096 { // 256 MiB, far more than the socket buffers hold
					if _, err := s.conn.Write(chunk); err != nil {
						wrote <- err
						return
					}
				}
				wrote <- nil
			}()
			eventually(t, "the flooding stream is closed", func() bool { return b.Stats().Subscribers == 0 })
			select {
			case err := <-wrote:
				if err == nil {
					t.Error("the server took 256 MiB from a stream's client")
				}
			case <-time.After(5 * time.Second):
				t.Error("the client's writes still block: its connection is open")
			}
		})
	}
}
