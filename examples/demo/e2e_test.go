package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/engagekit/gateway/push"
	"github.com/google/go-cmp/cmp"
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

// skewedClock is the broker's clock, off the real one by skew: the test
// decides which side of an expiry, the page's timer or the broker's sweep,
// comes first.
type skewedClock struct{ skew atomic.Int64 }

func (c *skewedClock) Now() time.Time { return time.Now().Add(time.Duration(c.skew.Load())) }

// TestBrowser drives the demo in real headless Chromium: engage through the
// HTTP endpoint, see the invitation in the DOM, cancel it, see it gone;
// answer with a click, with Escape, by letting it run out; see the broker
// expire one and another tab answer one; and see on the page, each time,
// what became of the invitation, and the connection's status until the
// broker shuts down.
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
	dispositions := make(chan push.Disposition, 8)
	var clock skewedClock
	d := NewDemo(slog.New(slog.NewTextHandler(io.Discard, nil)), &push.Options{
		Now:           clock.Now,
		OnDisposition: func(_ context.Context, x push.Disposition) { dispositions <- x },
	})
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
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	// wantOnPage waits for the page in tab to satisfy the JavaScript
	// expression.
	wantOnPage := func(tab context.Context, what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(tab, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
			text, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById("log").innerText`))
			t.Fatalf("%s: %v; the page's events:\n%s", what, err, text)
		}
	}
	// wantLogged waits for the page in tab to log line among its events.
	wantLogged := func(tab context.Context, line string) {
		t.Helper()
		q, _ := json.Marshal(line)
		wantOnPage(tab, "the page does not say "+string(q),
			`Array.from(document.querySelectorAll("#log li span")).some(function (s) { return s.textContent === `+string(q)+` })`)
	}
	wantStatus := func(tab context.Context, state string) {
		t.Helper()
		wantOnPage(tab, "the status is not "+state, `document.getElementById("status").textContent === "`+state+`"`)
	}
	wantDisposition := func(want push.Disposition) {
		t.Helper()
		select {
		case got := <-dispositions:
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("disposition (-want +got):\n%s", diff)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no disposition within 10s, want %+v", want)
		}
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL), chromedp.WaitReady("#visit")); err != nil {
		t.Fatalf("open the demo page: %v", err)
	}
	wantStatus(ctx, "connected")
	wantLogged(ctx, "connection connected")
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
	engage := func(id, extra string) {
		t.Helper()
		post("/server/data/gateway/engage", "ixnProfile", `{"interactionID":"`+id+`","visitID":"`+visitID+`","channels":["chat","callback"]`+extra+`}`)
	}
	sel := func(id string) string { return `.gwe-invitation[data-gwe-interaction="` + id + `"]` }

	t.Run("a noengage hides the invitation and the page says why", func(t *testing.T) {
		engage("e2e-1", `,"invitation":{"title":"Need a hand with your chair?","message":"An agent can help you choose."}`)
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
		post("/server/data/gateway/noengage", "cancelData", `{"interactionID":"e2e-1","visitID":"`+visitID+`","reason":"agentUnavailable"}`)
		if err := chromedp.Do(ctx, chromedp.WaitNotPresent(sel("e2e-1"))); err != nil {
			t.Fatalf("invitation not hidden after noengage: %v", err)
		}
		wantLogged(ctx, "e2e-1: cancelled (agentUnavailable)")
	})

	t.Run("a click accepts, and the page shows the visitor's answer", func(t *testing.T) {
		post("/backend/data/gateway/engage", "ixnProfile", `{"interactionID":"e2e-2","visitID":"`+visitID+`","channels":["chat","callback"]}`)
		if err := chromedp.Do(ctx,
			chromedp.WaitVisible(sel("e2e-2")+` button[data-gwe-channel="chat"]`),
			chromedp.Click(sel("e2e-2")+` button[data-gwe-channel="chat"]`),
			chromedp.WaitNotPresent(sel("e2e-2")),
		); err != nil {
			t.Fatalf("click chat: %v", err)
		}
		wantDisposition(push.Disposition{VisitID: visitID, InteractionID: "e2e-2", Result: "accepted", Channel: "chat"})
		wantLogged(ctx, "e2e-2: accepted by you (chat)")
	})

	t.Run("Escape declines from the keyboard", func(t *testing.T) {
		engage("e2e-3", "")
		if err := chromedp.Do(ctx,
			chromedp.WaitVisible(sel("e2e-3")),
			chromedp.Focus(sel("e2e-3")+` button[data-gwe-channel="chat"]`),
			chromedp.KeyEvent(kb.Escape),
			chromedp.WaitNotPresent(sel("e2e-3")),
		); err != nil {
			t.Fatalf("decline with Escape: %v", err)
		}
		wantDisposition(push.Disposition{VisitID: visitID, InteractionID: "e2e-3", Result: "rejected"})
		wantLogged(ctx, "e2e-3: rejected by you")
	})

	t.Run("an invitation left unanswered times out on the page", func(t *testing.T) {
		// The broker's clock runs 2 s behind: the page's timer ends the
		// invitation 2 s before the broker would.
		clock.skew.Store(int64(-2 * time.Second))
		engage("e2e-4", `,"expiresIn":4`)
		if err := chromedp.Do(ctx, chromedp.WaitVisible(sel("e2e-4")), chromedp.WaitNotPresent(sel("e2e-4"))); err != nil {
			t.Fatalf("invitation not hidden when it ran out: %v", err)
		}
		wantDisposition(push.Disposition{VisitID: visitID, InteractionID: "e2e-4", Result: "timeout"})
		wantLogged(ctx, "e2e-4: timeout on this page")
	})

	t.Run("an invitation the broker expires says expired", func(t *testing.T) {
		// The broker's clock runs 30 s ahead: it expires the invitation
		// long before the page's timer would.
		clock.skew.Store(int64(30 * time.Second))
		engage("e2e-5", `,"expiresIn":1`)
		if err := chromedp.Do(ctx, chromedp.WaitVisible(sel("e2e-5")), chromedp.WaitNotPresent(sel("e2e-5"))); err != nil {
			t.Fatalf("invitation not hidden when the broker expired it: %v", err)
		}
		wantLogged(ctx, "e2e-5: expired")
	})

	t.Run("an answer in another tab of the visit hides it here with that answer", func(t *testing.T) {
		clock.skew.Store(0)
		tab2, closeTab2 := chromedp.NewContext(ctx)
		defer closeTab2()
		if err := chromedp.Do(tab2, chromedp.Navigate(srv.URL), chromedp.WaitReady("#visit")); err != nil {
			t.Fatalf("open a second tab: %v", err)
		}
		wantStatus(tab2, "connected")
		if v, _ := chromedp.Run(tab2, chromedp.Evaluate[string](`window.demo.visitID`)); v != visitID {
			t.Fatalf("second tab's visit = %q, want %q", v, visitID)
		}
		engage("e2e-6", "")
		if err := chromedp.Do(ctx, chromedp.WaitVisible(sel("e2e-6"))); err != nil {
			t.Fatalf("invitation not shown in the first tab: %v", err)
		}
		if err := chromedp.Do(tab2,
			chromedp.WaitVisible(sel("e2e-6")+` button[data-gwe-decline]`),
			chromedp.Click(sel("e2e-6")+` button[data-gwe-decline]`),
		); err != nil {
			t.Fatalf("decline in the second tab: %v", err)
		}
		wantDisposition(push.Disposition{VisitID: visitID, InteractionID: "e2e-6", Result: "rejected"})
		wantLogged(tab2, "e2e-6: rejected by you")
		if err := chromedp.Do(ctx, chromedp.WaitNotPresent(sel("e2e-6"))); err != nil {
			t.Fatalf("invitation still shown in the first tab: %v", err)
		}
		wantLogged(ctx, "e2e-6: rejected on another page")
	})

	t.Run("the status follows the stream until the broker shuts down", func(t *testing.T) {
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := d.Broker.Shutdown(shut); err != nil {
			t.Fatal(err)
		}
		// The stream ends: the browser retries, and the broker, shut
		// down, refuses it with 503, so the browser gives up.
		wantLogged(ctx, "connection reconnecting")
		wantStatus(ctx, "gone")
	})
}
