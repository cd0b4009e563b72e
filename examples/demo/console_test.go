package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/engagekit/gateway/examples/internal/engageauth"
	"github.com/engagekit/gateway/examples/internal/shop"
	"github.com/engagekit/gateway/push"
)

var consoleScreenshot = flag.String("console-screenshot", "", "write a PNG of the operator console after TestConsole's engage and accept to this file")

// TestConsole opens /console in headless Chromium with the engage
// credentials, runs an engage and an accept, and sees the numbers change;
// the visitID never appears whole.
func TestConsole(t *testing.T) {
	ctx := newBrowser(t)
	key, _ := push.NewTokenKey("k1")
	srv := consoleDemo(t, &key)
	if resp, err := http.Get(srv.URL + "/console"); err != nil || resp.StatusCode != 401 {
		t.Fatalf("/console without credentials: %v %v, want 401", err, resp.Status)
	}
	do(t, ctx, "open the console", consoleCredentials, chromedp.Navigate(srv.URL+"/console"), chromedp.WaitReady("#funnel"))
	wantOnPage(t, ctx, "the console is not live", `document.getElementById("status").textContent.startsWith("live")`)
	wantOnPage(t, ctx, "the console does not start at 0", `document.getElementById("count-engage").textContent === "0"`)

	const visitID = "visit-4711"
	token, _ := push.MintToken(key, push.TokenClaims{VisitID: visitID, IssuedAt: time.Now(), Expiry: time.Now().Add(time.Minute)})
	resp, err := http.Get(srv.URL + "/notification/" + visitID + "?token=" + token)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stream: %v %v", err, resp.Status)
	}
	defer resp.Body.Close()
	events := bufio.NewScanner(resp.Body)
	post(t, srv.URL, "/server/data/gateway/engage", "ixnProfile", `{"interactionID":"c-1","visitID":"`+visitID+`","channels":["chat"]}`)
	for events.Scan() && events.Text() != "event: engage" {
	}
	wantOnPage(t, ctx, "the engage is not counted", `document.getElementById("count-engage").textContent === "1"`)
	wantOnPage(t, ctx, "the live invitation is not shown", `document.getElementById("gauge-live").textContent === "1"`)
	wantOnPage(t, ctx, "the stream is not counted", `document.getElementById("gauge-streams").textContent === "1"`)

	report := func(body string) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/notification/"+visitID+"/disposition", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", body, err, resp.Status)
		}
		resp.Body.Close()
	}
	report(`{"interactionID":"c-1","result":"shown"}`)
	report(`{"interactionID":"c-1","result":"accepted","channel":"chat"}`)
	wantOnPage(t, ctx, "the acceptance is not counted", `document.getElementById("count-accepted").textContent === "1"`)
	wantOnPage(t, ctx, "the invitation is still live", `document.getElementById("gauge-live").textContent === "0"`)
	wantOnPage(t, ctx, "the funnel has no shown bar", `document.getElementById("bar-shown").getAttribute("width") === document.getElementById("bar-offered").getAttribute("width")`)
	wantOnPage(t, ctx, "the last events do not list the acceptance",
		`Array.from(document.querySelectorAll("#events tr")).some(function (tr) { return tr.textContent.includes("accepted") && tr.textContent.includes("visi…") })`)
	page, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page, visitID) {
		t.Errorf("the console shows the whole visitID %q", visitID)
	}
	if *consoleScreenshot != "" {
		// A few seconds of traffic, for the charts' sake.
		for i := 2; i <= 13; i++ {
			id := "c-" + strconv.Itoa(i)
			post(t, srv.URL, "/server/data/gateway/engage", "ixnProfile", `{"interactionID":"`+id+`","visitID":"`+visitID+`","channels":["chat"]}`)
			time.Sleep(250 * time.Millisecond)
			switch i % 4 {
			case 0:
				post(t, srv.URL, "/server/data/gateway/noengage", "cancelData", `{"interactionID":"`+id+`","visitID":"`+visitID+`"}`)
			case 1:
				report(`{"interactionID":"` + id + `","result":"shown"}`)
				report(`{"interactionID":"` + id + `","result":"rejected"}`)
			default:
				report(`{"interactionID":"` + id + `","result":"shown"}`)
				report(`{"interactionID":"` + id + `","result":"accepted","channel":"chat"}`)
				report(`{"interactionID":"` + id + `","result":"submitted"}`)
			}
			time.Sleep(250 * time.Millisecond)
		}
		time.Sleep(1500 * time.Millisecond)
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			os.WriteFile(*consoleScreenshot, png, 0o644)
		}
	}
}

// TestConsoleComesBackWhenFull: a console opened while the instance has as
// many console streams as it allows is refused (503), says so, and goes
// live by itself once a stream is free: an EventSource alone would give up
// for good at the 503.
func TestConsoleComesBackWhenFull(t *testing.T) {
	ctx := newBrowser(t)
	srv := consoleDemo(t, nil)
	var open []*http.Response
	defer func() {
		for _, r := range open {
			r.Body.Close()
		}
	}()
	for {
		req, _ := http.NewRequest("GET", srv.URL+"/console/events", nil)
		req.SetBasicAuth(user, password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || len(open) == 0 {
				t.Fatalf("console stream %d: %s", len(open)+1, resp.Status)
			}
			break
		}
		open = append(open, resp)
	}
	do(t, ctx, "open the console", consoleCredentials, chromedp.Navigate(srv.URL+"/console"), chromedp.WaitReady("#funnel"))
	wantOnPage(t, ctx, "the refused console does not say so", `document.getElementById("status").textContent.startsWith("disconnected")`)
	open[0].Body.Close()
	open = open[1:]
	wantOnPage(t, ctx, "the console does not come back once a stream is free", `document.getElementById("status").textContent.startsWith("live")`)
}

// consoleDemo serves a demo with the engage credentials (and key, when
// not nil, for visitor tokens) until the test ends.
func consoleDemo(t *testing.T, key *push.TokenKey) *httptest.Server {
	t.Helper()
	d := NewDemo(Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Security: shop.Security{Credentials: engageauth.Credentials{User: user, Password: password}, TokenKey: key}})
	srv := httptest.NewServer(d.Handler)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.Broker.Shutdown(ctx)
		d.Ops.Shutdown(ctx)
		srv.Close()
	})
	return srv
}

// consoleCredentials has the browser send the engage credentials with
// every request.
var consoleCredentials = chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
	if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
		return err
	}
	_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{
		"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password)),
	}})
	return err
})
