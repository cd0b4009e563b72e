package natsfanout_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

// TestNotifyFloodKeepsTheVisitsCap: 64 concurrent notifies of 16 messages
// to one visit on one instance. Each used to pass MaxNotificationsPerVisit
// while the others were on their way through NATS: all 64 were accepted
// and 1,024 messages kept, against a cap of 32.
func TestNotifyFloodKeepsTheVisitsCap(t *testing.T) {
	c := newCluster(t, 2, nil)
	var brokers []*push.Broker
	for _, be := range c.backends {
		b := push.NewBroker(&push.Options{Backend: be, Heartbeat: time.Hour, MaxNotificationsPerVisit: 32})
		t.Cleanup(func() { b.Shutdown(context.Background()) })
		brokers = append(brokers, b)
	}
	msgs := make([]gateway.Message, 16)
	for i := range msgs {
		msgs[i] = gateway.Message{Channel: "shop.cart", Data: json.RawMessage(`{}`)}
	}
	var wg sync.WaitGroup
	var accepted atomic.Int64
	for range 64 {
		wg.Go(func() {
			if brokers[0].Notify(context.Background(), &gateway.Notification{VisitID: "v-1", Messages: msgs}) == nil {
				accepted.Add(1)
			}
		})
	}
	wg.Wait()
	want := accepted.Load() * 16
	for i, b := range brokers {
		eventually(t, "the accepted messages arrive", func() bool { return int64(b.Stats().Notifications) == want })
		if got := b.Stats().Notifications; got > 32 {
			t.Errorf("instance %d keeps %d messages for one visit, over MaxNotificationsPerVisit 32", i, got)
		}
	}
}
