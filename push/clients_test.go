package push_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

// The tests of this file reproduce finding 2 of the hardening review
// (issue 10): one client took every stream, and the connections it was
// refused on stayed open until the process ran out of file descriptors.
// Each failed on the code before the fix.

// rawConn is a stream request sent over a connection of its own, from a
// loopback address chosen by the test, read by hand: the tests see what
// the server does with the connection after its answer.
type rawConn struct {
	conn net.Conn
	br   *bufio.Reader
	resp *http.Response
}

// openFrom sends GET path from the loopback address from (127.0.0.0/8 is
// all loopback on Linux) and reads the answer's head; a refusal's body is
// read too. The caller closes it. The test is skipped where the system
// has only 127.0.0.1.
func openFrom(t testing.TB, e *env, from, path string, hdr http.Header) *rawConn {
	t.Helper()
	rc, err := tryOpenFrom(e, from, path, hdr)
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Skipf("no loopback address %s on this system: %v", from, err)
	}
	if err != nil {
		t.Fatalf("GET %s from %s: %v", path, from, err)
	}
	return rc
}

// tryOpenFrom is openFrom for goroutines other than the test's.
func tryOpenFrom(e *env, from, path string, hdr http.Header) (*rawConn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		return nil, err
	}
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	rc := &rawConn{conn: c, br: bufio.NewReader(c)}
	if err = req.Write(c); err == nil {
		rc.resp, err = http.ReadResponse(rc.br, req)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	if rc.resp.StatusCode != 200 {
		io.Copy(io.Discard, rc.resp.Body)
	}
	c.SetDeadline(time.Time{})
	return rc, nil
}

// closedByServer reports whether the server closes rc's connection within
// a second, with nothing more sent.
func (rc *rawConn) closedByServer() bool {
	rc.conn.SetReadDeadline(time.Now().Add(time.Second))
	_, err := rc.br.ReadByte()
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

func (rc *rawConn) close() { rc.conn.Close() }

// TestOneClientCannotTakeEveryStream: one address used to be able to open
// every stream the broker allows (MaxSubscribers), after which every real
// visitor got 503. Now each client, by default its remote IP, holds at
// most MaxStreamsPerClient streams: by default MaxSubscribers/16, at least
// MaxSubscribersPerVisit and at most 256.
func TestOneClientCannotTakeEveryStream(t *testing.T) {
	t.Parallel()
	const maxSubs, perClient = 64, 16 // 64/16 is below MaxSubscribersPerVisit's default, 16
	e := newEnv(t, &push.Options{MaxSubscribers: maxSubs})
	var open []*rawConn
	defer func() {
		for _, rc := range open {
			rc.close()
		}
	}()
	accepted, refused := 0, 0
	for i := range maxSubs + 8 {
		rc := openFrom(t, e, "127.0.0.2", fmt.Sprint("/notification/flood-", i), nil)
		switch rc.resp.StatusCode {
		case 200:
			accepted++
			open = append(open, rc)
		case 503:
			refused++
			if rc.resp.Header.Get("Retry-After") == "" {
				t.Errorf("stream %d refused without Retry-After", i)
			}
			rc.close()
		default:
			t.Fatalf("stream %d: %s", i, rc.resp.Status)
		}
	}
	if accepted != perClient {
		t.Errorf("one address opened %d streams, want %d", accepted, perClient)
	}
	// Visitors from other addresses still get in, and get their invitation.
	for i := range 8 {
		from, visit := fmt.Sprint("127.0.0.", 10+i), fmt.Sprint("visitor-", i)
		rc := openFrom(t, e, from, "/notification/"+visit, nil)
		open = append(open, rc)
		if rc.resp.StatusCode != 200 {
			t.Fatalf("visitor from %s: %s", from, rc.resp.Status)
		}
		if err := e.engage(t, gateway.Profile{InteractionID: "i-1", VisitID: visit}); err != nil {
			t.Fatal(err)
		}
		if line := readUntil(t, rc, "id: "); line != "id: i-1" {
			t.Errorf("visitor %d read %q, want its engage", i, line)
		}
	}
	if got := e.b.Stats().Subscribers; got != perClient+8 {
		t.Errorf("subscribers = %d, want %d", got, perClient+8)
	}
}

// readUntil reads rc's stream up to a line that starts with prefix.
func readUntil(t *testing.T, rc *rawConn, prefix string) string {
	t.Helper()
	rc.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer rc.conn.SetReadDeadline(time.Time{})
	for {
		line, err := rc.br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		if line = strings.TrimSuffix(line, "\n"); strings.HasPrefix(line, prefix) {
			return line
		}
	}
}

// TestRefusedStreamsCloseTheirConnection: a refused stream request used to
// leave its connection open (keep-alive, and no idle timeout unless the
// host sets one), so a client refused 503 thousands of times held
// thousands of descriptors. Every refusal of a stream now closes its
// connection.
func TestRefusedStreamsCloseTheirConnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &push.Options{
		MaxSubscribers:         1,
		MaxSubscribersPerVisit: 1,
		AllowedOrigins:         []string{"https://shop.example"},
		Authorize: func(r *http.Request, visitID string) error {
			if visitID == "locked" {
				return errors.New("no session")
			}
			return nil
		},
	})
	held := openFrom(t, e, "127.0.0.1", "/notification/held", nil)
	defer held.close()
	if held.resp.StatusCode != 200 {
		t.Fatalf("the first stream: %s", held.resp.Status)
	}
	for _, tc := range []struct {
		name, path string
		hdr        http.Header
		status     int
	}{
		{"at MaxSubscribers", "/notification/v-2", nil, 503},
		{"Authorize refuses", "/notification/locked", nil, 401},
		{"the origin is not allowed", "/notification/v-2", http.Header{"Origin": {"https://evil.example"}}, 403},
		{"the visitID is invalid", "/notification/" + url.PathEscape("v 2"), nil, 404},
		{"the pageID is invalid", "/notification/v-2?pageID=%3C", nil, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := openFrom(t, e, "127.0.0.1", tc.path, tc.hdr)
			defer rc.close()
			if rc.resp.StatusCode != tc.status {
				t.Fatalf("got %s, want %d", rc.resp.Status, tc.status)
			}
			if !rc.resp.Close { // ReadResponse takes "Connection: close" out of Header
				t.Error("the answer has no Connection: close")
			}
			if !rc.closedByServer() {
				t.Error("the server kept the refused connection open")
			}
		})
	}
}

// TestClientStreamsAreCountedWhileOpen: a client's streams count while
// they are open; one that ends gives its place back.
func TestClientStreamsAreCountedWhileOpen(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &push.Options{MaxStreamsPerClient: 2})
	a := openFrom(t, e, "127.0.0.3", "/notification/a", nil)
	b := openFrom(t, e, "127.0.0.3", "/notification/b", nil)
	defer b.close()
	c := openFrom(t, e, "127.0.0.3", "/notification/c", nil)
	c.close()
	if got := []int{a.resp.StatusCode, b.resp.StatusCode, c.resp.StatusCode}; !slices.Equal(got, []int{200, 200, 503}) {
		t.Fatalf("statuses = %v, want [200 200 503]", got)
	}
	a.close()
	eventually(t, "the closed stream gives its place back", func() bool { return e.b.Stats().Subscribers == 1 })
	d := openFrom(t, e, "127.0.0.3", "/notification/d", nil)
	defer d.close()
	if d.resp.StatusCode != 200 {
		t.Errorf("after one stream closed: %s, want 200", d.resp.Status)
	}
}

// TestClientKeyNamesTheClient: behind a proxy every request comes from the
// proxy's address; ClientKey reads the address the proxy forwards, and an
// empty key counts against no cap.
func TestClientKeyNamesTheClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &push.Options{
		MaxStreamsPerClient: 1,
		ClientKey:           func(r *http.Request) string { return r.Header.Get("X-Test-Client") },
	})
	var open []*rawConn
	defer func() {
		for _, rc := range open {
			rc.close()
		}
	}()
	for _, tc := range []struct {
		client string
		status int
	}{
		{"alice", 200},
		{"bob", 200},
		{"alice", 503},
		{"", 200}, // no key: not capped
		{"", 200},
	} {
		rc := openFrom(t, e, "127.0.0.1", "/notification/v-"+tc.client, http.Header{"X-Test-Client": {tc.client}})
		open = append(open, rc)
		if rc.resp.StatusCode != tc.status {
			t.Errorf("client %q: %s, want %d", tc.client, rc.resp.Status, tc.status)
		}
	}
}

// TestEngageAnswersWhileStreamsAreSaturated: while clients keep asking for
// streams past every limit, engage requests are still answered at once,
// and the visitors of other addresses still subscribe.
func TestEngageAnswersWhileStreamsAreSaturated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &push.Options{MaxSubscribers: 48, MaxStreamsPerClient: 8})
	ctx, stop := context.WithCancel(context.Background())
	var flood sync.WaitGroup
	var mu sync.Mutex
	var held []*rawConn
	defer func() {
		stop()
		flood.Wait()
		for _, rc := range held {
			rc.close()
		}
	}()
	// Four addresses, four workers each, asking for streams until the test
	// ends: they fill 32 of the 48 places and are refused from then on.
	for w := range 16 {
		flood.Go(func() {
			from := fmt.Sprint("127.0.1.", 1+w%4)
			for i := 0; ctx.Err() == nil && i < 5000; i++ {
				rc, err := tryOpenFrom(e, from, fmt.Sprintf("/notification/flood-%d-%d", w, i), nil)
				if err != nil {
					t.Errorf("flood from %s: %v", from, err)
					return
				}
				if rc.resp.StatusCode != 200 {
					rc.close()
					continue
				}
				mu.Lock()
				held = append(held, rc)
				mu.Unlock()
			}
		})
	}
	eventually(t, "the flood holds its streams", func() bool { return e.b.Stats().Subscribers == 32 })

	var lat []time.Duration
	for i := range 200 {
		visit := fmt.Sprint("visitor-", i)
		if i%20 == 0 { // a real visitor from an address of its own
			rc := openFrom(t, e, fmt.Sprint("127.0.2.", 1+i/20), "/notification/"+visit, nil)
			mu.Lock()
			held = append(held, rc)
			mu.Unlock()
			if rc.resp.StatusCode != 200 {
				t.Fatalf("visitor %d: %s", i, rc.resp.Status)
			}
		}
		body := url.Values{"ixnProfile": {fmt.Sprintf(`{"interactionID":"i-%d","visitID":%q,"channels":["chat"]}`, i, visit)}}
		start := time.Now()
		resp, err := e.srv.Client().PostForm(e.srv.URL+"/server/data/gateway/engage", body)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(start))
		if resp.StatusCode != 200 {
			t.Fatalf("engage %d: %s", i, resp.Status)
		}
	}
	slices.Sort(lat)
	p99 := lat[len(lat)*99/100]
	t.Logf("engage during the flood: p50 %v, p99 %v", lat[len(lat)/2], p99)
	if p99 > 250*time.Millisecond {
		t.Errorf("engage p99 %v during the flood, want under 250ms", p99)
	}
}

// TestMaxSubscribersFollowsTheFileLimit: the default of MaxSubscribers was
// 10,000 whatever the process's limit on open files, so a flood of
// streams could take every descriptor and leave the engage API unable to
// accept. It now leaves a quarter of the limit and 512 more (half the
// limit, when that is more) to everything else.
func TestMaxSubscribersFollowsTheFileLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		limit uint64
		ok    bool
		want  int
	}{
		{"no known limit", 0, false, 10_000},
		{"Linux's usual soft limit, 1024: half", 1024, true, 512},
		{"2048: both rules agree", 2048, true, 1024},
		{"4096: three quarters less 512", 4096, true, 2560},
		{"13,000: three quarters less 512", 13_000, true, 9238},
		{"20,000, as in the review: the ceiling", 20_000, true, 10_000},
		{"systemd's 524,288: the ceiling", 524_288, true, 10_000},
		{"no limit at all (RLIM_INFINITY): the ceiling", 1<<64 - 1, true, 10_000},
		{"a tiny limit: half", 64, true, 32},
		{"a limit of one: one", 1, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := push.DefaultMaxSubscribers(tc.limit, tc.ok); got != tc.want {
				t.Errorf("DefaultMaxSubscribers(%d, %v) = %d, want %d", tc.limit, tc.ok, got, tc.want)
			}
		})
	}
	t.Run("NewBroker reads the process's limit", func(t *testing.T) {
		b := push.NewBroker(nil)
		defer b.Shutdown(context.Background())
		got, _ := b.StreamLimits()
		if want := push.DefaultMaxSubscribers(push.FileLimit()); got != want {
			t.Errorf("MaxSubscribers = %d, want %d", got, want)
		}
	})
}

// TestMaxStreamsPerClientDefault: a sixteenth of MaxSubscribers, at least
// one visit's tabs and at most 256.
func TestMaxStreamsPerClientDefault(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts push.Options
		want int
	}{
		{"the defaults", push.Options{MaxSubscribers: 10_000}, 256},
		{"a sixteenth", push.Options{MaxSubscribers: 1600}, 100},
		{"at least a visit's tabs", push.Options{MaxSubscribers: 64}, 16},
		{"at least a visit's tabs, as set", push.Options{MaxSubscribers: 64, MaxSubscribersPerVisit: 3}, 4},
		{"at most 256", push.Options{MaxSubscribers: 100_000}, 256},
		{"as set", push.Options{MaxSubscribers: 100_000, MaxStreamsPerClient: 1000}, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := push.NewBroker(&tc.opts)
			defer b.Shutdown(context.Background())
			if _, got := b.StreamLimits(); got != tc.want {
				t.Errorf("MaxStreamsPerClient = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestRemoteClient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, remote, want string }{
		{"an IPv4 address, without its port", "192.0.2.7:50123", "192.0.2.7"},
		{"an IPv6 address, cut to its /64", "[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:443", "2001:db8:1:2::/64"},
		{"another address of the same /64", "[2001:db8:1:2::1]:443", "2001:db8:1:2::/64"},
		{"an IPv4-mapped IPv6 address, as IPv4", "[::ffff:192.0.2.7]:80", "192.0.2.7"},
		{"a zoned address, without its zone", "[fe80::1%eth0]:80", "fe80::/64"},
		{"a Unix socket's address, as it is", "@", "@"},
		{"no address", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			if got := push.RemoteClient(r); got != tc.want {
				t.Errorf("RemoteClient(%q) = %q, want %q", tc.remote, got, tc.want)
			}
		})
	}
}

// TestProxiedStreamsWithoutClientKeyAreWarnedOnce: behind a proxy every
// stream counts against the proxy's address until ClientKey is set; the
// broker says so once.
func TestProxiedStreamsWithoutClientKeyAreWarnedOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		clientKey func(*http.Request) string
		want      int
	}{
		{"without ClientKey: one warning", nil, 1},
		{"with ClientKey: none", push.RemoteClient, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs syncBuffer
			e := newEnv(t, &push.Options{ClientKey: tc.clientKey, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			for _, hdr := range []http.Header{
				{"X-Forwarded-For": {"203.0.113.9"}},
				{"Forwarded": {"for=203.0.113.9"}},
				{"X-Forwarded-For": {"203.0.113.10"}},
			} {
				e.subscribe(t, "/notification/v-1", hdr).close()
			}
			if got := strings.Count(logs.String(), "Options.ClientKey is unset"); got != tc.want {
				t.Errorf("%d warnings, want %d:\n%s", got, tc.want, logs.String())
			}
		})
	}
}
