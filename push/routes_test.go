package push_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestEveryVisitIDCanSubscribe engages visits whose IDs are also the names
// of the broker's routes, and subscribes to each as visitor.js does, with
// EventSource (which always sends Accept: text/event-stream): each gets its
// invitation, and its disposition is taken. Before, engage accepted the
// visitIDs "visitor.js" and "disposition" but no page could ever subscribe
// to them (issue 10, finding 11): …/notification/visitor.js was the script,
// and …/notification/disposition the disposition of visit "notification".
func TestEveryVisitIDCanSubscribe(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, visitID := range []string{"visitor.js", "disposition", "notification", "v-1"} {
		t.Run(visitID, func(t *testing.T) {
			form := "ixnProfile=" + url.QueryEscape(`{"interactionID":"i-1","visitID":"`+visitID+`","channels":["chat"]}`)
			resp, err := e.srv.Client().Post(e.srv.URL+"/server/data/gateway/engage", "application/x-www-form-urlencoded", strings.NewReader(form))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("engage: %d", resp.StatusCode)
			}
			s := e.subscribe(t, "/notification/"+visitID, http.Header{"Accept": {"text/event-stream"}})
			wantEngage(t, s.next(t), "i-1")
			resp, err = e.srv.Client().Post(e.srv.URL+"/notification/"+visitID+"/disposition", "application/json",
				strings.NewReader(`{"interactionID":"i-1","result":"rejected"}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("disposition: %d", resp.StatusCode)
			}
		})
	}
}

// TestRoutesWithoutEventStream checks the routes a request that does not
// ask for an event stream takes, as before: the script, and the 405 of a
// disposition fetched with GET.
func TestRoutesWithoutEventStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, tc := range []struct {
		path, accept string
		status       int
		contentType  string
	}{
		{"/notification/visitor.js", "", 200, "text/javascript; charset=utf-8"},
		{"/notification/visitor.js", "*/*", 200, "text/javascript; charset=utf-8"},
		{"/notification/v-1/disposition", "", 405, "application/json; charset=utf-8"},
		{"/notification/disposition", "text/html", 405, "application/json; charset=utf-8"},
	} {
		req, _ := http.NewRequest("GET", e.srv.URL+tc.path, nil)
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != tc.contentType {
			t.Errorf("GET %s (Accept %q): %d %s, want %d %s", tc.path, tc.accept, resp.StatusCode, resp.Header.Get("Content-Type"), tc.status, tc.contentType)
		}
	}
}
