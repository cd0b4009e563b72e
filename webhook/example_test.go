package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	svix "github.com/svix/svix-webhooks/go"

	"github.com/engagekit/gateway/push"
	"github.com/engagekit/gateway/webhook"
)

// A Sender delivers an outcome to a receiver that verifies it with the
// svix library and deduplicates on its webhook-id.
func Example() {
	secret := webhook.NewSecret() // shared with the receiver

	// The receiver: verify the raw body, then process each ID once.
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		panic(err)
	}
	seen := make(map[string]bool)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || wh.Verify(body, r.Header) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if id := r.Header.Get("webhook-id"); !seen[id] {
			seen[id] = true
			var msg struct {
				Type string       `json:"type"`
				Data push.Outcome `json:"data"`
			}
			json.Unmarshal(body, &msg)
			fmt.Println(id, msg.Type, msg.Data.Result, msg.Data.Channel)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	// The sender, in the gateway.
	s, err := webhook.New(receiver.URL, secret, nil)
	if err != nil {
		panic(err)
	}
	s.Send(context.Background(), push.Outcome{
		VisitID:       "v-1",
		InteractionID: "i-1",
		Result:        push.ResultAccepted,
		Channel:       "chat",
		Time:          time.Now(),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		panic(err)
	}
	fmt.Println("delivered", s.Stats().Delivered)
	// Output:
	// msg_be35qhUpsEJ2i9g_T7Exrg engagement.outcome accepted chat
	// delivered 1
}
