package main

import (
	"log/slog"
	"net/http"
	"testing"

	"github.com/engagekit/gateway/examples/internal/engageauth"
	"github.com/engagekit/gateway/examples/internal/engageauth/authtest"
)

// TestAuthenticates: engage and noengage, under both path families, take
// the example's credentials, or none under -insecure.
func TestAuthenticates(t *testing.T) {
	authtest.Run(t, func(c engageauth.Credentials) http.Handler { return NewHandler(c, slog.New(slog.DiscardHandler)) }, []authtest.Request{
		{Path: "/server/data/gateway/engage", Param: "ixnProfile", Object: `{"interactionID":"i-1","visitID":"v-1","channels":["chat"]}`, Want: 200},
		{Path: "/server/data/gateway/noengage", Param: "cancelData", Object: `{"interactionID":"i-1","visitID":"v-1"}`, Want: 200},
		{Path: "/backend/data/gateway/engage", Param: "ixnProfile", Object: `{"interactionID":"i-2","visitID":"v-1","channels":["chat"]}`, Want: 200},
		{Path: "/backend/data/gateway/noengage", Param: "cancelData", Object: `{"interactionID":"i-2","visitID":"v-1"}`, Want: 200},
	})
}
