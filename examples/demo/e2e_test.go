package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/engagekit/gateway/push"
)

var screenshot = flag.String("screenshot", "", "write a PNG of the page with its invitation to this file")

// findChromium returns the path of a Chromium or Chrome binary, or "".
func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestBrowser drives the demo in real headless Chromium: engage through the
// HTTP endpoint, see the invitation in the DOM, cancel it, see it gone;
// engage again, click a channel button, and receive the accepted
// disposition.
func TestBrowser(t *testing.T) {
	chromium := findChromium()
	if chromium == "" {
		switch why := os.Getenv("GATEWAY_NO_BROWSER"); {
		case why != "":
			t.Skipf("no Chromium could be installed (%s): the browser test cannot run", why)
		case os.Getenv("CI") != "":
			t.Fatal("no Chromium on the PATH in CI: .ci/run installs Debian's chromium package")
		}
		t.Skip("no Chromium on the PATH: install it (apt-get install -y chromium) to run the browser test")
	}
	dispositions := make(chan push.Disposition, 4)
	d := NewDemo(slog.New(slog.NewTextHandler(io.Discard, nil)), func(x push.Disposition) { dispositions <- x })
	srv := httptest.NewServer(d.Handler)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.Broker.Shutdown(ctx)
		srv.Close()
	})

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1200, 800),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	defer cancelCtx()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL), chromedp.WaitReady("#visit")); err != nil {
		t.Fatalf("open the demo page: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.demoConnected === true`, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("the page did not subscribe: %v", err)
	}
	visitID, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.demo.visitID`))
	if err != nil {
		t.Fatal(err)
	}
	post := func(path, param, json string) {
		t.Helper()
		resp, err := http.PostForm(srv.URL+path, url.Values{param: {json}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"status":"OK"`) {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	sel := func(id string) string { return `.gwe-invitation[data-gwe-interaction="` + id + `"]` }

	post("/server/data/gateway/engage", "ixnProfile",
		`{"interactionID":"e2e-1","visitID":"`+visitID+`","channels":["chat","callback"],`+
			`"invitation":{"title":"Need a hand with your chair?","message":"An agent can help you choose."}}`)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(sel("e2e-1"))); err != nil {
		t.Fatalf("invitation not shown: %v", err)
	}
	title, err := chromedp.Run(ctx, chromedp.Text(sel("e2e-1")+" h2"))
	if err != nil {
		t.Fatal(err)
	}
	if title != "Need a hand with your chair?" {
		t.Errorf("title = %q", title)
	}
	if *screenshot != "" {
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			os.WriteFile(*screenshot, png, 0o644)
		}
	}

	post("/server/data/gateway/noengage", "cancelData", `{"interactionID":"e2e-1","visitID":"`+visitID+`"}`)
	if err := chromedp.Do(ctx, chromedp.WaitNotPresent(sel("e2e-1"))); err != nil {
		t.Fatalf("invitation not hidden after noengage: %v", err)
	}

	post("/backend/data/gateway/engage", "ixnProfile", `{"interactionID":"e2e-2","visitID":"`+visitID+`","channels":["chat","callback"]}`)
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(sel("e2e-2")+` button[data-gwe-channel="chat"]`),
		chromedp.Click(sel("e2e-2")+` button[data-gwe-channel="chat"]`),
		chromedp.WaitNotPresent(sel("e2e-2")),
	); err != nil {
		t.Fatalf("click chat: %v", err)
	}
	select {
	case got := <-dispositions:
		want := push.Disposition{VisitID: visitID, InteractionID: "e2e-2", Result: "accepted", Channel: "chat"}
		if got != want {
			t.Errorf("disposition = %+v, want %+v", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no disposition within 10s of the click")
	}

	// Keyboard only: focus reaches the buttons, and Escape declines.
	post("/server/data/gateway/engage", "ixnProfile", `{"interactionID":"e2e-3","visitID":"`+visitID+`","channels":["chat"]}`)
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(sel("e2e-3")),
		chromedp.Focus(sel("e2e-3")+` button[data-gwe-channel="chat"]`),
		chromedp.KeyEvent(kb.Escape),
		chromedp.WaitNotPresent(sel("e2e-3")),
	); err != nil {
		t.Fatalf("decline with Escape: %v", err)
	}
	select {
	case got := <-dispositions:
		if got.InteractionID != "e2e-3" || got.Result != "rejected" {
			t.Errorf("disposition = %+v, want e2e-3 rejected", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no disposition within 10s of Escape")
	}
}
