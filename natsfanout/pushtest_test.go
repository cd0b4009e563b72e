package natsfanout_test

import (
	"testing"

	"github.com/engagekit/gateway/push"
	"github.com/engagekit/gateway/push/pushtest"
)

// TestConformance runs the delivery rules of contract §6 on brokers
// sharing one NATS server, each through its own connection and Backend.
func TestConformance(t *testing.T) { pushtest.Run(t, newPushCluster) }

// TestNotifier runs the Notifier suite of package gatewaytest against
// brokers on NATS: engaged and cancelled on one instance, directly and
// through a Client, and watched on another.
func TestNotifier(t *testing.T) { pushtest.RunNotifier(t, newPushCluster) }

// newPushCluster is push/pushtest's constructor: a NATS server of the
// test's own, and n backends on it, each with a connection of its own.
func newPushCluster(t *testing.T, n int) *pushtest.Cluster {
	c := newCluster(t, n, nil)
	backends := make([]push.Backend, len(c.backends))
	for i, b := range c.backends {
		backends[i] = b
	}
	return &pushtest.Cluster{Backends: backends, Outage: c.outage, Wipe: c.wipe}
}
