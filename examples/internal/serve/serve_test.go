package serve

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

// TestStreamsOutliveTheServerTimeouts: a page's event stream stays open
// well past every timeout of the server (the broker takes the connection
// over from net/http, which clears its deadlines), while the same server
// still bounds a client that sends its headers too slowly.
func TestStreamsOutliveTheServerTimeouts(t *testing.T) {
	short := Timeouts{ReadHeader: 200 * time.Millisecond, Read: 200 * time.Millisecond, Write: 200 * time.Millisecond, Idle: 200 * time.Millisecond}
	b := push.NewBroker(&push.Options{Heartbeat: time.Hour})
	mux := http.NewServeMux()
	mux.Handle("/server/data/gateway/", gateway.NewHandler(b, nil))
	mux.Handle("/notification/", b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := Server(mux, short)
	go srv.Serve(ln)
	t.Cleanup(func() {
		b.Shutdown(context.Background())
		srv.Close()
	})
	base := "http://" + ln.Addr().String()

	resp, err := http.Get(base + "/notification/v-1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	time.Sleep(5 * 200 * time.Millisecond) // idle past every timeout
	engage, err := http.Post(base+"/server/data/gateway/engage", "application/json",
		strings.NewReader(`{"interactionID":"i-1","visitID":"v-1","channels":["chat"]}`))
	if err != nil {
		t.Fatal(err)
	}
	engage.Body.Close()
	if engage.StatusCode != 200 {
		t.Fatalf("engage: %s", engage.Status)
	}
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if lines.Text() == "event: engage" {
			break
		}
	}
	if lines.Err() != nil || lines.Text() != "event: engage" {
		t.Fatalf("the stream ended before the engage: %v", lines.Err())
	}

	// A client that trickles its headers is cut off.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /notification/v-2 HTTP/1.1\r\nHost: x\r\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			break
		}
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Errorf("a client that never finished its headers was held %v", waited)
	}
}
