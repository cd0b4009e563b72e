package push_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/engagekit/gateway/push"
)

// The tests of this file hold the spreading of reconnections (issue 10,
// finding 12): streams dropped together must not all come back together.

// lastRetry reads r to its end and returns its last retry field, in ms,
// or -1.
func lastRetry(t *testing.T, r io.Reader) int {
	t.Helper()
	retry := -1
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if ms, ok := strings.CutPrefix(sc.Text(), "retry: "); ok {
			n, err := strconv.Atoi(ms)
			if err != nil {
				t.Fatalf("retry field %q", sc.Text())
			}
			retry = n
		}
	}
	return retry
}

// openRetries opens n streams on a new broker with opts and returns the
// retry each asked for when it opened, in ms.
func openRetries(t *testing.T, opts *push.Options, n int) []int {
	t.Helper()
	br := push.NewBroker(opts)
	srv := httptest.NewServer(br)
	defer srv.Close()
	defer br.Shutdown(context.Background())
	retries := make([]int, n)
	for i := range retries {
		req, _ := http.NewRequest("GET", fmt.Sprint(srv.URL, "/notification/v", i), nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		resp.Body.Close()
		ms, ok := strings.CutPrefix(strings.TrimSpace(line), "retry: ")
		if retries[i], err = strconv.Atoi(ms); !ok || err != nil {
			t.Fatalf("first line %q, want a retry field", line)
		}
	}
	return retries
}

func TestEachStreamAsksForItsOwnRetry(t *testing.T) {
	const n = 64
	for _, tc := range []struct {
		name     string
		opts     push.Options
		min, max int // ms, max excluded
	}{
		{"by default, a stream asks for 2 s and up to 2 s more", push.Options{}, 2000, 4000},
		{"with a Retry of 1 s, for 1 s and up to 1 s more", push.Options{Retry: time.Second}, 1000, 2000},
		{"with a jitter of 300 ms, for Retry and up to 300 ms more", push.Options{Retry: time.Second, RetryJitter: 300 * time.Millisecond}, 1000, 1300},
		{"with a negative jitter, for Retry exactly", push.Options{Retry: time.Second, RetryJitter: -1}, 1000, 1001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			retries := openRetries(t, &tc.opts, n)
			slices.Sort(retries)
			if retries[0] < tc.min || retries[n-1] >= tc.max {
				t.Errorf("retries from %d to %d ms, want from %d to under %d", retries[0], retries[n-1], tc.min, tc.max)
			}
			// 64 draws from hundreds of values: a repeated value is
			// likely, the same one for all is not.
			if tc.max-tc.min > 1 && retries[0] == retries[n-1] {
				t.Errorf("every stream asked for %d ms", retries[0])
			}
		})
	}
}

func TestShutdownSpreadsTheReconnections(t *testing.T) {
	const n = 20
	// Retry 1 s, 20 streams at 10 a second: one every 100 ms, from 1 s.
	spread := make([]int, n)
	for i := range spread {
		spread[i] = 1000 + 100*i
	}
	for _, tc := range []struct {
		name      string
		transport string // http, tls (hijacked: a writer sends the retry) or h2 (held by its handler)
		rate      int
		want      []int // the retries sent at Shutdown, sorted; nil: none
	}{
		{"plain streams are told to come back one every 100 ms", "http", 10, spread},
		{"TLS streams too", "tls", 10, spread},
		{"HTTP/2 streams too", "h2", 10, spread},
		{"with a negative ShutdownRate, streams are closed with nothing more", "http", -1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := push.NewBroker(&push.Options{Retry: time.Second, ShutdownRate: tc.rate})
			srv := httptest.NewUnstartedServer(br)
			switch tc.transport {
			case "http":
				srv.Start()
			case "tls":
				srv.StartTLS()
			case "h2":
				srv.EnableHTTP2 = true
				srv.StartTLS()
			}
			defer srv.Close()
			got := make([]chan int, n)
			for i := range n {
				path := fmt.Sprint("/notification/v", i)
				var r *bufio.Reader
				if tc.transport == "h2" {
					req, _ := http.NewRequest("GET", srv.URL+path, nil)
					req.Header.Set("Accept", "text/event-stream")
					resp, err := srv.Client().Do(req)
					if err != nil || resp.ProtoMajor != 2 {
						t.Fatalf("subscribe: %v %v", resp, err)
					}
					defer resp.Body.Close()
					r = bufio.NewReader(resp.Body)
					r.ReadString('\n') // the retry it opened with
					r.ReadString('\n')
				} else {
					r = openRaw(t, srv, tc.transport == "tls", path).r // reads the retry it opened with
				}
				got[i] = make(chan int, 1)
				go func() { got[i] <- lastRetry(t, r) }()
			}
			if err := br.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			last := make([]int, n)
			for i := range n {
				select {
				case last[i] = <-got[i]:
				case <-time.After(5 * time.Second):
					t.Fatalf("stream %d still open 5 s after Shutdown", i)
				}
			}
			var sent []int
			for _, ms := range last {
				if ms >= 0 {
					sent = append(sent, ms)
				}
			}
			slices.Sort(sent)
			if diff := cmp.Diff(tc.want, sent); diff != "" {
				t.Errorf("retries sent at Shutdown (-want +got):\n%s", diff)
			}
		})
	}
}
