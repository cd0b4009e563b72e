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

// Record keys as a broker makes them: a kind, then each part after its
// length (uvarint 40 is '('); IDs of 40 characters.
var (
	gatingKey   = "v(" + fmt.Sprintf("vis-%036d", 0)
	electionKey = func(i int) string { return fmt.Sprintf("o(vis-%036d(ixn-%036d\rlz3k9q0a1b2c", i, i) }
)

// TestElectionsKeepGatingState: outcome elections, written once per
// outcome, do not push a visit's offer-gating state out of its bucket.
// Both shared one bucket, which forgot the record written longest ago
// whatever its TTL: in a bound of 64 KiB, the gating record (kept 24 h)
// went at the 250th election written after it, and the visit's next
// engage then passed its cool-down.
func TestElectionsKeepGatingState(t *testing.T) {
	if push.IsElection(gatingKey) || !push.IsElection(electionKey(0)) {
		t.Fatal("the test's keys are not a gating record and an election")
	}
	c := newCluster(t, 1, &natsfanout.Options{MaxRecordBytes: 64 << 10})
	be := c.backends[0]
	ctx := context.Background()
	if ok, err := be.Store(ctx, gatingKey, make([]byte, 16), 0, 24*time.Hour); !ok || err != nil {
		t.Fatalf("Store of the gating record: %v, %v", ok, err)
	}
	for n := range 2000 {
		if ok, err := be.Store(ctx, electionKey(n), []byte("accepted"), 0, 35*time.Minute); !ok || err != nil {
			t.Fatalf("Store #%d: %v, %v", n, ok, err)
		}
	}
	if data, _, err := be.Load(ctx, gatingKey); err != nil || data == nil {
		t.Errorf("the gating record after 2,000 elections: %q, %v; want it kept", data, err)
	}
}

// TestElectionsForgetTheOldestWritten measures what the elections
// bucket's bound means: past MaxElectionBytes NATS forgets the election
// written longest ago, and keeps the newest. The figure it logs sizes the
// bounds in natsfanout's package doc.
func TestElectionsForgetTheOldestWritten(t *testing.T) {
	const bound = 64 << 10
	c := newCluster(t, 1, &natsfanout.Options{MaxElectionBytes: bound})
	be := c.backends[0]
	ctx := context.Background()
	n := 0
	for ; n < 2000; n++ {
		if ok, err := be.Store(ctx, electionKey(n), []byte("accepted"), 0, 35*time.Minute); !ok || err != nil {
			t.Fatalf("Store #%d: %v, %v", n, ok, err)
		}
		if data, _, err := be.Load(ctx, electionKey(0)); err != nil {
			t.Fatal(err)
		} else if data == nil {
			break
		}
	}
	if n == 2000 {
		t.Fatalf("the first election outlived 2,000 more in a bucket of %d bytes", bound)
	}
	if data, _, err := be.Load(ctx, electionKey(n)); err != nil || data == nil {
		t.Errorf("the newest election: %q, %v; want it kept", data, err)
	}
	perRecord := bound / (n + 1)
	t.Logf("the first election was forgotten at election %d: %d bytes a record", n+1, perRecord)
	if perRecord > (64<<20)/250_000 {
		t.Errorf("%d bytes a record: the default bound keeps fewer than the 250,000 documented", perRecord)
	}
}
