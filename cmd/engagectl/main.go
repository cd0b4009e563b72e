// Command engagectl calls the engage, noengage and notify endpoints of a
// GWE gateway (this module's, or a GWE server) from the command line.
//
//	engagectl engage -visit VISIT [-channels chat,callback] [-interaction ID] [-title T] [-message M]
//	                 [-page PAGE] [-lang en] [-expires SECONDS] [common flags]
//	engagectl cancel -visit VISIT -interaction ID [-reason R] [common flags]
//	engagectl notify -visit VISIT -channel CHANNEL -data '{…}' [-page PAGE] [common flags]
//	engagectl token -visit VISIT [-page PAGE] [-ttl 10m] [-key ID:SECRET]
//
// engagectl token prints a visitor token (package push, contract §8) that
// opens the visit's stream and answers its invitations, signed with -key or
// the environment variable ENGAGECTL_TOKEN_KEY: the key's ID, a colon, and
// its secret in base64 (at least 32 bytes), as push.ParseTokenKey reads it.
//
// engagectl notify sends one message (contract §9) to the visit's pages,
// or to the page -page names: -data is its JSON object.
//
// The common flags of engage, cancel and notify: -url is the server's base URL (default
// http://127.0.0.1:8080); -paths picks the path family (/server/data/gateway
// for 8.5, /backend/data/gateway for 8.1.2); -user and -password, or the
// environment variables ENGAGECTL_USER and ENGAGECTL_PASSWORD, send HTTP
// Basic credentials; -json prints the answer as JSON; -timeout bounds the
// call, retries included.
//
// engagectl -h, and engagectl engage, cancel, notify or token with -h,
// print every flag with its doc and default, and the environment
// variables, on stdout.
//
// Exit codes:
//
//	0  OK
//	1  a FAULT from the gateway, invalid input (found before sending), or an answer that is not a FAULT (an HTML 404, say)
//	2  a usage error
//	3  the server could not be reached: no connection, a timeout, or a 502, 503 or 504 that is not a FAULT (a proxy's), after retries
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
)

const (
	exitOK          = 0
	exitFault       = 1
	exitUsage       = 2
	exitUnreachable = 3
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const synopsis = `usage:
  engagectl engage -visit VISIT [-channels chat,callback] [flags]
  engagectl cancel -visit VISIT -interaction ID [flags]
  engagectl notify -visit VISIT -channel CHANNEL -data '{...}' [-page PAGE] [flags]
  engagectl token -visit VISIT [-page PAGE] [-ttl 10m] [-key ID:SECRET]
  engagectl [engage | cancel | notify | token] -h    every flag, its doc and default
`

// environment and exitCodes end every help text. exitCodes is also in the
// package doc; a test checks that they agree.
const (
	environment = `Environment:
  ENGAGECTL_USER       HTTP Basic user, when -user is not given
  ENGAGECTL_PASSWORD   HTTP Basic password, when -password is not given
  ENGAGECTL_TOKEN_KEY  the token key, ID:SECRET with SECRET in base64, when -key is not given
`
	exitCodes = `Exit codes:
  0  OK
  1  a FAULT from the gateway, invalid input (found before sending), or an answer that is not a FAULT (an HTML 404, say)
  2  a usage error
  3  the server could not be reached: no connection, a timeout, or a 502, 503 or 504 that is not a FAULT (a proxy's), after retries
`
)

// config holds the flags of both commands.
type config struct {
	base, paths, user, password string
	asJSON                      bool
	timeout                     time.Duration
	visit, interaction          string
	channels, title, message    string
	page, lang                  string
	expires                     int
	reason                      string
	channel, data               string
	key                         string
	ttl                         time.Duration
}

// commands are engagectl's commands, in the order help lists them.
var commands = []string{"engage", "cancel", "notify", "token"}

// flags declares the flags of op (one of commands) into c.
func flags(op string, c *config) *flag.FlagSet {
	fs := flag.NewFlagSet("engagectl "+op, flag.ContinueOnError)
	fs.Usage = func() {} // run prints help and usage itself
	fs.StringVar(&c.visit, "visit", "", "the visitID (required)")
	if op == "token" {
		fs.StringVar(&c.page, "page", "", "the pageID: the token opens that page's streams only; empty: every page of the visit")
		fs.DurationVar(&c.ttl, "ttl", push.DefaultTokenTTL, "how long the token is valid")
		fs.StringVar(&c.key, "key", "", "the signing key, ID:SECRET with SECRET in base64 (default $ENGAGECTL_TOKEN_KEY)")
		return fs
	}
	switch op {
	case "notify":
		fs.StringVar(&c.channel, "channel", "", "the message's channel, such as gpe.appendContent (required)")
		fs.StringVar(&c.data, "data", "", "the message's data, a JSON object (required)")
		fs.StringVar(&c.page, "page", "", "the pageID: only that page gets the message; empty: every page of the visit")
	case "engage":
		fs.StringVar(&c.interaction, "interaction", "", "the interactionID; a random one when empty")
		fs.StringVar(&c.channels, "channels", "chat", "the channels offered, comma-separated")
		fs.StringVar(&c.title, "title", "", "the invitation's title")
		fs.StringVar(&c.message, "message", "", "the invitation's message")
		fs.StringVar(&c.page, "page", "", "the pageID: only that page shows the invitation")
		fs.StringVar(&c.lang, "lang", "", "the language tag (BCP 47)")
		fs.IntVar(&c.expires, "expires", 0, "expiresIn: seconds the invitation stays live; 0 means the server's default")
	default:
		fs.StringVar(&c.interaction, "interaction", "", "the interactionID to cancel (required)")
		fs.StringVar(&c.reason, "reason", "", "a reason for logs and pages")
	}
	fs.StringVar(&c.base, "url", "http://127.0.0.1:8080", "the server's base URL")
	fs.StringVar(&c.paths, "paths", "8.5", "the path family: 8.5 (/server/data/gateway) or 8.1.2 (/backend/data/gateway)")
	fs.StringVar(&c.user, "user", "", "the HTTP Basic user (default $ENGAGECTL_USER)")
	fs.StringVar(&c.password, "password", "", "the HTTP Basic password (default $ENGAGECTL_PASSWORD)")
	fs.BoolVar(&c.asJSON, "json", false, "print the answer as JSON on stdout")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "give up after this long, retries included")
	return fs
}

// help writes the help of op, or of both commands when op is empty.
func help(w io.Writer, op string) {
	fmt.Fprint(w, "engagectl calls the engage, noengage and notify endpoints of a GWE gateway, and mints visitor tokens.\n\n", synopsis)
	for _, o := range commands {
		if op != "" && op != o {
			continue
		}
		fmt.Fprintf(w, "\nFlags of engagectl %s:\n", o)
		fs := flags(o, &config{})
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	fmt.Fprint(w, "\n", environment, "\n", exitCodes)
}

// usageError reports a usage error on stderr and returns its exit code.
func usageError(stderr io.Writer, format string, args ...any) int {
	if format != "" {
		fmt.Fprintf(stderr, "engagectl: "+format+"\n", args...)
	}
	fmt.Fprint(stderr, synopsis)
	return exitUsage
}

// run is the whole command, apart from the process, so tests can call it.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return usageError(stderr, "")
	}
	op := args[0]
	switch op {
	case "-h", "-help", "--help", "help":
		help(stdout, "")
		return exitOK
	default:
		if !slices.Contains(commands, op) {
			return usageError(stderr, "unknown command %q", op)
		}
	}
	var c config
	fs := flags(op, &c)
	fs.SetOutput(io.Discard) // its messages are reported below, once
	switch err := fs.Parse(args[1:]); {
	case errors.Is(err, flag.ErrHelp):
		help(stdout, op)
		return exitOK
	case err != nil:
		return usageError(stderr, "%v", err)
	}
	if fs.NArg() > 0 {
		return usageError(stderr, "unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if op == "token" {
		return mintToken(c, stdout, stderr)
	}
	family := map[string]gateway.PathFamily{"8.5": gateway.Paths85, "8.1.2": gateway.Paths812}[c.paths]
	if family == "" {
		return usageError(stderr, "-paths must be 8.5 or 8.1.2")
	}
	if op == "cancel" && c.interaction == "" {
		return usageError(stderr, "cancel needs -interaction")
	}
	client, err := gateway.NewClient(c.base, &gateway.ClientOptions{
		Paths:    family,
		Username: cmp.Or(c.user, os.Getenv("ENGAGECTL_USER")),
		Password: cmp.Or(c.password, os.Getenv("ENGAGECTL_PASSWORD")),
	})
	if err != nil {
		return usageError(stderr, "-url: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()

	id := c.interaction
	switch op {
	case "notify":
		if c.channel == "" || c.data == "" {
			return usageError(stderr, "notify needs -channel and -data")
		}
		id = ""
		err = client.Notify(ctx, &gateway.Notification{VisitID: c.visit, Messages: []gateway.Message{{Page: c.page, Channel: c.channel, Data: json.RawMessage(c.data)}}})
	case "engage":
		if id == "" {
			id = newID()
		}
		p := &gateway.Profile{InteractionID: id, VisitID: c.visit, PageID: c.page, Language: c.lang, ExpiresIn: c.expires}
		for ch := range strings.SplitSeq(c.channels, ",") {
			if ch = strings.TrimSpace(ch); ch != "" {
				p.Channels = append(p.Channels, ch)
			}
		}
		if c.title != "" || c.message != "" {
			p.Invitation = &gateway.Invitation{Title: c.title, Message: c.message}
		}
		err = client.Engage(ctx, p)
	default:
		err = client.Cancel(ctx, &gateway.CancelData{InteractionID: id, VisitID: c.visit, Reason: c.reason})
	}
	return report(stdout, stderr, c.asJSON, id, err)
}

// mintToken prints the token c asks for.
func mintToken(c config, stdout, stderr io.Writer) int {
	if c.visit == "" {
		return usageError(stderr, "token needs -visit")
	}
	if c.ttl <= 0 {
		return usageError(stderr, "-ttl must be positive")
	}
	text := cmp.Or(c.key, os.Getenv("ENGAGECTL_TOKEN_KEY"))
	if text == "" {
		return usageError(stderr, "token needs -key or $ENGAGECTL_TOKEN_KEY")
	}
	key, err := push.ParseTokenKey(text)
	if err != nil {
		return usageError(stderr, "-key or $ENGAGECTL_TOKEN_KEY: %v", err)
	}
	now := time.Now()
	token, err := push.MintToken(key, push.TokenClaims{VisitID: c.visit, PageID: c.page, IssuedAt: now, Expiry: now.Add(c.ttl)})
	if err != nil {
		fmt.Fprintf(stderr, "engagectl: %v\n", err)
		return exitFault
	}
	fmt.Fprintln(stdout, token)
	return exitOK
}

// report prints the outcome and returns the exit code.
func report(stdout, stderr io.Writer, asJSON bool, id string, err error) int {
	var f *gateway.Fault
	switch {
	case err == nil && id == "": // notify: no ID
		if asJSON {
			printJSON(stdout, map[string]any{"status": "OK"})
		} else {
			fmt.Fprintln(stdout, "OK")
		}
		return exitOK
	case err == nil:
		if asJSON {
			printJSON(stdout, map[string]any{"status": "OK", "interactionID": id})
		} else {
			fmt.Fprintf(stdout, "OK %s\n", id)
		}
		return exitOK
	case errors.As(err, &f) && f.Status == 0: // invalid input, found before sending
		if asJSON {
			printJSON(stdout, map[string]any{"status": "FAULT", "code": f.Code, "message": f.Message, "fields": f.Fields})
		} else {
			fmt.Fprintf(stderr, "%s:\n", f.Message)
			for _, fe := range f.Fields {
				fmt.Fprintf(stderr, "  %s\n", fe.Message)
			}
		}
		return exitFault
	case errors.As(err, &f) && f.Code == "": // an answer, but not the gateway's
		return notAFault(stdout, stderr, asJSON, f.Status)
	case errors.As(err, &f):
		if asJSON {
			out := map[string]any{"status": "FAULT", "code": f.Code, "message": f.Message, "httpStatus": f.Status}
			if len(f.Fields) > 0 {
				out["fields"] = f.Fields
			}
			printJSON(stdout, out)
		} else {
			fmt.Fprintf(stderr, "FAULT %d %s: %s\n", f.Status, f.Code, f.Message)
			for _, fe := range f.Fields {
				fmt.Fprintf(stderr, "  %s\n", fe.Message)
			}
		}
		return exitFault
	}
	if asJSON {
		printJSON(stdout, map[string]any{"status": "UNREACHABLE", "message": err.Error()})
	} else {
		fmt.Fprintf(stderr, "engagectl: server unreachable: %v\n", err)
	}
	return exitUnreachable
}

// notAFault reports an answer whose body is not a gateway FAULT: a page of
// a proxy or of another server. A 502, 503 or 504 (the Client retried it)
// means the gateway could not be reached behind a proxy.
func notAFault(stdout, stderr io.Writer, asJSON bool, status int) int {
	msg := fmt.Sprintf("the server answered %d %s, not with a gateway FAULT", status, http.StatusText(status))
	code, kind := exitFault, "HTTP_ERROR"
	switch status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		code, kind = exitUnreachable, "UNREACHABLE"
		msg += " until engagectl stopped retrying: the gateway behind it may be down"
	case http.StatusNotFound:
		msg += ": is -url the gateway's base URL, and -paths its path family?"
	}
	if asJSON {
		printJSON(stdout, map[string]any{"status": kind, "httpStatus": status, "message": msg})
	} else {
		fmt.Fprintf(stderr, "engagectl: %s\n", msg)
	}
	return code
}

func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.Encode(v)
}

func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "cli-" + hex.EncodeToString(b)
}
