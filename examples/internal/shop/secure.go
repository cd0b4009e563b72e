package shop

import (
	"cmp"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

// Security is how the demo and the cluster protect themselves: engage and
// noengage take HTTP Basic credentials, and the browser side takes visitor
// tokens signed with TokenKey. Insecure turns both off, for local
// experiments only.
type Security struct {
	User, Password string         // empty when Insecure
	TokenKey       *push.TokenKey // nil when Insecure
	Insecure       bool

	generatedPassword, generatedKey bool
}

// The environment variables SecurityFlags reads when a flag is not given.
const (
	EnvUser     = "GATEWAY_USER"
	EnvPassword = "GATEWAY_PASSWORD"
	EnvTokenKey = "GATEWAY_TOKEN_KEY"
)

// SecurityFlags declares -user, -password, -token-key and -insecure on
// fs. The function it returns, called after fs.Parse, resolves them: a
// flag, else its environment variable, else a default (the user
// "engage", a random password, a random key).
func SecurityFlags(fs *flag.FlagSet) func() (Security, error) {
	user := fs.String("user", "", "the HTTP Basic user of engage and noengage (default $"+EnvUser+", else engage)")
	password := fs.String("password", "", "the HTTP Basic password of engage and noengage (default $"+EnvPassword+", else a random one, printed at start)")
	key := fs.String("token-key", "", "the key that signs and verifies visitor tokens, ID:BASE64SECRET (default $"+EnvTokenKey+", else a random one)")
	insecure := fs.Bool("insecure", false, "no engage credentials and no visitor tokens: whoever reaches the server can engage, and read and answer any visit's invitations (local experiments only)")
	return func() (Security, error) {
		if *insecure {
			return Security{Insecure: true}, nil
		}
		s := Security{User: cmp.Or(*user, os.Getenv(EnvUser), "engage"), Password: cmp.Or(*password, os.Getenv(EnvPassword))}
		if s.Password == "" {
			s.Password = randomHex(12)
			s.generatedPassword = true
		}
		var k push.TokenKey
		var err error
		if text := cmp.Or(*key, os.Getenv(EnvTokenKey)); text != "" {
			k, err = push.ParseTokenKey(text)
			if err != nil {
				return Security{}, errors.New("-token-key or $" + EnvTokenKey + ": " + err.Error())
			}
		} else {
			k, _ = push.NewTokenKey("random") // a valid ID: no error
			s.generatedKey = true
		}
		s.TokenKey = &k
		return s, nil
	}
}

// Announce logs what a person running the example needs to know: the
// engage credentials when they were generated, where the token key comes
// from, or that the example is insecure.
func (s Security) Announce(log *slog.Logger) {
	switch {
	case s.Insecure:
		log.Warn("-insecure: engage and noengage take no credentials, and visitor tokens are off")
		return
	case s.generatedPassword:
		log.Info("engage credentials (generated; -password or $"+EnvPassword+" sets the password)", "user", s.User, "password", s.Password)
	default:
		log.Info("engage credentials from the flags or the environment", "user", s.User)
	}
	if s.generatedKey {
		log.Info("visitor tokens signed with a random key (-token-key or $" + EnvTokenKey + " sets one)")
	}
}

// Authenticate is the engage handler's gateway.Options.Authenticate: HTTP
// Basic, or nil when insecure.
func (s Security) Authenticate() func(*http.Request) error {
	if s.Insecure {
		return nil
	}
	return gateway.BasicAuth(s.User, s.Password, "gateway")
}

// Apply sets the broker's token options: tokens signed with the key, and
// required.
func (s Security) Apply(o *push.Options) {
	if s.TokenKey != nil {
		o.TokenKeys = []push.TokenKey{*s.TokenKey}
		o.RequireToken = true
	}
}
