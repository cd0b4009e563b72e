package natsfanout_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/engagekit/gateway/natsfanout"
	"github.com/nats-io/nats.go"
)

// wipe restarts the server on the same port with an empty store: NATS
// restarted after losing its disk.
func (n *natsServer) wipe() {
	n.t.Helper()
	n.stop()
	n.dir = n.t.TempDir()
	n.start()
}

// TestSameInteractionIDForTwoVisits: one interactionID engaged for two
// visits is two invitations; the second must not vanish in JetStream's
// duplicate window.
func TestSameInteractionIDForTwoVisits(t *testing.T) {
	ns := startNATS(t)
	lenient := &natsfanout.Options{Lenient: true}
	a, b := newInstance(t, ns.url(), lenient), newInstance(t, ns.url(), lenient)
	for _, visit := range []string{"v-1", "v-2"} {
		if code, fault := a.engage(t, visit, "i-1"); code != 200 {
			t.Fatalf("engage %s: %d %s", visit, code, fault)
		}
	}
	want(t, b.subscribe(t, "v-2").next(t), "engage", "i-1")
}

// TestForgedEventsAreNotDelivered: what is published raw onto the stream is
// checked with the handler's rules before a browser sees it.
func TestForgedEventsAreNotDelivered(t *testing.T) {
	ns := startNATS(t)
	a, b := newInstance(t, ns.url(), nil), newInstance(t, ns.url(), nil)
	page := b.subscribe(t, "v-1")
	for _, forged := range []string{
		`{"op":"engage","profile":{"interactionID":"x\r\nevent: cancel\r\ndata: {\"interactionID\":\"i-0\"}\r\n","visitID":"v-1","channels":["chat"]},"expiresAt":"2999-01-01T00:00:00Z"}`,
		`{"op":"engage","profile":{"interactionID":"i-bad","visitID":"v-1","channels":["Not A Channel"]},"expiresAt":"2999-01-01T00:00:00Z"}`,
	} {
		if err := a.nc.Publish("gwe.events.engage", []byte(forged)); err != nil {
			t.Fatal(err)
		}
	}
	a.nc.Flush()
	if code, _ := a.engage(t, "v-1", "i-1"); code != 200 {
		t.Fatalf("engage: %d", code)
	}
	want(t, page.next(t), "engage", "i-1")
}

// TestStoreWipedEngagesRecover: NATS restarted with an empty store; once
// the instances have reconnected, engages are accepted again.
func TestStoreWipedEngagesRecover(t *testing.T) {
	ns := startNATS(t)
	a := newInstance(t, ns.url(), nil)
	if code, _ := a.engage(t, "v-0", "i-0"); code != 200 {
		t.Fatalf("engage before the wipe: %d", code)
	}
	ns.wipe()
	eventually(t, "A reconnects", func() bool { return a.nc.Status() == nats.CONNECTED })
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; ; i++ {
		code, fault := a.engage(t, fmt.Sprint("v-", i+1), fmt.Sprint("i-", i+1))
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("3 s after NATS came back empty, engages still answer %d %s", code, fault)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStoreWipedNoEventSkipped: after the wipe, an instance started anew
// recreates the stream and engages 60 visits; the instances that were
// running before, whose cursors are past the new stream's first events,
// deliver every one of them.
func TestStoreWipedNoEventSkipped(t *testing.T) {
	ns := startNATS(t)
	a := newInstance(t, ns.url(), &natsfanout.Options{Lenient: true})
	for i := range 50 {
		if code, _ := a.engage(t, fmt.Sprint("old-", i), fmt.Sprint("old-", i)); code != 200 {
			t.Fatalf("engage before the wipe: %d", code)
		}
	}
	eventually(t, "A has applied its 50 engages", func() bool { return a.f.Broker().Stats().Invitations == 50 })
	ns.wipe()
	eventually(t, "A reconnects", func() bool { return a.nc.Status() == nats.CONNECTED })
	c := newInstance(t, ns.url(), &natsfanout.Options{Lenient: true})
	for i := range 60 {
		if code, fault := c.engage(t, fmt.Sprint("v-", i), fmt.Sprint("i-", i)); code != 200 {
			t.Fatalf("engage %d on the new instance: %d %s", i, code, fault)
		}
	}
	for i := range 60 {
		want(t, a.subscribe(t, fmt.Sprint("v-", i)).next(t), "engage", fmt.Sprint("i-", i))
	}
}
