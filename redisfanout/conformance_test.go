package redisfanout_test

import (
	"testing"

	"github.com/engagekit/gateway/push/pushtest"
)

// TestConformance runs the delivery rules of contract §6 on brokers
// sharing one redis-server, each through its own client and Backend.
func TestConformance(t *testing.T) { pushtest.Run(t, newCluster) }

// TestNotifier runs the Notifier suite of package gatewaytest against
// brokers on Redis: engaged and cancelled on one instance, directly and
// through a Client, and watched on another.
func TestNotifier(t *testing.T) { pushtest.RunNotifier(t, newCluster) }

// newCluster is pushtest.Run's constructor: a redis-server of the test's
// own, and n backends on it, each with a client (and so connections) of
// its own, as n instances would have. Outage stops the server, keeping its
// data, until restore; Wipe restarts it empty.
func newCluster(t *testing.T, n int) *pushtest.Cluster {
	srv := startRedis(t)
	c := &pushtest.Cluster{Outage: srv.outage, Wipe: srv.wipe}
	for range n {
		c.Backends = append(c.Backends, newBackend(t, srv.client(t), nil))
	}
	return c
}
