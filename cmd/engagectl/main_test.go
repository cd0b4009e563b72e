package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/engagekit/gateway"
	"github.com/google/go-cmp/cmp"
)

// TestCLI builds engagectl and runs it as a real process against a real
// handler: exit codes, output, and what reached the notifier.
func TestCLI(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "engagectl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
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

	for _, tc := range []struct {
		name   string
		args   []string
		env    []string
		code   int
		stdout string // substring
		stderr string // substring
	}{
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
		{"unknown flag", []string{"engage", "-nope"}, nil, 2, "", "usage"},
		{"bad path family", []string{"engage", "-paths", "9", "-visit", "v"}, nil, 2, "", "-paths"},
		{"cancel without interaction", []string{"cancel", "-visit", "v"}, nil, 2, "", "-interaction"},
		{"bad URL", []string{"engage", "-url", "ftp://x", "-visit", "v"}, nil, 2, "", "-url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, tc.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout.String(), stderr.String())
			}
		})
	}
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
