package push_test

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/gatewaytest"
	"github.com/engagekit/gateway/push"
)

// TestNotifierContract runs the Notifier suite against a Broker, called
// directly and through a Client that talks to a Handler in front of it.
func TestNotifierContract(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		notifier func(t *testing.T, srv *httptest.Server, b *push.Broker) gateway.Notifier
	}{
		{"a Broker", func(_ *testing.T, _ *httptest.Server, b *push.Broker) gateway.Notifier { return b }},
		{"a Client talking to a Handler wrapping a Broker", func(t *testing.T, srv *httptest.Server, _ *push.Broker) gateway.Notifier {
			c, err := gateway.NewClient(srv.URL, &gateway.ClientOptions{HTTPClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gatewaytest.Run(t, func(t *testing.T) *gatewaytest.Harness {
				e := newEnv(t, nil)
				return &gatewaytest.Harness{
					Notifier: tc.notifier(t, e.srv, e.b),
					Watch: func(t *testing.T, visitID string) <-chan gatewaytest.Delivery {
						return deliveries(e.subscribe(t, "/notification/"+visitID, nil))
					},
				}
			})
		})
	}
}

// deliveries turns a page's stream into the Notifier suite's deliveries.
func deliveries(s *stream) <-chan gatewaytest.Delivery {
	out := make(chan gatewaytest.Delivery, cap(s.events))
	go func() {
		defer close(out)
		for ev := range s.events {
			var d gatewaytest.Delivery
			switch ev.Type {
			case "engage":
				b, _ := json.Marshal(ev.Data)
				if err := json.Unmarshal(b, &d.Profile); err != nil {
					continue
				}
			case "cancel":
				d.Cancel = true
				d.Profile.InteractionID, _ = ev.Data["interactionID"].(string)
			default:
				continue
			}
			out <- d
		}
	}()
	return out
}
