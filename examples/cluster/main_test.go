package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/engagekit/gateway/examples/internal/engageauth"
	"github.com/engagekit/gateway/examples/internal/fanout/fanouttest"
	"github.com/engagekit/gateway/examples/internal/shop"
	"github.com/engagekit/gateway/push"
)

// TestClusterDeliversAcrossInstances starts the cluster as main does, on
// each backend with the server it starts (embedded NATS, redis-server from
// PATH): each instance's page engages through the other,
// an engage through instance 1 (with the engage credentials) reaches a
// stream on instance 2 (opened with a visitor token that instance 1's key
// signed: the instances share it), and the visitor's answer there is
// logged by instance 2; a notify through instance 1 reaches the stream
// too. Without credentials, or without a token, nothing is let in.
func TestClusterDeliversAcrossInstances(t *testing.T) {
	for _, backend := range []string{"nats", "redis"} {
		t.Run(backend, func(t *testing.T) {
			if backend == "redis" {
				fanouttest.NeedRedisServer(t)
			}
			deliversAcrossInstances(t, backend)
		})
	}
}

func deliversAcrossInstances(t *testing.T, backend string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var logged syncBuffer
	key, _ := push.NewTokenKey("k1")
	sec := shop.Security{Credentials: engageauth.Credentials{User: "ors", Password: "secret"}, TokenKey: &key}
	c, err := Start(ctx, Config{Addrs: []string{"127.0.0.1:0", "127.0.0.1:0"}, Backend: backend, Log: slog.New(slog.NewTextHandler(&logged, nil)), Security: sec})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	if len(c.URLs) != 2 || !strings.HasPrefix(c.URLs[0], "http://127.0.0.1:") {
		t.Fatalf("URLs = %v", c.URLs)
	}
	for i, other := range []string{c.URLs[1], c.URLs[0]} {
		page, err := http.Get(c.URLs[i] + "/")
		if err != nil {
			t.Fatal(err)
		}
		html, _ := io.ReadAll(page.Body)
		page.Body.Close()
		if want := `<code id="engage-url">` + other + `</code>`; page.StatusCode != 200 || !strings.Contains(string(html), want) {
			t.Errorf("shop page on instance %d: %d, without %s", i+1, page.StatusCode, want)
		}
	}

	// Nothing is let in without its credentials.
	for _, r := range []struct{ method, url string }{
		{"GET", c.URLs[1] + "/notification/v-1"},
		{"GET", c.URLs[0] + "/metrics"},
		{"GET", c.URLs[1] + "/console"},
		{"POST", c.URLs[0] + "/server/data/gateway/engage?ixnProfile=" + url.QueryEscape(`{"interactionID":"i-0","visitID":"v-1","channels":["chat"]}`)},
	} {
		req, _ := http.NewRequest(r.method, r.url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("%s %s without credentials: %d, want 401", r.method, r.url, resp.StatusCode)
		}
	}

	token, err := push.MintToken(key, push.TokenClaims{VisitID: "v-1"})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := http.Get(c.URLs[1] + "/notification/v-1?token=" + token)
	if err != nil || stream.StatusCode != 200 {
		t.Fatalf("stream on instance 2: %v %v", err, stream)
	}
	defer stream.Body.Close()
	req, _ := http.NewRequest("POST", c.URLs[0]+"/server/data/gateway/engage",
		strings.NewReader(url.Values{"ixnProfile": {`{"interactionID":"i-1","visitID":"v-1","channels":["chat"]}`}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("ors", "secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("engage on instance 1: %v %v", err, resp)
	}
	resp.Body.Close()
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stream.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// next returns the first line of instance 2's stream that starts with
	// prefix.
	next := func(prefix string) string {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("instance 2's stream ended before a line %q", prefix)
				}
				if strings.HasPrefix(line, prefix) {
					return line
				}
			case <-timeout:
				t.Fatalf("no line %q on instance 2's stream within 10s", prefix)
			}
		}
	}
	if line := next("id: "); line != "id: i-1" {
		t.Errorf("event %q", line)
	}

	// GWE's Notification API, on instance 1, reaches the page on instance 2.
	req, _ = http.NewRequest("POST", c.URLs[0]+"/server/data/notification/notify/v-1",
		strings.NewReader(`[{"channel":"shop.cart","data":{"items":2}}]`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("ors", "secret")
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("notify on instance 1: %v %v", err, resp)
	}
	resp.Body.Close()
	next("event: notify")
	if line, want := next("data: "), `data: {"channel":"shop.cart","data":{"items":2}}`; line != want {
		t.Errorf("notify on instance 2: %q, want %q", line, want)
	}

	req, _ = http.NewRequest("POST", c.URLs[1]+"/notification/v-1/disposition",
		strings.NewReader(`{"interactionID":"i-1","result":"accepted","channel":"chat"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("disposition on instance 2: %v %v", err, resp)
	}
	resp.Body.Close()
	want := `msg=disposition instance=2 visitID=v-1 interactionID=i-1 result=accepted channel=chat`
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logged.String(), want); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q logged within 10s; the log:\n%s", want, logged.String())
		}
	}

	// Each instance counts what happened on it: the engage where it was
	// accepted, its delivery and its answer where the stream is.
	for i, series := range [][]string{
		{`gateway_invitations_total{gateway_invitation_stage="offered"} 1`},
		{`gateway_invitations_total{gateway_invitation_stage="delivered"} 1`, `gateway_invitations_total{gateway_invitation_stage="accepted"} 1`, `gateway_streams 1`},
	} {
		for _, path := range []string{"/healthz", "/readyz"} {
			if resp, err := http.Get(c.URLs[i] + path); err != nil || resp.StatusCode != 200 {
				t.Errorf("%s on instance %d: %v %v", path, i+1, err, resp)
			}
		}
		// The answer reaches instance 2's view through the backend, after
		// the disposition was answered: wait for it.
		var missing []string
		var text []byte
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			req, _ := http.NewRequest("GET", c.URLs[i]+"/metrics", nil)
			req.SetBasicAuth("ors", "secret")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			text, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			missing = missing[:0]
			for _, s := range series {
				if !strings.Contains(string(text), s+"\n") {
					missing = append(missing, s)
				}
			}
			if len(missing) == 0 || time.Now().After(deadline) {
				break
			}
		}
		if len(missing) > 0 {
			t.Errorf("instance %d's /metrics has no %s:\n%s", i+1, missing, text)
		}
	}
}

// syncBuffer is a bytes.Buffer that the cluster's log and the test may use
// at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
