package push_test

import (
	"bufio"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

// TestIdleStreamOutlivesItsWriteTimeout: WriteTimeout bounds each write,
// not the quiet that follows it. An HTTP/2 stream's write deadline used to
// stay set after its write, and net/http resets a stream whose deadline
// passes: every idle HTTP/2 stream was reset WriteTimeout after its last
// write, before its next heartbeat.
func TestIdleStreamOutlivesItsWriteTimeout(t *testing.T) {
	t.Parallel()
	for _, h2 := range []bool{false, true} {
		name := "HTTP/1.1"
		if h2 {
			name = "HTTP/2"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const writeTimeout = 100 * time.Millisecond
			b := push.NewBroker(&push.Options{Heartbeat: time.Hour, WriteTimeout: writeTimeout})
			srv := httptest.NewUnstartedServer(b)
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			t.Cleanup(func() {
				b.Shutdown(context.Background())
				srv.Close()
			})
			resp, err := srv.Client().Get(srv.URL + "/notification/v-1")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if got := resp.ProtoMajor == 2; got != h2 {
				t.Fatalf("the stream is %s", resp.Proto)
			}
			r := bufio.NewReader(resp.Body)
			lines := make(chan string)
			go func() {
				defer close(lines)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					lines <- line
				}
			}()
			time.Sleep(10 * writeTimeout)
			if err := b.Engage(context.Background(), &gateway.Profile{InteractionID: "i-1", VisitID: "v-1", Channels: []string{"chat"}}); err != nil {
				t.Fatal(err)
			}
			timeout := time.After(5 * time.Second)
			for {
				select {
				case line, ok := <-lines:
					if !ok {
						t.Fatal("the idle stream was ended")
					}
					if strings.HasPrefix(line, "id: i-1") {
						return
					}
				case <-timeout:
					t.Fatal("no engage event within 5s")
				}
			}
		})
	}
}
