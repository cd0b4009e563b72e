package pushtest

import (
	"encoding/json"
	"testing"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/gatewaytest"
)

// RunNotifier runs the Notifier suite of package gatewaytest against
// brokers that share the backends newCluster makes: two brokers, each
// behind its own server as in [Run], with the visitor's page on the first
// or on the second. The notifier is the first broker called directly, then
// a [gateway.Client] talking to the first broker's engage API, so that what
// the suite checks (idempotent cancel, cancel before engage, the context
// honoured, no pointer kept) holds on one instance and across instances,
// directly and over HTTP.
//
// newCluster is called once per notifier, with n = 2, from the subtest's
// goroutine; the suite's checks share that cluster, each with visits of
// its own.
func RunNotifier(t *testing.T, newCluster func(t *testing.T, n int) *Cluster) {
	broker := func(_ *testing.T, in *instance) gateway.Notifier { return in.broker }
	client := func(t *testing.T, in *instance) gateway.Notifier {
		c, err := gateway.NewClient(in.srv.URL, &gateway.ClientOptions{HTTPClient: in.srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name     string
		notifier func(t *testing.T, in *instance) gateway.Notifier
		page     int // the instance the visitor's page is on
	}{
		{"a Broker, the page on the same instance", broker, 0},
		{"a Broker, the page on another instance", broker, 1},
		{"a Client talking to one instance, the page on the same", client, 0},
		{"a Client talking to one instance, the page on another", client, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, in := start(t, newCluster, 2, strict)
			n := tc.notifier(t, in[0])
			gatewaytest.Run(t, func(t *testing.T) *gatewaytest.Harness {
				return &gatewaytest.Harness{
					Notifier: n,
					Watch: func(t *testing.T, visitID string) <-chan gatewaytest.Delivery {
						return deliveries(in[tc.page].subscribe(t, visitID, "", ""))
					},
					Wait: wait,
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
			switch ev.kind {
			case "engage":
				b, _ := json.Marshal(ev.data)
				if err := json.Unmarshal(b, &d.Profile); err != nil {
					continue
				}
			case "cancel":
				d.Cancel = true
				d.Profile.InteractionID, _ = ev.data["interactionID"].(string)
			default:
				continue
			}
			out <- d
		}
	}()
	return out
}
