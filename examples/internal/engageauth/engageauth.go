// Package engageauth gives every example the same HTTP Basic credentials
// for the server-to-server routes (engage, noengage, notify): from flags,
// else the environment, else the user engage and a random password that the
// example prints at start; or none at all with -insecure.
package engageauth

import (
	"cmp"
	"crypto/rand"
	"flag"
	"log/slog"
	"net/http"
	"os"

	"github.com/engagekit/gateway"
)

// The environment variables Flags reads when a flag is not given.
const (
	EnvUser     = "GATEWAY_USER"
	EnvPassword = "GATEWAY_PASSWORD"
)

// DefaultUser is the user when neither -user nor $GATEWAY_USER sets one.
const DefaultUser = "engage"

// Credentials are the HTTP Basic credentials engage, noengage and notify
// take, or none when Insecure.
type Credentials struct {
	User, Password string // empty when Insecure
	Insecure       bool

	generated bool // the password is random, so Announce prints it
}

// Flags declares -user, -password and -insecure on fs; see FlagsInsecure.
func Flags(fs *flag.FlagSet) func() Credentials {
	return FlagsInsecure(fs, "no engage credentials: whoever reaches the server can engage and cancel (local experiments only)")
}

// FlagsInsecure declares -user, -password and -insecure on fs, with
// insecureUsage as -insecure's usage, for an example whose -insecure turns
// off more than the credentials. The function it returns, called after
// fs.Parse, resolves them: a flag, else its environment variable, else a
// default (DefaultUser, a random password: crypto/rand.Text, 26
// base32 characters).
func FlagsInsecure(fs *flag.FlagSet, insecureUsage string) func() Credentials {
	user := fs.String("user", "", "the HTTP Basic user of engage and noengage (default $"+EnvUser+", else "+DefaultUser+")")
	password := fs.String("password", "", "the HTTP Basic password of engage and noengage (default $"+EnvPassword+", else a random one, printed at start)")
	insecure := fs.Bool("insecure", false, insecureUsage)
	return func() Credentials {
		if *insecure {
			return Credentials{Insecure: true}
		}
		c := Credentials{User: cmp.Or(*user, os.Getenv(EnvUser), DefaultUser), Password: cmp.Or(*password, os.Getenv(EnvPassword))}
		if c.Password == "" {
			c.Password = rand.Text()
			c.generated = true
		}
		return c
	}
}

// Announce logs what a person running the example needs to know to engage
// it: the credentials when the password was generated, that they come from
// the flags or the environment otherwise, or, at level WARN, that engage
// takes none.
func (c Credentials) Announce(log *slog.Logger) {
	switch {
	case c.Insecure:
		log.Warn("-insecure: engage and noengage take no credentials")
	case c.generated:
		log.Info("engage credentials (generated; -password or $"+EnvPassword+" sets the password)", "user", c.User, "password", c.Password)
	default:
		log.Info("engage credentials from the flags or the environment", "user", c.User)
	}
}

// Authenticate is the engage handler's gateway.Options.Authenticate: HTTP
// Basic with realm "gateway", or nil when Insecure.
func (c Credentials) Authenticate() func(*http.Request) error {
	if c.Insecure {
		return nil
	}
	return gateway.BasicAuth(c.User, c.Password, "gateway")
}
