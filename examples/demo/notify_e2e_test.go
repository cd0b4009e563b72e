package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/engagekit/gateway/examples/internal/engageauth"
	"github.com/engagekit/gateway/examples/internal/shop"
	"github.com/engagekit/gateway/push"
)

// notifyPage is a page of the shop that handles notify messages: it logs
// every message of its channels in window.got, and names #offers as the
// one container gpe.appendContent may fill.
var notifyPage = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><title>notify</title></head><body>
<div id="offers"></div><div id="elsewhere"></div>
<script src="/notification/visitor.js"></script>
<script>
window.got = [];
["shop.cart", "fence", "__proto__"].forEach(function (ch) {
  GWE.on(ch, function (data, m) { window.got.push(m.channel + ":" + data.n); });
});
window.gweStatus = "";
GWE.connect({ visitID: {{.Visit}}, pageID: {{.Page}}, token: {{.Token}},
  contentContainers: ["#offers"],
  onStatus: function (s) { window.gweStatus = s; } });
</script></body></html>`))

// TestBrowserNotify drives notify through the demo's endpoint into real
// headless Chromium, two pages of one visit open: a message for a page
// reaches the GWE.on handler of that page only, a message for every page
// reaches both, a channel named after an Object property is a channel
// like any other, gpe.appendContent fills the page's container from its
// own origin and never fetches from another, and a page opened later gets
// the messages kept for it.
func TestBrowserNotify(t *testing.T) {
	ctx := newBrowser(t)
	key, _ := push.NewTokenKey("k1")
	d := NewDemo(Config{
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Security: shop.Security{Credentials: engageauth.Credentials{User: user, Password: password}, TokenKey: &key},
	})
	var evilHits atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		evilHits.Add(1)
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<p id="evil">injected</p>`)
	}))
	defer evil.Close()
	const visitID = "v-notify-e2e"
	mux := http.NewServeMux()
	mux.Handle("/", d.Handler)
	mux.HandleFunc("GET /notify-test/offer.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<p class="offer">10% off chairs today</p>`)
	})
	mux.HandleFunc("GET /notify-test/{page}", func(w http.ResponseWriter, r *http.Request) {
		page := r.PathValue("page")
		now := time.Now()
		token, err := push.MintToken(key, push.TokenClaims{VisitID: visitID, PageID: page, IssuedAt: now, Expiry: now.Add(time.Hour)})
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		notifyPage.Execute(w, map[string]string{"Visit": visitID, "Page": page, "Token": token})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.Broker.Shutdown(ctx)
		srv.Close()
	})
	notify := func(t *testing.T, messages ...string) {
		t.Helper()
		post(t, srv.URL, "/server/data/notification/notify/"+visitID, "messages", "["+strings.Join(messages, ",")+"]")
	}
	msg := func(page, channel string, data any) string {
		b, _ := json.Marshal(map[string]any{"page": page, "channel": channel, "data": data})
		return string(b)
	}
	got := func(t *testing.T, tab context.Context, want ...string) {
		t.Helper()
		w, _ := json.Marshal(want)
		wantOnPage(t, tab, fmt.Sprintf("the page's handlers did not get %s", w), `JSON.stringify(window.got) === `+"`"+string(w)+"`")
	}
	open := func(t *testing.T, tab context.Context, page string) {
		t.Helper()
		do(t, tab, "open "+page, chromedp.Navigate(srv.URL+"/notify-test/"+page))
		wantOnPage(t, tab, page+" is not connected", `window.gweStatus === "connected"`)
	}

	home := ctx
	cart, closeCart := chromedp.NewContext(ctx)
	defer closeCart()
	if err := chromedp.Do(cart); err != nil {
		t.Fatalf("open a second tab: %v", err)
	}
	open(t, home, "home")
	open(t, cart, "cart")

	// The message for the cart page, then one for every page as a fence:
	// the home page's first message is the fence.
	notify(t, msg("cart", "shop.cart", map[string]int{"n": 1}))
	notify(t, msg("", "fence", map[string]int{"n": 2}))
	got(t, cart, "shop.cart:1", "fence:2")
	got(t, home, "fence:2")

	notify(t, msg("", "toString", map[string]int{"n": 3}), msg("", "__proto__", map[string]int{"n": 4}))
	got(t, cart, "shop.cart:1", "fence:2", "__proto__:4")
	got(t, home, "fence:2", "__proto__:4")

	// gpe.appendContent: from another origin, into a container the page
	// did not name, and HTML in the message are all ignored; the page's
	// own URL fills #offers.
	notify(t,
		msg("home", "gpe.appendContent", map[string]string{"url": evil.URL + "/offer.html", "container": "#offers"}),
		msg("home", "gpe.appendContent", map[string]string{"url": "/notify-test/offer.html", "container": "#elsewhere"}),
		msg("home", "gpe.appendContent", map[string]string{"html": `<p id="evil">inline</p>`, "container": "#offers"}),
		msg("home", "gpe.appendContent", map[string]string{"url": "/notify-test/offer.html", "container": "#offers"}),
	)
	wantOnPage(t, home, "#offers is not filled", `document.querySelectorAll("#offers .offer").length === 1`)
	notify(t, msg("", "fence", map[string]int{"n": 5}))
	got(t, home, "fence:2", "__proto__:4", "fence:5")
	if n, err := chromedp.Run(home, chromedp.Evaluate[int](`document.querySelectorAll("#evil, #elsewhere .offer").length`)); err != nil || n != 0 {
		t.Errorf("content the page did not allow was inserted (%d, %v)", n, err)
	}
	if evilHits.Load() != 0 {
		t.Errorf("the page fetched from another origin %d times", evilHits.Load())
	}
	if n, _ := chromedp.Run(cart, chromedp.Evaluate[int](`document.querySelectorAll(".offer").length`)); n != 0 {
		t.Errorf("the cart page got the home page's content")
	}

	// A cart page opened now gets the messages kept for it, in order.
	cart2, closeCart2 := chromedp.NewContext(ctx)
	defer closeCart2()
	if err := chromedp.Do(cart2); err != nil {
		t.Fatalf("open a third tab: %v", err)
	}
	open(t, cart2, "cart")
	got(t, cart2, "shop.cart:1", "fence:2", "__proto__:4", "fence:5")
}
