package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/engagekit/gateway"
	"github.com/engagekit/gateway/push"
	"github.com/google/go-cmp/cmp"
)

// bin is the engagectl binary that TestMain builds, so that the tests run
// it as a real process: exit codes, stdout and stderr as a user sees them.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "engagectl-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "engagectl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// engagectl runs the binary with args and env (and nothing else in its
// environment but PATH) and returns its exit code and output.
func engagectl(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

// cliRun is one engagectl run of a table and what it must end with.
type cliRun struct {
	name   string
	args   []string
	env    []string
	code   int
	stdout string // substring
	stderr string // substring
}

// runAll runs each as a subtest: its exit code and output, and that a
// usage error writes nothing to stdout.
func runAll(t *testing.T, runs []cliRun) {
	t.Helper()
	for _, tc := range runs {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := engagectl(t, tc.env, tc.args...)
			if code != tc.code || !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			if code == exitUsage && stdout != "" {
				t.Errorf("a usage error wrote to stdout: %s", stdout)
			}
		})
	}
}

// TestCLI runs engagectl against a real handler: exit codes, output, and
// what reached the notifier.
func TestCLI(t *testing.T) {
	var mu sync.Mutex
	var got []gateway.Profile
	var cancelled []gateway.CancelData
	n := gateway.Funcs{
		EngageFunc: func(_ context.Context, p *gateway.Profile) error {
			mu.Lock()
			defer mu.Unlock()
			if p.VisitID == "busy" {
				return gateway.ErrEngagementInProgress
			}
			got = append(got, *p)
			return nil
		},
		CancelFunc: func(_ context.Context, c *gateway.CancelData) error {
			mu.Lock()
			defer mu.Unlock()
			cancelled = append(cancelled, *c)
			return nil
		},
	}
	h := gateway.NewHandler(n, &gateway.Options{Authenticate: gateway.BasicAuth("ors", "pw", "gwe")})
	mux := http.NewServeMux()
	mux.Handle("/server/data/gateway/", h)
	mux.Handle("/backend/data/gateway/", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	runAll(t, []cliRun{
		{"engage", []string{"engage", "-url", srv.URL, "-user", "ors", "-password", "pw", "-visit", "v-1", "-interaction", "i-1",
			"-channels", "chat,callback", "-title", "Need a hand?", "-message", "We can help.", "-expires", "60"}, nil, 0, "OK i-1", ""},
		{"engage on 8.1.2 paths with env credentials and JSON output", []string{"engage", "-url", srv.URL, "-paths", "8.1.2", "-visit", "v-2", "-interaction", "i-2", "-json"},
			[]string{"ENGAGECTL_USER=ors", "ENGAGECTL_PASSWORD=pw"}, 0, `{"interactionID":"i-2","status":"OK"}`, ""},
		{"cancel", []string{"cancel", "-url", srv.URL, "-user", "ors", "-password", "pw", "-visit", "v-1", "-interaction", "i-1", "-reason", "timeout"}, nil, 0, "OK i-1", ""},
		{"strict-mode FAULT", []string{"engage", "-url", srv.URL, "-user", "ors", "-password", "pw", "-visit", "busy"}, nil, 1, "", "FAULT 400 ENGAGEMENT_IN_PROGRESS"},
		{"FAULT as JSON", []string{"engage", "-url", srv.URL, "-visit", "v-3", "-json"}, nil, 1, `"code":"UNAUTHORIZED"`, ""},
		{"invalid input is not sent", []string{"engage", "-url", srv.URL, "-visit", "v 1", "-channels", "Chat"}, nil, 1, "", "visitID may hold only"},
		{"unreachable", []string{"engage", "-url", deadURL, "-visit", "v-1", "-timeout", "2s"}, nil, 3, "", "unreachable"},
		{"no subcommand", nil, nil, 2, "", "usage"},
		{"unknown subcommand", []string{"poke"}, nil, 2, "", "usage"},
		{"unknown flag", []string{"engage", "-nope"}, nil, 2, "", "flag provided but not defined: -nope\nusage"},
		{"a flag of the other command", []string{"cancel", "-visit", "v", "-interaction", "i", "-title", "T"}, nil, 2, "", "-title"},
		{"bad path family", []string{"engage", "-paths", "9", "-visit", "v"}, nil, 2, "", "-paths"},
		{"cancel without interaction", []string{"cancel", "-visit", "v"}, nil, 2, "", "-interaction"},
		{"bad URL", []string{"engage", "-url", "ftp://x", "-visit", "v"}, nil, 2, "", "-url"},
	})
	want := []gateway.Profile{
		{InteractionID: "i-1", VisitID: "v-1", Channels: []string{"chat", "callback"}, ExpiresIn: 60,
			Invitation: &gateway.Invitation{Title: "Need a hand?", Message: "We can help."}},
		{InteractionID: "i-2", VisitID: "v-2", Channels: []string{"chat"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("engaged (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]gateway.CancelData{{InteractionID: "i-1", VisitID: "v-1", Reason: "timeout"}}, cancelled); diff != "" {
		t.Errorf("cancelled (-want +got):\n%s", diff)
	}
}

// TestHelp: -h prints on stdout, with exit 0, every flag of the command
// with its doc and default, and the environment variables.
func TestHelp(t *testing.T) {
	t.Parallel()
	common := []string{"-url", "-paths", "-user", "-password", "-json", "-timeout", "-visit", "-interaction"}
	engageOnly := []string{"-channels", "-title", "-message", "-page", "-lang", "-expires"}
	defaults := []string{`(default "http://127.0.0.1:8080")`, `(default "8.5")`, `(default 10s)`, `(default $ENGAGECTL_USER)`, `(default $ENGAGECTL_PASSWORD)`}
	tokenOnly := []string{"-key", "-ttl"}
	all := append(append(append(common, engageOnly...), "-reason"), tokenOnly...)
	for _, tc := range []struct {
		args       []string
		want, not  []string // flags
		wantOthers []string // other substrings
	}{
		{[]string{"-h"}, all, nil, append(defaults, `(default "chat")`, "(default 10m0s)", "(default $ENGAGECTL_TOKEN_KEY)", "Exit codes:")},
		{[]string{"--help"}, all, nil, defaults},
		{[]string{"help"}, all, nil, defaults},
		{[]string{"engage", "-h"}, append(common, engageOnly...), append([]string{"-reason"}, tokenOnly...), append(defaults, `(default "chat")`)},
		{[]string{"cancel", "-help"}, append(common, "-reason"), append(engageOnly, tokenOnly...), defaults},
		{[]string{"engage", "-visit", "v", "-h"}, append(common, engageOnly...), append([]string{"-reason"}, tokenOnly...), defaults},
		{[]string{"token", "-h"}, append([]string{"-visit", "-page"}, tokenOnly...), []string{"-url", "-user", "-interaction", "-channels", "-reason"}, []string{"(default 10m0s)", "(default $ENGAGECTL_TOKEN_KEY)"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := engagectl(t, []string{"ENGAGECTL_USER=ors", "ENGAGECTL_PASSWORD=hunter2", "ENGAGECTL_TOKEN_KEY=" + tokenKeyText}, tc.args...)
			if code != exitOK || stderr != "" {
				t.Fatalf("exit %d, want 0\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			lines := strings.Split(stdout, "\n")
			for _, name := range tc.want {
				i := slicesIndexPrefix(lines, "  "+name+" ", "  "+name)
				if i < 0 {
					t.Errorf("flag %s is not listed:\n%s", name, stdout)
					continue
				}
				if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "    \t") || len(strings.TrimSpace(lines[i+1])) < 10 {
					t.Errorf("flag %s has no doc:\n%s", name, stdout)
				}
			}
			for _, name := range tc.not {
				if slicesIndexPrefix(lines, "  "+name+" ", "  "+name) >= 0 {
					t.Errorf("flag %s of the other command is listed:\n%s", name, stdout)
				}
			}
			for _, s := range append(tc.wantOthers, "ENGAGECTL_USER ", "ENGAGECTL_PASSWORD ", "ENGAGECTL_TOKEN_KEY ") {
				if !strings.Contains(stdout, s) {
					t.Errorf("%q is missing:\n%s", s, stdout)
				}
			}
			if strings.Contains(stdout, "hunter2") || strings.Contains(stdout, tokenKeyText) {
				t.Errorf("the help shows a secret from the environment:\n%s", stdout)
			}
		})
	}
}

// slicesIndexPrefix returns the index of the first line that has prefix
// or equals exact, or -1.
func slicesIndexPrefix(lines []string, prefix, exact string) int {
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) || l == exact {
			return i
		}
	}
	return -1
}

// TestExitCodesDocumented: the exit codes that -h prints are those of the
// package doc.
func TestExitCodesDocumented(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(exitCodes) {
		if strings.HasSuffix(line, ":\n") {
			continue
		}
		doc := "//\t" + strings.TrimPrefix(line, "  ")
		if !bytes.Contains(src, []byte(doc)) {
			t.Errorf("the package doc lacks %q", doc)
		}
	}
}

// TestAnswersThatAreNotFaults: an answer without a FAULT body (a proxy's
// or another server's page) is reported as such, with exit 1, or with 3
// for 502, 503 and 504 once the retries are spent; a FAULT of the gateway
// stays a FAULT.
func TestAnswersThatAreNotFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		fault  bool // answer with a gateway FAULT body
		json   bool
		code   int
		calls  int32
		stdout string
		stderr string
	}{
		{name: "an HTML 404", status: 404, code: 1, calls: 1,
			stderr: "engagectl: the server answered 404 Not Found, not with a gateway FAULT: is -url the gateway's base URL, and -paths its path family?\n"},
		{name: "an HTML 500", status: 500, code: 1, calls: 1,
			stderr: "engagectl: the server answered 500 Internal Server Error, not with a gateway FAULT\n"},
		{name: "a proxy's 502", status: 502, code: 3, calls: 4,
			stderr: "engagectl: the server answered 502 Bad Gateway, not with a gateway FAULT until engagectl stopped retrying: the gateway behind it may be down\n"},
		{name: "a proxy's 503", status: 503, code: 3, calls: 4,
			stderr: "engagectl: the server answered 503 Service Unavailable, not with a gateway FAULT until engagectl stopped retrying: the gateway behind it may be down\n"},
		{name: "a proxy's 504", status: 504, code: 3, calls: 4,
			stderr: "engagectl: the server answered 504 Gateway Timeout, not with a gateway FAULT until engagectl stopped retrying: the gateway behind it may be down\n"},
		{name: "an HTML 404 as JSON", status: 404, json: true, code: 1, calls: 1,
			stdout: `{"httpStatus":404,"message":"the server answered 404 Not Found, not with a gateway FAULT: is -url the gateway's base URL, and -paths its path family?","status":"HTTP_ERROR"}` + "\n"},
		{name: "a proxy's 503 as JSON", status: 503, json: true, code: 3, calls: 4,
			stdout: `{"httpStatus":503,"message":"the server answered 503 Service Unavailable, not with a gateway FAULT until engagectl stopped retrying: the gateway behind it may be down","status":"UNREACHABLE"}` + "\n"},
		{name: "the gateway's own 503 FAULT", status: 503, fault: true, code: 1, calls: 4,
			stderr: "FAULT 503 UNAVAILABLE: temporarily unavailable; retry later\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				if tc.fault {
					gateway.WriteError(w, gateway.ErrUnavailable)
					return
				}
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(tc.status)
				fmt.Fprintf(w, "<html><body><h1>%d</h1></body></html>", tc.status)
			}))
			defer srv.Close()
			args := []string{"engage", "-url", srv.URL, "-visit", "v-1", "-interaction", "i-1"}
			if tc.json {
				args = append(args, "-json")
			}
			code, stdout, stderr := engagectl(t, nil, args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			if diff := cmp.Diff(tc.stdout, stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.stderr, stderr); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			if got := calls.Load(); got != tc.calls {
				t.Errorf("the server saw %d requests, want %d", got, tc.calls)
			}
		})
	}
}

// tokenKey is the tests' token key, and tokenKeyText as ENGAGECTL_TOKEN_KEY
// carries it.
var (
	tokenKey     = push.TokenKey{ID: "k1", Secret: []byte("0123456789abcdef0123456789abcdef")}
	tokenKeyText = push.FormatTokenKey(tokenKey)
)

// TestToken: engagectl token prints a token that the key verifies, for the
// visit, page and lifetime asked, which a broker requiring tokens takes;
// without what it needs it is a usage error, and it never shows the key.
func TestToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		args   []string
		env    []string
		code   int
		claims push.TokenClaims // VisitID, PageID, and Expiry-IssuedAt in Expiry's seconds
		stderr string
	}{
		{"a visit's token, key from the flag", []string{"token", "-visit", "v-1", "-key", tokenKeyText}, nil, 0,
			push.TokenClaims{VisitID: "v-1", Expiry: time.Unix(int64(push.DefaultTokenTTL/time.Second), 0)}, ""},
		{"a page's token for a minute, key from the environment", []string{"token", "-visit", "v-1", "-page", "p-1", "-ttl", "1m"}, []string{"ENGAGECTL_TOKEN_KEY=" + tokenKeyText}, 0,
			push.TokenClaims{VisitID: "v-1", PageID: "p-1", Expiry: time.Unix(60, 0)}, ""},
		{"the flag over the environment", []string{"token", "-visit", "v-1", "-key", tokenKeyText}, []string{"ENGAGECTL_TOKEN_KEY=k2:nope"}, 0,
			push.TokenClaims{VisitID: "v-1", Expiry: time.Unix(int64(push.DefaultTokenTTL/time.Second), 0)}, ""},
		{"no visit", []string{"token", "-key", tokenKeyText}, nil, 2, push.TokenClaims{}, "-visit"},
		{"no key", []string{"token", "-visit", "v-1"}, nil, 2, push.TokenClaims{}, "ENGAGECTL_TOKEN_KEY"},
		{"a key too short", []string{"token", "-visit", "v-1", "-key", "k1:c2hvcnRzZWNyZXQ"}, nil, 2, push.TokenClaims{}, "fewer than 32"},
		{"a key that is not base64", []string{"token", "-visit", "v-1", "-key", "k1:!!notbase64!!"}, nil, 2, push.TokenClaims{}, "base64"},
		{"a lifetime that is not positive", []string{"token", "-visit", "v-1", "-key", tokenKeyText, "-ttl", "0s"}, nil, 2, push.TokenClaims{}, "-ttl"},
		{"an invalid visitID", []string{"token", "-visit", "v 1", "-key", tokenKeyText}, nil, 1, push.TokenClaims{}, "VisitID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := engagectl(t, tc.env, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			for _, secret := range []string{"c2hvcnRzZWNyZXQ", "!!notbase64!!", tokenKeyText[3:]} {
				if strings.Contains(stdout+stderr, secret) {
					t.Errorf("the output shows the key:\n%s%s", stdout, stderr)
				}
			}
			if code != 0 {
				return
			}
			c, err := push.VerifyToken(strings.TrimSuffix(stdout, "\n"), []push.TokenKey{tokenKey}, time.Now())
			if err != nil {
				t.Fatalf("the token: %v", err)
			}
			got := push.TokenClaims{VisitID: c.VisitID, PageID: c.PageID, Expiry: time.Unix(c.Expiry.Unix()-c.IssuedAt.Unix(), 0)}
			if diff := cmp.Diff(tc.claims, got); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("a broker requiring tokens takes it", func(t *testing.T) {
		t.Parallel()
		b := push.NewBroker(&push.Options{TokenKeys: []push.TokenKey{tokenKey}, RequireToken: true})
		srv := httptest.NewServer(b)
		defer func() {
			b.Shutdown(context.Background())
			srv.Close()
		}()
		_, stdout, _ := engagectl(t, []string{"ENGAGECTL_TOKEN_KEY=" + tokenKeyText}, "token", "-visit", "v-1")
		req, _ := http.NewRequest("GET", srv.URL+"/notification/v-1", nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(stdout))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("the stream with the token: %d, want 200", resp.StatusCode)
		}
	})
}
