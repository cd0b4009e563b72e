// Package shop is the demo shop page that the demo and the cluster example
// serve: a product, the visitor's visitID, the curl lines that engage and
// cancel it, and visitor.js showing the invitation.
package shop

import (
	"crypto/rand"
	"embed"
	"encoding/hex"
	"html/template"
	"net"
	"net/http"

	"github.com/engagekit/gateway"
)

//go:embed shop.html
var pages embed.FS

var page = template.Must(template.ParseFS(pages, "shop.html"))

// visitCookie holds the demo's visitID. A real site takes the visitID from
// its own visitor tracking (GWE's tracker script, say).
const visitCookie = "gwe_visit"

// Page serves the shop page. It expects the broker at /notification/ on the
// same host. The page's curl lines engage and cancel through the gateway at
// engageURL + /server/data/gateway/; an empty engageURL means the page's own
// host.
func Page(engageURL string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		visitID := ""
		if c, err := r.Cookie(visitCookie); err == nil && gateway.ValidVisitID(c.Value) {
			visitID = c.Value
		} else {
			visitID = "visit-" + randomHex(8)
			http.SetCookie(w, &http.Cookie{Name: visitCookie, Value: visitID, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		engage := engageURL
		if engage == "" {
			scheme := "http"
			if r.TLS != nil {
				scheme = "https"
			}
			engage = scheme + "://" + r.Host
		}
		page.Execute(w, map[string]string{"VisitID": visitID, "EngageURL": engage})
	})
}

// BaseURL returns the URL that a browser on this machine opens for a server
// listening on addr: a listener on every interface is reached on loopback.
func BaseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
