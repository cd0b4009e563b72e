// Package lifecycle gives the examples their flags for the invitation's
// lifecycle: outcomes sent to a webhook (-webhook, -webhook-secret) and
// offer gating (-cooldown).
package lifecycle

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"

	"github.com/engagekit/gateway/push"
	"github.com/engagekit/gateway/webhook"
)

// EnvWebhookSecret is the environment variable -webhook-secret defaults
// to, so that the secret need not be on the command line.
const EnvWebhookSecret = "GATEWAY_WEBHOOK_SECRET"

// Flags registers -webhook, -webhook-secret and -cooldown on fs; after
// fs is parsed, the function it returns makes their [Setup].
func Flags(fs *flag.FlagSet) func(log *slog.Logger) (*Setup, error) {
	url := fs.String("webhook", "", "send each invitation's outcome to this URL as a signed Standard Webhooks message (default: none)")
	secret := fs.String("webhook-secret", "", "the whsec_… secret that signs the webhook's messages (default $"+EnvWebhookSecret+"; needed with -webhook)")
	cooldown := fs.Duration("cooldown", 0, "after a visitor rejects an invitation, suppress new ones to the visit for this long, e.g. 10m (default: off)")
	return func(log *slog.Logger) (*Setup, error) {
		s := &Setup{}
		if *cooldown < 0 {
			return nil, errors.New("-cooldown must not be negative")
		}
		if *cooldown > 0 {
			s.gate = &push.Gate{Cooldown: *cooldown}
		}
		if *url == "" {
			return s, nil
		}
		sec := *secret
		if sec == "" {
			sec = os.Getenv(EnvWebhookSecret)
		}
		if sec == "" {
			return nil, errors.New("-webhook needs -webhook-secret or $" + EnvWebhookSecret + " (make one with webhook.NewSecret)")
		}
		sender, err := webhook.New(*url, sec, &webhook.Options{Logger: log})
		if err != nil {
			return nil, err
		}
		s.Sender = sender
		return s, nil
	}
}

// Setup is what the flags ask for.
type Setup struct {
	// Sender sends the outcomes, when -webhook is set; nil otherwise.
	Sender *webhook.Sender
	gate   *push.Gate
}

// Apply sets a broker's OnOutcome and Gate from the flags. Every broker
// of a cluster may share one Setup: the brokers elect the one that sends
// each outcome.
func (s *Setup) Apply(o *push.Options) {
	if s.Sender != nil {
		o.OnOutcome = s.Sender.OnOutcome
	}
	if s.gate != nil {
		o.Gate = s.gate
	}
}

// Close delivers the outcomes still queued, within ctx. Call it after the
// brokers have shut down.
func (s *Setup) Close(ctx context.Context) error {
	if s.Sender == nil {
		return nil
	}
	return s.Sender.Close(ctx)
}

// Announce logs what the flags turned on.
func (s *Setup) Announce(log *slog.Logger) {
	if s.Sender != nil {
		log.Info("outcomes are sent to the webhook", "endpoint", s.Sender)
	}
	if s.gate != nil {
		log.Info("offer gating: a rejection suppresses new invitations to the visit", "cooldown", s.gate.Cooldown)
	}
}
