package main

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/examples/internal/engageauth"
	"github.com/engagekit/gateway/examples/internal/engageauth/authtest"
)

func TestLive(t *testing.T) {
	l := NewLive(1)
	ctx := context.Background()
	if err := l.Engage(ctx, &gateway.Profile{InteractionID: "a", VisitID: "v"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Engage(ctx, &gateway.Profile{InteractionID: "b", VisitID: "v"}); !errors.Is(err, gateway.ErrEngagementInProgress) {
		t.Errorf("second invitation: %v", err)
	}
	if err := l.Engage(ctx, &gateway.Profile{InteractionID: "c", VisitID: "w"}); !errors.Is(err, gateway.ErrUnavailable) {
		t.Errorf("full table: %v", err)
	}
	l.Cancel(ctx, &gateway.CancelData{InteractionID: "a", VisitID: "v"})
	if err := l.Engage(ctx, &gateway.Profile{InteractionID: "b", VisitID: "v"}); err != nil {
		t.Errorf("after cancel: %v", err)
	}
}

// TestAuthenticates: engage and noengage take the example's credentials,
// or none under -insecure.
func TestAuthenticates(t *testing.T) {
	authtest.Run(t, func(c engageauth.Credentials) http.Handler { return NewHandler(NewLive(10), c) }, []authtest.Request{
		{Path: "/server/data/gateway/engage", Param: "ixnProfile", Object: `{"interactionID":"i-1","visitID":"v-1","channels":["chat"]}`, Want: 200},
		{Path: "/server/data/gateway/engage", Param: "ixnProfile", Object: `{"interactionID":"i-2","visitID":"v-1","channels":["chat"]}`, Want: 400}, // ENGAGEMENT_IN_PROGRESS
		{Path: "/server/data/gateway/noengage", Param: "cancelData", Object: `{"interactionID":"i-1","visitID":"v-1"}`, Want: 200},
	})
}
