// Package authtest checks that an example's routes take the credentials
// engageauth.Flags resolves.
package authtest

import (
	"flag"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/engagekit/gateway/examples/internal/engageauth"
)

// Request is a form POST of Param=Object to Path, answered Want once it is
// admitted.
type Request struct {
	Path, Param, Object string
	Want                int
}

// Run runs each request in turn against a handler made by newHandler for
// the credentials of each case: with the default flags (a generated
// password) a request without credentials, or with a wrong password, is
// 401 with a Basic challenge, and one with the generated credentials is
// answered Want; under -insecure a request without credentials is answered
// Want.
func Run(t *testing.T, newHandler func(engageauth.Credentials) http.Handler, requests []Request) {
	t.Helper()
	const (
		none = iota
		wrong
		right
	)
	for _, tc := range []struct {
		name     string
		flags    []string
		send     int // which credentials the requests carry
		admitted bool
	}{
		{"a request without credentials is refused", nil, none, false},
		{"a request with a wrong password is refused", nil, wrong, false},
		{"a request with the generated credentials is admitted", nil, right, true},
		{"-insecure admits a request without credentials", []string{"-insecure"}, none, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(engageauth.EnvUser, "")
			t.Setenv(engageauth.EnvPassword, "")
			fs := flag.NewFlagSet("example", flag.ContinueOnError)
			credentials := engageauth.Flags(fs)
			if err := fs.Parse(tc.flags); err != nil {
				t.Fatal(err)
			}
			c := credentials()
			h := newHandler(c)
			for _, req := range requests {
				r := httptest.NewRequest("POST", req.Path, strings.NewReader(url.Values{req.Param: {req.Object}}.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				switch tc.send {
				case wrong:
					r.SetBasicAuth(c.User, c.Password+"x")
				case right:
					r.SetBasicAuth(c.User, c.Password)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				want := req.Want
				if !tc.admitted {
					want = http.StatusUnauthorized
				}
				if w.Code != want {
					t.Errorf("%s: %d %s, want %d", req.Path, w.Code, strings.TrimSpace(w.Body.String()), want)
				}
				if !tc.admitted && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic ") {
					t.Errorf("%s: WWW-Authenticate %q, want a Basic challenge", req.Path, w.Header().Get("WWW-Authenticate"))
				}
			}
		})
	}
}
