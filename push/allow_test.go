package push_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestMethodNotAllowedNamesTheRightMethods: a 405 from a browser route
// names the methods of that route, not the engage endpoint's.
func TestMethodNotAllowedNamesTheRightMethods(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, tc := range []struct {
		method, path, allow string
	}{
		{"POST", "/notification/visitor.js", "GET, HEAD"},
		{"DELETE", "/notification/v-1", "GET, OPTIONS"},
		{"GET", "/notification/v-1/disposition", "POST, OPTIONS"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.srv.URL+tc.path, strings.NewReader(""))
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tc.allow {
				t.Errorf("%d, Allow %q; want 405, Allow %q", resp.StatusCode, resp.Header.Get("Allow"), tc.allow)
			}
		})
	}
}
