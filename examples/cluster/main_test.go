package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestClusterDeliversAcrossInstances starts the cluster as main does, with
// its embedded NATS server, engages through instance 1 and reads the event
// from a stream on instance 2, whose page it also fetches.
func TestClusterDeliversAcrossInstances(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Start(ctx, Config{Addrs: []string{"127.0.0.1:0", "127.0.0.1:0"}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	if len(c.URLs) != 2 || !strings.HasPrefix(c.URLs[0], "http://127.0.0.1:") {
		t.Fatalf("URLs = %v", c.URLs)
	}
	page, err := http.Get(c.URLs[1] + "/")
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != 200 || !strings.Contains(string(html), "visitor.js") {
		t.Fatalf("shop page on instance 2: %d", page.StatusCode)
	}

	stream, err := http.Get(c.URLs[1] + "/notification/v-1")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	resp, err := http.PostForm(c.URLs[0]+"/server/data/gateway/engage",
		url.Values{"ixnProfile": {`{"interactionID":"i-1","visitID":"v-1","channels":["chat"]}`}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("engage on instance 1: %v %v", err, resp)
	}
	resp.Body.Close()
	got := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stream.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "id: ") {
				got <- sc.Text()
				return
			}
		}
	}()
	select {
	case line := <-got:
		if line != "id: i-1" {
			t.Errorf("event %q", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no engage event on instance 2")
	}
}
