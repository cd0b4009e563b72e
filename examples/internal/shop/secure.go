package shop

import (
	"cmp"
	"errors"
	"flag"
	"log/slog"
	"os"

	"github.com/engagekit/gateway/examples/internal/engageauth"
	"github.com/engagekit/gateway/push"
)

// Security is how the demo and the cluster protect themselves: engage and
// noengage take HTTP Basic credentials (engageauth), and the browser side
// takes visitor tokens signed with TokenKey. Insecure turns both off, for
// local experiments only.
type Security struct {
	engageauth.Credentials
	TokenKey *push.TokenKey // nil when Insecure

	generatedKey bool
}

// EnvTokenKey is the environment variable SecurityFlags reads when
// -token-key is not given.
const EnvTokenKey = "GATEWAY_TOKEN_KEY"

// SecurityFlags declares engageauth's -user, -password and -insecure, and
// -token-key, on fs. The function it returns, called after fs.Parse,
// resolves them: a flag, else its environment variable, else a default
// (engageauth's for the credentials, a random key).
func SecurityFlags(fs *flag.FlagSet) func() (Security, error) {
	credentials := engageauth.FlagsInsecure(fs, "no engage credentials and no visitor tokens: whoever reaches the server can engage, and read and answer any visit's invitations (local experiments only)")
	key := fs.String("token-key", "", "the key that signs and verifies visitor tokens, ID:BASE64SECRET (default $"+EnvTokenKey+", else a random one)")
	return func() (Security, error) {
		s := Security{Credentials: credentials()}
		if s.Insecure {
			return s, nil
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
// engage credentials as engageauth announces them, where the token key
// comes from, or that the example is insecure.
func (s Security) Announce(log *slog.Logger) {
	if s.Insecure {
		log.Warn("-insecure: engage and noengage take no credentials, and visitor tokens are off")
		return
	}
	s.Credentials.Announce(log)
	if s.generatedKey {
		log.Info("visitor tokens signed with a random key (-token-key or $" + EnvTokenKey + " sets one)")
	}
}

// Apply sets the broker's token options: tokens signed with the key, and
// required.
func (s Security) Apply(o *push.Options) {
	if s.TokenKey != nil {
		o.TokenKeys = []push.TokenKey{*s.TokenKey}
		o.RequireToken = true
	}
}
