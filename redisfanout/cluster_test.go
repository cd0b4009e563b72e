package redisfanout_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/engagekit/gateway/push"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

// TestOnRedisCluster runs a backend on a *redis.ClusterClient, against a
// Redis Cluster of one node that serves every slot: the listener reads on
// the node that holds the stream, and returns promptly when canceled.
func TestOnRedisCluster(t *testing.T) {
	srv := startRedis(t, "--cluster-enabled", "yes")
	ctx := context.Background()
	admin := srv.client(t)
	if err := admin.ClusterAddSlotsRange(ctx, 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		info, err := admin.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster is not ok after 10 s: %v %s", err, info)
		}
	}
	newCluster := func() *redis.ClusterClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{srv.addr()}, ContextTimeoutEnabled: true})
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := newBackend(t, newCluster(), nil), newBackend(t, newCluster(), nil)

	l := listen(t, b)
	publish(t, a, engage(t, "e0", "v0", "i0"), engage(t, "e1", "v1", "i1"))
	if diff := cmp.Diff([]string{"e0", "e1"}, l.ids(2)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for i, be := range []push.Backend{a, b} {
		holder, err := be.Claim(ctx, "v0", []string{"i0", "i1"}[i], time.Minute)
		if err != nil || holder != "i0" {
			t.Errorf("Claim on backend %d: %q, %v; want i0", i, holder, err)
		}
	}
	time.Sleep(50 * time.Millisecond) // blocked in XREAD by now
	start := time.Now()
	if err := l.stop(); err != context.Canceled {
		t.Errorf("Listen returned %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("Listen returned %v after its context was canceled", d)
	}
}
