package push_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

// FuzzBrokerRequests sends arbitrary methods, paths, queries, headers and
// bodies to the broker's browser side: never a panic, never a 5xx, always a
// JSON FAULT or a success, and the live invitation survives every request
// that is not its own answer.
func FuzzBrokerRequests(f *testing.F) {
	f.Add("POST", "/notification/v-1/disposition", "", `{"interactionID":"i-1","result":"accepted","channel":"chat"}`, "application/json")
	f.Add("POST", "/notification/v-1/disposition", "", `{"interactionID":"x","result":"timeout"}`, "text/plain;charset=UTF-8")
	f.Add("GET", "/notification/v-1", "pageID=p&lastEventId=i-1", "", "")
	f.Add("GET", "/notification/visitor.js", "", "", "")
	f.Add("OPTIONS", "/notification/v%2F1/disposition", "", "", "")
	f.Add("POST", "/notification/../v-1/disposition", "", `{"interactionID":"i-1","result":"accepted"}`, "application/json; charset=latin1")
	f.Fuzz(func(t *testing.T, method, path, query, body, contentType string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(method+path+query+contentType, " \r\n\x00") || method == "" {
			return // not an HTTP request a server would parse
		}
		b := push.NewBroker(&push.Options{Heartbeat: time.Hour})
		defer b.Shutdown(context.Background())
		if err := b.Engage(context.Background(), &gateway.Profile{InteractionID: "i-1", VisitID: "v-1", Channels: []string{"chat"}}); err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.Method, r.URL.Path, r.URL.RawQuery = method, path, query
		r.Body = io.NopCloser(strings.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		ctx, cancel := context.WithTimeout(r.Context(), 50*time.Millisecond) // ends streams
		defer cancel()
		w := httptest.NewRecorder()
		b.ServeHTTP(w, r.WithContext(ctx))
		if w.Code >= 500 {
			t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
		}
		if w.Code >= 400 {
			var fault struct{ Status, Code string }
			if err := json.Unmarshal(w.Body.Bytes(), &fault); err != nil || fault.Status != "FAULT" {
				t.Fatalf("%s %s: %d is not a JSON FAULT: %s", method, path, w.Code, w.Body)
			}
		}
		answered := w.Code == 200 && strings.HasSuffix(path, "/disposition")
		if st := b.Stats(); st.Invitations != 1 && !answered {
			t.Fatalf("%s %s %q: the live invitation was lost", method, path, body)
		}
	})
}
