package gateway_test

import (
	"context"
	"errors"
	"testing"

	"github.com/engagekit/gateway"
	"github.com/google/go-cmp/cmp"
)

var (
	_ gateway.Notifier = gateway.Funcs{}
	_ gateway.Notifier = gateway.Discard
)

func TestChainStopsAtTheFirstError(t *testing.T) {
	t.Parallel()
	var calls []string
	n := func(name string, err error) gateway.Notifier {
		return gateway.Funcs{
			EngageFunc: func(context.Context, *gateway.Profile) error { calls = append(calls, name+".engage"); return err },
			CancelFunc: func(context.Context, *gateway.CancelData) error { calls = append(calls, name+".cancel"); return err },
		}
	}
	f := gateway.Chain(n("a", nil), n("b", gateway.ErrEngagementInProgress), n("c", nil))
	if err := f.Engage(context.Background(), &gateway.Profile{}); !errors.Is(err, gateway.ErrEngagementInProgress) {
		t.Errorf("Engage = %v, want the second notifier's error", err)
	}
	if err := gateway.Chain(n("a", nil), n("c", nil)).Cancel(context.Background(), &gateway.CancelData{}); err != nil {
		t.Errorf("Cancel = %v", err)
	}
	want := []string{"a.engage", "b.engage", "a.cancel", "c.cancel"}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestChainPanicsOnNil(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("Chain(nil) did not panic")
		}
	}()
	gateway.Chain(gateway.Discard, nil)
}

func TestFuncsWithNilFieldsAccept(t *testing.T) {
	t.Parallel()
	var f gateway.Funcs
	if f.Engage(context.Background(), nil) != nil || f.Cancel(context.Background(), nil) != nil {
		t.Error("zero Funcs must accept")
	}
}
