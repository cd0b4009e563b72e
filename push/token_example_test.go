package push_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/engagekit/gateway/push"
)

// The host's server mints a token for the page it renders; the broker,
// given the same key in Options.TokenKeys, verifies it.
func ExampleMintToken() {
	key, err := push.ParseTokenKey("2026-11:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA")
	if err != nil {
		panic(err)
	}
	issued := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	token, err := push.MintToken(key, push.TokenClaims{VisitID: "v-1", PageID: "p-1", IssuedAt: issued})
	if err != nil {
		panic(err)
	}
	fmt.Println(token)

	c, err := push.VerifyToken(token, []push.TokenKey{key}, issued.Add(time.Minute))
	fmt.Println(c.VisitID, c.PageID, c.Expiry.UTC().Format(time.TimeOnly), err)

	_, err = push.VerifyToken(token, []push.TokenKey{key}, issued.Add(push.DefaultTokenTTL))
	fmt.Println(errors.Is(err, push.ErrTokenExpired))
	fmt.Println(key) // never the secret
	// Output:
	// eyJhbGciOiJIUzI1NiIsImtpZCI6IjIwMjYtMTEiLCJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ2LTEiLCJwYWdlIjoicC0xIiwiaWF0IjoxNzk1OTQ2NDAwLCJleHAiOjE3OTU5NDcwMDB9.J2BBUv7vOuUNaLXi4oWpAITvFcbdpxH43nJxTnwcKsc
	// v-1 p-1 10:10:00 <nil>
	// true
	// TokenKey(2026-11)
}
