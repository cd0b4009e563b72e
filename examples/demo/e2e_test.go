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
	"github.com/engagekit/gateway/examples/internal/engageauth"
	"github.com/engagekit/gateway/examples/internal/shop"
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

// The engage credentials of the tests.
const user, password = "ors", "secret"

// newBrowser starts headless Chromium for t and returns its first tab,
// which starts on its first action; the test is skipped when there is no
// Chromium outside CI.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
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
	t.Cleanup(cancelAlloc)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// Each step has a deadline of its own, so that one that fails leaves time
// to report it; a stage that fails ends the test, as the next ones build
// on it. A tab starts on its first action, under the context that then
// lives as long as the tab: not a step's.
const stepTimeout = 15 * time.Second

func do(t *testing.T, tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	step, cancel := context.WithTimeout(tab, stepTimeout)
	defer cancel()
	if err := chromedp.Do(step, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantOnPage waits for the page in tab to satisfy the JavaScript
// expression.
func wantOnPage(t *testing.T, tab context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(tab, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(stepTimeout))); err != nil {
		text, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById("log").innerText`))
		t.Fatalf("%s: %v; the page's events:\n%s", what, err, text)
	}
}

// logged is the expression that counts the page's events that read line.
func logged(line string) string {
	q, _ := json.Marshal(line)
	return `Array.from(document.querySelectorAll("#log li span")).filter(function (s) { return s.textContent === ` + string(q) + ` }).length`
}

// wantLogged waits for the page in tab to log line among its events.
func wantLogged(t *testing.T, tab context.Context, line string) {
	t.Helper()
	wantOnPage(t, tab, "the page does not say "+line, logged(line)+` > 0`)
}

func wantStatus(t *testing.T, tab context.Context, state string) {
	t.Helper()
	wantOnPage(t, tab, "the status is not "+state, `document.getElementById("status").textContent === "`+state+`"`)
}

func wantDisposition(t *testing.T, dispositions <-chan push.Disposition, want push.Disposition) {
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

// post sends an engage or a noengage form to the server at base, with the
// engage credentials, and wants it accepted.
func post(t *testing.T, base, path, param, json string) {
	t.Helper()
	if status, body := postStatus(t, base, path, param, json); status != 200 || !strings.Contains(body, `"status":"OK"`) {
		t.Fatalf("%s: %d %s", path, status, body)
	}
}

// postStatus sends an engage or a noengage form as post does, and returns
// the answer.
func postStatus(t *testing.T, base, path, param, json string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+path, strings.NewReader(url.Values{param: {json}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body)
}

func sel(id string) string { return `.gwe-invitation[data-gwe-interaction="` + id + `"]` }

// TestBrowser drives the demo in real headless Chromium: engage through the
// HTTP endpoint, see the invitation in the DOM, cancel it, see it gone;
// answer with a click, with Escape, by letting it run out; see the broker
// expire one and another tab answer one; and see on the page, each time,
// what became of the invitation, and the connection's status until the
// broker shuts down.
func TestBrowser(t *testing.T) {
	ctx := newBrowser(t)
	dispositions := make(chan push.Disposition, 8)
	var clock skewedClock
	key, _ := push.NewTokenKey("k1")
	d := NewDemo(Config{
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Security: shop.Security{Credentials: engageauth.Credentials{User: user, Password: password}, TokenKey: &key},
		Push: push.Options{
			Now:           clock.Now,
			OnDisposition: func(_ context.Context, x push.Disposition) { dispositions <- x },
		},
	})
	srv := httptest.NewServer(d.Handler)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.Broker.Shutdown(ctx)
		srv.Close()
	})
	stage := func(name string, f func(t *testing.T)) {
		if !t.Failed() {
			t.Run(name, f)
		}
	}
	do(t, ctx, "open the demo page", chromedp.Navigate(srv.URL), chromedp.WaitReady("#visit"))
	wantStatus(t, ctx, "connected")
	wantLogged(t, ctx, "connection connected")
	visitID, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.demo.visitID`))
	if err != nil {
		t.Fatal(err)
	}
	engage := func(t *testing.T, id, extra string) {
		t.Helper()
		post(t, srv.URL, "/server/data/gateway/engage", "ixnProfile", `{"interactionID":"`+id+`","visitID":"`+visitID+`","channels":["chat","callback"]`+extra+`}`)
	}

	stage("a noengage hides the invitation and the page says why", func(t *testing.T) {
		engage(t, "e2e-1", `,"invitation":{"title":"Need a hand with your chair?","message":"An agent can help you choose."}`)
		do(t, ctx, "invitation not shown", chromedp.WaitVisible(sel("e2e-1")))
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
		post(t, srv.URL, "/server/data/gateway/noengage", "cancelData", `{"interactionID":"e2e-1","visitID":"`+visitID+`","reason":"agentUnavailable"}`)
		do(t, ctx, "invitation not hidden after noengage", chromedp.WaitNotPresent(sel("e2e-1")))
		wantLogged(t, ctx, "e2e-1: cancelled (agentUnavailable)")
	})

	stage("a click accepts, and the page shows the visitor's answer", func(t *testing.T) {
		post(t, srv.URL, "/backend/data/gateway/engage", "ixnProfile", `{"interactionID":"e2e-2","visitID":"`+visitID+`","channels":["chat","callback"]}`)
		do(t, ctx, "click chat",
			chromedp.WaitVisible(sel("e2e-2")+` button[data-gwe-channel="chat"]`),
			chromedp.Click(sel("e2e-2")+` button[data-gwe-channel="chat"]`),
			chromedp.WaitNotPresent(sel("e2e-2")),
		)
		wantDisposition(t, dispositions, push.Disposition{VisitID: visitID, InteractionID: "e2e-2", Result: "accepted", Channel: "chat"})
		wantLogged(t, ctx, "e2e-2: accepted by you (chat)")
	})

	stage("the visit stays engaged while the registration form is open, until it is submitted", func(t *testing.T) {
		profile := `{"interactionID":"e2e-form","visitID":"` + visitID + `","channels":["chat"]}`
		if status, body := postStatus(t, srv.URL, "/server/data/gateway/engage", "ixnProfile", profile); status != http.StatusBadRequest || !strings.Contains(body, "ENGAGEMENT_IN_PROGRESS") {
			t.Fatalf("engage while the form is open: %d %s, want 400 ENGAGEMENT_IN_PROGRESS", status, body)
		}
		form := `form[data-gwe-form="e2e-2"]`
		do(t, ctx, "fill in and submit the form",
			chromedp.WaitVisible(form+` input[name="name"]`),
			chromedp.SendKeys(form+` input[name="name"]`, "Ada"),
			chromedp.Click(form+` button`),
			chromedp.WaitNotPresent(form),
		)
		wantLogged(t, ctx, "e2e-2: form submitted")
		if status, body := postStatus(t, srv.URL, "/server/data/gateway/engage", "ixnProfile", profile); status != http.StatusOK {
			t.Fatalf("engage once the form is submitted: %d %s, want 200", status, body)
		}
		post(t, srv.URL, "/server/data/gateway/noengage", "cancelData", `{"interactionID":"e2e-form","visitID":"`+visitID+`"}`)
		wantLogged(t, ctx, "e2e-form: cancelled")
	})

	stage("Escape declines from the keyboard", func(t *testing.T) {
		engage(t, "e2e-3", "")
		do(t, ctx, "decline with Escape",
			chromedp.WaitVisible(sel("e2e-3")),
			chromedp.Focus(sel("e2e-3")+` button[data-gwe-channel="chat"]`),
			chromedp.KeyEvent(kb.Escape),
			chromedp.WaitNotPresent(sel("e2e-3")),
		)
		wantDisposition(t, dispositions, push.Disposition{VisitID: visitID, InteractionID: "e2e-3", Result: "rejected"})
		wantLogged(t, ctx, "e2e-3: rejected by you")
	})

	stage("an interactionID that names an Object property is an interactionID like any other", func(t *testing.T) {
		engage(t, "toString", "")
		do(t, ctx, "decline toString",
			chromedp.WaitVisible(sel("toString")+` button[data-gwe-decline]`),
			chromedp.Click(sel("toString")+` button[data-gwe-decline]`),
			chromedp.WaitNotPresent(sel("toString")),
		)
		wantDisposition(t, dispositions, push.Disposition{VisitID: visitID, InteractionID: "toString", Result: "rejected"})
		wantLogged(t, ctx, "toString: rejected by you")
	})

	stage("channels and interactionIDs that name Object properties render as themselves", func(t *testing.T) {
		for _, id := range []string{"__proto__", "constructor", "hasOwnProperty"} {
			post(t, srv.URL, "/server/data/gateway/engage", "ixnProfile",
				`{"interactionID":"`+id+`","visitID":"`+visitID+`","channels":["constructor","__proto__"]}`)
			do(t, ctx, "invitation "+id+" not shown", chromedp.WaitVisible(sel(id)))
			labels, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
				`[...document.querySelectorAll('`+sel(id)+` button[data-gwe-channel]')].map(b => b.textContent)`))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"constructor", "__proto__"}, labels); diff != "" {
				t.Errorf("%s: channel buttons (-want +got):\n%s", id, diff)
			}
			do(t, ctx, "decline "+id,
				chromedp.Click(sel(id)+` button[data-gwe-decline]`),
				chromedp.WaitNotPresent(sel(id)),
			)
			wantDisposition(t, dispositions, push.Disposition{VisitID: visitID, InteractionID: id, Result: "rejected"})
		}
	})

	stage("an invitation left unanswered times out on the page", func(t *testing.T) {
		// The broker's clock runs 2 s behind: the page's timer ends the
		// invitation 2 s before the broker would.
		clock.skew.Store(int64(-2 * time.Second))
		engage(t, "e2e-4", `,"expiresIn":4`)
		do(t, ctx, "invitation not hidden when it ran out", chromedp.WaitVisible(sel("e2e-4")), chromedp.WaitNotPresent(sel("e2e-4")))
		wantDisposition(t, dispositions, push.Disposition{VisitID: visitID, InteractionID: "e2e-4", Result: "timeout"})
		wantLogged(t, ctx, "e2e-4: timeout on this page")
	})

	stage("an invitation the broker expires says expired", func(t *testing.T) {
		// The broker's clock runs 30 s ahead: it expires the invitation
		// long before the page's timer would.
		clock.skew.Store(int64(30 * time.Second))
		engage(t, "e2e-5", `,"expiresIn":1`)
		do(t, ctx, "invitation not hidden when the broker expired it", chromedp.WaitVisible(sel("e2e-5")), chromedp.WaitNotPresent(sel("e2e-5")))
		wantLogged(t, ctx, "e2e-5: expired")
	})

	stage("an answer in another tab of the visit hides it here with that answer", func(t *testing.T) {
		clock.skew.Store(0)
		tab2, closeTab2 := chromedp.NewContext(ctx)
		defer closeTab2()
		if err := chromedp.Do(tab2); err != nil {
			t.Fatalf("open a second tab: %v", err)
		}
		do(t, tab2, "open a second tab", chromedp.Navigate(srv.URL), chromedp.WaitReady("#visit"))
		wantStatus(t, tab2, "connected")
		if v, _ := chromedp.Run(tab2, chromedp.Evaluate[string](`window.demo.visitID`)); v != visitID {
			t.Fatalf("second tab's visit = %q, want %q", v, visitID)
		}
		engage(t, "e2e-6", "")
		do(t, ctx, "invitation not shown in the first tab", chromedp.WaitVisible(sel("e2e-6")))
		do(t, tab2, "decline in the second tab",
			chromedp.WaitVisible(sel("e2e-6")+` button[data-gwe-decline]`),
			chromedp.Click(sel("e2e-6")+` button[data-gwe-decline]`),
		)
		wantDisposition(t, dispositions, push.Disposition{VisitID: visitID, InteractionID: "e2e-6", Result: "rejected"})
		wantLogged(t, tab2, "e2e-6: rejected by you")
		do(t, ctx, "invitation still shown in the first tab", chromedp.WaitNotPresent(sel("e2e-6")))
		wantLogged(t, ctx, "e2e-6: rejected on another page")
	})

	stage("the status follows the stream until the broker shuts down", func(t *testing.T) {
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := d.Broker.Shutdown(shut); err != nil {
			t.Fatal(err)
		}
		// The stream ends: the browser retries, and the broker, shut
		// down, refuses it with 503, so the browser gives up.
		wantLogged(t, ctx, "connection reconnecting")
		wantStatus(t, ctx, "gone")
	})
}

// TestBrowserTokens drives visitor tokens in real headless Chromium. The
// demo's pages get tokens of 3 s: when one expires the broker closes the
// stream, and the page gets a new token through its refreshToken callback
// and reconnects, keeping the invitation it shows, which is neither sent
// again nor lost, and which its visitor answers with the new token. Then a
// shop page served on a second port, another origin, subscribes to the
// demo's broker with credentials and answers across origins.
func TestBrowserTokens(t *testing.T) {
	ctx := newBrowser(t)
	dispositions := make(chan push.Disposition, 8)
	key, _ := push.NewTokenKey("k1")
	sec := shop.Security{Credentials: engageauth.Credentials{User: user, Password: password}, TokenKey: &key}

	// The second origin's address must be known to the broker first.
	other := httptest.NewUnstartedServer(nil)
	otherOrigin := "http://" + other.Listener.Addr().String()
	d := NewDemo(Config{
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Security: sec,
		TokenTTL: 3 * time.Second,
		Push: push.Options{
			AllowedOrigins: []string{otherOrigin},
			OnDisposition:  func(_ context.Context, x push.Disposition) { dispositions <- x },
		},
	})
	srv := httptest.NewServer(d.Handler)
	s := shop.New(shop.Config{EngageURL: srv.URL, BrokerURL: srv.URL, User: sec.User, TokenKey: sec.TokenKey, TokenTTL: 3 * time.Second})
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", s.Page())
	mux.Handle("GET "+shop.TokenPath, s.Token())
	other.Config.Handler = mux
	other.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.Broker.Shutdown(ctx)
		srv.Close()
		other.Close()
	})
	stage := func(name string, f func(t *testing.T)) {
		if !t.Failed() {
			t.Run(name, f)
		}
	}
	visitOf := func(t *testing.T, tab context.Context) string {
		t.Helper()
		v, err := chromedp.Run(tab, chromedp.Evaluate[string](`window.demo.visitID`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	stage("a page whose token expires gets a new one and keeps its invitation", func(t *testing.T) {
		do(t, ctx, "open the demo page", chromedp.Navigate(srv.URL), chromedp.WaitReady("#visit"))
		wantStatus(t, ctx, "connected")
		visitID := visitOf(t, ctx)
		post(t, srv.URL, "/server/data/gateway/engage", "ixnProfile", `{"interactionID":"tok-1","visitID":"`+visitID+`","channels":["chat"],"expiresIn":60}`)
		do(t, ctx, "invitation not shown", chromedp.WaitVisible(sel("tok-1")))
		// Two refreshes: the first token expires, then the one it got.
		wantOnPage(t, ctx, "the page did not get two new tokens", logged("new visitor token")+` >= 2 && `+logged("visitor token expired")+` >= 2`)
		wantStatus(t, ctx, "connected")
		do(t, ctx, "the invitation is no longer shown", chromedp.WaitVisible(sel("tok-1")))
		if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](logged("tok-1: invitation received"))); n != 1 {
			t.Errorf("the page was sent the invitation %d times, want once", n)
		}
		do(t, ctx, "accept with the page's current token",
			chromedp.Click(sel("tok-1")+` button[data-gwe-channel="chat"]`),
			chromedp.WaitNotPresent(sel("tok-1")),
		)
		wantDisposition(t, dispositions, push.Disposition{VisitID: visitID, InteractionID: "tok-1", Result: "accepted", Channel: "chat"})
		wantLogged(t, ctx, "tok-1: accepted by you (chat)")
		// The form's report carries the token too, and frees the visit
		// for the next stage's engage.
		do(t, ctx, "submit the registration form",
			chromedp.WaitVisible(`form[data-gwe-form="tok-1"] input[name="name"]`),
			chromedp.SendKeys(`form[data-gwe-form="tok-1"] input[name="name"]`, "Ada"),
			chromedp.Click(`form[data-gwe-form="tok-1"] button`),
		)
		wantLogged(t, ctx, "tok-1: form submitted")
	})

	stage("a shop page on another origin subscribes and answers with credentials", func(t *testing.T) {
		tab, closeTab := chromedp.NewContext(ctx)
		defer closeTab()
		if err := chromedp.Do(tab); err != nil {
			t.Fatalf("open a tab: %v", err)
		}
		do(t, tab, "open the shop on the second origin", chromedp.Navigate(other.URL), chromedp.WaitReady("#visit"))
		wantStatus(t, tab, "connected")
		visitID := visitOf(t, tab)
		if u, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.querySelector("script[src$='visitor.js']").src`)); !strings.HasPrefix(u, srv.URL+"/") {
			t.Fatalf("visitor.js from %q, want the broker's origin %s", u, srv.URL)
		}
		post(t, srv.URL, "/server/data/gateway/engage", "ixnProfile", `{"interactionID":"tok-2","visitID":"`+visitID+`","channels":["chat","callback"]}`)
		do(t, tab, "answer across origins",
			chromedp.WaitVisible(sel("tok-2")+` button[data-gwe-channel="callback"]`),
			chromedp.Click(sel("tok-2")+` button[data-gwe-channel="callback"]`),
			chromedp.WaitNotPresent(sel("tok-2")),
		)
		wantDisposition(t, dispositions, push.Disposition{VisitID: visitID, InteractionID: "tok-2", Result: "accepted", Channel: "callback"})
		wantLogged(t, tab, "tok-2: accepted by you (callback)")
		// The stream lives on across a token's expiry there too.
		wantOnPage(t, tab, "the page did not get a new token", logged("new visitor token")+` >= 1`)
		wantStatus(t, tab, "connected")
	})
}
