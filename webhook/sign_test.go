package webhook

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"

	"github.com/engagekit/gateway/push"
)

func TestSign(t *testing.T) {
	t.Parallel()
	// The example of the Standard Webhooks libraries' tests.
	const (
		secret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		timestamp = 1614265330
		body      = `{"test": 2432232314}`
	)
	key, err := parseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	got := sign(key, id, "1614265330", []byte(body))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("sign = %q, want the libraries' %q", got, want)
	}
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := wh.Sign(id, time.Unix(timestamp, 0), []byte(body)); got != want {
		t.Errorf("sign = %q, svix signs %q", got, want)
	}
}

func TestParseSecret(t *testing.T) {
	t.Parallel()
	enc := func(n int) string { return secretPrefix + base64.StdEncoding.EncodeToString(make([]byte, n)) }
	for _, tc := range []struct {
		name   string
		secret string
		ok     bool
	}{
		{"24 bytes are taken", enc(MinSecretBytes), true},
		{"64 bytes are taken", enc(MaxSecretBytes), true},
		{"23 bytes are refused", enc(MinSecretBytes - 1), false},
		{"65 bytes are refused", enc(MaxSecretBytes + 1), false},
		{"base64url is refused, as the libraries refuse it", secretPrefix + strings.Repeat("-_", 16), false},
		{"unpadded base64 is refused, as the libraries refuse it", strings.TrimRight(enc(25), "="), false},
		{"NewSecret's are taken", NewSecret(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseSecret(tc.secret)
			if (err == nil) != tc.ok {
				t.Errorf("parseSecret = %v, want ok %v", err, tc.ok)
			}
			if _, err := svix.NewWebhook(tc.secret); tc.ok && err != nil {
				t.Errorf("svix refuses a secret New takes: %v", err)
			}
		})
	}
	if a, b := NewSecret(), NewSecret(); a == b {
		t.Errorf("NewSecret returned %q twice", a)
	}
}

func TestMessageID(t *testing.T) {
	t.Parallel()
	base := push.Outcome{VisitID: "v-1", InteractionID: "i-1", Result: push.ResultAccepted, Channel: "chat", Time: time.Unix(1, 0)}
	id := MessageID(base)
	if len(id) != len("msg_")+22 || !strings.HasPrefix(id, "msg_") || strings.ContainsAny(id, ".,= ") {
		t.Errorf("MessageID = %q, want msg_ and 22 base64url characters", id)
	}
	for _, tc := range []struct {
		name   string
		change func(*push.Outcome)
		same   bool
	}{
		{"another time keeps the ID", func(o *push.Outcome) { o.Time = time.Now() }, true},
		{"another channel keeps the ID", func(o *push.Outcome) { o.Channel = "callback" }, true},
		{"another visit changes it", func(o *push.Outcome) { o.VisitID = "v-2" }, false},
		{"another interaction changes it", func(o *push.Outcome) { o.InteractionID = "i-2" }, false},
		{"another result changes it", func(o *push.Outcome) { o.Result = push.ResultClosed }, false},
		{"moving a character from one ID to the other changes it", func(o *push.Outcome) { o.VisitID, o.InteractionID = "v-1i", "-1" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.change(&o)
			if got := MessageID(o); (got == id) != tc.same {
				t.Errorf("MessageID = %q, base %q: want same %v", got, id, tc.same)
			}
		})
	}
}
