package natsfanout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/natsfanout"
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

// TestRecordsForgetTheOldestWritten measures what the records bucket's
// bound means for offer gating: past MaxRecordBytes NATS forgets the
// record written longest ago, whatever its TTL, so a visit's gating
// state (kept 24 h) goes before the outcome elections (35 min) written
// after it, and the visit's next engage then passes its cool-down. The
// figure it logs sizes the bound in natsfanout's package doc.
func TestRecordsForgetTheOldestWritten(t *testing.T) {
	const bound = 64 << 10
	c := newCluster(t, 1, &natsfanout.Options{MaxRecordBytes: bound})
	be := c.backends[0]
	ctx := context.Background()
	// Keys as the broker makes them: a kind, then each part after its
	// length; IDs of 40 characters.
	gating := "v(" + fmt.Sprintf("vis-%036d", 0)
	outcome := func(i int) string {
		return fmt.Sprintf("o(vis-%036d(ixn-%036d\rlz3k9q0a1b2c", i, i)
	}
	if ok, err := be.Store(ctx, gating, make([]byte, 16), 0, 24*time.Hour); !ok || err != nil {
		t.Fatalf("Store of the gating record: %v, %v", ok, err)
	}
	n := 0
	for ; n < 2000; n++ {
		if ok, err := be.Store(ctx, outcome(n), []byte("accepted"), 0, 35*time.Minute); !ok || err != nil {
			t.Fatalf("Store #%d: %v, %v", n, ok, err)
		}
		if data, _, err := be.Load(ctx, gating); err != nil {
			t.Fatal(err)
		} else if data == nil {
			break
		}
	}
	if n == 2000 {
		t.Fatalf("the gating record outlived 2,000 outcome records in a bucket of %d bytes", bound)
	}
	if data, _, err := be.Load(ctx, outcome(n)); err != nil || data == nil {
		t.Errorf("the newest outcome record: %q, %v; want it kept", data, err)
	}
	perRecord := bound / (n + 1)
	t.Logf("the gating record was forgotten at outcome record %d: %d bytes a record", n+1, perRecord)
	if perRecord > (64<<20)/250_000 {
		t.Errorf("%d bytes a record: the default bound keeps fewer than the 250,000 documented", perRecord)
	}
}
