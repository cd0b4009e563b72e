package engageauth

import (
	"bytes"
	"flag"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFlags: a flag, else the environment, else the default user and a
// random password; -insecure turns the credentials off.
func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want Credentials // a generated password is checked apart
	}{
		{"defaults", nil, nil, Credentials{User: "engage", generated: true}},
		{"the environment", nil, map[string]string{EnvUser: "u", EnvPassword: "p"}, Credentials{User: "u", Password: "p"}},
		{"flags over the environment", []string{"-user", "f", "-password", "fp"}, map[string]string{EnvUser: "u", EnvPassword: "p"}, Credentials{User: "f", Password: "fp"}},
		{"a user of its own with a generated password", []string{"-user", "f"}, nil, Credentials{User: "f", generated: true}},
		{"insecure", []string{"-insecure", "-password", "p"}, map[string]string{EnvPassword: "p"}, Credentials{Insecure: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{EnvUser, EnvPassword} {
				t.Setenv(k, tc.env[k])
			}
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			resolve := Flags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			got := resolve()
			if got.generated {
				if len(got.Password) < 16 {
					t.Errorf("generated password %q is short", got.Password)
				}
				tc.want.Password = got.Password
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(Credentials{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestGeneratedPasswordsDiffer: two runs never share a password.
func TestGeneratedPasswordsDiffer(t *testing.T) {
	t.Setenv(EnvPassword, "")
	a, b := Flags(flag.NewFlagSet("a", flag.ContinueOnError))(), Flags(flag.NewFlagSet("b", flag.ContinueOnError))()
	if a.Password == b.Password {
		t.Errorf("both generated %q", a.Password)
	}
}

// TestAnnounce: a generated password is printed, one that was given is
// not, and -insecure is a warning.
func TestAnnounce(t *testing.T) {
	for _, tc := range []struct {
		name      string
		c         Credentials
		want, not string
	}{
		{"a generated password is printed", Credentials{User: "engage", Password: "GENERATED", generated: true}, "level=INFO msg=\"engage credentials (generated; -password or $GATEWAY_PASSWORD sets the password)\" user=engage password=GENERATED", ""},
		{"a given password is not", Credentials{User: "u", Password: "SECRET"}, "level=INFO msg=\"engage credentials from the flags or the environment\" user=u", "SECRET"},
		{"insecure is a warning", Credentials{Insecure: true}, "level=WARN msg=\"-insecure: engage and noengage take no credentials\"", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.c.Announce(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}})))
			if got := strings.TrimSpace(buf.String()); got != tc.want {
				t.Errorf("logged %s\nwant   %s", got, tc.want)
			}
			if tc.not != "" && strings.Contains(buf.String(), tc.not) {
				t.Errorf("logged the password: %s", buf.String())
			}
		})
	}
}

// TestAuthenticate: the credentials admit their own requests only, and
// -insecure admits every request.
func TestAuthenticate(t *testing.T) {
	c := Credentials{User: "engage", Password: "pw"}
	for _, tc := range []struct {
		name       string
		c          Credentials
		user, pass string // empty: no Authorization header
		wantErr    bool
	}{
		{"no credentials are refused", c, "", "", true},
		{"a wrong password is refused", c, "engage", "other", true},
		{"a wrong user is refused", c, "other", "pw", true},
		{"the credentials are admitted", c, "engage", "pw", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/server/data/gateway/engage", nil)
			if tc.user != "" {
				r.SetBasicAuth(tc.user, tc.pass)
			}
			if err := tc.c.Authenticate()(r); (err != nil) != tc.wantErr {
				t.Errorf("error %v, want one: %v", err, tc.wantErr)
			}
		})
	}
	if (Credentials{Insecure: true}).Authenticate() != nil {
		t.Errorf("insecure: an Authenticate hook, want nil")
	}
}
