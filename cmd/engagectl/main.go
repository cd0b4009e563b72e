// Command engagectl calls the engage and noengage endpoints of a GWE
// gateway (this module's, or a GWE server) from the command line.
//
//	engagectl engage -visit VISIT -channels chat,callback [-interaction ID] [-title T] [-message M]
//	                 [-page PAGE] [-lang en] [-expires SECONDS] [-url URL] [-paths 8.5|8.1.2] [-json]
//	engagectl cancel -visit VISIT -interaction ID [-reason R] [-url URL] [-paths 8.5|8.1.2] [-json]
//
// -url is the server's base URL (default http://127.0.0.1:8080); -paths picks
// the path family (/server/data/gateway for 8.5, /backend/data/gateway for
// 8.1.2). -user and -password, or ENGAGECTL_USER and ENGAGECTL_PASSWORD,
// send HTTP Basic credentials. -json prints the answer as JSON.
//
// Exit codes: 0 OK; 1 a FAULT or invalid input; 2 usage; 3 the server could
// not be reached.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/engagekit/gateway"
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

const usage = `usage:
  engagectl engage -visit VISIT -channels chat,callback [-interaction ID] [-title T] [-message M]
                   [-page PAGE] [-lang TAG] [-expires SECONDS] [common flags]
  engagectl cancel -visit VISIT -interaction ID [-reason R] [common flags]
common flags: -url URL (default http://127.0.0.1:8080) -paths 8.5|8.1.2 -user U -password P
              -json -timeout 10s
`

// run is the whole command, apart from the process, so tests can call it.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "engage" && args[0] != "cancel") {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	op := args[0]
	fs := flag.NewFlagSet("engagectl "+op, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	base := fs.String("url", "http://127.0.0.1:8080", "the server's base URL")
	paths := fs.String("paths", "8.5", "path family: 8.5 (/server/data/gateway) or 8.1.2 (/backend/data/gateway)")
	user := fs.String("user", os.Getenv("ENGAGECTL_USER"), "HTTP Basic user (or ENGAGECTL_USER)")
	password := fs.String("password", os.Getenv("ENGAGECTL_PASSWORD"), "HTTP Basic password (or ENGAGECTL_PASSWORD)")
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long, retries included")
	visit := fs.String("visit", "", "visitID (required)")
	interaction := fs.String("interaction", "", "interactionID (engage: generated when empty)")
	channels := fs.String("channels", "chat", "engage: comma-separated channels")
	title := fs.String("title", "", "engage: invitation title")
	message := fs.String("message", "", "engage: invitation message")
	page := fs.String("page", "", "engage: pageID")
	lang := fs.String("lang", "", "engage: language tag")
	expires := fs.Int("expires", 0, "engage: expiresIn, seconds")
	reason := fs.String("reason", "", "cancel: reason")
	if err := fs.Parse(args[1:]); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "engagectl: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return exitUsage
	}
	family := map[string]gateway.PathFamily{"8.5": gateway.Paths85, "8.1.2": gateway.Paths812}[*paths]
	if family == "" {
		fmt.Fprintln(stderr, "engagectl: -paths must be 8.5 or 8.1.2")
		return exitUsage
	}
	if op == "cancel" && *interaction == "" {
		fmt.Fprintln(stderr, "engagectl: cancel needs -interaction")
		return exitUsage
	}
	client, err := gateway.NewClient(*base, &gateway.ClientOptions{Paths: family, Username: *user, Password: *password})
	if err != nil {
		fmt.Fprintf(stderr, "engagectl: -url: %v\n", err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	id := *interaction
	if op == "engage" {
		if id == "" {
			id = newID()
		}
		p := &gateway.Profile{InteractionID: id, VisitID: *visit, PageID: *page, Language: *lang, ExpiresIn: *expires}
		for c := range strings.SplitSeq(*channels, ",") {
			if c = strings.TrimSpace(c); c != "" {
				p.Channels = append(p.Channels, c)
			}
		}
		if *title != "" || *message != "" {
			p.Invitation = &gateway.Invitation{Title: *title, Message: *message}
		}
		err = client.Engage(ctx, p)
	} else {
		err = client.Cancel(ctx, &gateway.CancelData{InteractionID: id, VisitID: *visit, Reason: *reason})
	}
	return report(stdout, stderr, *asJSON, id, err)
}

// report prints the outcome and returns the exit code.
func report(stdout, stderr io.Writer, asJSON bool, id string, err error) int {
	var fe *gateway.Fault
	switch {
	case err == nil:
		if asJSON {
			printJSON(stdout, map[string]any{"status": "OK", "interactionID": id})
		} else {
			fmt.Fprintf(stdout, "OK %s\n", id)
		}
		return exitOK
	case errors.As(err, &fe) && fe.Status == 0: // invalid input, found before sending
		if asJSON {
			printJSON(stdout, map[string]any{"status": "FAULT", "code": fe.Code, "message": fe.Message, "fields": fe.Fields})
		} else {
			fmt.Fprintf(stderr, "%s:\n", fe.Message)
			for _, f := range fe.Fields {
				fmt.Fprintf(stderr, "  %s\n", f.Message)
			}
		}
		return exitFault
	case errors.As(err, &fe):
		if asJSON {
			out := map[string]any{"status": "FAULT", "code": fe.Code, "message": fe.Message, "httpStatus": fe.Status}
			if len(fe.Fields) > 0 {
				out["fields"] = fe.Fields
			}
			printJSON(stdout, out)
		} else {
			fmt.Fprintf(stderr, "FAULT %d %s: %s\n", fe.Status, fe.Code, fe.Message)
			for _, f := range fe.Fields {
				fmt.Fprintf(stderr, "  %s\n", f.Message)
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

func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.Encode(v)
}

func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "cli-" + hex.EncodeToString(b)
}
