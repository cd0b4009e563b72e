package lifecycle

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/engagekit/gateway/push"
	"github.com/engagekit/gateway/webhook"
)

func TestFlags(t *testing.T) {
	secret := webhook.NewSecret()
	for _, tc := range []struct {
		name         string
		args         []string
		env          string
		wantErr      bool
		wantHook     bool
		wantCooldown time.Duration
	}{
		{name: "no flag turns nothing on"},
		{name: "-cooldown sets the Gate's cool-down", args: []string{"-cooldown", "10m"}, wantCooldown: 10 * time.Minute},
		{name: "a negative cool-down is refused", args: []string{"-cooldown", "-1s"}, wantErr: true},
		{name: "-webhook with -webhook-secret sends outcomes", args: []string{"-webhook", "http://127.0.0.1:9/hook", "-webhook-secret", secret}, wantHook: true},
		{name: "the secret may come from the environment", args: []string{"-webhook", "http://127.0.0.1:9/hook"}, env: secret, wantHook: true},
		{name: "-webhook without a secret is refused", args: []string{"-webhook", "http://127.0.0.1:9/hook"}, wantErr: true},
		{name: "a secret that is not whsec_ is refused", args: []string{"-webhook", "http://127.0.0.1:9/hook", "-webhook-secret", "hunter2"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvWebhookSecret, tc.env)
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			setup := Flags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			s, err := setup(slog.New(slog.DiscardHandler))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want an error: %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			defer s.Close(context.Background())
			var o push.Options
			s.Apply(&o)
			if (o.OnOutcome != nil) != tc.wantHook {
				t.Errorf("OnOutcome set: %v, want %v", o.OnOutcome != nil, tc.wantHook)
			}
			var cooldown time.Duration
			if o.Gate != nil {
				cooldown = o.Gate.Cooldown
			}
			if cooldown != tc.wantCooldown {
				t.Errorf("cool-down %v, want %v", cooldown, tc.wantCooldown)
			}
		})
	}
}
