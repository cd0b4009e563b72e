package webhook_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
	"github.com/engagekit/gateway/webhook"
)

// TestBrokersSendEachOutcomeOnce: two brokers sharing a backend, each
// with a Sender of its own as OnOutcome, send each outcome once between
// them, under its stable ID, to a receiver that fails twice then
// succeeds: it accepts exactly one delivery of each ID, and svix
// verifies every request.
func TestBrokersSendEachOutcomeOnce(t *testing.T) {
	t.Parallel()
	d := &dedup{fail: func(n int, w http.ResponseWriter) bool {
		if n < 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	}}
	rc := newReceiver(t, d.answer)
	backend := push.NewMemoryBackend(nil)
	var senders []*webhook.Sender
	var brokers []*push.Broker
	for range 2 {
		s := newSender(t, rc.URL, fast(webhook.Options{}))
		b := push.NewBroker(&push.Options{Backend: backend, OnOutcome: s.OnOutcome})
		senders, brokers = append(senders, s), append(brokers, b)
	}
	srv := httptest.NewServer(brokers[1])
	defer srv.Close()

	ctx := t.Context()
	for _, v := range []string{"v-1", "v-2"} {
		if err := brokers[0].Engage(ctx, &gateway.Profile{VisitID: v, InteractionID: "i-1", Channels: []string{"chat"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := brokers[1].Cancel(ctx, &gateway.CancelData{VisitID: "v-1", InteractionID: "i-1"}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(srv.URL+"/v-2/disposition", "application/json", strings.NewReader(`{"interactionID":"i-1","result":"rejected"}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("disposition: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	rc.wait(t, 4) // two failures, then one delivery of each

	for _, b := range brokers {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := b.Shutdown(sctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		cancel()
	}
	var delivered uint64
	for _, s := range senders {
		closeSender(t, s)
		delivered += s.Stats().Delivered
	}
	cancelled := webhook.MessageID(push.Outcome{VisitID: "v-1", InteractionID: "i-1", Result: push.ResultCancelled})
	rejected := webhook.MessageID(push.Outcome{VisitID: "v-2", InteractionID: "i-1", Result: push.ResultRejected})
	if diff := cmp.Diff(map[string]int{cancelled: 1, rejected: 1}, d.accepted()); diff != "" {
		t.Errorf("accepted deliveries by webhook-id (-want +got):\n%s", diff)
	}
	hits := rc.Hits()
	if len(hits) != 4 || delivered != 2 {
		t.Errorf("the receiver got %d requests and the senders delivered %d, want 4 and 2", len(hits), delivered)
	}
	for _, h := range hits {
		verify(t, h)
	}
}
