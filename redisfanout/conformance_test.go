package redisfanout_test

import (
	"testing"

	"github.com/engagekit/gateway/push"
)

// cluster has the fields of pushtest.Cluster, the conformance suite's
// view of several brokers sharing one store. Once package push/pushtest
// lands, newCluster returns a *pushtest.Cluster and
//
//	func TestConformance(t *testing.T) { pushtest.Run(t, newCluster) }
//
// runs the suite against Redis.
type cluster struct {
	Backends []push.Backend
	Outage   func() (restore func())
	Wipe     func()
}

// newCluster is pushtest.Run's constructor: a redis-server of the test's
// own, and n backends on it, each with a client (and so connections) of
// its own, as n instances would have. Outage stops the server, keeping its
// data, until restore; Wipe restarts it empty.
func newCluster(t *testing.T, n int) *cluster {
	srv := startRedis(t)
	c := &cluster{Outage: srv.outage, Wipe: srv.wipe}
	for range n {
		c.Backends = append(c.Backends, newBackend(t, srv.client(t), nil))
	}
	return c
}
