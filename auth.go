package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"
)

// BasicAuth returns an [Options.Authenticate] hook that admits requests
// carrying HTTP Basic credentials equal to user and password. It compares in
// constant time (of the SHA-256 digests, so lengths leak nothing either) and
// denies with a [*Fault] of code UNAUTHORIZED whose Challenge names realm. It panics
// if user or password is empty.
func BasicAuth(user, password, realm string) func(*http.Request) error {
	if user == "" || password == "" {
		panic("gateway: BasicAuth needs a user and a password")
	}
	wantUser := sha256.Sum256([]byte(user))
	wantPass := sha256.Sum256([]byte(password))
	deny := &Fault{Code: CodeUnauthorized, Challenge: `Basic realm=` + strconv.Quote(realm) + `, charset="UTF-8"`}
	return func(r *http.Request) error {
		u, p, ok := r.BasicAuth()
		gotUser := sha256.Sum256([]byte(u))
		gotPass := sha256.Sum256([]byte(p))
		// Both comparisons always run, so timing tells not which one failed.
		userOK := subtle.ConstantTimeCompare(gotUser[:], wantUser[:])
		passOK := subtle.ConstantTimeCompare(gotPass[:], wantPass[:])
		if !ok || userOK&passOK != 1 {
			return deny
		}
		return nil
	}
}
