package main

import (
	"context"
	"errors"
	"testing"

	"github.com/engagekit/gateway"
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
