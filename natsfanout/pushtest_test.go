package natsfanout_test

import (
	"testing"

	"github.com/engagekit/gateway/push"
	"github.com/engagekit/gateway/push/pushtest"
)

// TestConformance runs the delivery rules of contract §6 on brokers
// sharing one NATS server, each through its own connection and Backend.
func TestConformance(t *testing.T) {
	pushtest.Run(t, func(t *testing.T, n int) *pushtest.Cluster {
		c := newCluster(t, n, nil)
		backends := make([]push.Backend, len(c.backends))
		for i, b := range c.backends {
			backends[i] = b
		}
		return &pushtest.Cluster{Backends: backends, Outage: c.outage, Wipe: c.wipe}
	})
}
