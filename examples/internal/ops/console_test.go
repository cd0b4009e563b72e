package ops

import (
	"bufio"
	"context"
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

// TestConsoleStreamOutlivesTheServerTimeouts: the console's event stream,
// which net/http serves (it is not a broker's stream), gets a snapshot
// every second for longer than the server's read and write timeouts,
// which would otherwise end it; a write still has a deadline of its own.
func TestConsoleStreamOutlivesTheServerTimeouts(t *testing.T) {
	short := serve.Timeouts{ReadHeader: 300 * time.Millisecond, Read: 300 * time.Millisecond, Write: 300 * time.Millisecond, Idle: 300 * time.Millisecond}
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
	srv := serve.Server(mux, short)
	go srv.Serve(ln)
	t.Cleanup(func() {
		o.Shutdown(context.Background())
		b.Shutdown(context.Background())
		srv.Close()
	})

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String() + "/console/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start := time.Now()
	snapshots := 0
	lines := bufio.NewScanner(resp.Body)
	for snapshots < 3 && lines.Scan() {
		if strings.HasPrefix(lines.Text(), "data: ") {
			snapshots++
		}
	}
	if snapshots < 3 {
		t.Fatalf("the console's stream ended after %d snapshots, %v in (server timeouts %v): %v", snapshots, time.Since(start).Round(time.Millisecond), short.Write, lines.Err())
	}
}
