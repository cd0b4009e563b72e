package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/engagekit/gateway"
	"github.com/google/go-cmp/cmp"
)

// notifier is a Notifier and a Messenger that keeps what it is given.
type notifier struct {
	gateway.Funcs
	mu  sync.Mutex
	got []gateway.Notification
}

func (n *notifier) Notify(_ context.Context, x *gateway.Notification) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, *x)
	return nil
}

// TestNotifyCLI runs engagectl notify against a real handler that serves
// notify, and one that does not.
func TestNotifyCLI(t *testing.T) {
	n := &notifier{}
	h := gateway.NewHandler(n, &gateway.Options{Authenticate: gateway.BasicAuth("ors", "pw", "gwe")})
	srv := httptest.NewServer(h)
	defer srv.Close()
	plain := httptest.NewServer(gateway.NewHandler(gateway.Discard, nil))
	defer plain.Close()
	auth := []string{"ENGAGECTL_USER=ors", "ENGAGECTL_PASSWORD=pw"}

	runAll(t, []cliRun{
		{"notify one page", []string{"notify", "-url", srv.URL, "-visit", "v-1", "-channel", "gpe.appendContent", "-data", `{"url":"/offer.html","container":"#offers"}`, "-page", "p-1"}, auth, 0, "OK\n", ""},
		{"notify every page on 8.1.2 paths, JSON output", []string{"notify", "-url", srv.URL, "-paths", "8.1.2", "-visit", "v-2", "-channel", "shop.cart", "-data", `{"items":2}`, "-json"}, auth, 0, `{"status":"OK"}`, ""},
		{"no -channel", []string{"notify", "-url", srv.URL, "-visit", "v-1", "-data", `{}`}, auth, 2, "", "-channel and -data"},
		{"no -data", []string{"notify", "-url", srv.URL, "-visit", "v-1", "-channel", "c"}, auth, 2, "", "-channel and -data"},
		{"data that is not an object is not sent", []string{"notify", "-url", srv.URL, "-visit", "v-1", "-channel", "c", "-data", `[1]`}, auth, 1, "", "messages[0].data must be a JSON object"},
		{"data that is not JSON is not sent", []string{"notify", "-url", srv.URL, "-visit", "v-1", "-channel", "c", "-data", `{nope`}, auth, 1, "", "messages[0].data must be a JSON object"},
		{"a channel of other characters is not sent", []string{"notify", "-url", srv.URL, "-visit", "v-1", "-channel", "a b", "-data", `{}`}, auth, 1, "", "messages[0].channel may hold only"},
		{"a flag of engage", []string{"notify", "-visit", "v-1", "-channel", "c", "-data", `{}`, "-title", "T"}, auth, 2, "", "-title"},
		{"wrong credentials", []string{"notify", "-url", srv.URL, "-visit", "v-1", "-channel", "c", "-data", `{}`}, nil, 1, "", "FAULT 401 UNAUTHORIZED"},
		{"a gateway that does not serve notify", []string{"notify", "-url", plain.URL, "-visit", "v-1", "-channel", "c", "-data", `{}`}, nil, 1, "", "FAULT 404 NOT_FOUND: this gateway does not serve notify"},
	})
	want := []gateway.Notification{
		{VisitID: "v-1", Messages: []gateway.Message{{Page: "p-1", Channel: "gpe.appendContent", Data: json.RawMessage(`{"url":"/offer.html","container":"#offers"}`)}}},
		{VisitID: "v-2", Messages: []gateway.Message{{Channel: "shop.cart", Data: json.RawMessage(`{"items":2}`)}}},
	}
	if diff := cmp.Diff(want, n.got); diff != "" {
		t.Errorf("notified (-want +got):\n%s", diff)
	}

	code, stdout, _ := engagectl(t, nil, "notify", "-h")
	for _, flag := range []string{"-visit", "-channel", "-data", "-page", "-url", "-paths", "-json"} {
		if code != 0 || !strings.Contains(stdout, "  "+flag+" ") && !strings.Contains(stdout, "  "+flag+"\n") {
			t.Errorf("notify -h (exit %d) does not list %s:\n%s", code, flag, stdout)
		}
	}
	for _, flag := range []string{"-channels", "-reason", "-interaction", "-title"} {
		if strings.Contains(stdout, "  "+flag+" ") || strings.Contains(stdout, "  "+flag+"\n") {
			t.Errorf("notify -h lists %s, a flag of another command", flag)
		}
	}
}
